"""Every tolerance of the parity suite, in one place, each with the reason for its value.

A tensor passes when ``max|scratch - keras| <= atol + rtol * max|keras|`` (see
``parity_tests.compare``). ``eps32 = 2**-23 ~ 1.19e-7`` and ``eps64 = 2**-52 ~ 2.2e-16`` are
the machine epsilons. Both engines compute the same formulas, so every difference comes
from the order of floating-point additions (NumPy/BLAS versus Eigen), which we cannot make
identical; the tolerances bound that rounding, with a margin, and nothing else.
"""

from dataclasses import dataclass


@dataclass(frozen=True)
class Tolerance:
    name: str
    rtol: float
    atol: float
    why: str


# -- one layer: output, dL/dx and every parameter gradient ---------------------------------
LAYER_FLOAT32 = Tolerance(
    "LAYER_FLOAT32", rtol=1e-5, atol=1e-6,
    why="a layer's value is a sum of up to a few hundred O(1) products (inputs, weights and "
        "upstream gradients are O(1) here; dL/dkernel sums over batch x output pixels); summed "
        "in another order, float32 rounding moves it by ~sqrt(terms) x eps32 of the largest "
        "term. Measured over the grid and 150 random configurations: up to 1.1e-6 of the "
        "tensor's scale, 1e-5 absolute on the largest (lenet-sized) tensors. rtol 1e-5 is that "
        "with margin; atol 1e-6 covers entries that are sums of cancelling terms (a bias "
        "gradient of 12 values summing to 0.03 was off by 2e-7, 6e-6 of its own size). A real "
        "bug (a wrong pad, window or index) moves values by O(1).")
LAYER_FLOAT64 = Tolerance(
    "LAYER_FLOAT64", rtol=1e-12, atol=1e-13,
    why="the same sums in float64: measured up to 3.8e-15 of scale and 3.2e-14 absolute; "
        "1e-12 / 1e-13 leave a margin of ~100x and fail at once if either side silently "
        "computed in float32 (errors ~1e-7).")

# -- whole models: outputs, loss and all gradients -----------------------------------------
MODEL_FLOAT32 = Tolerance(
    "MODEL_FLOAT32", rtol=1e-5, atol=0.0,
    why="four to seven layers chain the per-layer rounding (the lenet Dense kernel gradient sums "
        "1600 x batch products after two convolutions and the log-softmax); measured up to 2e-6 "
        "of scale (python -m parity_tests.report); 1e-5 is a 5x margin. Gradients here are batch "
        "means of O(1) values, so no absolute floor is needed.")
MODEL_FLOAT64 = Tolerance(
    "MODEL_FLOAT64", rtol=1e-11, atol=0.0,
    why="the float64 version of the line above: up to 3e-15 measured, 1e-11 bound, still 4 "
        "orders of magnitude below float32 rounding.")

# -- python -m parity_tests.check: a user's model, layer by layer and whole -----------------
CHECK_LAYER_FLOAT32 = Tolerance(
    "CHECK_LAYER_FLOAT32", rtol=5e-5, atol=0.0,
    why="one layer of a user's model, in isolation, on the tensors the model makes. No absolute "
        "floor: those tensors can be of any scale (MobileNetV2 with its default initialization has "
        "activations of ~1e-11 in its last blocks) and a 1e-6 floor would let any error pass "
        "there; each tensor is measured against its own scale. rtol: LAYER_FLOAT32's 1e-5 holds "
        "for O(1) inputs (measured up to 1.3e-6 over every layer of MobileNet, MobileNetV2 "
        "(default and randomized statistics), ResNet50, ResNet50V2, DenseNet121 at 32x32), but a "
        "saturated softmax output layer cancels: its gradient y * (dy - sum(y * dy)) is a small "
        "difference of O(1) terms, 5.4e-6 of scale on NASNetMobile's predictions; 5e-5 is a 9x "
        "margin over that, still 20 times below a 1e-3 error of a layer.")
CHECK_LAYER_FLOAT64 = Tolerance(
    "CHECK_LAYER_FLOAT64", rtol=5e-12, atol=0.0,
    why="the same in float64: up to 4e-15 of scale on the models above, 3e-13 on NASNetMobile's "
        "saturated softmax; 5e-12 is a 16x margin and fails at once if either side rounded "
        "through float32 (~1e-7).")
CHECK_MODEL_FLOAT32 = Tolerance(
    "CHECK_MODEL_FLOAT32", rtol=1e-3, atol=0.0,
    why="the whole model at once: float32 rounding chained through hundreds of layers (771 "
        "layer calls in NASNetMobile) and amplified by the cancellation of a saturated softmax "
        "output, measured up to 6.2e-5 of scale (a BatchNormalization gamma gradient of "
        "NASNetMobile; 2.8e-6 on MobileNet, MobileNetV2, ResNet50(V2), DenseNet121). The "
        "numerics of every layer are held to CHECK_LAYER_FLOAT32 in its own row; this row is "
        "there for the graph (a fan-out gradient not summed, a wrong branch, a shared layer's "
        "gradients not added), which moves values by O(1): 1e-3 (16x margin) catches that.")
