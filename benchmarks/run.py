"""The benchmark run: interleaved throughput, per-layer profile, peak memory, the seed loop.

Everything lands in one JSON-ready dict (``run(mode)``); ``benchmarks.report`` turns it
into the markdown table.
"""

import datetime
import math
import os
import time

import numpy as np

from . import contenders, keras_baseline, layers, machine, memory, roofline, seed_loop

ENGINES = ("scratch", "scratch_blas1", "keras", "keras_xla")  # scratch_blas1: BLAS limited to 1 thread
MODES = {
    # smoke: only proves the whole pipeline still runs (the test suite uses it)
    "smoke": {"configs": [("blog", 32)], "repeats": 1, "sample_s": 0.02, "warmup": 2, "profile_repeats": 2,
              "seed_images": 4, "memory": [("blog", 32)], "memory_engines": ("scratch", "keras"),
              "memory_steps": 2, "peak_n": 512, "bandwidth_mib": 16, "layer_repeats": 1, "layer_sample_s": 0.01, "layer_scale": 8,
              "zoo": (), "keras_baseline": {"arch": "blog", "batch": 32, "limit": 64,
                                                                   "epochs": 2, "repeats": 1}},
    "quick": {"configs": [("blog", 32), ("blog", 128), ("lenet", 128)], "repeats": 3, "sample_s": 0.15,
              "warmup": 3, "profile_repeats": 5, "seed_images": 60, "memory": [("lenet", 128)],
              "memory_engines": ("scratch", "keras"), "memory_steps": 10, "peak_n": 2048, "bandwidth_mib": 128,
              "layer_repeats": 3, "layer_sample_s": 0.1, "layer_scale": 1,
              "zoo": contenders.ZOO_MODELS, "zoo_batch": 32, "zoo_repeats": 3, "zoo_steps": 2, "zoo_profile_repeats": 2,
              "zoo_memory_steps": 3,
              "keras_baseline": {"arch": "lenet", "batch": 128, "limit": 6400, "epochs": 2, "repeats": 1}},
    "full": {"configs": [("blog", 32), ("blog", 128), ("lenet", 32), ("lenet", 128)], "repeats": 7,
             "sample_s": 0.4, "warmup": 5, "profile_repeats": 20, "seed_images": 300,
             "memory": [("lenet", 128)], "memory_engines": ("scratch", "keras", "keras_xla"), "memory_steps": 30,
             "peak_n": 2048, "bandwidth_mib": 256, "layer_repeats": 7, "layer_sample_s": 0.3, "layer_scale": 1,
             "zoo": contenders.ZOO_MODELS, "zoo_batch": 32, "zoo_repeats": 5, "zoo_steps": 3, "zoo_profile_repeats": 5,
             "zoo_memory_steps": 5,
             "keras_baseline": {"arch": "lenet", "batch": 128, "limit": 12800, "epochs": 4, "repeats": 3}},
}
TARGETS = [  # (key, measure, target): issue 22's targets, then the earlier ones still held
    ("train_blog_32", "training images/s, blog, batch 32, best scratch / best keras", 1.0),
    ("train_lenet_128", "training images/s, lenet, batch 128, best scratch / best keras", 0.8),
    ("infer_lenet_128", "inference images/s, lenet, batch 128, best scratch / best keras", 0.8),
    *((f"{mode}_{name}", f"{'training' if mode == 'train' else 'inference'} images/s, {name} 32x32x3, batch 32, "
                         f"best scratch / Keras", 1.0) for name in contenders.ZOO_MODELS for mode in ("train", "infer")),
    *((f"memory_{name}", f"peak memory of training, {name}, batch 32, Keras / scratch", 1.0)
      for name in contenders.ZOO_MODELS),
    ("memory_lenet_128", "peak memory of training, lenet, batch 128, keras / scratch", 1.0),
    ("seed_loop", "scratch training, blog, batch 32, vs the seed's per-image loop", 100.0),
    ("keras_cli_vs_loop", "`train.py keras` (default) / a bare `train_on_batch` loop, TensorFlow as it ships", 0.95),
    ("keras_cli_vs_fit", "`train.py keras` (default) / plain Keras `fit` on the same data and model", 1.0),
]
ZOO_ENGINES = ("scratch", "scratch_blas1", "keras")


