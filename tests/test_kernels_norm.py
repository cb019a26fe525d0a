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


# ------------------------------------------------------------------ huge finite values
# Rows (LayerNorm) and columns (BatchNorm) of finite values near the top of the range broke the
# two-pass statistics: Σx or Σ(x − μ)² overflowed (float64), x − μ overflowed and invstd went
# subnormal (float32), giving ±inf, NaN or 0 where the normalised values are O(1). The oracle is
# the float64 reference on each row or column times 2^−k (exact, max|x|·2^−k ∈ [½, 1)): y is
# scale-invariant, μ scales by 2^k, invstd and dx by 2^−k (eps by 2^−2k), and nothing overflows.

BIG = {np.float32: 3.4e38, np.float64: 1.7e308}


def _huge_rows(n, dtype, seed=0):
    """(6, n): rows of finite values, each overflowing the plain statistics one way or another."""
    rng = np.random.default_rng(seed)
    rows = np.array([
        np.resize([1.0, -1.0, -1.0], n),              # x − μ beyond max
        np.resize([0.9, -0.9, 0.3], n),               # the fuzzed row [3e38, −3e38, 1e38]
        rng.uniform(-1.0, 1.0, n),                    # spread over the range
        rng.uniform(0.5, 1.0, n),                     # one sign: Σx overflows
        np.r_[1.0, np.zeros(n - 1)],                  # one huge value among zeros
        np.resize([1.0, 1.0 - 2.0 ** -6], n),         # close together: σ ≪ |μ|
    ]) * BIG[dtype]
    rows[2, ::3] = rng.normal(size=rows[2, ::3].shape)   # ordinary values in between
    return rows.astype(dtype)


def _per_row(kind, x, fn):
    """[fn(i, v, k)]: v row i of x as a (1, n) float64 array (LayerNorm) or column i as (n, 1)
    (BatchNorm), k its binary exponent (max|v|·2^−k ∈ [½, 1))."""
    x = x.astype(np.float64)
    parts = x if kind == "layernorm" else x.T
    out = []
    for i, v in enumerate(parts):
        k = int(np.frexp(np.abs(v).max())[1])
        out.append(fn(i, v[None, :] if kind == "layernorm" else v[:, None], k))
    return out


def _oracle_forward(kind, x, gamma, beta, eps):
    f = getattr(reference, f"{kind}_forward")
    gamma, beta = _f64(gamma, beta)

    def one(i, v, k):
        if kind == "layernorm":
            return f(np.ldexp(v, -k), gamma, beta, eps * 2.0 ** (-2 * k))
        sl = slice(i, i + 1)
        return f(np.ldexp(v, -k), None if gamma is None else gamma[sl], None if beta is None else beta[sl],
                 eps * 2.0 ** (-2 * k))

    res = _per_row(kind, x, one)
    ks = np.array(_per_row(kind, x, lambda i, v, k: k))
    y = np.concatenate([r[0] for r in res], axis=0 if kind == "layernorm" else 1)
    mean = np.ldexp(np.concatenate([r[1] for r in res]), ks)
    invstd = np.ldexp(np.concatenate([r[2] for r in res]), -ks)
    return y, mean, invstd


def _oracle_backward(kind, g, x, mean, invstd, gamma):
    """(dx, Σ g·x̂, Σ g) from the float64 reference on each scaled row or column."""
    f = getattr(reference, f"{kind}_backward")
    g64, m64, s64, gm64 = _f64(g, mean, invstd, gamma)
    gparts = g64 if kind == "layernorm" else g64.T

    def one(i, v, k):
        gi = gparts[i][None, :] if kind == "layernorm" else gparts[i][:, None]
        gm = gm64 if kind == "layernorm" or gm64 is None else gm64[i:i + 1]
        w = v.shape[1]
        dg, db = np.zeros(w), np.zeros(w)
        dx = f(gi, np.ldexp(v, -k), np.ldexp(m64[i:i + 1], -k), np.ldexp(s64[i:i + 1], k), gm, dg, db)
        return np.ldexp(dx, -k), dg, db

    res = _per_row(kind, x, one)
    ax = 0 if kind == "layernorm" else 1
    dx = np.concatenate([r[0] for r in res], axis=ax)
    if kind == "layernorm":
        return dx, sum(r[1] for r in res), sum(r[2] for r in res)
    return dx, np.concatenate([r[1] for r in res]), np.concatenate([r[2] for r in res])


