"""Losses: forward(pred, target) → float, backward() → d loss / d pred.

Design. Each loss validates its arguments, then makes one fused kernel call computing the
reduced loss and its gradient together; backward() returns that gradient (valid until the
next forward). reduction "mean" averages over all elements (cross-entropy: over the batch),
"sum" adds, as in PyTorch. Losses are not Modules: they hold no parameters.
"""
from __future__ import annotations

import numpy as np

from .._backend import kernels
from .._validate import FLOAT_DTYPES, as_float

__all__ = ["MSELoss", "CrossEntropyLoss", "BCEWithLogitsLoss", "HuberLoss"]



def first_label_out_of_range(labels, n_classes):
    """Index of the first integer label outside [0, n_classes), or None."""
    if labels.dtype == np.uint64:                     # past 2^63 a cast to int64 would wrap: compare as is
        bad = np.flatnonzero(labels.ravel() >= n_classes)
        return int(bad[0]) if bad.size else None
    return kernels().first_out_of_range(np.ascontiguousarray(labels, dtype=np.int64).ravel(), n_classes)


class _Loss:
    """Shared protocol; subclasses define _check_target and _compute."""

    def __init__(self, *, reduction="mean"):
        if reduction not in ("mean", "sum"):
            raise ValueError(f"{type(self).__name__}: reduction must be 'mean' or 'sum', got {reduction!r}")
        self.reduction = reduction
        self._grad = None
        self._grads = {}

    def __call__(self, pred, target):
        return self.forward(pred, target)

    def forward(self, pred, target):
        name = type(self).__name__
        if not isinstance(pred, np.ndarray):
            raise TypeError(f"{name}: pred must be a numpy.ndarray, got {type(pred).__name__}")
        if pred.dtype not in FLOAT_DTYPES:
            raise TypeError(f"{name}: pred must have dtype float32 or float64, got {pred.dtype}")
        if pred.ndim != 2 or pred.size == 0:
            raise ValueError(f"{name}: pred must be 2-D (batch, features) and non-empty, got shape {pred.shape}")
        pred = np.ascontiguousarray(pred)
        return self._run(kernels(), pred, self._check_target(pred, target))

    def _run(self, K, pred, target):
        """The loss of checked arrays on kernel set K; its gradient is kept for backward, in a
        buffer reused while pred's shape stays (the trainer's fast step calls this directly)."""
        key = (pred.shape, pred.dtype)
        grad = self._grads.get(key)
        if grad is None:
            self._grads.clear()
            grad = self._grads[key] = np.empty_like(pred)
        loss, _ = self._compute(K, pred, target, grad)
        self._grad = grad
        return loss

    def backward(self):
        if self._grad is None:
            raise RuntimeError(f"{type(self).__name__}.backward called before forward")
        return self._grad

    def _check_target(self, pred, target):
        """A float target of pred's shape and dtype, without NaN."""
        name = type(self).__name__
        if not isinstance(target, np.ndarray):
            raise TypeError(f"{name}: target must be a numpy.ndarray, got {type(target).__name__}")
        if target.shape != pred.shape:
            raise ValueError(f"{name}: target has shape {target.shape} but pred has shape {pred.shape}")
        if target.dtype != pred.dtype:
            raise TypeError(f"{name}: target has dtype {target.dtype} but pred has dtype {pred.dtype}")
        if np.isnan(target).any():
            raise ValueError(f"{name}: target contains NaN")
        return np.ascontiguousarray(target)

    def extra_repr(self):
        return "" if self.reduction == "mean" else "reduction='sum'"

    def __repr__(self):
        return f"{type(self).__name__}({self.extra_repr()})"


class MSELoss(_Loss):
    """Σ (pred − target)², averaged over all elements for "mean"."""

    def _compute(self, K, pred, target, grad):
        return K.mse_loss(pred, target, self.reduction, grad=grad)


class BCEWithLogitsLoss(_Loss):
    """Σ max(x, 0) − x·y + log(1 + e^(−|x|)) on logits x and targets y ∈ [0, 1]."""

    def _compute(self, K, pred, target, grad):
        return K.bce_with_logits(pred, target, self.reduction, grad=grad)


class HuberLoss(_Loss):
    """Σ ½d² where |d| < δ, else δ(|d| − ½δ), d = pred − target."""

    def __init__(self, *, reduction="mean", delta=1.0):
        super().__init__(reduction=reduction)
        self.delta = as_float(delta, "delta", low=0.0, low_inclusive=False)

    def _compute(self, K, pred, target, grad):
        return K.huber_loss(pred, target, self.delta, self.reduction, grad=grad)

    def extra_repr(self):
        return ", ".join(filter(None, [super().extra_repr(), "" if self.delta == 1.0 else f"delta={self.delta}"]))


class CrossEntropyLoss(_Loss):
    """−Σ t·log softmax(logits) per row; t = integer labels (B,) or probabilities (B, C), smoothed by ε."""

    def __init__(self, *, reduction="mean", label_smoothing=0.0):
        super().__init__(reduction=reduction)
        self.label_smoothing = as_float(label_smoothing, "label_smoothing", low=0.0, high=1.0)

    def _check_target(self, logits, target):
        if not isinstance(target, np.ndarray):
            raise TypeError(f"CrossEntropyLoss: target must be a numpy.ndarray, got {type(target).__name__}")
        b, c = logits.shape
        if target.dtype.kind in "iu":
            if target.shape != (b,):
                raise ValueError(f"CrossEntropyLoss: class labels must have shape ({b},) for logits of shape "
                                 f"{logits.shape}, got {target.shape}"
                                 + (" (probabilities must be a float array)" if target.ndim == 2 else ""))
            i = first_label_out_of_range(target, c)
            if i is not None:
                raise ValueError(f"CrossEntropyLoss: label {int(target[i])} at index {i} is out of range "
                                 f"[0, {c}) for {c} classes")
            return np.ascontiguousarray(target, dtype=np.int64)
        if target.dtype.kind != "f" or target.shape != logits.shape:
            raise TypeError(f"CrossEntropyLoss: target must be integer class labels of shape ({b},) or float "
                            f"probabilities of shape {logits.shape}, got dtype {target.dtype} shape {target.shape}")
        return super()._check_target(logits, target)

    def _compute(self, K, pred, target, grad):
        return K.softmax_cross_entropy(pred, target, self.label_smoothing, self.reduction, grad=grad)

    def extra_repr(self):
        parts = [super().extra_repr(), f"label_smoothing={self.label_smoothing}" if self.label_smoothing else ""]
        return ", ".join(filter(None, parts))
