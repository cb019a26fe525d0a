"""Native fused losses (cpp/loss.cpp) against the NumPy float64 reference: cross-entropy with
int64 labels or probabilities, label smoothing, mean/sum, edge rows (±1e4 logits, −inf
entries, an all −inf row, a +inf logit), MSE, BCE-with-logits, Huber; sizes hitting the
SIMD body and tail; both dtypes; every ISA; 1/2/3 threads bit for bit."""
import numpy as np
import pytest

from fastnn import _kernels, reference
from _kernel_util import SIZES, assert_close, bitwise_same_for_threads, isa  # noqa: F401

TOL = {np.float32: (2e-5, 1e-6), np.float64: (1e-12, 1e-14)}
DTYPES = [np.float32, np.float64]


def _ce_inputs(b, c, dtype, seed, probs):
    rng = np.random.default_rng(seed)
    logits = (rng.normal(size=(b, c)) * 4).astype(dtype)
    if probs:
        t = rng.random((b, c))
        target = (t / t.sum(axis=1, keepdims=True)).astype(dtype)
    else:
        target = rng.integers(0, c, size=b).astype(np.int64)
    return logits, target


def _check_ce(logits, target, eps, reduction, dtype):
    rtol, atol = TOL[dtype]
    grad = np.empty_like(logits)
    loss, g = _kernels.softmax_cross_entropy(logits, target, eps, reduction, grad)
    assert g is grad
    t64 = target if target.dtype == np.int64 else target.astype(np.float64)
    ref_grad = np.empty(logits.shape)
    ref_loss, _ = reference.softmax_cross_entropy(logits.astype(np.float64), t64, eps, reduction, ref_grad)
    assert_close(np.array([loss]), np.array([ref_loss]), rtol * 10, atol * 10, "loss")
    assert_close(grad, ref_grad, rtol, atol, "grad")
    loss_only, none = _kernels.softmax_cross_entropy(logits, target, eps, reduction)
    assert none is None and (loss_only == loss or (np.isnan(loss) and np.isnan(loss_only)))


@pytest.mark.parametrize("dtype", DTYPES, ids=["f32", "f64"])
@pytest.mark.parametrize("probs", [False, True], ids=["labels", "probs"])
@pytest.mark.parametrize("c", [1, 7, 63, 64, 1029])
@pytest.mark.parametrize("b", [1, 7, 64])
def test_cross_entropy_matches_reference(isa, b, c, probs, dtype):  # noqa: F811
    logits, target = _ce_inputs(b, c, dtype, seed=b * 31 + c, probs=probs)
    for eps in (0.0, 0.1):
        for reduction in ("mean", "sum"):
            _check_ce(logits, target, eps, reduction, dtype)


@pytest.mark.parametrize("dtype", DTYPES, ids=["f32", "f64"])
@pytest.mark.parametrize("probs", [False, True], ids=["labels", "probs"])
def test_cross_entropy_edge_rows(probs, dtype):
    logits, target = _ce_inputs(5, 9, dtype, seed=1, probs=probs)
    logits[0] = [1e4, -1e4, 0, 1e4, -1e4, 3, 2, 1, 0]       # large logits: finite
    logits[1, 2] = -np.inf                                   # a −inf logit: fine
    if not probs:
        target[1] = 0
    _check_ce(logits, target, 0.0, "sum", dtype)
    logits[2] = -np.inf                                      # all −inf row: NaN (ATen)
    logits[3, 4] = np.inf                                    # +inf logit: NaN
    grad = np.empty_like(logits)
    loss, _ = _kernels.softmax_cross_entropy(logits, target, 0.0, "mean", grad)
    ref_grad = np.empty(logits.shape)
    ref_loss, _ = reference.softmax_cross_entropy(logits.astype(np.float64), target if not probs else
                                                  target.astype(np.float64), 0.0, "mean", ref_grad)
    assert np.isnan(loss) and np.isnan(ref_loss)
    assert np.array_equal(np.isnan(grad), np.isnan(ref_grad))
    assert np.isnan(grad[2]).all() and np.isfinite(grad[[0, 4]]).all()


