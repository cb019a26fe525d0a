"""NumPy loss kernels: each returns (loss as a Python float, gradient of that reduced loss).

Design. One pass computes per-element (or per-row) losses and the gradient together, in
the input dtype; ``reduction`` is "mean" or "sum" as in PyTorch (cross-entropy means over
the batch, the others over all elements). ``grad`` (pred's shape) is written when given;
when it is None the gradient is not computed and None is returned in its place.
Cross-entropy follows ATen's log_softmax: x − max(x) − log Σ e^(x − max), so a row
holding +inf, or only −inf, gives NaN loss and gradient; −inf logits elsewhere are fine.
"""
from __future__ import annotations

import numpy as np

__all__ = ["softmax_cross_entropy", "mse_loss", "bce_with_logits", "huber_loss"]


def _reduce(per_elem, grad_elem, count, reduction, grad):
    """Sum (or mean over ``count``) of the losses; the gradient scaled alike, into ``grad``."""
    scale = 1.0 / count if reduction == "mean" and count else 1.0
    loss = float(per_elem.sum()) * scale if reduction == "mean" else float(per_elem.sum())
    if grad is None:
        return loss, None
    if scale != 1.0:
        grad_elem *= grad_elem.dtype.type(scale)
    grad[...] = grad_elem
    return loss, grad


def softmax_cross_entropy(logits, target, label_smoothing, reduction, grad=None):
    """−Σ_c t_c·log softmax(x)_c per row, t = (1−ε)·onehot(labels) or (1−ε)·probs, + ε/C."""
    b, c = logits.shape
    eps = float(label_smoothing)
    dt = logits.dtype.type
    with np.errstate(invalid="ignore", divide="ignore", over="ignore"):
        shifted = logits - logits.max(axis=1, keepdims=True)      # (B, C); inf − inf = NaN row
        e = np.exp(shifted)
        s = e.sum(axis=1, keepdims=True)
        logp = shifted - np.log(s)
        if target.ndim == 1:                                       # int64 labels (B,)
            rows = np.arange(b)
            per_row = -logp[rows, target] * dt(1.0 - eps)
            if eps:
                per_row -= logp.sum(axis=1) * dt(eps / c)
        else:                                                      # probabilities (B, C)
            t = target if not eps else target * dt(1.0 - eps) + dt(eps / c)
            per_row = -(t * logp).sum(axis=1)
        if grad is None:
            return _reduce(per_row, None, b, reduction, None)
        p = e / s
        if target.ndim == 1:
            g = p - dt(eps / c) if eps else p
            g[rows, target] -= dt(1.0 - eps)
        else:
            g = p * t.sum(axis=1, keepdims=True) - t
    return _reduce(per_row, g, b, reduction, grad)


def mse_loss(pred, target, reduction, grad=None):
    """Σ (pred − target)²; gradient 2·(pred − target)."""
    d = pred - target
    return _reduce(d * d, None if grad is None else 2 * d, pred.size, reduction, grad)


def bce_with_logits(pred, target, reduction, grad=None):
    """Σ max(x, 0) − x·y + log1p(e^(−|x|)); gradient σ(x) − y."""
    x, y = pred, target
    per = np.maximum(x, 0) - x * y + np.log1p(np.exp(-np.abs(x)))
    if grad is None:
        return _reduce(per, None, x.size, reduction, None)
    e = np.exp(-np.abs(x))
    sig = np.where(x >= 0, 1 / (1 + e), e / (1 + e))
    return _reduce(per, sig - y, x.size, reduction, grad)


def huber_loss(pred, target, delta, reduction, grad=None):
    """Σ ½d² where |d| < δ, else δ(|d| − ½δ), d = pred − target; gradient clip(d, −δ, δ)."""
    d = pred - target
    ad = np.abs(d)
    dl = d.dtype.type(delta)
    per = np.where(ad < dl, 0.5 * d * d, dl * (ad - 0.5 * dl))
    return _reduce(per, None if grad is None else np.clip(d, -dl, dl), pred.size, reduction, grad)