def _huge_data(kind, n, dtype, seed):
    """x with huge rows (LayerNorm) or columns (BatchNorm) among ordinary ones, g, γ, β."""
    x, g, gamma, beta = _data((n, 9) if kind == "batchnorm" else (9, n), dtype, seed=seed)
    h = _huge_rows(n, dtype, seed)
    if kind == "batchnorm":
        x[:, 1:7] = h.T
    else:
        x[1:7] = h
    return x, g, gamma, beta


def _assert_close_scaled(got, want, rtol, scale, what):
    """|got − want| ≤ rtol·(scale + |want|), scale: the size of dx's terms, |g|·|γ|·invstd per
    row or column (subnormal in float32 here, where absolute tolerances mean nothing)."""
    got = np.asarray(got, np.float64)
    assert np.isfinite(got).all(), what
    err = np.abs(got - want) / (scale + np.abs(want))
    assert err.max() <= rtol, f"{what}: relative error {err.max():.3g} at {np.unravel_index(err.argmax(), err.shape)}"


@pytest.mark.parametrize("dtype", [np.float32, np.float64], ids=["f32", "f64"])
@pytest.mark.parametrize("affine", [True, False])
@pytest.mark.parametrize("n", [2, 3, 7, 65])
@pytest.mark.parametrize("kind", ["batchnorm", "layernorm"])
def test_huge_finite_values_forward_backward(isa, kind, n, affine, dtype):  # noqa: F811
    rtol, atol = TOL[dtype]
    axis = 0 if kind == "batchnorm" else 1           # the reduction axis
    x, g, gamma, beta = _huge_data(kind, n, dtype, seed=n)
    if not affine:
        gamma = beta = None
    y_o, mean_o, invstd_o = _oracle_forward(kind, x, gamma, beta, 1e-5)
    matm = 8 * np.finfo(dtype).eps * BIG[dtype]      # μ: rounding of sums of ±max values
    impls = [("native", getattr(_kernels, f"{kind}_forward"), getattr(_kernels, f"{kind}_backward")),
             ("reference", getattr(reference, f"{kind}_forward"), getattr(reference, f"{kind}_backward"))]
    for who, fwd, bwd in impls:
        y, mean, invstd = fwd(x, gamma, beta, 1e-5)
        assert np.isfinite(y).all() and np.isfinite(mean).all() and np.isfinite(invstd).all(), who
        assert_close(y, y_o, rtol, atol * 10, f"{who} y")
        assert_close(mean, mean_o, rtol, matm, f"{who} mean")
        assert_close(invstd, invstd_o, rtol, 2 * np.finfo(dtype).smallest_subnormal, f"{who} invstd")
        # Backward from these statistics against the oracle fed the same ones.
        dg = None if gamma is None else np.full(x.shape[1], 0.5, dtype=dtype)
        db = None if gamma is None else np.full(x.shape[1], 0.5, dtype=dtype)
        dx = bwd(g, x, mean, invstd, gamma, dg, db)
        dx_o, dg_o, db_o = _oracle_backward(kind, g, x, mean, invstd, gamma)
        dg_o, db_o = dg_o + 0.5, db_o + 0.5
        scale = (np.abs(g).max() * (1.0 if gamma is None else np.abs(gamma).max())
                 * np.expand_dims(invstd.astype(np.float64), axis))
        _assert_close_scaled(dx, dx_o, rtol * 10, scale, f"{who} dx")
        if gamma is not None:
            gscale = float(np.abs(g).sum(axis=0).max())
            assert_close(dg, dg_o, rtol * 10, atol * 10 * gscale, f"{who} grad_gamma")
            assert_close(db, db_o, rtol * 10, atol * 10 * gscale, f"{who} grad_beta")


