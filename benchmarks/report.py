"""The markdown report of a benchmark result (the dict ``benchmarks.run.run`` returns)."""

import numpy as np

ENGINE_TITLES = {"scratch": "scratch", "scratch_blas1": "scratch BLAS 1 thread", "keras": "Keras",
                 "keras_xla": "Keras XLA"}
ENGINES = tuple(ENGINE_TITLES)


def _rate(row):
    return f"{row['images_per_s']:,.0f} ({row['min']:,.0f}-{row['max']:,.0f})"


def _fmt(v, spec=".2f"):
    return "-" if v is None else format(v, spec)


def _load(result):
    if "load_average_start" not in result:
        return ""
    start, end = result["load_average_start"][0], result["load_average_end"][0]
    return (f" Load average (1 min) {start:.1f} at the start and {end:.1f} at the end: anything well above 0 "
            f"means other processes shared the cores and every figure is noisier and lower.")


def markdown(result, command="python -m benchmarks"):
    if result["mode"] == "models":
        return _models_markdown(result, command + " --models")
    if result["mode"] == "keras-baseline":
        m = result["machine"]
        out = [f"Measured by `{command} --keras-baseline` ({result['date']}) on {m['cpu']}, {m['usable_cores']} "
               f"cores; TensorFlow {m.get('tensorflow')} / Keras {m.get('keras')}.{_load(result)}"]
        return "\n".join(out + _keras_baseline(result["keras_baseline"]) + [""] + _targets(result["targets"]))
    m = result["machine"]
    blas = ", ".join(f"{b['internal_api']} {b['version']} ({b['architecture']}, {b['num_threads']} threads)"
                     for b in m["blas"])
    out = [f"Measured by `{command}` ({result['mode']} mode, {result['dtype']}, {result['date']}) on "
           f"{m['cpu']}, {m['usable_cores']} cores; NumPy {m['numpy']} with {blas}; "
           f"TensorFlow {m.get('tensorflow')} / Keras {m.get('keras')} "
           f"(oneDNN {m['env'].get('TF_ENABLE_ONEDNN_OPTS')}, intra-op threads {m.get('tf_threads', {}).get('intra_op')} "
           f"= all cores when 0). Images/s: median of {result['settings']['repeats']} interleaved samples "
           f"(min-max). `scratch` runs with the process's BLAS threads, `scratch BLAS 1 thread` under "
           f"`threadpoolctl.threadpool_limits(1)`; the last column divides the faster scratch setting by the "
           f"faster Keras setting.{_load(result)}", ""]
    out += ["| arch | batch | | scratch | scratch BLAS 1 thread | Keras | Keras XLA | scratch / Keras "
            "| scratch / Keras XLA | best / best |", "|---|---|---|---|---|---|---|---|---|---|"]
    rows = {(r["arch"], r["batch"], r["mode"], r["engine"]): r for r in result["throughput"]}
    for rt in result["ratios"]:
        key = (rt["arch"], rt["batch"], rt["mode"])
        cells = [_rate(rows[key + (e,)]) for e in ENGINES]
        out.append(f"| {rt['arch']} | {rt['batch']} | {'training' if rt['mode'] == 'train' else 'inference'} | "
                   + " | ".join(cells) + f" | {rt['vs_keras']:.2f} | {rt['vs_keras_xla']:.2f} | "
                   f"**{rt['best_vs_best']:.2f}** ({ENGINE_TITLES[rt['best_scratch']]} / {ENGINE_TITLES[rt['best_keras']]}) |")
    peak = result["matmul_peak_before"]
    out += ["", f"Achieved GFLOP/s (GEMM FLOPs of the model / time) next to the matmul peak "
                f"(`np.matmul` {peak['n']}x{peak['n']} {peak['dtype']}: {peak['gflops']:.0f} GFLOP/s before, "
                f"{result['matmul_peak_after']['gflops']:.0f} after the throughput runs):", "",
            "| arch | batch | | " + " | ".join(ENGINE_TITLES.values()) + " |", "|---|---|---|---|---|---|---|"]
    for rt in result["ratios"]:
        key = (rt["arch"], rt["batch"], rt["mode"])
        out.append(f"| {rt['arch']} | {rt['batch']} | {'training' if rt['mode'] == 'train' else 'inference'} | "
                   + " | ".join(f"{rows[key + (e,)]['gflops']:.1f}" for e in ENGINES) + " |")
    out += _roofline(result.get("roofline"), result)
    for prof in result["profile"]:
        total = sum(r["forward_ms"] + r["backward_ms"] for r in prof["layers"])
        setting = ENGINE_TITLES[prof.get("engine", "scratch")]
        out += ["", f"Scratch per-layer time, {prof['arch']} batch {prof['batch']}, as `{setting}` (its faster "
                    f"training setting above; median ms of one training step; total {total:.2f} ms = "
                    f"{prof['batch'] / total * 1e3:,.0f} images/s, timers included):", "",
                "| layer | forward ms | backward ms | forward GFLOP/s | backward GFLOP/s | bound ms (fwd + bwd) "
                "| share of the bound |", "|---|---|---|---|---|---|---|"]
        for r in prof["layers"]:
            out.append(f"| {r['layer']} | {r['forward_ms']:.3f} | {r['backward_ms']:.3f} | "
                       f"{_fmt(r['forward_gflops'], '.1f')} | {_fmt(r['backward_gflops'], '.1f')} | "
                       f"{_bound_cells(r, '.3f')} |")
    out += ["", "Peak memory of training (one process per engine, peak resident set `VmHWM`; the increase is "
                "over the process right after its imports, so it holds the MNIST load, the model and training):", "", "| arch | batch | engine | steps | peak MB | increase MB |",
            "|---|---|---|---|---|---|"]
    for mem in result["memory"]:
        out.append(f"| {mem['arch']} | {mem['batch']} | {ENGINE_TITLES[mem['engine']]} | {mem['steps']} | "
                   f"{mem['peak_mb']:.0f} | {mem['training_increase_mb']:.0f} |")
    out += _layers(result.get("layers"))
    out += _zoo(result.get("zoo"))
    out += _keras_baseline(result.get("keras_baseline"))
    seed = result["seed_loop"]
    out += ["", f"The seed tutorial's per-image loop trainer (`benchmarks/seed_loop.py`): "
                f"{seed['images_per_s']:.1f} images/s over {seed['images']} images.", "",
            "| target | wanted | measured | met |", "|---|---|---|---|"]
    for t in result["targets"]:
        met = "-" if t["met"] is None else ("yes" if t["met"] else "no")
        out.append(f"| {t['measure']} | >= {t['target']:g} | {_fmt(t['value'])} | {met} |")
    return "\n".join(out)



