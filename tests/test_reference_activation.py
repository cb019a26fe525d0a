"""Activation kernels. The NumPy reference against independent scalar formulas (math module,
float64), erf against math.erf, edge values (no floating-point events, exact limits, NaN
propagation), dtypes; then the current backend against the float64 reference."""
import math

import numpy as np
import pytest

import fastnn
from fastnn.reference import activation as A

INF, NAN = math.inf, math.nan
NAMES = sorted(A.ACTIVATIONS)
DTYPES = [np.float32, np.float64]
LAM, ALPHA = A.SELU_SCALE, A.SELU_ALPHA
EDGE = [0.0, -0.0, 1e-3, -1e-3, 1.0, -1.0, 20.0, -20.0, 88.7, -88.7, 1e4, -1e4, INF, -INF]
KINKS = {"relu": [0], "leaky_relu": [0], "elu": [0], "selu": [0], "celu": [0], "hardtanh": [-1, 1],
         "hardsigmoid": [-3, 3], "hardsigmoid_linear": [-2.5, 2.5], "softplus": [20], "maxexp": [0]}
# Activations whose derivative is a smooth function of x: NaN in x must reach grad_x.
SMOOTH = {"sigmoid", "tanh", "gelu", "gelu_tanh", "elu", "selu", "celu", "softplus", "softsign",
          "silu", "mish", "maxexp"}


def _sig(v):
    return 1 / (1 + math.exp(-v)) if v >= 0 else math.exp(v) / (1 + math.exp(v))


SCALAR = {  # independent float64 formulas, |v| ≤ 30
    "identity": lambda v: v,
    "relu": lambda v: max(v, 0.0),
    "leaky_relu": lambda v: v if v > 0 else 0.01 * v,
    "sigmoid": _sig,
    "tanh": math.tanh,
    "gelu": lambda v: 0.5 * v * math.erfc(-v / math.sqrt(2)),
    "gelu_tanh": lambda v: v * _sig(2 * math.sqrt(2 / math.pi) * (v + 0.044715 * v ** 3)),   # ½(1+tanh u) = σ(2u)
    "elu": lambda v: v if v > 0 else math.expm1(v),
    "selu": lambda v: LAM * (v if v > 0 else ALPHA * math.expm1(v)),
    "celu": lambda v: v if v > 0 else math.expm1(v),
    "softplus": lambda v: v if v > 20 else math.log1p(math.exp(v)),
    "softsign": lambda v: v / (1 + abs(v)),
    "hardtanh": lambda v: min(max(v, -1.0), 1.0),
    "hardsigmoid": lambda v: min(max(v + 3, 0.0), 6.0) / 6,
    "hardsigmoid_linear": lambda v: min(max(0.2 * v + 0.5, 0.0), 1.0),
    "silu": lambda v: v * _sig(v),
    "mish": lambda v: v * math.tanh(math.log1p(math.exp(v))),
    "maxexp": lambda v: max(v, v * math.exp(-abs(v))),
}

LIMITS = {  # f(+inf), f(−inf), f'(+inf), f'(−inf) with default parameters
    "identity": (INF, -INF, 1, 1), "relu": (INF, 0, 1, 0), "leaky_relu": (INF, -INF, 1, 0.01),
    "sigmoid": (1, 0, 0, 0), "tanh": (1, -1, 0, 0), "gelu": (INF, 0, 1, 0), "gelu_tanh": (INF, 0, 1, 0),
    "elu": (INF, -1, 1, 0), "selu": (INF, -LAM * ALPHA, LAM, 0), "celu": (INF, -1, 1, 0),
    "softplus": (INF, 0, 1, 0), "softsign": (1, -1, 0, 0), "hardtanh": (1, -1, 0, 0),
    "hardsigmoid": (1, 0, 0, 0), "hardsigmoid_linear": (1, 0, 0, 0), "silu": (INF, 0, 1, 0),
    "mish": (INF, 0, 1, 0), "maxexp": (INF, 0, 1, 0),
}

# Non-default parameters, including the x-based backward of leaky_relu/elu with p0 < 0.
PARAM_CASES = [(n, A.ACTIVATIONS[n]) for n in NAMES] + [
    ("leaky_relu", (0.2,)), ("leaky_relu", (-0.3,)), ("elu", (0.5,)), ("elu", (-0.7,)), ("celu", (2.0,)),
    ("softplus", (2.0, 10.0)), ("hardtanh", (-2.0, 0.5)),
]


def _grid():
    x = np.linspace(-30, 30, 6001)
    return np.concatenate([x, [1e-3, -1e-3, 1e-8, -1e-8, 1e-300, -1e-300]])


