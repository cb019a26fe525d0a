"""Accuracy of the vectorised math (cpp/vmath.h) in ULP, measured through the native
act_forward of the smooth activations, against a 40-digit mpmath oracle.

ULP: |y − f(x)| / ulp(f(x)), ulp taken at the binade of the exact value (as glibc's
tests do). Results in the subnormal range are checked separately with an absolute bound:
there a product like x·σ(x) carries the quantisation of its subnormal factor times |x|.
Grid: ±[1e-6, 100] log-spaced, [−10, 10] uniform, and the finite edge values of issue 3,
in float32 and float64, on every instruction set this CPU supports.

Bounds: ≤ 4 ULP for every activation whose argument reaches vmath exactly. gelu_tanh gets
a conditioning allowance: its inner argument u(x) = √(2/π)(x + 0.044715x³) is itself
rounded (a few ULP), and σ(2u) amplifies a relative error δ of 2u by |2u|·σ(−2u), up to
|2u| in the left tail, so the bound there is 4 + 2·|2u(x)| ULP, as for any implementation
working in the input dtype.
"""
import functools

import numpy as np
import pytest

from fastnn import _kernels
from _kernel_util import isa  # noqa: F401  (fixture)

mp = pytest.importorskip("mpmath")
mp.mp.dps = 40

SELU_A = mp.mpf("1.6732632423543772848170429916717")
SELU_L = mp.mpf("1.0507009873554804934193349852946")


def _u(x):
    return mp.sqrt(2 / mp.pi) * (x + mp.mpf("0.044715") * x ** 3)


ORACLES = {
    "sigmoid": lambda x: 1 / (1 + mp.exp(-x)),
    "tanh": mp.tanh,
    "gelu": lambda x: x * mp.erfc(-x / mp.sqrt(2)) / 2,
    "gelu_tanh": lambda x: x / (1 + mp.exp(-2 * _u(x))),
    "elu": lambda x: x if x > 0 else mp.expm1(x),
    "selu": lambda x: SELU_L * (x if x > 0 else SELU_A * mp.expm1(x)),
    "celu": lambda x: x if x > 0 else mp.expm1(x),
    "softplus": lambda x: x if x > 20 else mp.log1p(mp.exp(x)),
    "silu": lambda x: x / (1 + mp.exp(-x)),
    "mish": lambda x: x * mp.tanh(mp.log1p(mp.exp(x))),
    "maxexp": lambda x: x if x > 0 else x * mp.exp(x),
    "softsign": lambda x: x / (1 + abs(x)),
}
PARAMS = {"elu": (1.0,), "celu": (1.0,), "softplus": (1.0, 20.0)}
DTYPES = (np.float32, np.float64)


@functools.lru_cache(maxsize=None)
def _grid(dtype):
    mags = np.geomspace(1e-6, 100.0, 1500)
    lin = np.linspace(-10.0, 10.0, 1001)
    edge = np.array([0.0, 1e-3, -1e-3, 1.0, -1.0, 20.0, -20.0, 88.7, -88.7, 1e4, -1e4])
    return np.unique(np.concatenate([mags, -mags, lin, edge]).astype(dtype))


@functools.lru_cache(maxsize=None)
def _oracle(name, dtype):
    return tuple(ORACLES[name](mp.mpf(float(v))) for v in _grid(dtype))


def _ulp_errors(y, x, ref, dtype):
    """(ulp errors over normal-range results, max |err|/(1+|x|) over subnormal-range results)."""
    fi = np.finfo(dtype)
    p = fi.nmant + 1
    tiny = mp.mpf(float(fi.tiny))
    ulps, sub = [], [0.0]
    for yi, xi, r in zip(y.tolist(), x.tolist(), ref):
        err = abs(mp.mpf(yi) - r)
        if abs(r) >= tiny:
            e = int(mp.floor(mp.log(abs(r), 2)))
            ulps.append(float(err / mp.mpf(2) ** (e - p + 1)))
        else:
            sub.append(float(err / (1 + abs(xi)) / mp.mpf(float(fi.smallest_subnormal))))
    return np.array(ulps), max(sub)


def _bound(name, x, dtype):
    if name != "gelu_tanh":
        return np.full(x.shape, 4.0)
    two_u = 2 * np.abs(np.sqrt(2 / np.pi) * (x.astype(np.float64) + 0.044715 * x.astype(np.float64) ** 3))
    return 4.0 + 2.0 * np.minimum(two_u, 1e6)


@pytest.mark.parametrize("dtype", DTYPES, ids=["f32", "f64"])
@pytest.mark.parametrize("name", sorted(ORACLES))
def test_activation_ulp(isa, name, dtype):  # noqa: F811
    x = _grid(dtype)
    ref = _oracle(name, dtype)
    y = _kernels.act_forward(x, name, PARAMS.get(name, ()))
    assert y.dtype == dtype and np.isfinite(y).all()
    ulps, sub = _ulp_errors(y, x, ref, dtype)
    fi = np.finfo(dtype)
    normal = np.array([abs(r) >= mp.mpf(float(fi.tiny)) for r in ref])
    bound = _bound(name, x[normal], dtype)
    worst = int(np.argmax(ulps - bound))
    assert (ulps <= bound).all(), (
        f"{name} {np.dtype(dtype).name} [{isa}]: max {ulps.max():.2f} ULP; worst over bound: "
        f"{ulps[worst]:.2f} ULP at x={x[normal][worst]!r}")
    assert sub <= 4.0, f"{name} {np.dtype(dtype).name} [{isa}]: subnormal-range error {sub:.2f}·(1+|x|) steps"
    print(f"{name} {np.dtype(dtype).name} {isa}: max {ulps.max():.2f} ULP")


@pytest.mark.parametrize("dtype", DTYPES, ids=["f32", "f64"])
def test_exp_family_special_values(isa, dtype):  # noqa: F811
    """Overflow, underflow and ±inf through the activations that expose exp/expm1/log1p/tanh/erf."""
    big = 200.0 if dtype == np.float32 else 800.0  # σ(−big) and big·e^(−big) underflow to 0
    x = np.array([-np.inf, -big, -1e4, 0.0, 1e4, big, np.inf, np.nan], dtype=dtype)
    with np.errstate(all="raise"):
        sig = _kernels.act_forward(x, "sigmoid")
        np.testing.assert_array_equal(sig[:7], [0, 0, 0, 0.5, 1, 1, 1])
        np.testing.assert_array_equal(_kernels.act_forward(x, "tanh")[:7], [-1, -1, -1, 0, 1, 1, 1])
        np.testing.assert_array_equal(_kernels.act_forward(x, "elu", (1.0,))[:7], [-1, -1, -1, 0, 1e4, big, np.inf])
        np.testing.assert_array_equal(_kernels.act_forward(x, "softplus", (1.0, 1e30))[:7],
                                      [0, 0, 0, np.log(dtype(2)), 1e4, big, np.inf])
        np.testing.assert_array_equal(_kernels.act_forward(x, "gelu")[:7], [0, 0, 0, 0, 1e4, big, np.inf])
        # maxexp(x) = x·e^x for x ≤ 0: e^x underflows to exactly 0 (no garbage from 2^n).
        np.testing.assert_array_equal(_kernels.act_forward(x, "maxexp")[:4], [0, 0, 0, 0])
    for name in ORACLES:
        assert np.isnan(_kernels.act_forward(x, name, PARAMS.get(name, ()))[7]), name
