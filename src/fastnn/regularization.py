"""Regularisation on parameters: L1/L2 penalties, decoupled weight decay, gradient clipping
and the max-norm constraint.

Design. Each function works on parameters (objects with ``.data`` and ``.grad`` arrays)
and makes one fused kernel call per parameter buffer through ``fastnn._backend.kernels()``;
norms are accumulated in float64 over fixed blocks, so every result is bitwise the same
for any thread count. Penalties both add their gradient to ``.grad`` and return their
value, to be added to the loss:

    l1_penalty: strength·Σ|w|,     grad += strength·sign(w)
    l2_penalty: ½·strength·Σw²,    grad += strength·w    (the same step as PyTorch's coupled
                                                          weight_decay=strength; Keras' L2(l)
                                                          is strength = 2l)

By default they apply to weights only: parameters whose name ends in "weight" when names
are known (a model's ``named_parameters()``, a dict, or (name, parameter) pairs), and
parameters with at least 2 dimensions otherwise; biases are excluded. ``include`` (a
predicate on (name, parameter), name None when unknown) overrides the choice.
"""
from __future__ import annotations

import math

import numpy as np

from ._backend import kernels
from ._validate import FLOAT_DTYPES, as_bool, as_float

__all__ = [
    "l1_penalty", "l2_penalty", "decay_weights_", "clip_grad_norm_", "clip_grad_value_", "max_norm_",
    "is_weight",
]


def is_weight(name, param):
    """Default penalty target: a name ending in "weight", or (no name) an array of ≥ 2 dimensions."""
    if name is not None:
        return name.endswith("weight")
    data = getattr(param, "data", None)               # (not a parameter: kept, so _check_pair names it)
    return not isinstance(data, np.ndarray) or data.ndim >= 2


def _named(params):
    """(name or None, parameter) pairs from a model, a dict, pairs, one parameter or an iterable."""
    if callable(getattr(params, "named_parameters", None)):
        return list(params.named_parameters())
    if isinstance(params, dict):
        bad = next((k for k in params if not isinstance(k, str)), None)
        if bad is not None:
            raise TypeError(f"a dict of parameters must map names (str) to parameters, got the key {bad!r}")
        return list(params.items())
    if hasattr(params, "data"):
        return [(None, params)]
    try:
        items = iter(params)                           # (no per-item check here: _check_pair does it)
    except TypeError:
        raise TypeError(f"params must be a model, a dict name -> parameter, (name, parameter) pairs, "
                        f"one parameter or an iterable of parameters, got {type(params).__name__}") from None
    out = []
    for item in items:
        if isinstance(item, tuple) and len(item) == 2 and isinstance(item[0], str):
            out.append(item)
        else:
            out.append((None, item))
    return out


def _check_pair(p, name, *, need_grad, writes_data=False):
    """(data, grad or None) of parameter ``p``; the grad, and the data when ``writes_data``, must be
    writable (the kernels update them in place)."""
    data = getattr(p, "data", None)
    if not isinstance(data, np.ndarray) or data.dtype not in FLOAT_DTYPES or not data.flags.c_contiguous:
        raise TypeError(f"{name or 'parameter'}: expected a parameter with C-contiguous float32/float64 .data, "
                        f"got {type(p).__name__}")
    if writes_data and not data.flags.writeable:
        raise ValueError(f"{name or 'parameter'}: .data is read-only (shape {data.shape}); it is updated in place")
    g = getattr(p, "grad", None)
    if g is None:
        if need_grad:
            raise ValueError(f"{name or 'parameter'} has no gradient (.grad is None)")
        return data, None
    if not isinstance(g, np.ndarray) or g.dtype != data.dtype or g.shape != data.shape or not g.flags.c_contiguous:
        raise ValueError(f"{name or 'parameter'}: .grad must be a C-contiguous array of the data's shape {data.shape} "
                         f"and dtype {data.dtype}")
    if not g.flags.writeable:
        raise ValueError(f"{name or 'parameter'}: .grad is read-only (shape {g.shape}); it is updated in place")
    return data, g


def _selected(params, include):
    if include is not None and not callable(include):
        raise TypeError(f"include must be None or a callable (name, parameter) -> bool, got {type(include).__name__}")
    keep = include or is_weight
    return [(name, p) for name, p in _named(params) if keep(name, p)]


def _penalty(params, strength, include, kernel):
    """Σ over the selected parameters of the kernel's returned sum (it adds to the gradients)."""
    strength = as_float(strength, "strength", low=0.0)
    grad_kernel = getattr(kernels(), kernel)
    total = 0.0
    for name, p in _selected(params, include):
        data, grad = _check_pair(p, name, need_grad=True)
        total += grad_kernel(grad, data, strength)
    return strength, total


def l1_penalty(params, strength, include=None):
    """grad += strength·sign(w) for each selected parameter; returns strength·Σ|w|."""
    strength, total = _penalty(params, strength, include, "l1_penalty_grad")
    return strength * total