def _sample(fn, steps):
    t = time.perf_counter()
    fn(steps)
    return time.perf_counter() - t


def throughput(settings, dtype, log):
    """Interleaved samples: for each repeat, every config, mode and engine in turn."""
    slots = []
    for arch, batch in settings["configs"]:
        scratch_model = contenders.ScratchEngine.for_arch(arch, batch, dtype).model
        infer_flops, train_flops = contenders.model_flops(scratch_model, batch)
        for kind in ENGINES:
            eng = contenders.make_engine(kind, arch, batch, dtype)
            for mode in ("train", "infer"):
                fn = eng.train if mode == "train" else eng.infer
                fn(settings["warmup"])  # warm-up: XLA compilation, caches, first allocations
                per_step = _sample(fn, 3) / 3
                steps = max(1, math.ceil(settings["sample_s"] / per_step))
                slots.append({"arch": arch, "batch": batch, "dtype": dtype, "mode": mode, "engine": kind,
                              "steps_per_sample": steps, "fn": fn,
                              "flops_per_step": train_flops if mode == "train" else infer_flops, "samples": []})
        log(f"  ready: {arch} batch {batch}")
    for r in range(settings["repeats"]):
        for slot in slots:
            seconds = _sample(slot["fn"], slot["steps_per_sample"])
            slot["samples"].append(slot["batch"] * slot["steps_per_sample"] / seconds)
        log(f"  repeat {r + 1}/{settings['repeats']} done")
    rows = []
    for slot in slots:
        s = np.array(slot.pop("samples"))
        slot.pop("fn")
        q1, q3 = np.percentile(s, [25, 75])
        median = float(np.median(s))
        rows.append({**slot, "images_per_s": median, "min": float(s.min()), "max": float(s.max()),
                     "iqr": float(q3 - q1), "samples": [float(v) for v in s],
                     "gflops": slot["flops_per_step"] * median / slot["batch"] / 1e9})
    return rows


def ratios(rows):
    """Per config and mode: scratch / keras, scratch / keras_xla (scratch as the process has its BLAS
    threads), and best / best: the faster scratch setting over the faster Keras setting."""
    out = []
    keyed = {(r["arch"], r["batch"], r["mode"], r["engine"]): r["images_per_s"] for r in rows}
    for arch, batch, mode, engine in keyed:
        if engine != "scratch":
            continue
        s, s1, k, x = (keyed.get((arch, batch, mode, e)) for e in ENGINES)
        out.append({"arch": arch, "batch": batch, "mode": mode, "vs_keras": s / k, "vs_keras_xla": s / x,
                    "best_scratch": "scratch" if s >= s1 else "scratch_blas1",
                    "best_keras": "keras" if k >= x else "keras_xla", "best_vs_best": max(s, s1) / max(k, x)})
    return out


def targets(result):
    ratio = {(r["arch"], r["batch"], r["mode"]): r["best_vs_best"] for r in result["ratios"]}
    train_blog = max((r["images_per_s"] for r in result["throughput"] if r["engine"].startswith("scratch")
                      and r["mode"] == "train" and (r["arch"], r["batch"]) == ("blog", 32)), default=None)
    mem = {m["engine"]: m["peak_mb"] for m in result["memory"] if (m["arch"], m["batch"]) == ("lenet", 128)}
    keras_mem = [v for k, v in mem.items() if k != "scratch"]
    kb = result.get("keras_baseline", {})
    base = kb.get("median_best_epoch", kb.get("median_last_epoch", {}))  # older results: the last epoch
    values = {
        "train_blog_32": ratio.get(("blog", 32, "train")),
        "train_lenet_128": ratio.get(("lenet", 128, "train")),
        "infer_lenet_128": ratio.get(("lenet", 128, "infer")),
        "seed_loop": train_blog / result["seed_loop"]["images_per_s"] if train_blog else None,
        "memory_lenet_128": min(keras_mem) / mem["scratch"] if keras_mem and "scratch" in mem else None,
        "keras_cli_vs_loop": base["cli"] / base["loop"] if base else None,
        "keras_cli_vs_fit": base["cli"] / base["fit"] if base else None,
    }
    zoo = {(r["model"], r["mode"]): r["best_vs_keras"] for r in result.get("zoo", {}).get("ratios", [])}
    zoo_mem = {(m["arch"], m["engine"]): m["peak_mb"] for m in result.get("zoo", {}).get("memory", [])}
    for name in contenders.ZOO_MODELS:
        values[f"train_{name}"] = zoo.get((name, "train"))
        values[f"infer_{name}"] = zoo.get((name, "infer"))
        s, k = zoo_mem.get((name, "scratch")), zoo_mem.get((name, "keras"))
        values[f"memory_{name}"] = k / s if s and k else None
    return [{"key": key, "measure": measure, "target": t, "value": values[key],
             "met": None if values[key] is None else values[key] >= t} for key, measure, t in TARGETS]


