"""Native BatchNorm / LayerNorm kernels (cpp/norm.cpp) against the NumPy float64 reference:
forward (training and inference), backward with accumulated γ/β gradients, γ/β absent,
shapes hitting the 64-column blocks and their tails, constant columns, both dtypes, every
ISA, and 1/2/3 threads bit for bit."""
import numpy as np
import pytest

from fastnn import _kernels, reference
from _kernel_util import SIZES, assert_close, bitwise_same_for_threads, isa  # noqa: F401

TOL = {np.float32: (2e-5, 2e-6), np.float64: (1e-12, 1e-13)}
SHAPES = [(b, f) for b in (2, 7, 64) for f in SIZES if f] + [(1029, 3), (5, 1029)]


def _data(shape, dtype, seed=0):
    rng = np.random.default_rng(seed)
    x = (rng.normal(size=shape) * 3 + 1.5).astype(dtype)
    g = rng.normal(size=shape).astype(dtype)
    gamma = rng.normal(size=shape[1]).astype(dtype)
    beta = rng.normal(size=shape[1]).astype(dtype)
    return x, g, gamma, beta


def _f64(*arrays):
    return [None if a is None else a.astype(np.float64) for a in arrays]


@pytest.mark.parametrize("dtype", [np.float32, np.float64], ids=["f32", "f64"])
@pytest.mark.parametrize("shape", [(1, 5), (2, 3), (7, 65), (64, 1029)])
def test_batchnorm_forward_updates_running_statistics(isa, shape, dtype):  # noqa: F811
    rtol, atol = TOL[dtype]
    x, _, gamma, beta = _data(shape, dtype, seed=3)
    rm0, rv0 = _data((2, shape[1]), dtype, seed=4)[2:]
    rv0 = np.abs(rv0) + 0.5
    for momentum in (0.1, 1.0 / 3.0, 0.0, 1.0):
        rm, rv = rm0.copy(), rv0.copy()
        y, mean, invstd = _kernels.batchnorm_forward(x, gamma, beta, 1e-5, running_mean=rm, running_var=rv,
                                                     momentum=momentum)
        x64 = x.astype(np.float64)
        rm64, rv64 = rm0.astype(np.float64), rv0.astype(np.float64)
        want_m = (1 - momentum) * rm64 + momentum * x64.mean(0)
        want_v = rv64 if shape[0] == 1 else (1 - momentum) * rv64 + momentum * x64.var(0, ddof=1)
        assert_close(rm, want_m, rtol, atol, "running_mean")
        assert_close(rv, want_v, rtol, atol * 10, "running_var")
        rm_r, rv_r = rm0.astype(np.float64), rv0.astype(np.float64)
        reference.batchnorm_forward(x64, *_f64(gamma, beta), 1e-5, running_mean=rm_r, running_var=rv_r,
                                    momentum=momentum)
        assert_close(rm_r, want_m, 1e-12, 1e-12, "reference running_mean")
        assert_close(rv_r, want_v, 1e-12, 1e-12, "reference running_var")
        y2, _, _ = _kernels.batchnorm_forward(x, gamma, beta, 1e-5)       # statistics do not change y
        np.testing.assert_array_equal(y, y2)