@pytest.mark.parametrize("dtype", [np.float32, np.float64], ids=["f32", "f64"])
@pytest.mark.parametrize("kind", ["batchnorm", "layernorm"])
def test_huge_equal_values_give_beta(isa, kind, dtype):  # noqa: F811
    """A row/column of one huge value: y = β exactly, invstd = 1/√eps, dx = invstd·γ·(g − mean g)."""
    n, signs = 70, np.array([1.0, -1.0, 1.0])
    axis = 0 if kind == "batchnorm" else 1
    x = (np.full((3, n), BIG[dtype]) * signs[:, None]).astype(dtype)
    if kind == "batchnorm":
        x = x.T.copy()
    _, g, gamma, beta = _data(x.shape, dtype, seed=2)
    for who, mod in (("native", _kernels), ("reference", reference)):
        y, mean, invstd = getattr(mod, f"{kind}_forward")(x, gamma, beta, 1e-5)
        assert np.array_equal(y, np.broadcast_to(beta, x.shape)), who
        assert np.array_equal(mean, (signs * BIG[dtype]).astype(dtype)), who
        assert_close(invstd, np.full(3, 1 / np.sqrt(1e-5)), 1e-6, 0, f"{who} invstd")
        dx = getattr(mod, f"{kind}_backward")(g, x, mean, invstd, gamma, None, None)
        gh = g.astype(np.float64) * (gamma.astype(np.float64) if kind == "layernorm" else 1)
        want = (gh - gh.mean(axis=axis, keepdims=True)) / np.sqrt(1e-5)
        if kind == "batchnorm":
            want = want * gamma
        assert_close(dx, want, 1e-5, 1e-5, f"{who} dx")


@pytest.mark.parametrize("dtype", [np.float32, np.float64], ids=["f32", "f64"])
@pytest.mark.parametrize("kind", ["batchnorm", "layernorm"])
def test_huge_rows_with_inf_or_nan_still_give_nan(isa, kind, dtype):  # noqa: F811
    big = BIG[dtype]
    rows = np.array([[big, -big, np.inf, 1.0], [big, -big, np.nan, 1.0], [-np.inf, np.inf, big, 1.0],
                     [1.0, 2.0, 3.0, 4.0]], dtype)
    x = rows.T.copy() if kind == "batchnorm" else rows
    for who, mod in (("native", _kernels), ("reference", reference)):
        with np.errstate(invalid="ignore"):
            y, mean, invstd = getattr(mod, f"{kind}_forward")(x, None, None, 1e-5)
        yr = y.T if kind == "batchnorm" else y
        assert np.isnan(yr[:3]).all() and np.isfinite(yr[3]).all(), who


@pytest.mark.parametrize("dtype", [np.float32, np.float64], ids=["f32", "f64"])
def test_batchnorm_huge_columns_running_statistics(isa, dtype):  # noqa: F811
    """running_mean gets the (finite) batch mean; the unbiased σ² of such a column does not fit
    the dtype, so running_var becomes inf, as the float64 value rounded to the dtype does."""
    x, _, gamma, beta = _huge_data("batchnorm", 65, dtype, seed=1)
    _, mean_o, _ = _oracle_forward("batchnorm", x, gamma, beta, 1e-5)
    with np.errstate(over="ignore"):
        var_o = np.array(_per_row("batchnorm", x, lambda i, v, k: np.ldexp(np.ldexp(v, -k).var(ddof=1), 2 * k)))
        want_v = (0.9 * 1.0 + 0.1 * var_o).astype(dtype)
    for who, mod in (("native", _kernels), ("reference", reference)):
        rm, rv = np.zeros(9, dtype), np.ones(9, dtype)
        mod.batchnorm_forward(x, gamma, beta, 1e-5, running_mean=rm, running_var=rv, momentum=0.1)
        assert_close(rm, 0.1 * mean_o, TOL[dtype][0], 8 * np.finfo(dtype).eps * BIG[dtype], f"{who} running_mean")
        assert_close(rv, want_v, TOL[dtype][0], TOL[dtype][1], f"{who} running_var")