def zoo(settings, dtype, log, limits):
    """ResNet50 and MobileNetV2 at 32x32x3: interleaved training and inference images/s of scratch
    (process BLAS threads and 1 thread) and Keras (stock, oneDNN on), FLOPs, the per-layer-type
    profile of scratch's training step, and peak memory (one process per engine and model). ``limits``:
    ``(matmul peak GFLOP/s, copy GB/s)`` for the roofline (``benchmarks.roofline``)."""
    batch, steps = settings["zoo_batch"], settings["zoo_steps"]
    slots, models, out = [], {}, {"batch": batch, "input_shape": list(contenders.ZOO_INPUT), "models": {}, "profile": {}}
    for name in settings["zoo"]:
        km = contenders.keras_application(name)
        model = models[name] = contenders.scratch_twin(km)
        infer_flops, train_flops = contenders.model_flops(model, batch)
        out["models"][name] = {"layers": len(list(contenders.leaf_calls(model))), "params": int(model.count_params()),
                               "infer_flops": infer_flops, "train_flops": train_flops, "config": model.get_config()}
        engs = {"scratch": contenders.ScratchEngine.for_graph(model, batch, dtype),
                "scratch_blas1": contenders.ScratchEngine.for_graph(model, batch, dtype, blas_threads=1),
                "keras": contenders.GraphKerasEngine(km, batch, dtype)}
        for kind in ZOO_ENGINES:
            for mode in ("train", "infer"):
                fn = getattr(engs[kind], mode)
                fn(2)  # warm-up: tracing, first allocations
                slots.append({"model": name, "mode": mode, "engine": kind, "fn": fn, "samples": [],
                              "flops_per_step": train_flops if mode == "train" else infer_flops})
        log(f"  ready: {name}")
    for r in range(settings["zoo_repeats"]):
        for slot in slots:
            slot["samples"].append(batch * steps / _sample(slot["fn"], steps))
        log(f"  repeat {r + 1}/{settings['zoo_repeats']} done")
    rows = []
    for slot in slots:
        s = np.array(slot.pop("samples"))
        slot.pop("fn")
        median = float(np.median(s))
        rows.append({**slot, "images_per_s": median, "min": float(s.min()), "max": float(s.max()),
                     "samples": [float(v) for v in s], "gflops": slot["flops_per_step"] * median / batch / 1e9})
    out["throughput"] = rows
    keyed = {(r["model"], r["mode"], r["engine"]): r["images_per_s"] for r in rows}
    out["ratios"] = []
    for name in settings["zoo"]:
        for mode in ("train", "infer"):
            s, s1, k = (keyed[name, mode, e] for e in ZOO_ENGINES)
            out["ratios"].append({"model": name, "mode": mode, "vs_keras": s / k, "blas1_vs_keras": s1 / k,
                                  "best_scratch": "scratch" if s >= s1 else "scratch_blas1",
                                  "best_vs_keras": max(s, s1) / k})
    bounds = {(name, batch): roofline.model_bound(models[name], batch, *limits) for name in settings["zoo"]}
    out["roofline"] = roofline_rows([(name, batch, mode, keyed[name, mode, "scratch"], keyed[name, mode, "scratch_blas1"],
                                      keyed[name, mode, "keras"]) for name in settings["zoo"] for mode in ("train", "infer")],
                                    bounds)
    log("  per-layer-type profile of scratch ...")
    best = {r["model"]: r["best_scratch"] for r in out["ratios"] if r["mode"] == "train"}
    for name in settings["zoo"]:
        eng = contenders.ScratchEngine.for_graph(models[name], batch, dtype, blas_threads=1 if best[name] == "scratch_blas1" else None)
        out["profile"][name] = {"engine": best[name], **contenders.profile_graph(eng, settings["zoo_profile_repeats"])}
        add_bounds(out["profile"][name]["rows"], "type", bounds[name, batch]["kinds"])
    log("  peak memory (one process per engine and model) ...")
    out["memory"] = [memory.measure(e, name, batch, settings["zoo_memory_steps"],
                                    config=out["models"][name]["config"] if e == "scratch" else None)
                     for name in settings["zoo"] for e in ("scratch", "keras")]
    for info in out["models"].values():
        info.pop("config")
    return out