def _bound_cells(row, spec):
    """The two roofline cells of a profile row (``-`` for rows without a bound, and older results)."""
    if "bound_forward_ms" not in row:
        return "- | -"
    share = row.get("bound_share")
    return (f"{format(row['bound_forward_ms'], spec)} + {format(row['bound_backward_ms'], spec)} | "
            f"{'-' if share is None else format(share, '.0%')}")


def _roofline(rows, result):
    """The roofline table (``benchmarks.roofline``): per model and pass, the bound beside the measured time."""
    if not rows:
        return []
    out = [""]
    if result is not None:
        from .roofline import limits

        peak, bw = limits(result)
        out += [f"Roofline (`benchmarks/roofline.py`): the bound of one batch is every product layer's FLOPs at the "
                f"matmul peak ({peak:.0f} GFLOP/s) plus the bytes every other pass must move at the copy bandwidth "
                f"({bw:.1f} GB/s, a {result['copy_bandwidth_before']['mib']} MiB `np.copyto`), both measured in this "
                f"run (the higher of before and after the timings); share = bound / measured (1.0: at the bound):", ""]
    else:
        out += ["Roofline of these models (the same bound, with this run's matmul peak and copy bandwidth):", ""]
    out += ["| model | batch | | GEMM ms | memory ms | bound ms | scratch ms | share | Keras ms | Keras share |",
            "|---|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        out.append(f"| {r['model']} | {r['batch']} | {'training' if r['mode'] == 'train' else 'inference'} | "
                   f"{r['gemm_ms']:.2f} | {r['memory_ms']:.2f} | {r['bound_ms']:.2f} | {r['measured_ms']:.2f} | "
                   f"**{r['share']:.0%}** | {r['keras_ms']:.2f} | {r['keras_share']:.0%} |")
    return out


