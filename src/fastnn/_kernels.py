"""Native kernel set: the same functions as fastnn.reference (docs/kernel_api.md), each
allocating ``out`` when needed and making one call into the C++ extension."""
from __future__ import annotations

import numpy as np

from . import _native

# Codes of cpp/activation.h (enum Act), in order.
ACT_NAMES = (
    "identity", "relu", "leaky_relu", "sigmoid", "tanh", "gelu", "gelu_tanh", "elu", "selu",
    "celu", "softplus", "softsign", "hardtanh", "hardsigmoid", "hardsigmoid_linear", "silu",
    "mish", "maxexp",
)
ACT_CODES = {name: code for code, name in enumerate(ACT_NAMES)}


def _params(params):
    p = tuple(params) + (0.0, 0.0)
    return float(p[0]), float(p[1])


def gemm(a, b, out, *, trans_a=False, trans_b=False, alpha=1.0, beta=0.0, bias=None, act=None, params=()):
    """out = act(alpha·op(a)·op(b) + beta·out + bias)."""
    p0, p1 = _params(params)
    _native.gemm(a, b, out, trans_a, trans_b, alpha, beta, bias, ACT_CODES[act or "identity"], p0, p1)
    return out


def bias_grad(grad_y, grad_bias):
    """grad_bias (F,) += Σ_b grad_y[b, :]."""
    _native.bias_grad(grad_y, grad_bias)
    return grad_bias