@pytest.mark.parametrize("dtype", [np.float32, np.float64], ids=["f32", "f64"])
def test_batchnorm_inference_huge_columns(isa, dtype):  # noqa: F811
    """x·a + (β − μ·a) overflowed for huge x and μ even where y = (x − μ)·a + β is small."""
    from fractions import Fraction
    big = BIG[dtype]
    mean = np.array([0.9 * big, -0.9 * big, 0.5 * big, 1.0], dtype)
    var = np.array([0.0, 0.25, big * 1e-8, 2.0], dtype)
    gamma = np.array([1.5, -0.5, 2.0, 1.0], dtype)
    beta = np.array([0.25, -1.0, 3.0, 0.5], dtype)
    d = np.array([[0.0], [-2.0 ** -10], [2.0 ** -12], [0.0]])
    x = (mean * (1 + d)).astype(dtype)
    x[1:3, 2] = [-0.9 * big, 0.9 * big]            # x − μ beyond max, times a small a
    x[:, 3] = [1.0, -2.0, 3.0, 0.0]
    a = (1 / np.sqrt(var + dtype(1e-5))) * gamma     # the kernels' a, in the dtype
    want = np.array([[float((Fraction(float(x[i, j])) - Fraction(float(mean[j]))) * Fraction(float(a[j]))
                            + Fraction(float(beta[j]))) for j in range(4)] for i in range(4)])
    # The plain x·a + (β − μ·a) form, kept where it cannot overflow, rounds x·a and μ·a: a few ulp
    # of them (float64 products that overflow leave only the halved form, which is exact here).
    eps = np.finfo(dtype).eps
    with np.errstate(over="ignore", invalid="ignore"):
        t = np.abs(x.astype(np.float64) * a) / 2 + np.abs(mean.astype(np.float64) * a) / 2
    tol = 8 * eps * np.where(np.isfinite(t), t, 0) + 4 * eps * (np.abs(want) + np.abs(beta))
    for who, mod in (("native", _kernels), ("reference", reference)):
        y = mod.batchnorm_inference(x, mean, var, gamma, beta, 1e-5)
        assert np.isfinite(y).all(), who
        assert (np.abs(y - want) <= tol).all(), (who, y, want)
        assert y[0, 0] == y[3, 0] == beta[0], who      # x = μ, x·a beyond max: exactly β


@pytest.mark.parametrize("dtype", [np.float32, np.float64], ids=["f32", "f64"])
def test_huge_columns_fused_relu_dropout_and_aliasing(isa, dtype):  # noqa: F811
    """Huge columns take a side path inside each row: the fused ReLU/dropout still apply to them,
    and y = x / dx = dy in place give the same bits."""
    rtol, atol = TOL[dtype]
    x, g, gamma, beta = _huge_data("batchnorm", 37, dtype, seed=4)
    drop = (0.25, 4 / 3, 5, 9)
    y, mean, invstd = _kernels.batchnorm_forward(x, gamma, beta, 1e-5, relu=True, dropout=drop)
    y_r, _, _ = reference.batchnorm_forward(*_f64(x, gamma, beta), 1e-5, relu=True, dropout=drop)
    assert_close(y, y_r, rtol, atol * 10, "y")
    np.testing.assert_array_equal(y > 0, y_r > 0)
    for kind in ("batchnorm", "layernorm"):
        xk, gk, gm, bt = _huge_data(kind, 37, dtype, seed=4)
        fwd, bwd = getattr(_kernels, f"{kind}_forward"), getattr(_kernels, f"{kind}_backward")
        y, mean, invstd = fwd(xk, gm, bt, 1e-5)
        xi = xk.copy()
        assert fwd(xi, gm, bt, 1e-5, out=xi)[0] is xi and np.array_equal(xi, y), kind
        dg1, db1, dg2, db2 = (np.zeros(xk.shape[1], dtype) for _ in range(4))
        dx = bwd(gk, xk, mean, invstd, gm, dg1, db1)
        gi = gk.copy()
        assert bwd(gi, xk, mean, invstd, gm, dg2, db2, out=gi) is gi, kind
        assert np.array_equal(gi, dx) and np.array_equal(dg1, dg2) and np.array_equal(db1, db2), kind
    # The fused backward (ReLU/dropout mask from y) on huge columns against the reference.
    dg, db = np.zeros(9, dtype), np.zeros(9, dtype)
    dg_r, db_r = np.zeros(9), np.zeros(9)
    y, mean, invstd = _kernels.batchnorm_forward(x, gamma, beta, 1e-5, relu=True, dropout=drop)
    dx = _kernels.batchnorm_backward(g, x, mean, invstd, gamma, dg, db, y=y, scale=drop[1])
    dx_r = reference.batchnorm_backward(*_f64(g, x, mean, invstd, gamma), dg_r, db_r, y=y.astype(np.float64),
                                        scale=drop[1])
    scale = np.abs(g).max() * 2 * np.abs(gamma).max() * invstd.astype(np.float64)[None, :]
    _assert_close_scaled(dx, dx_r, rtol * 10, scale, "dx")
    gscale = float(np.abs(g).sum(axis=0).max()) * 2
    assert_close(dg, dg_r, rtol * 10, atol * 10 * gscale, "grad_gamma")
    assert_close(db, db_r, rtol * 10, atol * 10 * gscale, "grad_beta")
