"""BatchNorm1d and LayerNorm with PyTorch's semantics (reference/PEERS.md B1).

Design. Training BatchNorm is one fused forward kernel (batch statistics, normalise,
affine, and the running statistics: running_var takes the unbiased m/(m−1) variance,
in float64) returning (y, μ, invstd), and one fused backward kernel. momentum None gives
the cumulative average 1/num_batches_tracked. Eval (with tracked statistics) is the inference kernel
x·γ/√(var + eps) + (β − mean·γ/√(var + eps)); its backward (rare: frozen normalisation)
is the same kernel applied to grad_y for grad_x, and NumPy sums for γ/β. LayerNorm
normalises each row over its features, the same way in train and eval.
"""
from __future__ import annotations

import numpy as np

from .._backend import kernels
from .._validate import F32_TINY, as_float, as_int
from .module import Module, Parameter, check_grad, check_input, dtype_repr, float_dtype

__all__ = ["BatchNorm1d", "LayerNorm"]


def _grads(p, owner):
    """p.grad when p exists and learns, else None (the kernels then skip it)."""
    return p._checked_grad(owner) if p is not None and p.requires_grad else None


_INT64 = np.dtype(np.int64)                           # builtin dtypes are singletons (`is` first) but
                                                      # unpickled arrays carry equal copies
_COUNT_MAX = np.iinfo(np.int64).max


def _check_eps(module):
    """eps must survive float32: below its smallest normal (1.2e-38) it rounds towards 0 and a
    constant feature's 1/√(0 + eps) overflows, so the output would be 0·inf = NaN. (Checked
    per forward, after check_input: the input then has the module's dtype, which .to changes.)"""
    if module.eps < F32_TINY and module._dtype == np.float32:
        raise ValueError(f"{type(module).__name__}: eps={module.eps} is below float32's smallest normal number "
                         f"{F32_TINY:.7g}; use eps >= {F32_TINY:.7g} (typically 1e-5) or float64")


def _data(p):
    return None if p is None else p.data


class BatchNorm1d(Module):
    """y = (x − μ)/√(σ² + eps)·γ + β per feature: batch statistics in training, running ones in eval."""

    def __init__(self, num_features, eps=1e-5, momentum=0.1, affine=True, track_running_stats=True,
                 dtype=np.float32):
        super().__init__()
        self.num_features = f = as_int(num_features, "num_features", low=1)
        self.eps = as_float(eps, "eps", low=0.0, low_inclusive=False)
        self.momentum = None if momentum is None else as_float(momentum, "momentum", low=0.0, high=1.0)
        self.affine = bool(affine)
        self.track_running_stats = bool(track_running_stats)
        self._dtype = dt = float_dtype(dtype)
        self.weight = Parameter(np.ones(f, dt)) if affine else None
        self.bias = Parameter(np.zeros(f, dt)) if affine else None
        track = self.track_running_stats
        self.register_buffer("running_mean", np.zeros(f, dt) if track else None)
        self.register_buffer("running_var", np.ones(f, dt) if track else None)
        self.register_buffer("num_batches_tracked", np.array(0, np.int64) if track else None)

    def _parameter_shape(self, name):
        """weight or bias given back after being set to None: (num_features,)."""
        return (self.num_features,) if name in ("weight", "bias") else None

    def forward(self, x):
        return self._forward(x)

    def _forward(self, x, relu=False, dropout=None):
        """forward, optionally with a ReLU and then a Dropout (p, scale, seed, stream) fused
        into the training kernel (Sequential does this for BatchNorm1d → ReLU → Dropout)."""
        x = check_input(self, x, self.num_features)
        _check_eps(self)
        K = kernels()
        y = self._workspace("y", x.shape, x.dtype)
        gamma, beta = _data(self.weight), _data(self.bias)
        if self.training or not self.track_running_stats:
            if x.shape[0] == 1:                              # (also in eval without running stats, as PyTorch)
                raise ValueError(f"Expected more than 1 value per channel when training, got input size {x.shape}")
            if x.shape[0] == 0:
                raise ValueError(f"BatchNorm1d: batch statistics of an empty batch, input size {x.shape}")
            running = self.training and self.track_running_stats
            m = self._count_batch() if running else 0.0
            _, mean, invstd = K.batchnorm_forward(x, gamma, beta, self.eps, out=y,
                                                  running_mean=self.running_mean if running else None,
                                                  running_var=self.running_var if running else None, momentum=m,
                                                  relu=relu, dropout=dropout)
            self._ctx = (x, y, mean, invstd, (dropout[1] if dropout else 1.0) if relu else None)
        else:
            if relu:
                raise ValueError("BatchNorm1d: fused ReLU needs batch statistics (training mode)")
            K.batchnorm_inference(x, self.running_mean, self.running_var, gamma, beta, self.eps, out=y)
            self._ctx = (x, y, None, None, None)
        return y

    def _count_batch(self):
        """Count one more batch in num_batches_tracked; the running statistics' update weight."""
        count = self.num_batches_tracked                  # 0-d int64, updated in place
        if (type(count) is not np.ndarray or count.shape != ()
                or (count.dtype is not _INT64 and count.dtype != _INT64)):
            raise ValueError(f"BatchNorm1d.num_batches_tracked must be a 0-d int64 array holding a "
                             f"count >= 0, got {count!r}")
        n = int(count) + 1                                # (Python ints: no ufunc per check)
        if not 0 < n <= _COUNT_MAX:
            raise ValueError(f"BatchNorm1d.num_batches_tracked is {n - 1}: it must be a count >= 0 "
                             f"that one more batch does not overflow")
        count[()] = n                                     # (``count += 1`` is a ~1.4 µs ufunc call)
        return 1.0 / n if self.momentum is None else self.momentum

    def backward(self, grad_output):
        """grad_x; after a fused forward, grad_output is that of the fused output (after the
        ReLU and Dropout)."""
        x, y, mean, invstd, post_scale = self._saved()
        g = check_grad(self, grad_output, y)
        K = kernels()
        gx = self._workspace("gx", x.shape, x.dtype)
        gamma = _data(self.weight)
        if mean is not None:
            return K.batchnorm_backward(g, x, mean, invstd, gamma, _grads(self.weight, "BatchNorm1d.weight"),
                                        _grads(self.bias, "BatchNorm1d.bias"), out=gx,
                                        y=None if post_scale is None else y,
                                        scale=1.0 if post_scale is None else post_scale)
        K.batchnorm_inference(g, np.zeros_like(self.running_var), self.running_var, gamma, None, self.eps, out=gx)
        if _grads(self.weight, "BatchNorm1d.weight") is not None:
            xhat = (x - self.running_mean) / np.sqrt(self.running_var + x.dtype.type(self.eps))
            self.weight.grad += (g * xhat).sum(axis=0)
        if _grads(self.bias, "BatchNorm1d.bias") is not None:
            self.bias.grad += g.sum(axis=0)
        return gx

    def extra_repr(self):
        return (f"{self.num_features}, eps={self.eps}, momentum={self.momentum}, affine={self.affine}, "
                f"track_running_stats={self.track_running_stats}" + dtype_repr(self._dtype))

    def _config(self):
        return {"num_features": self.num_features, "eps": self.eps, "momentum": self.momentum,
                "affine": self.affine, "track_running_stats": self.track_running_stats, "dtype": self._dtype}


