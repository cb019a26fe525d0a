"""Public array operations (validated, backend-dispatched)."""
from __future__ import annotations

import numpy as np

from ._backend import kernels
from ._validate import as_bool, as_float, check_array, check_out, same_dtype
from .reference.activation import ACTIVATIONS as _DEFAULT_PARAMS

__all__ = ["gemm", "ACTIVATIONS"]

# Activation names accepted by the fused epilogue, with the parameters they take (the names
# of the nn activation modules' arguments; defaults: reference.activation.ACTIVATIONS).
ACTIVATIONS = {
    "identity": (), "relu": (), "leaky_relu": ("negative_slope",), "sigmoid": (), "tanh": (),
    "gelu": (), "gelu_tanh": (), "elu": ("alpha",), "selu": (), "celu": ("alpha",),
    "softplus": ("beta", "threshold"), "softsign": (), "hardtanh": ("min_val", "max_val"),
    "hardsigmoid": (), "hardsigmoid_linear": (), "silu": (), "mish": (), "maxexp": (),
}
# Parameter ranges beyond "finite": the one table behind gemm's activation_params and the
# arguments of the nn activation modules (both check through check_activation_params).
# Parameters enter the float32 kernels as float32, and CELU and Softplus divide by alpha and
# beta, so a scale must be finite in float32 and so must its reciprocal (2.9e-39 ≤ |v| ≤
# 3.4e38); otherwise 0·inf turns outputs into NaN. Hardtanh's bounds may round to ±inf: a clip
# to ±inf is still right.
_F32_RANGE = "and 1/{0} must be within float32's range (2.9e-39 ≤ |{0}| ≤ 3.4e38)"


def _f32_finite(*values):
    """Whether every value is finite once rounded to float32."""
    with np.errstate(over="ignore"):
        return bool(np.isfinite(np.array(values, np.float32)).all())


_PARAM_RULES = {
    "leaky_relu": (_f32_finite, "negative_slope must be within float32's range (|x| ≤ 3.4e38)"),
    "elu": (_f32_finite, "alpha must be within float32's range (|x| ≤ 3.4e38)"),
    "celu": (lambda alpha: alpha != 0.0 and _f32_finite(alpha, 1 / alpha), "alpha " + _F32_RANGE.format("alpha")),
    "softplus": (lambda beta, threshold: beta > 0.0 and _f32_finite(beta, 1 / beta),
                 "beta must be > 0; beta " + _F32_RANGE.format("beta")),
    "hardtanh": (lambda lo, hi: hi > lo, "max_val must be greater than min_val"),
}


def check_activation_params(act, params, where):
    """``params`` (a tuple) of the activation ``act`` as finite floats within _PARAM_RULES;
    errors start with ``where`` and name the parameter."""
    names = ACTIVATIONS[act]
    if len(params) != len(names):
        raise ValueError(f"{where}takes {len(names)} parameters {names}, got {params}")
    values = tuple(as_float(p, where + n) for n, p in zip(names, params))
    rule = _PARAM_RULES.get(act)
    if rule is not None and not rule[0](*values):
        raise ValueError(f"{where}{rule[1]}, got {dict(zip(names, values))}")
    return values


_RESOLVED = {}  # (activation, params) -> validated result, for the common repeated calls


def resolve_activation(activation, params=None):
    """Validate an activation name (or None) and its parameters → (name, params tuple)."""
    if activation is None:
        return None, ()
    # Cached only for a str name and None or a tuple of plain ints and floats: equal keys are
    # then the same input (True == 1 and np.float64(1) == 1 would otherwise share an entry).
    if type(activation) is not str or not (params is None or (type(params) is tuple and all(
            type(p) is float or type(p) is int for p in params))):
        return _resolve_activation(activation, params)
    key = (activation, params)
    hit = _RESOLVED.get(key)
    if hit is None:
        hit = _resolve_activation(activation, params)
        if len(_RESOLVED) < 1024:
            _RESOLVED[key] = hit
    return hit


def _resolve_activation(activation, params):
    if not isinstance(activation, str):
        raise TypeError(f"activation must be a string or None, got {type(activation).__name__}")
    name = activation.lower()
    if name == "swish":
        name = "silu"
    if name not in ACTIVATIONS:
        raise ValueError(f"unknown activation {activation!r}; choose one of {sorted(ACTIVATIONS)}")
    if params is None:
        return name, _DEFAULT_PARAMS[name]
    try:
        params = tuple(params)
    except TypeError:                                  # a number, a 0-d array: not iterable
        raise TypeError("activation_params must be a sequence of numbers or None, "
                        f"got {type(params).__name__}") from None
    return name, check_activation_params(name, params, f"activation {name!r}: ")


