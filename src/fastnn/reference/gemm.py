"""NumPy GEMM with the native kernel's epilogue semantics."""
from __future__ import annotations

import numpy as np


def gemm(a, b, out, *, trans_a=False, trans_b=False, alpha=1.0, beta=0.0, bias=None, act=None, params=()):
    """out = act(alpha·op(a)·op(b) + beta·out + bias); beta == 0 never reads out."""
    from .activation import act_forward

    opa = a.T if trans_a else a
    opb = b.T if trans_b else b
    acc = np.matmul(opa, opb)
    if alpha != 1.0:
        acc *= out.dtype.type(alpha)
    if beta != 0.0:
        acc += out.dtype.type(beta) * out
    if bias is not None:
        acc += bias
    if act is not None and act != "identity":
        act_forward(acc, act, params, out=acc)
    out[...] = acc
    return out


def bias_grad(grad_y, grad_bias):
    """grad_bias (F,) += Σ_b grad_y[b, :]."""
    grad_bias += grad_y.sum(axis=0, dtype=grad_y.dtype)
    return grad_bias