def l2_penalty(params, strength, include=None):
    """grad += strength·w for each selected parameter; returns ½·strength·Σw²."""
    strength, total = _penalty(params, strength, include, "l2_penalty_grad")
    return 0.5 * strength * total


def decay_weights_(params, lr, weight_decay, include=None):
    """Decoupled weight decay on the selected parameters: w ← w·(1 − lr·weight_decay)."""
    lr = as_float(lr, "lr", low=0.0)
    weight_decay = as_float(weight_decay, "weight_decay", low=0.0)
    if lr * weight_decay == 0.0:
        return
    k = kernels()
    for name, p in _selected(params, include):
        data, _ = _check_pair(p, name, need_grad=False, writes_data=True)
        k.scale_inplace(data, 1.0 - lr * weight_decay)


def _grads(parameters):
    grads = []
    for name, p in _named(parameters):
        _, g = _check_pair(p, name, need_grad=False)
        if g is not None:
            grads.append(g)
    dtypes = {g.dtype for g in grads}
    if len(dtypes) > 1:
        raise TypeError(f"gradients have mixed dtypes {sorted(str(d) for d in dtypes)}; dtypes may not be mixed")
    return grads


def _p_norm(grads, p):
    """(Σ|g|^p)^(1/p) over all gradients in float64, as m·(Σ(|g|/m)^p)^(1/p) with m = max|g|, so
    neither the powers nor the root overflow unless the norm itself does (then inf, as a
    float overflow, not an OverflowError); NaN if any element is NaN."""
    m = max(float(np.max(np.abs(g), initial=0.0)) for g in grads)
    if m == 0.0 or not math.isfinite(m):
        return m if not any(np.isnan(g).any() for g in grads) else math.nan
    s = sum(float(np.sum((np.abs(g.astype(np.float64)) / m) ** p)) for g in grads)
    with np.errstate(over="ignore"):
        return float(m * np.power(np.float64(s), 1.0 / p))


def clip_grad_norm_(parameters, max_norm, norm_type=2.0, error_if_nonfinite=False):
    """Scale all gradients together by min(1, max_norm/(total_norm + 1e-6)) (PyTorch's rule);
    returns the total norm of the gradients before clipping, as a float.

    The norm is taken over all gradients as one vector: p = 2 and inf in fused native
    passes, any other p > 0 in NumPy (float64)."""
    max_norm = as_float(max_norm, "max_norm", low=0.0)
    norm_type = as_float(norm_type, "norm_type", low=0.0, low_inclusive=False, finite=False)
    if math.isnan(norm_type):
        raise ValueError("norm_type must be a number > 0 or inf, got nan")
    error_if_nonfinite = as_bool(error_if_nonfinite, "error_if_nonfinite")
    grads = _grads(parameters)
    if not grads:
        return 0.0
    k = kernels()
    if norm_type == 2.0:
        total = math.sqrt(k.sum_squares(grads))
        if total == math.inf:                          # Σg² overflowed (|g| ≳ 1e154): the scaled sum, finite
            total = _p_norm(grads, 2.0)                # unless the norm itself overflows
    elif norm_type == math.inf:
        total = k.max_abs(grads)
    else:
        total = _p_norm(grads, norm_type)
    if error_if_nonfinite and not math.isfinite(total):
        raise RuntimeError(f"the total norm of order {norm_type} of the gradients is non-finite ({total}), so they "
                           f"cannot be clipped; pass error_if_nonfinite=False to scale them anyway")
    coef = max_norm / (total + 1e-6)
    if coef < 1.0 or math.isnan(coef):
        for g in grads:
            k.scale_inplace(g, coef)
    return total


def clip_grad_value_(parameters, clip_value):
    """Clamp every gradient element to [−clip_value, clip_value] in place (NaN stays NaN)."""
    clip_value = as_float(clip_value, "clip_value", low=0.0)
    k = kernels()
    for g in _grads(parameters):
        k.clamp_inplace(g, -clip_value, clip_value)


def max_norm_(weight, max_value):
    """Max-norm constraint: each row of weight (out_features, in_features), the incoming
    weights of one unit, is rescaled to L2 norm ≤ max_value (factor max_value/(norm + 1e-7),
    torch.renorm's). ``weight`` is a Parameter or an ndarray; returns it."""
    max_value = as_float(max_value, "max_value", low=0.0)
    data = weight.data if hasattr(weight, "data") and not isinstance(weight, np.ndarray) else weight
    if not isinstance(data, np.ndarray) or data.dtype not in FLOAT_DTYPES:
        raise TypeError(f"weight must be a float32/float64 ndarray or Parameter, got {type(weight).__name__}")
    if data.ndim != 2 or not data.flags.c_contiguous or not data.flags.writeable:
        raise ValueError(f"weight must be a writeable C-contiguous 2-D (out, in) array, got shape {data.shape}")
    kernels().renorm_rows(data, max_value)
    return weight