@pytest.mark.parametrize("dtype", [np.float32, np.float64], ids=["f32", "f64"])
@pytest.mark.parametrize("affine", [True, False])
@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("kind", ["batchnorm", "layernorm"])
def test_forward_backward_match_reference(isa, kind, shape, affine, dtype):  # noqa: F811
    rtol, atol = TOL[dtype]
    x, g, gamma, beta = _data(shape, dtype, seed=shape[0] * 7 + shape[1])
    if not affine:
        gamma = beta = None
    fwd = getattr(_kernels, f"{kind}_forward")
    bwd = getattr(_kernels, f"{kind}_backward")
    y, mean, invstd = fwd(x, gamma, beta, 1e-5)
    y_r, mean_r, invstd_r = getattr(reference, f"{kind}_forward")(*_f64(x, gamma, beta), 1e-5)
    assert y.dtype == mean.dtype == invstd.dtype == dtype
    assert_close(mean, mean_r, rtol, atol, "mean")
    assert_close(invstd, invstd_r, rtol, atol, "invstd")
    assert_close(y, y_r, rtol, atol * 10, "y")
    # Backward from the same (float) statistics; parameter grads accumulate onto 0.5.
    dg = None if gamma is None else np.full(shape[1], 0.5, dtype=dtype)
    db = None if gamma is None else np.full(shape[1], 0.5, dtype=dtype)
    dg_r, db_r = (None, None) if gamma is None else (np.full(shape[1], 0.5), np.full(shape[1], 0.5))
    dx = bwd(g, x, mean, invstd, gamma, dg, db)
    dx_r = getattr(reference, f"{kind}_backward")(*_f64(g, x, mean, invstd, gamma), dg_r, db_r)
    # dx is a difference of terms of size |g|·|γ|·invstd: the absolute bound scales with it.
    dx_scale = float(np.abs(g).max() * (1.0 if gamma is None else np.abs(gamma).max()) * invstd.max())
    assert_close(dx, dx_r, rtol * 10, atol * 10 * max(1.0, dx_scale), "dx")
    gscale = float(np.abs(g).sum(axis=0).max())
    if gamma is not None:
        assert_close(dg, dg_r, rtol * 10, atol * 10 * gscale, "grad_gamma")
        assert_close(db, db_r, rtol * 10, atol * 10 * gscale, "grad_beta")


@pytest.mark.parametrize("dtype", [np.float32, np.float64], ids=["f32", "f64"])
def test_inference_matches_reference(isa, dtype):  # noqa: F811
    rtol, atol = TOL[dtype]
    for shape in [(1, 1), (7, 63), (64, 1029)]:
        x, _, gamma, beta = _data(shape, dtype)
        mean = x.mean(axis=0).astype(dtype)
        var = (x.var(axis=0) + 0.1).astype(dtype)
        for gm, bt in [(gamma, beta), (None, None), (gamma, None)]:
            y = _kernels.batchnorm_inference(x, mean, var, gm, bt, 1e-5)
            y_r = reference.batchnorm_inference(*_f64(x, mean, var, gm, bt), 1e-5)
            assert_close(y, y_r, rtol, atol * 10, "batchnorm_inference")


@pytest.mark.parametrize("dtype", [np.float32, np.float64], ids=["f32", "f64"])
def test_constant_columns_and_rows_give_beta(dtype):
    x = np.full((8, 70), 3.25, dtype=dtype)
    beta = np.arange(70, dtype=dtype)
    y, mean, invstd = _kernels.batchnorm_forward(x, None, beta, 1e-5)
    assert np.array_equal(y, np.broadcast_to(beta, x.shape)) and np.all(mean == 3.25)
    assert np.allclose(invstd, 1 / np.sqrt(1e-5), rtol=1e-6)
    y, mean, invstd = _kernels.layernorm_forward(x, None, beta, 1e-5)
    assert np.array_equal(y, np.broadcast_to(beta, x.shape)) and np.all(mean == 3.25)


def test_out_aliasing():
    x, g, gamma, beta = _data((9, 130), np.float64)
    for kind in ("batchnorm", "layernorm"):
        fwd = getattr(_kernels, f"{kind}_forward")
        bwd = getattr(_kernels, f"{kind}_backward")
        y, mean, invstd = fwd(x, gamma, beta, 1e-5)
        xi = x.copy()
        assert fwd(xi, gamma, beta, 1e-5, out=xi)[0] is xi and np.array_equal(xi, y)
        dg1, db1, dg2, db2 = (np.zeros(130) for _ in range(4))
        dx = bwd(g, x, mean, invstd, gamma, dg1, db1)
        gi = g.copy()
        assert bwd(gi, x, mean, invstd, gamma, dg2, db2, out=gi) is gi
        assert np.array_equal(gi, dx) and np.array_equal(dg1, dg2) and np.array_equal(db1, db2)


@pytest.mark.parametrize("dtype", [np.float32, np.float64], ids=["f32", "f64"])
@pytest.mark.parametrize("kind", ["batchnorm", "layernorm"])
def test_threads_bitwise_equal(kind, dtype):
    x, g, gamma, beta = _data((300, 1100), dtype, seed=5)
    fwd = getattr(_kernels, f"{kind}_forward")
    bwd = getattr(_kernels, f"{kind}_backward")

    def run():
        y, mean, invstd = fwd(x, gamma, beta, 1e-5)
        dg = np.zeros(1100, dtype=dtype)
        db = np.zeros(1100, dtype=dtype)
        dx = bwd(g, x, mean, invstd, gamma, dg, db)
        out = [y, mean, invstd, dx, dg, db]
        if kind == "batchnorm":                       # the fused ReLU + dropout variants too
            yf, _, _ = fwd(x, gamma, beta, 1e-5, relu=True, dropout=(0.25, 4 / 3, 5, 9))
            out += [yf, bwd(g, x, mean, invstd, gamma, dg, db, y=yf, scale=4 / 3), dg, db]
        return tuple(out)

    bitwise_same_for_threads(run)