def gemm(a, b, *, trans_a=False, trans_b=False, alpha=1.0, beta=0.0, out=None, bias=None,
         activation=None, activation_params=None):
    """out = act(alpha·op(a)·op(b) + beta·out + bias), op = identity or transpose.

    a, b: C-contiguous 2-D float32 or float64 arrays of one dtype. out (M, N) is written in
    place when given (it may not alias a or b); beta != 0 requires it. bias: (N,).
    """
    if _native_kernels is not None and kernels() is _native_kernels:
        c = _gemm_fast(a, b, trans_a, trans_b, alpha, beta, out, bias, activation, activation_params)
        if c is not None:
            return c
    check_array(a, "a", ndim=2)
    check_array(b, "b", ndim=2)
    same_dtype("a", a, "b", b)
    trans_a, trans_b = as_bool(trans_a, "trans_a"), as_bool(trans_b, "trans_b")
    alpha = as_float(alpha, "alpha")
    beta = as_float(beta, "beta")
    m, ka = (a.shape[1], a.shape[0]) if trans_a else a.shape
    kb, n = (b.shape[1], b.shape[0]) if trans_b else b.shape
    if ka != kb:
        raise ValueError(
            f"inner dimensions differ: op(a) has shape {(m, ka)} and op(b) has shape {(kb, n)} "
            f"(a {a.shape}, trans_a={trans_a}; b {b.shape}, trans_b={trans_b})"
        )
    if bias is not None:
        check_array(bias, "bias", ndim=1, dtype=a.dtype)
        if bias.shape[0] != n:
            raise ValueError(f"bias has shape {bias.shape}, expected ({n},) for an output of shape {(m, n)}")
    name, params = resolve_activation(activation, activation_params)
    if out is None:
        if beta != 0.0:
            raise ValueError("beta != 0 requires out (the C matrix to scale and add)")
        out = np.empty((m, n), dtype=a.dtype)
    else:
        check_out(out, "out", (m, n), a.dtype, inputs=(("a", a), ("b", b), ("bias", bias)))
    return kernels().gemm(a, b, out, trans_a=trans_a, trans_b=trans_b, alpha=alpha, beta=beta,
                          bias=bias, act=name, params=params)


# ---------------------------------------------------------------- fast path
# The checks above cost ~2.5 µs a call (NumPy's matmul costs ~1.4 µs in all), most
# of a small product. For the common call (plain ndarrays that own their memory, float
# scalars, the native backend) the binding's own checks suffice: its typed memoryviews
# demand 2-D, C-contiguous, one float dtype and a writable out, and it compares every
# shape. Whatever it rejects is re-run through the full checks above, which word the
# error; aliasing and finite alpha/beta, which the binding does not check, are tested here.
try:
    from . import _kernels as _native_kernels
except ImportError:  # pragma: no cover - the extension is part of every build
    _native_kernels = None


def _gemm_fast(a, b, trans_a, trans_b, alpha, beta, out, bias, activation, activation_params):
    """gemm's result, or None when the call needs the full checks (or is an error)."""
    if not (type(a) is np.ndarray and type(b) is np.ndarray and type(alpha) is float and type(beta) is float
            and type(trans_a) is bool and type(trans_b) is bool
            and alpha - alpha == 0.0 and beta - beta == 0.0 and a.base is None and b.base is None):
        return None
    if bias is not None and (type(bias) is not np.ndarray or bias.base is not None or bias is out):
        return None
    if out is None:
        if beta != 0.0 or a.ndim != 2 or b.ndim != 2:
            return None
        out = np.empty((a.shape[1] if trans_a else a.shape[0], b.shape[0] if trans_b else b.shape[1]), dtype=a.dtype)
    elif type(out) is not np.ndarray or out.base is not None or out is a or out is b:
        return None                                    # (arrays that own their memory never overlap)
    name, params = resolve_activation(activation, activation_params)
    try:                                               # KeyError: out is not float32/float64
        return _native_kernels.gemm(a, b, out, trans_a=trans_a, trans_b=trans_b, alpha=alpha,
                                    beta=beta, bias=bias, act=name, params=params)
    except (TypeError, ValueError, BufferError, KeyError):
        return None