def _away_from_kinks(name, x, gap=1e-4):
    return np.all([np.abs(x - k) > gap for k in KINKS[name]], axis=0) if name in KINKS else np.ones(x.shape, bool)


def strict_fp():
    return np.errstate(over="raise", invalid="raise", divide="raise", under="ignore")


# ------------------------------------------------------------------------------- erf

def test_erf_matches_math_erf_to_1e14():
    x = np.concatenate([np.linspace(-30, 30, 120001), np.geomspace(1e-300, 1e-1, 500)])
    x = np.concatenate([x, -x])
    want = np.array([math.erf(v) for v in x])
    got = A.erf(x)
    assert np.max(np.abs(got - want) / np.abs(want).clip(1e-300)) < 1e-14


def test_erfc_matches_math_erfc_to_1e14_in_the_tail():
    x = np.linspace(-10, 26.5, 120001)              # erfc(26.5) ≈ 1e-307: still a normal number
    want = np.array([math.erfc(v) for v in x])
    got = A.erfc(x)
    assert np.max(np.abs(got - want) / want) < 1e-14


def test_erf_special_values_and_symmetry():
    got = A.erf(np.array([0.0, -0.0, INF, -INF, NAN]))
    assert got[0] == 0 and math.copysign(1, got[1]) == -1
    assert got[2] == 1 and got[3] == -1 and np.isnan(got[4])
    ec = A.erfc(np.array([INF, -INF, NAN, 30.0]))
    assert ec[0] == 0 and ec[1] == 2 and np.isnan(ec[2]) and ec[3] == 0
    x = np.linspace(0, 8, 1001)
    np.testing.assert_array_equal(A.erf(-x), -A.erf(x))
    np.testing.assert_allclose(A.erf(x) + A.erfc(x), 1.0, rtol=0, atol=2e-16)


# ------------------------------------------------------------------------------- reference vs formulas

def test_table_matches_kernel_api():
    assert set(A.ACTIVATIONS) == {
        "identity", "relu", "leaky_relu", "sigmoid", "tanh", "gelu", "gelu_tanh", "elu", "selu", "celu",
        "softplus", "softsign", "hardtanh", "hardsigmoid", "hardsigmoid_linear", "silu", "mish", "maxexp"}
    assert A.ACTIVATIONS["softplus"] == (1.0, 20.0) and A.ACTIVATIONS["leaky_relu"] == (0.01,)
    assert LAM == 1.0507009873554804934193349852946 and ALPHA == 1.6732632423543772848170429916717


@pytest.mark.parametrize("name", NAMES)
def test_forward_matches_scalar_formula(name):
    x = _grid()
    want = np.array([SCALAR[name](v) for v in x])
    got = A.act_forward(x, name, A.ACTIVATIONS[name])
    # Conditioning in the left tail: erfc(z) turns a relative error δ of z into 2z²δ, σ(z) into |z|δ.
    cond = {"gelu": 1 + x * x, "gelu_tanh": 1 + 4 * np.abs(x + 0.044715 * x ** 3)}.get(name, 1)
    assert np.all(np.abs(got - want) <= 4e-15 * cond * np.abs(want) + 1e-300)


@pytest.mark.parametrize("name", NAMES)
def test_backward_matches_central_differences(name):
    x = _grid()
    x = x[_away_from_kinks(name, x, 1e-3)]
    h = 1e-6
    f = SCALAR[name]
    numeric = np.array([(f(v + h) - f(v - h)) / (2 * h) for v in x])
    y = A.act_forward(x, name, A.ACTIVATIONS[name])
    got = A.act_backward(np.ones_like(x), x, y, name, A.ACTIVATIONS[name])
    np.testing.assert_allclose(got, numeric, rtol=1e-6, atol=1e-8)


@pytest.mark.parametrize("name,params", PARAM_CASES)
def test_backward_with_parameters_matches_central_differences(name, params):
    x = np.linspace(-6, 6, 1201)
    x = x[np.abs(x - np.round(x * 2) / 2) > 1e-3]    # off every half-integer (kinks at 0, ±0.5, ±1, ...)
    h = 1e-6
    fwd = lambda v: A.act_forward(v, name, params)   # noqa: E731
    numeric = (fwd(x + h) - fwd(x - h)) / (2 * h)
    got = A.act_backward(np.ones_like(x), x, fwd(x), name, params)
    np.testing.assert_allclose(got, numeric, rtol=1e-6, atol=1e-8)