@pytest.mark.parametrize("dtype", [np.float32, np.float64], ids=["f32", "f64"])
@pytest.mark.parametrize("dropout", [None, (0.25, 4 / 3, 5, 9), (0.0, 0.5, 1, 2)])
def test_batchnorm_fused_relu_dropout_matches_reference(isa, dropout, dtype):  # noqa: F811
    rtol, atol = TOL[dtype]
    x, g, gamma, beta = _data((37, 131), dtype, seed=7)
    y, mean, invstd = _kernels.batchnorm_forward(x, gamma, beta, 1e-5, relu=True, dropout=dropout)
    y_r, _, _ = reference.batchnorm_forward(*_f64(x, gamma, beta), 1e-5, relu=True, dropout=dropout)
    assert_close(y, y_r, rtol, atol * 10, "y")
    np.testing.assert_array_equal(y > 0, y_r > 0)                         # same ReLU and dropout masks
    dg, db = np.zeros(131, dtype), np.zeros(131, dtype)
    dg_r, db_r = np.zeros(131), np.zeros(131)
    scale = 1.0 if dropout is None else dropout[1]
    dx = _kernels.batchnorm_backward(g, x, mean, invstd, gamma, dg, db, y=y, scale=scale)
    dx_r = reference.batchnorm_backward(*_f64(g, x, mean, invstd, gamma), dg_r, db_r, y=y.astype(np.float64),
                                        scale=scale)
    gscale = float(np.abs(g).sum(axis=0).max()) * 2
    assert_close(dx, dx_r, rtol * 10, atol * 100 * gscale, "dx")
    assert_close(dg, dg_r, rtol * 10, atol * 10 * gscale, "grad_gamma")
    assert_close(db, db_r, rtol * 10, atol * 10 * gscale, "grad_beta")
    with pytest.raises(ValueError, match="only after relu"):
        _kernels.batchnorm_forward(x, gamma, beta, 1e-5, dropout=(0.5, 2.0, 1, 1))
    with pytest.raises(ValueError, match="only after relu"):
        reference.batchnorm_forward(x, gamma, beta, 1e-5, dropout=(0.5, 2.0, 1, 1))


def test_norm_bindings_reject_mismatched_shapes():
    x = np.ones((4, 3), np.float32)
    f3, f2, f4 = (np.ones(n, np.float32) for n in (3, 2, 4))
    with pytest.raises(ValueError, match="gamma has 2 elements, expected 3"):
        _kernels.batchnorm_forward(x, f2, f3, 1e-5)
    with pytest.raises(ValueError, match="running_var has 2 elements"):
        _kernels.batchnorm_forward(x, f3, f3, 1e-5, running_mean=f3, running_var=f2)
    with pytest.raises(ValueError, match="out has shape"):
        _kernels.batchnorm_forward(x, f3, f3, 1e-5, out=np.ones((4, 2), np.float32))
    with pytest.raises(ValueError, match="var has 4 elements"):
        _kernels.batchnorm_inference(x, f3, f4, None, None, 1e-5)
    y, mean, invstd = _kernels.batchnorm_forward(x, f3, f3, 1e-5)
    with pytest.raises(ValueError, match="mean has 2 elements"):
        _kernels.batchnorm_backward(x, x, f2, invstd, f3, None, None)
    with pytest.raises(ValueError, match="x has shape"):
        _kernels.batchnorm_backward(x, np.ones((5, 3), np.float32), mean, invstd, f3, None, None)
    with pytest.raises(ValueError, match="y has shape"):
        _kernels.batchnorm_backward(x, x, mean, invstd, f3, None, None, y=np.ones((4, 2), np.float32))
    with pytest.raises(ValueError, match="mean has 3 elements, expected 4"):
        _kernels.layernorm_backward(x, x, f3, f4, f3, None, None)