def _targets(targets):
    out = ["| target | wanted | measured | met |", "|---|---|---|---|"]
    for t in targets:
        met = "-" if t["met"] is None else ("yes" if t["met"] else "no")
        out.append(f"| {t['measure']} | >= {t['target']:g} | {_fmt(t['value'])} | {met} |")
    return out


def _models_markdown(result, command):
    m = result["machine"]
    blas = ", ".join(f"{b['internal_api']} {b['version']} ({b['num_threads']} threads)" for b in m["blas"])
    out = [f"Measured by `{command}` ({result['dtype']}, {result['date']}) on {m['cpu']}, {m['usable_cores']} "
           f"cores; NumPy {m['numpy']} with {blas}; TensorFlow {m.get('tensorflow')} / Keras {m.get('keras')} "
           f"(oneDNN {m['env'].get('TF_ENABLE_ONEDNN_OPTS')}).{_load(result)}"]
    return "\n".join(out + _layers(result["layers"]) + _zoo(result["zoo"]) + [""] + _targets(result["targets"]))


PASS_TITLES = {"forward": "forward", "forward_backward": "forward + backward"}


def _layers(rows):
    """Single layers, scratch beside Keras (``benchmarks.layers``); nothing for older results."""
    if not rows:
        return []
    out = ["", "Single layers in training mode, scratch beside the same Keras layer (TensorFlow as it ships, "
               "oneDNN on, the layer called in a `tf.function`; forward + backward: the input and weight gradients "
               "for one `dy`); median ms per call of interleaved samples; the last column > 1 means scratch is "
               "faster:", "", "| layer | input | pass | scratch ms | Keras ms | Keras / scratch time |",
           "|---|---|---|---|---|---|"]
    for r in rows:
        out.append(f"| {r['case']} | {'x'.join(map(str, r['input_shape']))} | {PASS_TITLES[r['pass']]} | "
                   f"{r['scratch_ms']:.2f} | {r['keras_ms']:.2f} | **{r['keras_over_scratch']:.2f}** |")
    return out


def _zoo(zoo):
    """ResNet50 / MobileNetV2 (``benchmarks.run.zoo``); nothing when the run had none (smoke)."""
    if not zoo:
        return []
    shape = "x".join(map(str, zoo["input_shape"]))
    out = ["", f"keras.applications models at {shape}, batch {zoo['batch']} (`weights=None`, 10 classes; scratch: "
               f"the `keras_ref.from_keras` twin trained with forward, loss, backward, Adam; Keras: compiled, "
               f"`train_on_batch` / `predict_on_batch`, oneDNN on); images/s, median of interleaved samples "
               f"(min-max):", "",
           "| model | layers | params | | scratch | scratch BLAS 1 thread | Keras | best scratch / Keras |",
           "|---|---|---|---|---|---|---|---|"]
    rows = {(r["model"], r["mode"], r["engine"]): r for r in zoo["throughput"]}
    for rt in zoo["ratios"]:
        info = zoo["models"][rt["model"]]
        cells = [_rate(rows[rt["model"], rt["mode"], e]) for e in ("scratch", "scratch_blas1", "keras")]
        out.append(f"| {rt['model']} | {info['layers']} | {info['params']:,} | "
                   f"{'training' if rt['mode'] == 'train' else 'inference'} | " + " | ".join(cells) +
                   f" | **{rt['best_vs_keras']:.2f}** ({ENGINE_TITLES[rt['best_scratch']]}) |")
    out += _roofline(zoo.get("roofline"), None)
    out += ["", "Peak memory of training (one process per engine and model, `VmHWM`; increase over the process "
                "after its imports):", "", "| model | engine | steps | peak MB | increase MB |", "|---|---|---|---|---|"]
    for mem in zoo["memory"]:
        out.append(f"| {mem['arch']} | {ENGINE_TITLES[mem['engine']]} | {mem['steps']} | {mem['peak_mb']:.0f} | "
                   f"{mem['training_increase_mb']:.0f} |")
    for name, prof in zoo["profile"].items():
        total = sum(r["forward_ms"] + r["backward_ms"] for r in prof["rows"] if not r["type"].startswith("(i")
                    and not r["type"].startswith("(c"))
        out += ["", f"Where scratch's training step goes, {name} batch {zoo['batch']}, as "
                    f"`{ENGINE_TITLES[prof['engine']]}` (median ms of one step per layer type, every call summed; "
                    f"step {prof['step_ms']:.0f} ms; the im2col / col2im rows are part of the Conv2D rows):", "",
                "| layer type | calls | forward ms | backward ms | share of the step | forward GFLOP/s "
                "| backward GFLOP/s | bound ms (fwd + bwd) | share of the bound |", "|---|---|---|---|---|---|---|---|---|"]
        for r in prof["rows"]:
            share = (r["forward_ms"] + r["backward_ms"]) / prof["step_ms"]
            out.append(f"| {r['type']} | {r['calls'] or ''} | {r['forward_ms']:.1f} | {r['backward_ms']:.1f} | "
                       f"{share:.0%} | {_fmt(r['forward_gflops'], '.1f')} | {_fmt(r['backward_gflops'], '.1f')} | "
                       f"{_bound_cells(r, '.2f')} |")
        out.append(f"| (layers, loss and Adam) | | | | {total / prof['step_ms']:.0%} | | | | |")
    return out