def roofline_rows(measured, bounds):
    """One row per ``(model, batch, mode, scratch images/s, other scratch images/s, Keras images/s)`` of
    ``measured``: the bound ``bounds[model, batch][mode]`` beside the faster scratch setting's ms per batch, the
    share of the bound it reaches, and the faster Keras setting's ms and share."""
    rows = []
    for model, batch, mode, s, s1, k in measured:
        b = bounds[model, batch][mode]
        ms, keras_ms = batch / max(s, s1) * 1e3, batch / k * 1e3
        rows.append({"model": model, "batch": batch, "mode": mode, **b, "measured_ms": ms, "share": b["bound_ms"] / ms,
                     "keras_ms": keras_ms, "keras_share": b["bound_ms"] / keras_ms})
    return rows


def add_bounds(rows, key, bounds):
    """Put each profile row's roofline bound (forward and backward ms) and the share reached beside it."""
    for r in rows:
        b = bounds.get(r[key])
        if b is None:
            continue
        r["bound_forward_ms"], r["bound_backward_ms"] = b["forward"]["bound_ms"], b["backward"]["bound_ms"]
        measured = r["forward_ms"] + r["backward_ms"]
        r["bound_share"] = (r["bound_forward_ms"] + r["bound_backward_ms"]) / measured if measured else None


def measure_limits(settings, result, when, log):
    """The matmul peak and the copy bandwidth into ``result`` (``when``: ``before`` or ``after``)."""
    log(f"matmul peak and copy bandwidth ({when}) ...")
    result[f"matmul_peak_{when}"] = contenders.matmul_peak(settings["peak_n"])
    result[f"copy_bandwidth_{when}"] = roofline.copy_bandwidth(settings["bandwidth_mib"])


def run_models(dtype="float32", log=print):
    """``--models``: only the single-layer table and ResNet50 / MobileNetV2 (quick settings)."""
    settings = {k: v for k, v in MODES["quick"].items() if k.startswith(("layer_", "zoo", "peak", "bandwidth"))}
    contenders.import_keras()
    started = time.perf_counter()
    result = {"benchmark": "scratch-cnn vs keras", "mode": "models", "dtype": dtype,
              "date": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
              "machine": machine.describe(), "settings": settings, "load_average_start": list(os.getloadavg())}
    measure_limits(settings, result, "before", log)
    log("single layers, scratch beside Keras ...")
    result["layers"] = layers.measure(repeats=settings["layer_repeats"], sample_s=settings["layer_sample_s"],
                                      scale=settings["layer_scale"], log=log)
    log(f"keras.applications models {', '.join(settings['zoo'])} ...")
    result["zoo"] = zoo(settings, dtype, log, roofline.limits(result))
    measure_limits(settings, result, "after", log)
    result["load_average_end"] = list(os.getloadavg())
    result["targets"] = [t for t in targets({**result, "ratios": [], "throughput": [], "memory": [],
                                             "seed_loop": {"images_per_s": 1.0}})
                         if t["key"].endswith(contenders.ZOO_MODELS)]
    result["seconds"] = time.perf_counter() - started
    return result


