"""Maxout and GLU: gating layers built from a Linear or a sigmoid kernel plus NumPy indexing.

Design. Maxout is a Linear to out·pieces features laid out feature-major (feature j,
piece k at column j·pieces + k), then the max over pieces; backward routes each gradient
to the arg-max (the first one on ties). GLU splits its input into halves a, b along
``dim`` and returns a ⊗ σ(b), keeping σ(b) for backward.
"""
from __future__ import annotations

import numpy as np

from .._backend import kernels
from .._validate import as_int
from .linear import Linear
from .module import Module, check_grad, check_input

__all__ = ["Maxout", "GLU"]


class Maxout(Module):
    """y_j = max_k (x·Wᵀ + b)[j·pieces + k]."""

    _required = ("linear",)

    def _check_assignment(self, name, value):
        """Module's checks, and ``linear`` stays a Linear from in_features to out_features·pieces."""
        super()._check_assignment(name, value)
        if name != "linear" or "pieces" not in self.__dict__:
            return
        if type(value) is not Linear:
            raise TypeError(f"Maxout.linear must be a Linear, got {type(value).__name__}")
        want = (self.out_features * self.pieces, self.in_features)
        if value.weight.data.shape != want:
            raise ValueError(f"Maxout.linear must map {self.in_features} to {want[0]} features "
                             f"(out_features·pieces = {self.out_features}·{self.pieces}): weight shape {want}, "
                             f"got a Linear with weight shape {value.weight.data.shape}")
        if value._act is not None:
            raise ValueError(f"Maxout.linear must have no activation, got {value._act[0]!r}")

    def __init__(self, in_features, out_features, pieces, bias=True, init=None, dtype=np.float32, rng=None):
        super().__init__()
        self.in_features = as_int(in_features, "in_features", low=1)
        self.out_features = as_int(out_features, "out_features", low=1)
        self.pieces = as_int(pieces, "pieces", low=1)
        self.linear = Linear(in_features, out_features * pieces, bias=bias, init=init, dtype=dtype, rng=rng)

    def forward(self, x):
        z = self.linear.forward(x).reshape(x.shape[0], self.out_features, self.pieces)
        idx = z.argmax(axis=2)[..., None]                 # (B, O, 1)
        y = self._workspace("y", (x.shape[0], self.out_features), z.dtype)
        y[...] = np.take_along_axis(z, idx, axis=2)[..., 0]
        self._ctx = (y, idx)
        return y

    def backward(self, grad_output):
        y, idx = self._saved()
        g = check_grad(self, grad_output, y)
        gz = self._workspace("gz", (y.shape[0], self.out_features, self.pieces), y.dtype)
        gz.fill(0)
        np.put_along_axis(gz, idx, g[..., None], axis=2)
        return self.linear.backward(gz.reshape(y.shape[0], self.out_features * self.pieces))   # (-1 fails at B = 0)

    def extra_repr(self):
        return f"in_features={self.in_features}, out_features={self.out_features}, pieces={self.pieces}"

    def _config(self):
        return {"in_features": self.in_features, "out_features": self.out_features, "pieces": self.pieces,
                "bias": self.linear.bias is not None, "dtype": self.linear._dtype}


class GLU(Module):
    """a ⊗ σ(b), a the first half of the input along ``dim`` and b the second."""

    def __init__(self, dim=-1):
        super().__init__()
        dim = as_int(dim, "GLU: dim")                     # (1.0, True, arrays: refused, not compared)
        if dim not in (-2, -1, 0, 1):
            raise ValueError(f"GLU: dim must be one of -2, -1, 0, 1 for 2-D input, got {dim!r}")
        self.dim = dim

    def _halves(self, x):
        axis = self.dim % 2
        n = x.shape[axis]
        if n % 2:
            raise ValueError(f"GLU: halving dimension must be even, but dimension {self.dim} is size {n} "
                             f"(input shape {x.shape})")
        h = n // 2
        return (x[:h], x[h:]) if axis == 0 else (x[:, :h], x[:, h:])

    def forward(self, x):
        x = check_input(self, x)
        a, b = self._halves(x)
        b = np.ascontiguousarray(b)
        s = kernels().act_forward(b, "sigmoid", (), out=self._workspace("s", b.shape, b.dtype))
        y = self._workspace("y", b.shape, b.dtype)
        np.multiply(a, s, out=y)
        self._ctx = (x, a, b, s, y)
        return y

    def backward(self, grad_output):
        x, a, b, s, y = self._saved()
        g = check_grad(self, grad_output, y)
        gx = self._workspace("gx", x.shape, x.dtype)
        ga, gb = self._halves(gx)
        np.multiply(g, s, out=ga)                         # ∂/∂a = σ(b)
        gb[...] = kernels().act_backward(np.multiply(g, a), b, s, "sigmoid", ())   # a·σ'(b)
        return gx

    def extra_repr(self):
        return f"dim={self.dim}"

    def _config(self):
        return {"dim": self.dim}
