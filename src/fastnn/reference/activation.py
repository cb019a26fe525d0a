"""NumPy activation kernels: ``act_forward`` / ``act_backward`` for every name of docs/kernel_api.md.

Design. Each activation is a forward f(x, p0, p1) and a backward df(g, x, y, p0, p1) in
two tables; both return new arrays in the input dtype (float64: the oracle, float32: the
NumPy baseline) and ``out`` is written last, so it may alias x. Rules shared with the C++
kernels:

- No overflow, invalid or divide-by-zero event for any input, ±inf included: exponentials
  take clamped arguments (expm1(min(x, 0)) for ELU/SELU/CELU, e^(−|x|) for sigmoid and
  softplus), and products x·f(x) whose f vanishes at ±inf use x clamped to the finite
  range, so the limits are exact: silu(−inf) = mish(−inf) = gelu(−inf) = 0,
  softsign(±inf) = ±1. (PyTorch returns NaN for these four.) Huge finite x gives the
  finite limits too (mish(x) = x near the float maximum); only a true value beyond the
  maximum (selu(x) = λx there) overflows.
- NaN in x gives NaN in y; smooth activations also give NaN in grad_x. For piecewise
  ones the gradient at NaN is whatever their comparison picks (as in PyTorch).
- act_backward reads only y for the names where y alone fixes f'(x)
  (``backward_uses_output``): identity, relu, sigmoid, tanh, selu, celu, and leaky_relu /
  elu with p0 ≥ 0. A caller that kept only y may pass it for x. The others read only x.
  From y, the ELU/SELU/CELU slope on the negative side is y + α = α·eˣ, formed by a
  cancellation: its absolute error is ≤ ulp(α)·|grad_y| (6e-8 for float32, α = 1), so for
  x ≲ −10 its relative error grows, to 100 % where α·eˣ < ulp(α) (x ≲ −17). PyTorch's
  in-place ELU (its backward also reads the result) does the same; the out-of-place one
  reads x. Kept from y so that a fused Linear + ELU stores one array, not two.
- erf/erfc: W. J. Cody's rational Chebyshev approximations (CALERF, Math. Comp. 23, 1969)
  evaluated in float64 (relative error < 1e-14); float32 GELU rounds Φ = ½erfc(−x/√2) once.
  GELU-tanh is evaluated as x·σ(2u), equal to ½x(1 + tanh u) but without its cancellation
  for x ≪ 0.
"""
from __future__ import annotations

import numpy as np

__all__ = ["ACTIVATIONS", "act_forward", "act_backward"]

SELU_ALPHA = 1.6732632423543772848170429916717
SELU_SCALE = 1.0507009873554804934193349852946
_SQRT_2_OVER_PI = 0.7978845608028654       # √(2/π), GELU-tanh
_GELU_KAPPA = 0.044715
_INV_SQRT2 = 0.7071067811865476
_INV_SQRT_2PI = 0.3989422804014327

# name → default params (p0, p1); the kernels pad missing entries with 0.
ACTIVATIONS = {
    "identity": (), "relu": (), "leaky_relu": (0.01,), "sigmoid": (), "tanh": (),
    "gelu": (), "gelu_tanh": (), "elu": (1.0,), "selu": (), "celu": (1.0,),
    "softplus": (1.0, 20.0), "softsign": (), "hardtanh": (-1.0, 1.0), "hardsigmoid": (),
    "hardsigmoid_linear": (), "silu": (), "mish": (), "maxexp": (),
}

_FROM_OUTPUT = frozenset({"identity", "relu", "sigmoid", "tanh", "selu", "celu"})


def backward_uses_output(act, params=()):
    """True when act_backward(grad_y, x, y, ...) reads y only (x may then be any array)."""
    if act in ("leaky_relu", "elu"):
        return _params(params)[0] >= 0.0
    return act in _FROM_OUTPUT


# ------------------------------------------------------------------------ erf (Cody)

_A = (3.16112374387056560e00, 1.13864154151050156e02, 3.77485237685302021e02,
      3.20937758913846947e03, 1.85777706184603153e-1)