def run_keras_baseline(repeats=7, log=print):
    """``--keras-baseline``: only the Keras baseline legs, the full mode's settings, more repeats
    (each leg's images/s varies up to 2x between processes on a shared 2-core machine)."""
    kb = {**MODES["full"]["keras_baseline"], "repeats": repeats}
    started = time.perf_counter()
    result = {"benchmark": "scratch-cnn vs keras", "mode": "keras-baseline", "dtype": "float32",
              "date": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
              "machine": machine.describe(), "settings": {"keras_baseline": kb},
              "load_average_start": list(os.getloadavg())}
    log(f"keras baseline: train.py keras, --deterministic, fit, train_on_batch loop ({kb['arch']} batch "
        f"{kb['batch']}, {kb['limit']} images, {kb['epochs']} epochs, {repeats} repeats, one process each) ...")
    result["keras_baseline"] = keras_baseline.measure(kb["arch"], kb["batch"], kb["limit"], kb["epochs"],
                                                      repeats, log=log)
    result["load_average_end"] = list(os.getloadavg())
    result["targets"] = [t for t in targets({**result, "ratios": [], "throughput": [], "memory": [],
                                             "seed_loop": {"images_per_s": 1.0}})
                         if t["key"].startswith("keras_")]
    result["seconds"] = time.perf_counter() - started
    return result


def run(mode="full", dtype="float32", log=print):
    """The whole benchmark; returns the result dict (see ``benchmarks/README`` in the module doc)."""
    settings = MODES[mode]
    contenders.import_keras()  # before anything else imports TensorFlow, with its speed defaults
    started = time.perf_counter()
    result = {"benchmark": "scratch-cnn vs keras", "mode": mode, "dtype": dtype,
              "date": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
              "machine": machine.describe(), "settings": {k: v for k, v in settings.items()},
              "load_average_start": list(os.getloadavg())}  # other processes on the cores skew everything
    measure_limits(settings, result, "before", log)
    log("throughput (interleaved) ...")
    result["throughput"] = throughput(settings, dtype, log)
    result["ratios"] = ratios(result["throughput"])
    measure_limits(settings, result, "after", log)
    limits = roofline.limits(result)
    bounds = {(a, b): roofline.model_bound(contenders.ScratchEngine.for_arch(a, b, dtype).model, b, *limits)
              for a, b in settings["configs"]}
    ips = {(r["arch"], r["batch"], r["mode"], r["engine"]): r["images_per_s"] for r in result["throughput"]}
    result["roofline"] = roofline_rows(
        [(a, b, mode, *(ips[a, b, mode, e] for e in ENGINES[:2]), max(ips[a, b, mode, e] for e in ENGINES[2:]))
         for a, b in settings["configs"] for mode in ("train", "infer")], bounds)
    log("per-layer profile of the scratch engine ...")
    best = {(r["arch"], r["batch"]): r["best_scratch"] for r in result["ratios"] if r["mode"] == "train"}
    result["profile"] = [
        {"arch": a, "batch": b, "engine": best[a, b],
         "layers": contenders.profile_layers(a, b, dtype, settings["profile_repeats"],
                                          blas_threads=1 if best[a, b] == "scratch_blas1" else None)}
        for a, b in settings["configs"]]
    for prof in result["profile"]:
        add_bounds(prof["layers"], "layer", bounds[prof["arch"], prof["batch"]]["layers"])
    log("single layers, scratch beside Keras ...")
    result["layers"] = layers.measure(repeats=settings["layer_repeats"], sample_s=settings["layer_sample_s"],
                                      scale=settings["layer_scale"], log=log)
    if settings["zoo"]:
        log(f"keras.applications models {', '.join(settings['zoo'])} ...")
        result["zoo"] = zoo(settings, dtype, log, limits)
    log("seed per-image loop ...")
    import scratch

    (x, y), _ = scratch.load_mnist()
    result["seed_loop"] = seed_loop.measure(x[:settings["seed_images"]], y[:settings["seed_images"]])
    log("peak memory (one process per engine) ...")
    result["memory"] = [memory.measure(e, a, b, settings["memory_steps"])
                        for a, b in settings["memory"] for e in settings["memory_engines"]]
    kb = settings["keras_baseline"]
    log(f"keras baseline: train.py keras, --deterministic, fit, train_on_batch loop ({kb['arch']} batch "
        f"{kb['batch']}, {kb['limit']} images, {kb['epochs']} epochs, one process each) ...")
    result["keras_baseline"] = keras_baseline.measure(kb["arch"], kb["batch"], kb["limit"], kb["epochs"],
                                                      kb["repeats"], log=log, share_plain=mode == "smoke")
    result["load_average_end"] = list(os.getloadavg())
    result["targets"] = targets(result)
    result["seconds"] = time.perf_counter() - started
    return result