CHECK_MODEL_FLOAT64 = Tolerance(
    "CHECK_MODEL_FLOAT64", rtol=1e-11, atol=0.0,
    why="MODEL_FLOAT64's bound: up to 3.8e-14 measured on the models above (NASNetMobile), a "
        "260x margin; float64 is the precise whole-model check (--dtype float64).")

# -- training: weights after every one of N steps from the same start and batches ---------
TRAIN_STEPS = 50
TRAIN_FLOAT32 = Tolerance(
    "TRAIN_FLOAT32", rtol=1e-4, atol=0.0,
    why="rounding differences of ~1e-7 per step feed back into the next step's gradients and "
        "accumulate; Adam divides by sqrt(v) + 1e-7, which amplifies them where v is tiny. After "
        "50 steps the weights differ by up to 4e-6 of their scale (report), 1e-5 in an earlier "
        "lenet SGD-momentum run; 1e-4 bounds that with a 10x margin, while a wrong update rule "
        "(a missing bias correction, epsilon in the wrong place, float32-rounded momentum) "
        "moves weights by far more within a few steps.")
TRAIN_FLOAT64 = Tolerance(
    "TRAIN_FLOAT64", rtol=1e-9, atol=0.0,
    why="the issue's bound: the same accumulation in float64 stays at 1.6e-14 after 50 steps "
        "(report). It needs Keras's learning rate and hyperparameters really in float64 (see "
        "twins.keras_optimizer): Keras's default float32 rounding of momentum/beta gave "
        "4e-7 (momentum) and 3e-3 (Adam on lenet) here.")

# -- the 10,000 test images, a trained model moved to the other engine ---------------------
TEST_SET_MAX_FLIPS_FLOAT32 = 5
TEST_SET_TIE_MARGIN_FLOAT32 = 1e-4
# why: in float32 the two engines' logits differ by ~1e-6 (MODEL_FLOAT32); a predicted class
# can only differ where the top two logits of one engine are closer than that, i.e. a tie
# within float32 rounding. We allow at most 5 of 10,000 images (measured: 0 in every run) and require each
# such image to have its top-two logit gap below 1e-4 (absolute; logits are O(1..10)), i.e.
# the flip must be a near-tie, never a real disagreement. In float64 no flip is allowed.

# == activations, element by element (parity_tests/test_activations_parity.py) ======================
# The grid of test_layers holds every activation to LAYER_FLOAT32/64 (measured worst 2.3e-7
# and 4.8e-16 of scale). The kink/saturation inputs there are compared element by element
# instead, so tiny values (softplus(-34) = 1.7e-15, tanh'(14)) are checked on their own scale:
# |scratch - keras| <= atol + rtol * |keras| for every element.
ACTIVATION_ELEMENT_FLOAT32 = Tolerance(
    "ACTIVATION_ELEMENT_FLOAT32", rtol=1e-5, atol=1e-6,
    why="TensorFlow's float32 tanh, sigmoid and erfc are Eigen approximations a few ulp off "
        "(erfc up to 4.4e-7 relative, measured against math.erfc); where 1 + tanh cancels (gelu's "
        "tanh form at x = -3) that is 1.6e-7 absolute, the largest element beyond rtol measured; "
        "elsewhere the relative error stays below 1.5e-7. rtol 1e-5 / atol 1e-6 are LAYER_FLOAT32's "
        "values, here per element.")
ACTIVATION_ELEMENT_FLOAT64 = Tolerance(
    "ACTIVATION_ELEMENT_FLOAT64", rtol=1e-12, atol=1e-14,
    why="both engines' exp/tanh/erfc are within ~1 ulp, so outputs agree to 3.8e-15 relative "
        "(measured); a gradient like 1 - tanh(x)^2 at x = 13.9 amplifies a 1-ulp difference of "
        "tanh to 1.3e-4 of its tiny value (3.5e-16 absolute, the largest element beyond rtol "
        "measured), hence atol 1e-14 (30x margin), far below any O(1) formula error.")
# ==========================================================================================

ALL = (LAYER_FLOAT32, LAYER_FLOAT64, MODEL_FLOAT32, MODEL_FLOAT64, TRAIN_FLOAT32, TRAIN_FLOAT64)  # the suite's
# (docs/guide.md prints them); CHECK_* are python -m parity_tests.check's own


def for_dtype(kind, dtype):
    """``for_dtype("LAYER", "float64")`` -> ``LAYER_FLOAT64``."""
    return globals()[f"{kind}_{'FLOAT64' if str(dtype) == 'float64' else 'FLOAT32'}"]