_B = (2.36012909523441209e01, 2.44024637934444173e02, 1.28261652607737228e03,
      2.84423683343917062e03)
_C = (5.64188496988670089e-1, 8.88314979438837594e00, 6.61191906371416295e01,
      2.98635138197400131e02, 8.81952221241769090e02, 1.71204761263407058e03,
      2.05107837782607147e03, 1.23033935479799725e03, 2.15311535474403846e-8)
_D = (1.57449261107098347e01, 1.17693950891312499e02, 5.37181101862009858e02,
      1.62138957456669019e03, 3.29079923573345963e03, 4.36261909014324716e03,
      3.43936767414372164e03, 1.23033935480374942e03)
_P = (3.05326634961232344e-1, 3.60344899949804439e-1, 1.25781726111229246e-1,
      1.60837851487422766e-2, 6.58749161529837803e-4, 1.63153871373020978e-2)
_Q = (2.56852019228982242e00, 1.87295284992346047e00, 5.27905102951428412e-1,
      6.05183413124413191e-2, 2.33520497626869185e-3)
_RSQRTPI = 0.56418958354775628695


def _calerf(x, complement):
    """erf(x) or erfc(x) in float64: a rational in x² for |x| ≤ 0.46875, else erfc(|x|)."""
    x = np.asarray(x, dtype=np.float64)
    res = np.empty_like(x)
    small = np.abs(x) <= 0.46875                    # NaN falls into the erfc branch
    t = x[small]
    z = t * t
    num, den = _A[4] * z, z
    for i in range(3):
        num, den = (num + _A[i]) * z, (den + _B[i]) * z
    e = t * (num + _A[3]) / (den + _B[3])
    res[small] = 1.0 - e if complement else e

    xr = x[~small]
    y = np.minimum(np.abs(xr), 28.0)                # erfc(28) < 1e-342 underflows to 0
    r = np.empty_like(y)
    mid = y <= 4.0
    ym = y[mid]
    num, den = _C[8] * ym, ym
    for i in range(7):
        num, den = (num + _C[i]) * ym, (den + _D[i]) * ym
    r[mid] = (num + _C[7]) / (den + _D[7])
    yb = y[~mid]
    z = 1.0 / (yb * yb)
    num, den = _P[5] * z, z
    for i in range(4):
        num, den = (num + _P[i]) * z, (den + _Q[i]) * z
    r[~mid] = (_RSQRTPI - z * (num + _P[4]) / (den + _Q[4])) / yb
    ysq = np.trunc(y * 16.0) / 16.0                 # e^(−y²) split so that y² is exact
    r *= np.exp(-ysq * ysq) * np.exp(-(y - ysq) * (y + ysq))
    if complement:
        res[~small] = np.where(xr < 0, 2.0 - r, r)
    else:
        e = (0.5 - r) + 0.5
        res[~small] = np.where(xr < 0, -e, e)
    return res


def erf(x):
    """erf(x), float64."""
    return _calerf(x, False)


def erfc(x):
    """erfc(x) = 1 − erf(x), float64, accurate in the tail."""
    return _calerf(x, True)


def _Phi(x):
    """Φ(x) = ½·erfc(−x/√2), rounded once to x's dtype."""
    return (0.5 * erfc(x.astype(np.float64) * -_INV_SQRT2)).astype(x.dtype, copy=False)


# ------------------------------------------------------------------------ helpers

def _params(params):
    p = tuple(params) + (0.0, 0.0)
    return float(p[0]), float(p[1])


def _sigmoid(x):
    """1/(1+e^−x) = r or e·r (x < 0), r = 1/(1+e), e = e^(−|x|) ≤ 1: no overflow on either side."""
    e = np.exp(-np.abs(x))
    pos = x >= 0
    return (1 / (1 + e)) * (pos + e * ~pos)           # a 0/1 blend: exact, and faster than np.where


def _softplus(z):
    """log(1+e^z) = max(z, 0) + log1p(e^(−|z|))."""
    return np.maximum(z, 0) + np.log1p(np.exp(-np.abs(z)))