def test_parameterised_forward_formulas():
    x = np.linspace(-5, 5, 101)
    np.testing.assert_array_equal(A.act_forward(x, "leaky_relu", (0.2,)), np.where(x > 0, x, 0.2 * x))
    np.testing.assert_allclose(A.act_forward(x, "elu", (0.5,)), np.where(x > 0, x, 0.5 * np.expm1(x)), rtol=1e-15)
    np.testing.assert_allclose(A.act_forward(x, "celu", (2.0,)), np.where(x > 0, x, 2 * np.expm1(x / 2)), rtol=1e-15)
    np.testing.assert_allclose(A.act_forward(x, "softplus", (2.0, 10.0)),
                               np.where(2 * x > 10, x, np.log1p(np.exp(2 * x)) / 2), rtol=1e-15)
    np.testing.assert_array_equal(A.act_forward(x, "hardtanh", (-2.0, 0.5)), np.clip(x, -2, 0.5))


# ------------------------------------------------------------------------------- edge values

@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("name", NAMES)
def test_edge_values_no_fp_events_exact_limits_nan_propagates(name, dtype):
    x = np.array(EDGE + [NAN], dtype)
    with strict_fp():
        y = A.act_forward(x, name, A.ACTIVATIONS[name])
        g = A.act_backward(np.ones_like(x), x, y, name, A.ACTIVATIONS[name])
    assert y.dtype == dtype and g.dtype == dtype
    np.testing.assert_array_equal(np.isnan(y), np.isnan(x))          # no spurious NaN; NaN propagates
    assert not np.isnan(g[:-1]).any()
    if name in SMOOTH:
        assert np.isnan(g[-1])
    f_pos, f_neg, d_pos, d_neg = LIMITS[name]
    assert y[-3] == pytest.approx(f_pos, rel=1e-6) and y[-2] == pytest.approx(f_neg, rel=1e-6, abs=0)
    assert g[-3] == pytest.approx(d_pos, rel=1e-6) and g[-2] == pytest.approx(d_neg, rel=1e-6, abs=0)
    assert g[10] == pytest.approx(d_pos, rel=1e-6, abs=1e-7)          # ±1e4: at the limit (softsign: 1e-8)
    assert g[11] == pytest.approx(d_neg, rel=1e-6, abs=1e-7)
    assert np.isfinite(y[np.isfinite(x)]).all() and np.isfinite(g[np.isfinite(x)]).all()


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("name,params", PARAM_CASES)
def test_float32_baseline_close_to_float64_oracle(name, params, dtype):
    x = np.random.default_rng(0).standard_normal(4096).astype(dtype) * 4
    y = A.act_forward(x, name, params)
    g = np.random.default_rng(1).standard_normal(x.shape).astype(dtype)
    gx = A.act_backward(g, x, y, name, params)
    x64, g64 = x.astype(np.float64), g.astype(np.float64)
    y64 = A.act_forward(x64, name, params)
    gx64 = A.act_backward(g64, x64, y64, name, params)
    assert y.dtype == dtype and gx.dtype == dtype
    tol = 1e-15 if dtype == np.float64 else 2e-6
    np.testing.assert_allclose(y, y64, rtol=tol * 4, atol=tol)
    ok = _away_from_kinks(name, x64, 1e-3) if params == A.ACTIVATIONS[name] else np.ones(x.shape, bool)
    np.testing.assert_allclose(gx[ok], gx64[ok], rtol=tol * 8, atol=tol * 4)


# Huge finite inputs whose true f and f' fit the dtype: f(x) = x·tanh(softplus x) = x for mish,
# λx for selu, ...; |g| > 1, so g·y in a branch np.where discards must not overflow either.
HUGE = {np.float32: [1e3, 1e30, 3e38], np.float64: [1e3, 1e30, 1e300, 1.7e308]}


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("name,params", PARAM_CASES)
def test_huge_finite_inputs_no_fp_events_and_float64_values(name, params, dtype):
    x = np.array(HUGE[dtype] + [-v for v in HUGE[dtype]], dtype)
    g = np.full_like(x, 1.5)
    with strict_fp():
        y = A.act_forward(x, name, params)
        gx = A.act_backward(g, x, y, name, params)
    assert np.isfinite(y).all() and np.isfinite(gx).all()
    x64 = x.astype(np.float64)
    y64 = A.act_forward(x64, name, params)
    gx64 = A.act_backward(g.astype(np.float64), x64, y64, name, params)
    tol = 1e-15 if dtype == np.float64 else 2e-6
    np.testing.assert_allclose(y, y64, rtol=tol * 4, atol=1e-30)
    np.testing.assert_allclose(gx, gx64, rtol=tol * 8, atol=tol * 4)
    if name == "mish":
        np.testing.assert_array_equal(y[x > 0], x[x > 0])


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("name,params", PARAM_CASES)
def test_backend_huge_finite_inputs_match_float64_reference(backend, name, params, dtype):
    K = fastnn._backend.kernels()
    x = np.array([HUGE[dtype] + [-v for v in HUGE[dtype]]], dtype)
    g = np.full_like(x, 1.5)
    y = K.act_forward(x, name, params)
    gx = K.act_backward(g, x, y, name, params)
    x64 = x.astype(np.float64)
    y64 = A.act_forward(x64, name, params)
    gx64 = A.act_backward(g.astype(np.float64), x64, y.astype(np.float64), name, params)
    tol = 1e-13 if dtype == np.float64 else 3e-6
    assert np.isfinite(y).all() and np.isfinite(gx).all()
    np.testing.assert_allclose(y, y64, rtol=tol, atol=1e-30)
    np.testing.assert_allclose(gx, gx64, rtol=tol * 4, atol=tol * 4)