class LayerNorm(Module):
    """y = (x − μ_row)/√(σ²_row + eps)·γ + β over the last dimension."""

    def __init__(self, normalized_shape, eps=1e-5, elementwise_affine=True, bias=True, dtype=np.float32):
        super().__init__()
        shape = normalized_shape.tolist() if isinstance(normalized_shape, np.ndarray) else normalized_shape
        shape = tuple(shape) if isinstance(shape, (tuple, list)) else (shape,)      # as_int refuses the rest
        if len(shape) != 1:
            raise ValueError(f"LayerNorm normalises the last dimension only: normalized_shape must be an int "
                             f"or a 1-tuple, got {normalized_shape!r}")
        self.normalized_shape = (as_int(shape[0], "normalized_shape", low=1),)
        self.eps = as_float(eps, "eps", low=0.0, low_inclusive=False)
        self.elementwise_affine = bool(elementwise_affine)
        self._dtype = dt = float_dtype(dtype)
        f = self.normalized_shape[0]
        self.weight = Parameter(np.ones(f, dt)) if elementwise_affine else None
        self.bias = Parameter(np.zeros(f, dt)) if elementwise_affine and bias else None

    def _parameter_shape(self, name):
        """weight or bias given back after being set to None: normalized_shape."""
        return self.normalized_shape if name in ("weight", "bias") else None

    def forward(self, x):
        x = check_input(self, x, self.normalized_shape[0])
        _check_eps(self)
        y = self._workspace("y", x.shape, x.dtype)
        _, mean, invstd = kernels().layernorm_forward(x, _data(self.weight), _data(self.bias), self.eps, out=y)
        self._ctx = (x, y, mean, invstd)
        return y

    def backward(self, grad_output):
        x, y, mean, invstd = self._saved()
        g = check_grad(self, grad_output, y)
        return kernels().layernorm_backward(g, x, mean, invstd, _data(self.weight),
                                            _grads(self.weight, "LayerNorm.weight"), _grads(self.bias, "LayerNorm.bias"),
                                            out=self._workspace("gx", x.shape, x.dtype))

    def extra_repr(self):
        return (f"{self.normalized_shape}, eps={self.eps}, elementwise_affine={self.elementwise_affine}"
                + dtype_repr(self._dtype))

    def _config(self):
        return {"normalized_shape": list(self.normalized_shape), "eps": self.eps,
                "elementwise_affine": self.elementwise_affine, "bias": self.bias is not None, "dtype": self._dtype}