def _low(x):
    """x with −inf replaced by the lowest finite value (so −inf·0 = 0, not NaN)."""
    return np.maximum(x, np.finfo(x.dtype).min)


def _finite(x):
    """x clipped to the finite range (NaN kept)."""
    fi = np.finfo(x.dtype)
    return np.clip(x, fi.min, fi.max)


def _f_leaky(x, s, _):
    """max(x, 0) + s·min(x, 0): equals x > 0 ? x : s·x exactly (s = 0: no −inf·0)."""
    if s == 0:
        return np.maximum(x, 0)
    return np.maximum(x, 0) + np.minimum(x, 0) * x.dtype.type(s)


def _elu_neg(x, a):
    """a·expm1(min(x, 0)): the negative branch of ELU, never overflowing."""
    return a * np.expm1(np.minimum(x, 0))


# ------------------------------------------------------------------------ forward

def _f_celu(x, a, _):
    with np.errstate(over="ignore"):                 # a < 0 makes x/a positive
        return np.where(x > 0, x, a * np.expm1(np.minimum(x, 0) / x.dtype.type(a)))


def _beta_x(x, beta):
    """βx; with β > 1 it overflows for huge finite x, harmlessly: βx = ±inf then selects x (or 0)."""
    with np.errstate(over="ignore"):
        return x * x.dtype.type(beta)


def _f_softplus(x, beta, threshold):
    z = _beta_x(x, beta)
    return np.where(z > threshold, x, _softplus(z) / x.dtype.type(beta))


def _gelu_tanh_gate(x):
    """(x clipped to ±25, s = ½(1 + tanh u) = σ(2u)), u = √(2/π)(x + 0.044715x³).

    σ(2u) has no cancellation for x ≪ 0 (1 + tanh u has), and is exactly 0 or 1 beyond ±25.
    """
    xc = np.clip(x, -25, 25)
    return xc, _sigmoid(2 * _SQRT_2_OVER_PI * (xc + _GELU_KAPPA * xc * xc * xc))


def _f_gelu_tanh(x, _a, _b):
    return np.maximum(x, -25) * _gelu_tanh_gate(x)[1]   # s = 0 below −25: no −inf·0


def _f_maxexp(x, _a, _b):
    t = _low(np.minimum(x, 0))
    return np.where(x > 0, x, t * np.exp(t))


_FORWARD = {
    "identity": lambda x, a, b: x.copy(),
    "relu": lambda x, a, b: np.maximum(x, 0),
    "leaky_relu": _f_leaky,
    "sigmoid": lambda x, a, b: _sigmoid(x),
    "tanh": lambda x, a, b: np.tanh(x),
    "gelu": lambda x, a, b: np.maximum(x, -40) * _Phi(x),   # Φ(x < −38) = 0
    "gelu_tanh": _f_gelu_tanh,
    "elu": lambda x, a, b: np.where(x > 0, x, _elu_neg(x, x.dtype.type(a))),
    "selu": lambda x, a, b: SELU_SCALE * np.where(x > 0, x, _elu_neg(x, SELU_ALPHA)),
    "celu": _f_celu,
    "softplus": _f_softplus,
    "softsign": lambda x, a, b: (lambda xc: xc / (1 + np.abs(xc)))(_finite(x)),
    "hardtanh": lambda x, lo, hi: np.clip(x, x.dtype.type(lo), x.dtype.type(hi)),
    "hardsigmoid": lambda x, a, b: np.clip(x + 3, 0, 6) / 6,
    "hardsigmoid_linear": lambda x, a, b: np.clip(x * x.dtype.type(0.2) + x.dtype.type(0.5), 0, 1),
    "silu": lambda x, a, b: _low(x) * _sigmoid(x),
    "mish": lambda x, a, b: _low(x) * np.tanh(_softplus(x)),
    "maxexp": _f_maxexp,
}


# ------------------------------------------------------------------------ backward

def _neg(y):
    """min(y, 0): the y ≤ 0 branch of a backward from y, which np.where also evaluates where
    y > 0 and must not overflow there (g·y for huge y)."""
    return np.minimum(y, 0)