def test_out_may_alias_input_and_is_returned():
    x = np.linspace(-3, 3, 61)
    want = A.act_forward(x, "gelu")
    got = A.act_forward(x, "gelu", (), out=x)
    assert got is x
    np.testing.assert_array_equal(x, want)


# ------------------------------------------------------------------------------- the current backend

SIZES = [0, 1, 7, 63, 64, 1029]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("name,params", PARAM_CASES)
def test_backend_matches_float64_reference(backend, name, params, dtype):
    K = fastnn._backend.kernels()
    rng = np.random.default_rng(2)
    tol = 1e-13 if dtype == np.float64 else 3e-6
    for n in SIZES:
        x = (rng.standard_normal((1, n)) * 5).astype(dtype)
        if n >= 64:
            x[0, 50:50 + len(EDGE) - 2] = EDGE[:-2]           # finite edge values in body and tail
        g = rng.standard_normal(x.shape).astype(dtype)
        y = K.act_forward(x, name, params)
        gx = K.act_backward(g, x, y, name, params)
        x64 = x.astype(np.float64)
        y64 = A.act_forward(x64, name, params)
        gx64 = A.act_backward(g.astype(np.float64), x64, y64, name, params)
        assert y.shape == x.shape and y.dtype == dtype and gx.dtype == dtype
        np.testing.assert_allclose(y, y64, rtol=tol, atol=tol)
        ok = _away_from_kinks(name, x64, 1e-3) & (np.abs(x64) < 1e4)
        np.testing.assert_allclose(gx[ok], gx64[ok], rtol=tol * 4, atol=tol * 4)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("name,params", PARAM_CASES)
def test_backend_edge_values_and_in_place(backend, name, params, dtype):
    K = fastnn._backend.kernels()
    x = np.array([EDGE + [NAN]], dtype)
    with strict_fp():
        y = K.act_forward(x, name, params)
        g = K.act_backward(np.ones_like(x), x, y, name, params)
    np.testing.assert_array_equal(np.isnan(y), np.isnan(x))
    assert not np.isnan(g[0, :-1]).any()
    ref = A.act_forward(x.astype(np.float64), name, params)
    np.testing.assert_allclose(y, ref, rtol=3e-6, atol=1e-37)
    xi = x.copy()
    assert K.act_forward(xi, name, params, out=xi) is xi
    np.testing.assert_array_equal(xi, y)


@pytest.mark.parametrize("name", NAMES)
def test_backend_bitwise_equal_for_1_2_3_threads(backend, threads, name):
    K = fastnn._backend.kernels()
    x = np.random.default_rng(4).standard_normal((256, 1029)).astype(np.float32) * 4
    g = np.ones_like(x)
    results = []
    for _ in threads():
        y = K.act_forward(x, name, A.ACTIVATIONS[name])
        results.append((y, K.act_backward(g, x, y, name, A.ACTIVATIONS[name])))
    for y, gx in results[1:]:
        np.testing.assert_array_equal(y, results[0][0])
        np.testing.assert_array_equal(gx, results[0][1])


@pytest.mark.parametrize("name,params", PARAM_CASES)
def test_backend_backward_reads_only_y_where_the_contract_says(backend, name, params):
    K = fastnn._backend.kernels()
    x = np.random.default_rng(3).standard_normal((5, 7)) * 3
    y = K.act_forward(x, name, params)
    g = np.ones_like(x)
    want = K.act_backward(g, x, y, name, params)
    if A.backward_uses_output(name, params):
        np.testing.assert_array_equal(K.act_backward(g, np.full_like(x, 1e3), y, name, params), want)
        np.testing.assert_array_equal(K.act_backward(g, y, y, name, params), want)
    else:
        np.testing.assert_array_equal(K.act_backward(g, x, np.full_like(y, 1e3), name, params), want)