LEG_TITLES = {"cli": "`train.py keras` (default)", "cli_deterministic": "`train.py keras --deterministic`",
              "fit": "plain Keras `fit`", "loop": "bare `train_on_batch` loop"}


def _keras_baseline(kb):
    """The Keras baseline as users run it (``benchmarks.keras_baseline``); nothing for older results."""
    if not kb:
        return []
    stat = "best_epoch" if "median_best_epoch" in kb else "last_epoch"
    med, lo, hi = kb[f"median_{stat}"], kb[f"min_{stat}"], kb[f"max_{stat}"]
    first = {}
    for row in kb["runs"]:
        first.setdefault(row["leg"], row)
    which = ("each run's best epoch after the first (other jobs only slow an epoch down; the first one traces the "
             "training function)" if stat == "best_epoch" else
             "the last epoch (the first one traces the training function)")
    out = ["", f"The Keras baseline as a user runs it: {kb['arch']}, batch {kb['batch']}, Adam {kb['lr']:g}, "
               f"{kb['images']:,} training images, {kb['epochs']} epochs, each leg in a fresh process, "
               f"{kb['repeats']} interleaved repeat(s); training images/s of {which}, median (min-max):", "",
           "| leg | command | oneDNN | op determinism | images/s | / plain `fit` |", "|---|---|---|---|---|---|"]
    for leg, title in LEG_TITLES.items():
        tf = first[leg]["tensorflow"]
        out.append(f"| {title} | `{first[leg]['command']}` | {'on' if tf['onednn'] else 'off'} | "
                   f"{'on' if tf['op_determinism'] else 'off'} | {med[leg]:,.0f} ({lo[leg]:,.0f}-{hi[leg]:,.0f}) | "
                   f"{med[leg] / med['fit']:.2f} |")
    pick = (lambda rates: max(rates[1:] or rates)) if stat == "best_epoch" else (lambda rates: rates[-1])
    per_repeat = {leg: [pick(r["images_per_s"]) for r in kb["runs"] if r["leg"] == leg] for leg in LEG_TITLES}
    paired = sorted(c / f for c, f in zip(per_repeat["cli"], per_repeat["fit"]))
    if paired:  # the legs of one repeat run one after another, under much the same load
        out += ["", f"Per repeat, `train.py keras` (default) / plain `fit`: "
                    f"{', '.join(f'{r:.2f}' for r in paired)} (sorted; median {float(np.median(paired)):.2f})."]
    if stat == "best_epoch":
        lm = kb["median_last_epoch"]
        out += ["", "The last epoch alone, median images/s: " + ", ".join(
            f"{LEG_TITLES[leg]} {lm[leg]:,.0f}" for leg in LEG_TITLES) + f" (default / `fit` {lm['cli'] / lm['fit']:.2f})."]
    return out