def _b_leaky(g, x, y, s, _):
    v = y if s >= 0 else x                            # sign(y) = sign(x) when s ≥ 0
    pos = v > 0
    return g * pos + (g * g.dtype.type(s)) * ~pos


def _b_elu(g, x, y, a, _):
    a = g.dtype.type(a)
    if a >= 0:                                        # f'(x) = y + α for x ≤ 0
        return np.where(y > 0, g, g * (_neg(y) + a))
    return np.where(x > 0, g, g * a * np.exp(np.minimum(x, 0)))


def _b_gelu(g, x, y, _a, _b):
    xc = np.clip(x, -40, 40)                          # φ(±40) = 0: no overflow in x²
    phi = np.exp(-0.5 * xc * xc) * _INV_SQRT_2PI
    return g * (_Phi(x) + xc * phi)


def _b_gelu_tanh(g, x, y, _a, _b):
    xc, s = _gelu_tanh_gate(x)                        # d/dx x·σ(2u) = s + x·s(1−s)·2u'
    du = (2 * _SQRT_2_OVER_PI) * (1 + (3 * _GELU_KAPPA) * xc * xc)
    return g * (s + xc * (s * (1 - s)) * du)


def _b_softplus(g, x, y, beta, threshold):
    z = _beta_x(x, beta)
    return np.where(z > threshold, g, g * _sigmoid(z))


def _b_softsign(g, x, y, _a, _b):
    r = 1 / (1 + np.abs(x))                           # r·r, not 1/(1+|x|)²: no overflow
    return g * r * r


def _b_silu(g, x, y, _a, _b):
    s = _sigmoid(x)
    return g * (s * (1 + _finite(x) * (1 - s)))


def _b_mish(g, x, y, _a, _b):
    t = np.tanh(_softplus(x))
    return g * (t + _finite(x) * _sigmoid(x) * (1 - t * t))


def _b_maxexp(g, x, y, _a, _b):
    t = _low(np.minimum(x, 0))
    return np.where(x > 0, g, g * ((1 + t) * np.exp(t)))


_BACKWARD = {
    "identity": lambda g, x, y, a, b: g.copy(),
    "relu": lambda g, x, y, a, b: g * (y > 0),
    "leaky_relu": _b_leaky,
    "sigmoid": lambda g, x, y, a, b: g * (y * (1 - y)),
    "tanh": lambda g, x, y, a, b: g * (1 - y * y),
    "gelu": _b_gelu,
    "gelu_tanh": _b_gelu_tanh,
    "elu": _b_elu,
    "selu": lambda g, x, y, a, b: np.where(y > 0, g * SELU_SCALE, g * (_neg(y) + SELU_SCALE * SELU_ALPHA)),
    "celu": lambda g, x, y, a, b: np.where(y > 0, g, g * ((_neg(y) + g.dtype.type(a)) * g.dtype.type(1 / a))),
    "softplus": _b_softplus,
    "softsign": _b_softsign,
    "hardtanh": lambda g, x, y, lo, hi: g * ((x > lo) & (x < hi)),
    "hardsigmoid": lambda g, x, y, a, b: (g * g.dtype.type(1 / 6)) * ((x > -3) & (x < 3)),
    "hardsigmoid_linear": lambda g, x, y, a, b: (g * g.dtype.type(0.2)) * ((x > -2.5) & (x < 2.5)),
    "silu": _b_silu,
    "mish": _b_mish,
    "maxexp": _b_maxexp,
}


def _finish(r, out, dtype):
    if out is None:
        return r.astype(dtype, copy=False)
    out[...] = r
    return out


def act_forward(x, act, params=(), out=None):
    """y = act(x) element-wise, in x's dtype; ``out`` may be x (in place)."""
    p0, p1 = _params(params)
    return _finish(_FORWARD[act](x, p0, p1), out, x.dtype)


def act_backward(grad_y, x, y, act, params=(), out=None):
    """grad_x = grad_y · act'(x), from y or x as ``backward_uses_output`` says."""
    p0, p1 = _params(params)
    return _finish(_BACKWARD[act](grad_y, x, y, p0, p1), out, grad_y.dtype)