ELEMENTWISE = {
    "mse": (lambda k, p, t, r, g: k.mse_loss(p, t, r, g)),
    "bce": (lambda k, p, t, r, g: k.bce_with_logits(p, t, r, g)),
    "huber": (lambda k, p, t, r, g: k.huber_loss(p, t, 0.7, r, g)),
}


@pytest.mark.parametrize("dtype", DTYPES, ids=["f32", "f64"])
@pytest.mark.parametrize("n", SIZES)
@pytest.mark.parametrize("name", sorted(ELEMENTWISE))
def test_elementwise_losses_match_reference(isa, name, n, dtype):  # noqa: F811
    rtol, atol = TOL[dtype]
    rng = np.random.default_rng(n)
    pred = (rng.normal(size=(n, 3)) * 3).astype(dtype)
    target = (rng.random((n, 3)) if name == "bce" else rng.normal(size=(n, 3))).astype(dtype)
    if n >= 7:
        pred[:4, 0] = [1e4, -1e4, 88.7, -88.7]
    fn = ELEMENTWISE[name]
    for reduction in ("mean", "sum"):
        grad = np.empty_like(pred)
        loss, g = fn(_kernels, pred, target, reduction, grad)
        assert g is grad and isinstance(loss, float)
        ref_grad = np.empty(pred.shape)
        ref_loss, _ = fn(reference, pred.astype(np.float64), target.astype(np.float64), reduction, ref_grad)
        scale = max(1.0, float(np.abs(pred).max(initial=0)) ** (2 if name == "mse" else 1))
        assert_close(np.array([loss]), np.array([ref_loss]), rtol * 10, atol * scale, f"{name} loss")
        assert_close(grad, ref_grad, rtol, atol, f"{name} grad")
        loss_only, none = fn(_kernels, pred, target, reduction, None)
        assert none is None and loss_only == loss


@pytest.mark.parametrize("dtype", DTYPES, ids=["f32", "f64"])
def test_threads_bitwise_equal(dtype):
    logits, labels = _ce_inputs(3000, 100, dtype, seed=4, probs=False)
    _, probs = _ce_inputs(3000, 100, dtype, seed=5, probs=True)
    pred = logits.reshape(-1)[:200_001]
    target = np.abs(probs.reshape(-1)[:200_001])

    def run():
        out = []
        for tgt in (labels, probs):
            g = np.empty_like(logits)
            out += [_kernels.softmax_cross_entropy(logits, tgt, 0.1, "mean", g)[0], g]
        for name, fn in ELEMENTWISE.items():
            g = np.empty_like(pred)
            out += [fn(_kernels, pred, target, "mean", g)[0], g]
        return tuple(out)

    bitwise_same_for_threads(run)


def test_loss_bindings_reject_mismatched_shapes_and_labels():
    logits = np.zeros((4, 3), np.float32)
    with pytest.raises(ValueError, match="label 3 at index 2 is out of range"):
        _kernels.softmax_cross_entropy(logits, np.array([0, 1, 3, 2]), 0.0, "mean")
    with pytest.raises(ValueError, match="label -1"):
        _kernels.softmax_cross_entropy(logits, np.array([0, -1, 1, 2]), 0.0, "mean")
    with pytest.raises(ValueError, match="labels has 3 elements, expected 4"):
        _kernels.softmax_cross_entropy(logits, np.array([0, 1, 2]), 0.0, "mean")
    with pytest.raises(ValueError, match="target has shape"):
        _kernels.softmax_cross_entropy(logits, np.zeros((4, 2), np.float32), 0.0, "mean")
    with pytest.raises(ValueError, match="grad has 6 elements, expected 12"):
        _kernels.softmax_cross_entropy(logits, np.array([0, 1, 2, 0]), 0.0, "mean",
                                       grad=np.zeros((2, 3), np.float32))
    a, b = np.zeros(5, np.float32), np.zeros(3, np.float32)
    for fn, extra in [("mse_loss", ()), ("bce_with_logits", ()), ("huber_loss", (1.0,))]:
        with pytest.raises(ValueError, match="target has 3 elements, expected 5"):
            getattr(_kernels, fn)(a, b, *extra, "mean")
