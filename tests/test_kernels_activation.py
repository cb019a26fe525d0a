"""Native activation kernels (cpp/activation.cpp, activation_impl.h) against the NumPy
float64 reference (fastnn.reference.activation): forward and backward, every activation,
sizes that hit the SIMD body and the masked tail, edge values, both dtypes, every ISA of
this CPU, 1/2/3 threads bit for bit, in-place use; and the GEMM epilogue for every
activation against the reference GEMM.

Tolerances: float32 results are compared with the float64 oracle at rtol 2e-6 (a few
ULP; tests/test_vmath.py measures ULP exactly) plus atol 1e-6·scale for values near a
zero of f or f'; float64 at rtol 1e-13. Backward from y (sigmoid, tanh, ...) is checked
against the reference fed the same y, so the y rounding is not counted against f'.
"""
import numpy as np
import pytest

from fastnn import _kernels, reference
from _kernel_util import EDGE, SIZES, assert_close, bitwise_same_for_threads, isa  # noqa: F401

NAMES = tuple(reference.ACTIVATIONS)
PARAMS = [(n, reference.ACTIVATIONS[n]) for n in NAMES] + [
    ("leaky_relu", (0.2,)), ("leaky_relu", (-0.5,)), ("elu", (0.7,)), ("elu", (-1.5,)), ("celu", (2.0,)),
    ("softplus", (2.0, 5.0)), ("softplus", (0.5, 100.0)), ("hardtanh", (-2.0, 0.5)),
]
TOL = {np.float32: (2e-6, 1e-6), np.float64: (1e-13, 1e-13)}
# gelu_tanh's inner argument is rounded in the input dtype; its left tail is ill-conditioned
# (test_vmath.py explains the bound), so it gets a wider float32 tolerance there.
WIDE = {"gelu_tanh": (2e-5, 1e-6)}


