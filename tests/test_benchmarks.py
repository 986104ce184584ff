"""The benchmark still runs end to end (smoke mode) and writes every field the README table needs.

Speed is never asserted here: the figures come from ``python -m benchmarks`` printouts.
"""

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import scratch
from benchmarks import contenders, keras_baseline, report, seed_loop
from benchmarks.__main__ import main
from benchmarks.run import TARGETS
from scratch import kernels
from scratch.layers import convolutional

pytestmark = pytest.mark.keras


@pytest.fixture(scope="module")
def smoke(tmp_path_factory):
    """``(result, stdout, json path)`` of one ``python -m benchmarks --smoke`` run.

    In a child process, as a user runs it: the benchmark imports TensorFlow with its speed
    defaults (oneDNN on), which must not leak into the tests that share this process."""
    out = tmp_path_factory.mktemp("smoke") / "result.json"
    root = Path(__file__).resolve().parent.parent
    env = {**os.environ, "PYTHONPATH": str(root)}
    proc = subprocess.run([sys.executable, "-m", "benchmarks", "--smoke", "--out", str(out)], cwd=root, env=env,
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    return json.loads(out.read_text()), proc.stdout, out


def test_smoke_result_has_every_top_level_field(smoke):
    result, _, _ = smoke
    for key in ("machine", "settings", "matmul_peak_before", "matmul_peak_after", "throughput", "ratios",
                "profile", "layers", "seed_loop", "memory", "targets", "date", "mode", "load_average_start",
                "load_average_end"):
        assert key in result, key
    assert "zoo" not in result  # ResNet50 / MobileNetV2 only in the quick and full modes
    assert [t["key"] for t in result["targets"]] == [t[0] for t in TARGETS]


def test_smoke_result_describes_the_machine(smoke):
    m = smoke[0]["machine"]
    for key in ("cpu", "usable_cores", "numpy", "tensorflow", "keras", "blas", "env"):
        assert key in m, key
    assert m["blas"] and {"internal_api", "num_threads", "architecture"} <= set(m["blas"][0])


def test_smoke_throughput_covers_every_engine_and_mode(smoke):
    result, printed, _ = smoke
    engines_seen = {(r["engine"], r["mode"]) for r in result["throughput"]}
    assert engines_seen == {(e, mode) for e in ("scratch", "scratch_blas1", "keras", "keras_xla")
                            for mode in ("train", "infer")}
    for r in result["throughput"]:
        assert r["images_per_s"] > 0 and r["min"] <= r["images_per_s"] <= r["max"] and r["gflops"] > 0
    for r in result["ratios"]:
        assert r["best_vs_best"] >= min(r["vs_keras"], r["vs_keras_xla"]) - 1e-12
    assert "| blog | 32 | training |" in printed and "| blog | 32 | inference |" in printed


def test_smoke_profile_and_layer_timings(smoke):
    result, printed, _ = smoke
    assert {row["layer"] for row in result["profile"][0]["layers"]} >= {"conv2d", "max_pooling2d", "dense"}
    cases = {(r["class"], r["pass"]) for r in result["layers"]}
    assert cases >= {(c, p) for c in ("BatchNormalization", "DepthwiseConv2D") for p in ("forward", "forward_backward")}
    assert all(r["scratch_ms"] > 0 and r["keras_ms"] > 0 for r in result["layers"])
    assert "| BatchNormalization | 4x16x16x64 | forward + backward |" in printed


def test_smoke_memory_and_seed_loop(smoke):
    result, _, _ = smoke
    assert {mem["engine"] for mem in result["memory"]} == {"scratch", "keras"}
    assert all(mem["peak_mb"] >= mem["after_import_mb"] > 0 for mem in result["memory"])
    assert result["seed_loop"]["images"] > 0 and np.isfinite(result["seed_loop"]["mean_loss"])


def test_smoke_keras_baseline_legs(smoke):
    result, printed, _ = smoke
    kb = result["keras_baseline"]
    assert sorted(kb["median_last_epoch"]) == sorted(keras_baseline.LEGS) and len(kb["runs"]) == 4
    for leg in keras_baseline.LEGS:  # one repeat: the statistics are that run's best epoch after the first
        row = next(r for r in kb["runs"] if r["leg"] == leg)
        assert kb["median_best_epoch"][leg] == max(row["images_per_s"][1:])
    settings = {row["leg"]: row["tensorflow"] for row in kb["runs"]}
    assert settings["cli_deterministic"] == {"onednn": False, "op_determinism": True}
    assert not settings["cli"]["op_determinism"] and settings["cli"] == settings["fit"] == settings["loop"]
    assert all(len(row["images_per_s"]) == kb["epochs"] and min(row["images_per_s"]) > 0 for row in kb["runs"])
    assert "The last epoch alone, median images/s: " in printed
    assert "| `train.py keras --deterministic` | `python train.py keras --arch blog" in printed
    assert "Per repeat, `train.py keras` (default) / plain `fit`: " in printed


def test_markdown_re_renders_the_same_table_from_the_json_alone(smoke, capsys):
    result, _, out = smoke
    main(["--markdown", "--out", str(out)])
    assert capsys.readouterr().out.strip() == report.markdown(result).strip()


def test_keras_baseline_report_is_that_table_and_its_two_targets(smoke):
    result = smoke[0]
    only = {k: result[k] for k in ("benchmark", "dtype", "date", "machine", "keras_baseline", "load_average_start",
                                   "load_average_end")}
    only.update(mode="keras-baseline", targets=[t for t in result["targets"] if t["key"].startswith("keras_")])
    text = report.markdown(only)
    assert text.startswith("Measured by `python -m benchmarks --keras-baseline`")
    assert "| plain Keras `fit` | `python -m benchmarks.keras_baseline fit" in text
    assert text.count("| >= ") == 2 and "/ plain Keras `fit` on the same data and model" in text


def test_flop_counts_follow_the_layer_shapes():
    model = scratch.build_model("lenet")
    infer, train = contenders.model_flops(model, 2)
    conv1 = 2 * 2 * 26 * 26 * 9 * 1 * 32
    conv2 = 2 * 2 * 11 * 11 * 9 * 32 * 64
    dense = 2 * 2 * 1600 * 10
    assert infer == conv1 + conv2 + dense
    assert train == 2 * conv1 + 3 * (conv2 + dense)  # no dx for the first layer


def test_flop_counts_of_grouped_depthwise_and_separable_convolutions():
    x = scratch.Input((8, 8, 6))
    h = scratch.Conv2D(4, 3, groups=2, padding="same")(x)  # 3x3 over 6/2 channels, 4 filters
    h = scratch.DepthwiseConv2D(3, depth_multiplier=2)(h)  # 6x6 out, 4*2 channels, 9 taps each
    h = scratch.SeparableConv2D(5, 1)(h)  # depthwise 1x1 (m=1) on 8 channels, then 8 -> 5
    y = scratch.Dense(3)(scratch.Flatten()(h))
    model = scratch.Model(x, y)
    n = 2
    grouped = 2 * n * 8 * 8 * 9 * 3 * 4
    depthwise = 2 * n * 6 * 6 * 9 * 4 * 2
    separable = 2 * n * 6 * 6 * 8 + 2 * n * 6 * 6 * 8 * 5
    dense = 2 * n * 6 * 6 * 5 * 3
    infer, train = contenders.model_flops(model, n)
    assert infer == grouped + depthwise + separable + dense
    assert train == 2 * grouped + 3 * (depthwise + separable + dense)  # the first layer needs no dx


def test_per_type_profile_of_a_graph_adds_up_and_restores_the_layers():
    x = scratch.Input((8, 8, 3))
    h = scratch.Conv2D(4, 3, padding="same")(x)
    a = scratch.BatchNormalization()(h)
    b = scratch.Conv2D(4, 1)(h)
    y = scratch.Dense(10, activation="softmax")(scratch.GlobalAveragePooling2D()(scratch.Add()([a, b])))
    model = scratch.Model(x, y)
    eng = contenders.ScratchEngine.for_graph(model, 4)
    prof = contenders.profile_graph(eng, 2)
    rows = {r["type"]: r for r in prof["rows"]}
    assert {"Conv2D 3x3", "Conv2D 1x1", "BatchNormalization", "Add", "Dense", "(adam)", "(loss)",
            "(im2col, inside Conv2D)", "(col2im, inside Conv2D)"} <= set(rows)
    assert rows["Conv2D 1x1"]["calls"] == 1 and rows["BatchNormalization"]["calls"] == 1
    layers_ms = sum(r["forward_ms"] + r["backward_ms"] for k, r in rows.items() if not k.startswith("(i")
                    and not k.startswith("(c"))
    assert 0 < layers_ms <= prof["step_ms"] * 1.05
    assert all("forward" not in vars(layer) for layer in contenders.leaf_calls(model))  # timers removed
    assert convolutional.im2col_nd is kernels.im2col_nd and convolutional.col2im_nd is kernels.col2im_nd  # their timers too


def test_seed_loop_trainer_learns_one_image():
    (x, y), _ = scratch.load_mnist()
    net = seed_loop.SeedLoopNet(seed=0)
    image = x[0].astype(np.float64) / 255 - 0.5
    first = net.train_one(image, int(y[0]))
    for _ in range(5):
        last = net.train_one(image, int(y[0]))
    assert last < first


def test_partial_runs_write_their_own_file_by_default(monkeypatch):
    """``--models`` and ``--keras-baseline`` never overwrite the full run's ``latest.json``."""
    import benchmarks.__main__ as cli
    import benchmarks.run as run_mod

    written = {}
    monkeypatch.setattr("scratch.files.atomic_write", lambda path, fn: written.setdefault("path", path))
    monkeypatch.setattr(run_mod, "run_keras_baseline", lambda log: {"mode": "stub"})
    monkeypatch.setattr(report, "markdown", lambda result: "")
    cli.main(["--keras-baseline"])
    assert written["path"] == cli.BASELINE_RESULTS and written["path"] != cli.RESULTS


def test_versions_times_two_trees_and_the_fusion_switch(capsys):
    from benchmarks import versions

    versions.main([".", ".", "--arch", "blog", "--batch", "8", "--steps", "1", "--rounds", "1", "--graph",
                   "--no-fusion-first"])
    out = capsys.readouterr().out
    assert "blog b8 as a graph, 1 rounds x 1 steps" in out
    assert ". (no fusion)" in out and out.count("second/first") == 2


def test_fusion_gain_runs_both_ways_on_a_graph(capsys):
    from benchmarks import fusion_gain

    fusion_gain.main(["--arch", "lenet", "--batch", "2", "--repeats", "2", "--graph"])
    out = capsys.readouterr().out
    assert "max_pooling2d {'relu_input': True}" in out and "fused/unfused" in out


def test_instructions_parses_callgrinds_count(monkeypatch, capsys):
    from benchmarks import instructions

    counts = iter([100, 300, 500, 100, 320, 540])  # per tree: set-up, infer, train
    monkeypatch.setattr(instructions, "count", lambda *a: next(counts))
    instructions.main(["a", "b", "--steps", "2"])
    out = capsys.readouterr().out
    assert "infer: a 0.00 M, b 0.00 M, second/first 1.100" in out and "second/first 1.100" in out


def test_smoke_roofline_sits_beside_each_pass(smoke):
    result, printed, _ = smoke
    assert {"copy_bandwidth_before", "copy_bandwidth_after"} <= set(result)
    rows = {(r["model"], r["batch"], r["mode"]): r for r in result["roofline"]}
    assert set(rows) == {("blog", 32, "train"), ("blog", 32, "infer")}
    for r in rows.values():
        assert r["bound_ms"] == r["gemm_ms"] + r["memory_ms"] and r["share"] == r["bound_ms"] / r["measured_ms"]
    assert rows["blog", 32, "train"]["flops"] > rows["blog", 32, "infer"]["flops"] > 0
    prof = {r["layer"]: r for r in result["profile"][0]["layers"]}
    assert prof["conv2d"]["bound_forward_ms"] > 0 and prof["max_pooling2d"]["bound_backward_ms"] > 0
    assert "| blog | 32 | training |" in printed.split("Roofline (")[1] and "share of the bound" in printed


def test_roofline_counts_flops_and_the_bytes_of_every_other_pass():
    from benchmarks import roofline

    model = scratch.build_model("lenet")
    n, f32 = 2, 4
    bound = roofline.model_bound(model, n, peak_gflops=1.0, gb_per_s=1.0)  # 1 FLOP and 1 byte per ns
    infer, train = contenders.model_flops(model, n)
    assert bound["infer"]["flops"] == infer and bound["train"]["flops"] == train
    pool1 = (26 * 26 * 32 + 13 * 13 * 32) * n * f32  # reads its input, writes its output
    pool2 = (11 * 11 * 64 + 5 * 5 * 64) * n * f32
    assert bound["infer"]["bytes"] == pool1 + pool2  # Flatten is a view, Dropout the identity in inference
    kinds = bound["kinds"]
    in1, in2 = 26 * 26 * 32 * n * f32, 11 * 11 * 64 * n * f32
    assert kinds["MaxPooling2D"]["backward"]["bytes"] == pool1 + in1 + pool2 + in2  # dy, x and dx: out + 2 * in
    dropout = 1600 * n * f32
    assert kinds["Dropout"]["forward"]["bytes"] == 2 * dropout and kinds["Flatten"]["forward"]["bytes"] == 0
    params = model.count_params()
    assert kinds["(adam)"]["backward"]["bytes"] == 7 * params * f32
    assert bound["train"]["bytes"] == sum(k[p]["bytes"] for k in kinds.values() for p in ("forward", "backward"))
    assert np.isclose(bound["train"]["bound_ms"], (train + bound["train"]["bytes"]) / 1e6)
    assert roofline.copy_bandwidth(mb=4, repeats=2)["gb_per_s"] > 0


def test_layer_versions_compares_two_trees_in_one_process(capsys):
    from benchmarks import layer_versions

    layer_versions.main([".", ".", "--case", "relu6", "--rounds", "2", "--clock", "wall"])  # cpu: one thread for good
    out = capsys.readouterr().out
    assert "(wall clock)" in out and "backward: . " in out and "bit-identical results: True" in out


def test_layer_versions_inference_and_model_cases_time_what_they_name(capsys):
    """``--inference`` times the forward pass alone (training=False); ``--case model-MODEL`` a whole
    keras.applications model read from one .keras file by both trees (a training step, or predict)."""
    from benchmarks import layer_versions

    layer_versions.main([".", ".", "--case", "bn", "--rounds", "2", "--clock", "wall", "--inference"])
    out = capsys.readouterr().out
    assert ", inference," in out and "inference: . " in out and "backward" not in out
    assert "bit-identical results: True" in out
    layer_versions.main([".", ".", "--case", "model-MobileNetV2", "--rounds", "2", "--clock", "wall", "--inference"])
    out = capsys.readouterr().out
    assert "MobileNetV2 32x32x3 batch 32, predict" in out and "predict: . " in out
    assert "bit-identical results: True" in out


def test_keras_files_benchmark_measures_installed_size_of_what_a_process_imported():
    from benchmarks import keras_files

    size, found = keras_files.installed_size(["numpy", "sys", "no_such_package_here"])
    assert found == ["numpy"] and 10 * 2 ** 20 < size < 500 * 2 ** 20
    assert keras_files.MODELS == ("ResNet50", "MobileNetV2")


def test_gemm_floor_times_the_products_each_layer_makes_in_a_training_step():
    from benchmarks import floor

    x = scratch.Input((6, 6, 8))
    convs = [scratch.Conv2D(4, 3, padding="same"),  # reads the input: no input gradient in a training step
             scratch.Conv2D(2, 3, padding="same"),  # F < C at stride 1: the correlation
             scratch.Conv2D(6, 3, strides=2),  # col2im: one product per kernel offset
             scratch.Conv2D(2, 1)]  # 1x1 with F < C: one product G @ K.T
    h = convs[0](x)
    dense = scratch.Dense(3)
    y = dense(scratch.Concatenate()([scratch.GlobalAveragePooling2D()(conv(h)) for conv in convs[1:]]))
    model = scratch.Model(x, y)
    n = 5
    gemms = {id(node.layer): floor.node_gemms(node, n, backward, input_grad)
             for node, backward, input_grad in floor.training_calls(model)}
    first, corr, strided, one, dense = (gemms[id(layer)] for layer in convs + [dense])
    assert first == [("forward", (n * 36, 72), False, (72, 4), False, 1), ("backward", (72, n * 36), True, (n * 36, 4), False, 1)]
    assert corr[2] == ("backward", (n * 36, 18), False, (18, 4), False, 1)
    assert strided[2] == ("backward", (n * 4, 6), False, (6, 4), True, 9)
    assert one[2] == ("backward", (n * 36, 2), False, (2, 4), True, 1)
    assert dense == [("forward", (n, 10), False, (10, 3), False, 1), ("backward", (10, n), True, (n, 3), False, 1),
                     ("backward", (n, 3), False, (3, 10), True, 1)]
    kinds = floor.gemm_floor(model, n, repeats=1)
    first_flops, corr_flops = 2 * (2 * n * 36 * 72 * 4), 2 * (2 * n * 36 * 36 * 2) + 2 * n * 36 * 18 * 4
    assert kinds["Conv2D 3x3"]["flops"] == first_flops + corr_flops
    assert kinds["Conv2D 3x3"]["forward_ms"] > 0 and kinds["Dense"]["backward_ms"] > 0
    assert kinds["GlobalAveragePooling2D"] == {"forward_ms": 0.0, "backward_ms": 0.0, "flops": 0}


def test_gemm_floor_counts_the_shifted_products():
    """F <= C/4, 'same', 8x8: the forward pass is X @ [K_0 ... K_8], every pixel by every offset's kernel."""
    from benchmarks import floor

    x = scratch.Input((8, 8, 16))
    conv = scratch.Conv2D(4, 3, padding="same")
    model = scratch.Model(x, scratch.Flatten()(conv(scratch.Conv2D(16, 1)(x))))
    gemms = {id(node.layer): floor.node_gemms(node, 5, backward, input_grad)
             for node, backward, input_grad in floor.training_calls(model)}
    assert gemms[id(conv)][0] == ("forward", (5 * 64, 16), False, (16, 36), False, 1)
    assert gemms[id(conv)][1] == ("backward", (144, 5 * 64), True, (5 * 64, 4), False, 1)


def test_gemm_floor_counts_the_tiled_routes_rows():
    """A convolution read by a tiling max pooling alone: the forward product and the kernel's gradient over the
    pixels the windows read (an 11x11 output, 2x2 windows: 100 of 121), the input gradient over the whole map."""
    from benchmarks import floor

    x = scratch.Input((13, 13, 4))
    conv = scratch.Conv2D(6, 3, activation="relu")
    model = scratch.Model(x, scratch.Flatten()(scratch.MaxPooling2D(2)(conv(scratch.Conv2D(4, 1)(x)))))
    n = 5
    kinds = floor.gemm_floor(model, n, repeats=1)
    assert kinds["Conv2D 3x3"]["flops"] == 2 * (2 * n * 100 * 36 * 6) + 2 * n * 121 * 6 * 4 * 9
    gemms = [floor.node_gemms(node, n, backward, input_grad, floor._tiles(model).get(id(node)))
             for node, backward, input_grad in floor.training_calls(model) if node.layer is conv][0]
    assert gemms == [("forward", (n * 100, 36), False, (36, 6), False, 1),
                     ("backward", (36, n * 100), True, (n * 100, 6), False, 1),
                     ("backward", (n * 121, 6), False, (6, 4), True, 9)]


def test_gemm_floor_counts_the_products_of_small_maps():
    """A 'same' 3x3 on a 1x1 map is its centre tap (one product each way); on a 2x2 map the small-map route's
    8 products of two taps each (kernels.small_map_pairs), each way."""
    from benchmarks import floor

    x = scratch.Input((2, 2, 8))
    small = scratch.Conv2D(4, 3, padding="same")
    centre = scratch.Conv2D(3, 3, padding="same")
    model = scratch.Model(x, scratch.Flatten()(centre(scratch.MaxPooling2D(2)(small(scratch.Conv2D(8, 1)(x))))))
    n = 5
    gemms = {id(node.layer): floor.node_gemms(node, n, backward, input_grad)
             for node, backward, input_grad in floor.training_calls(model)}
    assert gemms[id(small)] == [("forward", (n, 16), False, (16, 4), False, 1), ("backward", (16, n), True, (n, 4), False, 1),
                                ("backward", (n, 4), False, (4, 16), True, 1)] * 8
    assert gemms[id(centre)] == [("forward", (n, 4), False, (4, 3), False, 1), ("backward", (4, n), True, (n, 3), False, 1),
                                 ("backward", (n, 3), False, (3, 4), True, 1)]


def test_gemm_floor_follows_frozen_layers_and_nested_models_as_the_training_step_does():
    from benchmarks import floor

    x = scratch.Input((4, 4, 2))
    frozen = scratch.Conv2D(3, 3, padding="same", trainable=False)
    inner_in = scratch.Input((4, 4, 3))
    base = scratch.Model(inner_in, scratch.Conv2D(2, 1)(scratch.Conv2D(3, 1)(inner_in)))
    head = scratch.Dense(2)
    model = scratch.Model(x, head(scratch.Flatten()(base(frozen(x)))))
    calls = {id(node.layer): (backward, input_grad) for node, backward, input_grad in floor.training_calls(model)}
    assert calls[id(frozen)] == (False, False)  # forward only: frozen, nothing trainable upstream
    inner = [calls[id(node.layer)] for node in base.nodes]
    assert inner == [(True, False), (True, True)]  # the base's first layer: no gradient into the frozen one
    assert calls[id(head)] == (True, True)
    base.trainable = False  # a frozen base: its layers run forward only
    for layer in scratch.leaf_layers(base):
        layer.trainable = False
    calls = {id(node.layer): (backward, input_grad) for node, backward, input_grad in floor.training_calls(model)}
    assert [calls[id(node.layer)] for node in base.nodes] == [(False, False)] * 2
    flops = floor.gemm_floor(model, 3, repeats=1)["Conv2D 1x1"]["flops"]
    assert flops == 3 * 16 * 2 * (3 * 3 + 3 * 2)  # the two 1x1 forward products alone


def test_floor_command_writes_and_reprints_its_table(tmp_path, capsys):
    from benchmarks import floor

    out = tmp_path / "floor.json"
    floor.main(["--models", "lenet", "--repeats", "1", "--blas1", "lenet", "--out", str(out)])
    printed = capsys.readouterr().out
    result = json.loads(out.read_text())
    (lenet,) = result["models"]
    assert lenet["engine"] == "scratch_blas1"  # --blas1 reached the profile
    rows = {r["type"]: r for r in lenet["rows"]}
    assert rows["Conv2D 3x3"]["gemm_ms"] > 0 and rows["MaxPooling2D"]["gemm_ms"] == 0
    assert np.isclose(lenet["gemm_ms"], sum(r["gemm_ms"] for r in lenet["rows"]))
    assert "| Conv2D 3x3 | 2 |" in printed
    floor.main(["--markdown", "--out", str(out)])
    assert capsys.readouterr().out.strip() == floor.markdown(result).strip()
    with pytest.raises(SystemExit):
        floor.main(["--models", "ResNet", "--out", str(out)])
    err = capsys.readouterr().err
    assert "--models: expected lenet, blog or keras.applications model names" in err and "received ResNet" in err
