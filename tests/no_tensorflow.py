"""A child process in which TensorFlow cannot be imported: what a user with only NumPy and h5py has.

    python tests/no_tensorflow.py JOBS.json
    python tests/no_tensorflow.py --cli < COMMANDS.json     # train.py command lines

``block()`` puts a finder first on ``sys.meta_path`` that makes ``import tensorflow`` (and
``keras``, ``tf_keras``, ``jax``, ``torch``) raise ``ImportError``; it runs before anything else
is imported (this file is run as a script, not as part of a package whose ``__init__`` could
import more). Each job loads one model file with ``scratch.load_model``, predicts, takes one
training step, saves it back; the results go to an ``.npz`` the parent test compares with Keras.
At the end the process checks that nothing blocked got imported and that the blocker held.

``dropout_masks`` and ``sgd_step`` are shared with the parent (which imports this module
without blocking anything), so both processes take exactly the same step.
"""

import json
import sys

BLOCKED = ("tensorflow", "keras", "tf_keras", "jax", "torch")


class _Blocker:
    """A meta-path finder that refuses the blocked top-level packages."""

    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in BLOCKED:
            raise ImportError(f"{name} is blocked in this process (tests/no_tensorflow.py)")
        return None


def block():
    already = sorted(m for m in sys.modules if m.split(".")[0] in BLOCKED)
    if already:
        raise RuntimeError(f"already imported before the blocker: {already}")
    sys.meta_path.insert(0, _Blocker())


def dropout_masks(model, n, seed):
    """``{layer name: keep mask}`` for every Dropout of ``model`` (nested models opened), by name order."""
    import numpy as np

    import scratch

    rng = np.random.default_rng(seed)
    drops = sorted((la for la in scratch.leaf_layers(model) if isinstance(la, scratch.Dropout)), key=lambda la: la.name)
    return {la.name: rng.random((n,) + tuple(la.input_shape[1:])) >= la.rate for la in drops}


def sgd_step(model, x, y, lr, seed):
    """One step of plain SGD on the loss from probabilities (the zoo models end in softmax), in
    training mode (batch statistics), the Dropout layers applying ``dropout_masks(model, len(x), seed)``."""
    import scratch

    masks = dropout_masks(model, len(x), seed)
    drops = {la.name: la for la in scratch.leaf_layers(model) if isinstance(la, scratch.Dropout)}
    for name, mask in masks.items():
        drops[name].fixed_mask = mask
    try:
        loss, _ = model.compute_gradients(x, y, loss=scratch.SparseCategoricalCrossentropy(from_logits=False),
                                          trainable_only=False)
        scratch.SGD(lr).step(model.named_params(), model.named_grads())
    finally:
        for name in masks:
            drops[name].fixed_mask = None
    return float(loss)


def weights_by_path(model, prefix=""):
    """``{"layer/variable": array}`` (nested models ``"model/layer/variable"``), moving statistics included."""
    import scratch

    out = {}
    for la in model.layers:
        if isinstance(la, scratch.Model):
            out.update(weights_by_path(la, f"{prefix}{la.name}/"))
        else:
            out.update({f"{prefix}{la.name}/{k}": v.copy() for k, v in la._weights().items()})
    return out


def run(job):
    import numpy as np

    import scratch

    model = scratch.load_model(job["path"], preprocess=job.get("preprocess"))
    out = {"predictions": model.predict(np.load(job["x"]))}
    for target in job.get("save_before", []):
        model.save(target)
    if "train" in job:
        t = job["train"]
        out["loss"] = np.asarray(sgd_step(model, np.load(t["x"]), np.load(t["y"]), t["lr"], t["seed"]))
        out.update({f"weight:{k}": v for k, v in weights_by_path(model).items()})
    for target in job.get("save_after", []):
        model.save(target)
    np.savez(job["out"], **out)


def run_cli(commands):
    """``train.main(argv)`` for each command; after each, the blocked packages still absent."""
    import train

    results = []
    for argv in commands:
        try:
            rc = train.main(argv)
        except SystemExit as e:
            rc = e.code
        leaked = sorted(m for m in sys.modules if m.split(".")[0] in BLOCKED)
        results.append({"argv": argv, "rc": rc, "leaked": leaked})
    return results


def main(jobs_path):
    block()
    if jobs_path == "--cli":  # the command lines to run: JSON on stdin
        print(json.dumps({"cli": run_cli(json.loads(sys.stdin.read()))}))
        return
    with open(jobs_path) as f:
        jobs = json.load(f)
    errors = {}
    for job in jobs:
        try:
            run(job)
        except Exception as e:  # reported to the parent, one line per job
            errors[job["path"]] = f"{type(e).__name__}: {e}"
    try:
        import tensorflow  # noqa: F401
        held = False
    except ImportError:
        held = True
    leaked = sorted(m for m in sys.modules if m.split(".")[0] in BLOCKED)
    print(json.dumps({"errors": errors, "blocker_held": held, "leaked": leaked}))


if __name__ == "__main__":
    main(sys.argv[1])