def _inputs(n, dtype, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.normal(0.0, 3.0, n)
    if n >= len(EDGE):
        x[: len(EDGE)] = EDGE
    return x.astype(dtype), rng.normal(size=n).astype(dtype)


def _check(name, params, x, g, dtype):
    rtol, atol = WIDE.get(name, TOL[dtype]) if dtype == np.float32 else TOL[dtype]
    y = _kernels.act_forward(x, name, params)
    y_ref = reference.act_forward(x.astype(np.float64), name, params)
    assert y.dtype == dtype and y.shape == x.shape
    assert_close(y, y_ref, rtol, atol, f"{name}{params} forward")
    dx = _kernels.act_backward(g, x, y, name, params)
    dx_ref = reference.act_backward(g.astype(np.float64), x.astype(np.float64), y.astype(np.float64), name, params)
    scale = atol * max(1.0, float(np.abs(g).max(initial=0.0)))
    assert_close(dx, dx_ref, rtol, scale, f"{name}{params} backward")


@pytest.mark.parametrize("dtype", [np.float32, np.float64], ids=["f32", "f64"])
@pytest.mark.parametrize("n", SIZES)
@pytest.mark.parametrize("name,params", PARAMS, ids=[f"{n}{p}" for n, p in PARAMS])
def test_matches_reference(isa, name, params, n, dtype):  # noqa: F811
    x, g = _inputs(n, dtype, seed=n)
    _check(name, params, x, g, dtype)


@pytest.mark.parametrize("dtype", [np.float32, np.float64], ids=["f32", "f64"])
@pytest.mark.parametrize("name", NAMES)
def test_edge_values_2d_and_in_place(name, dtype):
    params = reference.ACTIVATIONS[name]
    x = np.array(EDGE * 4, dtype=dtype).reshape(6, 10)
    g = np.ones_like(x)
    _check(name, params, x.reshape(-1), g.reshape(-1), dtype)
    y = _kernels.act_forward(x, name, params)
    assert y.shape == x.shape
    dx = _kernels.act_backward(g, x, y, name, params)
    xi = x.copy()
    assert _kernels.act_forward(xi, name, params, out=xi) is xi
    assert xi.tobytes() == y.tobytes()
    gi = g.copy()
    assert _kernels.act_backward(gi, x, y, name, params, out=gi) is gi
    assert gi.tobytes() == dx.tobytes()


# Huge finite inputs: mish(x) = x·tanh(softplus x) → x overflowed in x·(e^20 + 2) above 7e29
# (float32) / 8e290 (float64); every other activation is checked there too.
HUGE = {np.float32: (1e3, 1e30, 3e38, np.finfo(np.float32).max),
        np.float64: (1e3, 1e30, 1e291, 1e300, np.finfo(np.float64).max)}


def _huge_inputs(dtype):
    fmax = float(np.finfo(dtype).max)
    v = np.concatenate([HUGE[dtype], np.geomspace(20.0, fmax / 2, 61)])
    return np.concatenate([v, -v]).astype(dtype)


@pytest.mark.parametrize("dtype", [np.float32, np.float64], ids=["f32", "f64"])
@pytest.mark.parametrize("name,params", PARAMS, ids=[f"{n}{p}" for n, p in PARAMS])
def test_huge_finite_inputs(isa, name, params, dtype):  # noqa: F811
    """Finite results wherever the true value (the float64 reference, rounded to dtype) is finite,
    and equal to it; backward likewise (mish' → 1 and 0 at ±huge)."""
    rtol, atol = TOL[dtype]
    x = _huge_inputs(dtype)
    g = np.random.default_rng(5).normal(size=x.shape).astype(dtype)
    y = _kernels.act_forward(x, name, params)
    with np.errstate(over="ignore"):                 # selu(max) = λ·max: inf in the dtype
        y_ref = reference.act_forward(x.astype(np.float64), name, params).astype(dtype)
    assert_close(y, y_ref, rtol, atol, f"{name}{params} forward")
    dx = _kernels.act_backward(g, x, y, name, params)
    dx_ref = reference.act_backward(g.astype(np.float64), x.astype(np.float64), y.astype(np.float64), name, params)
    assert_close(dx, dx_ref, rtol, atol * float(np.abs(g).max()), f"{name}{params} backward")
    if name == "mish":
        assert np.array_equal(y[x > 20], x[x > 20]) and np.all(y[x < -200] == 0)
        assert np.all(dx[x > 20] == g[x > 20]) and np.all(dx[x < -200] == 0)


@pytest.mark.parametrize("dtype", [np.float32, np.float64], ids=["f32", "f64"])
@pytest.mark.parametrize("shape", [(3, 5), (37, 45)])
def test_gemm_epilogue_mish_huge(isa, shape, dtype):  # noqa: F811
    """The fused epilogue runs the same Mish: gemm(a, ones(1, n), act='mish') with huge a = a."""
    m, n = shape
    vals = np.array(HUGE[dtype][1:] + tuple(-v for v in HUGE[dtype][1:]) + (1.0, -3.0))
    a = np.resize(vals, (m, 1)).astype(dtype)
    b = np.ones((1, n), dtype)
    out = np.zeros((m, n), dtype)
    _kernels.gemm(a, b, out, act="mish")
    ref = reference.gemm(a.astype(np.float64), b.astype(np.float64), np.zeros((m, n)), act="mish")
    assert np.isfinite(out).all()
    assert_close(out, ref, *TOL[dtype], "gemm mish epilogue")


@pytest.mark.parametrize("dtype", [np.float32, np.float64], ids=["f32", "f64"])
@pytest.mark.parametrize("name", NAMES)
def test_threads_bitwise_equal(name, dtype):
    params = reference.ACTIVATIONS[name]
    x, g = _inputs(300_001, dtype, seed=7)      # above every threading threshold
    def run():
        y = _kernels.act_forward(x, name, params)
        return y, _kernels.act_backward(g, x, y, name, params)
    y, dx = bitwise_same_for_threads(run)
    _check(name, params, x[:5000], g[:5000], dtype)


@pytest.mark.parametrize("dtype", [np.float32, np.float64], ids=["f32", "f64"])
@pytest.mark.parametrize("name,params", PARAMS, ids=[f"{n}{p}" for n, p in PARAMS])
def test_gemm_epilogue_every_activation(isa, name, params, dtype):  # noqa: F811
    """gemm(..., act=name) = reference gemm with the same activation (bias and beta too)."""
    rng = np.random.default_rng(3)
    m, n, k = 37, 45, 29
    a = rng.normal(size=(m, k)).astype(dtype)
    b = rng.normal(size=(k, n)).astype(dtype)
    bias = rng.normal(size=n).astype(dtype)
    c0 = rng.normal(size=(m, n)).astype(dtype)
    out = c0.copy()
    _kernels.gemm(a, b, out, alpha=0.5, beta=0.25, bias=bias, act=name, params=params)
    ref = reference.gemm(a.astype(np.float64), b.astype(np.float64), c0.astype(np.float64), alpha=0.5, beta=0.25,
                         bias=bias.astype(np.float64), act=name, params=params)
    eps = np.finfo(dtype).eps
    # The pre-activation carries (k + 2)·eps relative error; every activation here has
    # |f'| ≤ ~1.1, so the same bound (on the magnitude scale) covers the output.
    scale = 0.5 * (np.abs(a) @ np.abs(b)) + 0.25 * np.abs(c0) + np.abs(bias)
    err = np.abs(out.astype(np.float64) - ref)
    bound = (k + 2) * eps * 1.2 * scale + 4 * eps * np.abs(ref)
    if dtype == np.float32 and name == "gelu_tanh":
        bound += 2e-5 * np.abs(ref)
    assert (err <= bound).all(), f"{name}: max excess {(err - bound).max():.3g}"


def test_unknown_code_and_empty_are_harmless():
    x = np.zeros(0, dtype=np.float32)
    assert _kernels.act_forward(x, "relu").shape == (0,)
    assert _kernels.act_backward(x, x, x, "gelu").shape == (0,)


def test_mismatched_lengths_are_errors_not_out_of_bounds_accesses():
    a, b = np.ones(8, np.float32), np.ones(5, np.float32)
    with pytest.raises(ValueError, match="out has 5 elements"):
        _kernels.act_forward(a, "relu", out=b)
    for args in [(a, b, a), (a, a, b), (b, a, a)]:
        with pytest.raises(ValueError, match="one length"):
            _kernels.act_backward(*args, "relu", out=np.ones(8, np.float32))
    with pytest.raises(ValueError, match="out has 5 elements"):
        _kernels.dropout_forward(a, 0.5, 2.0, 1, 1, out=b)
