"""Dropout (units) and DropConnect (weights) from the counter-based mask generator.

Design. A mask is a pure function of (seed, step, element index) (fastnn.reference.dropout),
so nothing is stored: backward regenerates it from the step its forward used, and a
fixed seed reproduces a run on either backend with any thread count. The step counter
advances once per training forward. Inverted mode scales kept values by 1/(1−p) in
training and is the identity in eval; classic mode (Srivastava et al., 2014) only masks in
training and multiplies by (1−p) in eval. p = 0 is an exact identity, p = 1 gives zeros.
"""
from __future__ import annotations

from .._backend import kernels
from .._validate import as_choice, as_float
from .linear import Linear
from .module import Module, Stochastic, check_grad, check_input

__all__ = ["Dropout", "DropConnect"]


def _check_p(p):
    return as_float(p, "p", low=0.0, high=1.0)


def _inverted_scale(p):
    """1/(1−p); 0 at p = 1, where nothing is kept."""
    return 1.0 / (1.0 - p) if p < 1.0 else 0.0


class Dropout(Stochastic, Module):
    """Zero each element with probability p in training; see the module docstring for the modes."""

    def __init__(self, p=0.5, mode="inverted", seed=None):
        super().__init__()
        self.mode = mode
        self.p = p
        self._init_random(seed)

    def _set_mode(self, value):
        self._mode = as_choice(value, "Dropout: mode", ("inverted", "classic"))

    mode = property(lambda self: self._mode, _set_mode, doc='"inverted" or "classic"; re-checked when set')
    p = property(lambda self: self._p, lambda self, value: setattr(self, "_p", _check_p(value)),
                 doc="drop probability in [0, 1]; may change between epochs")

    def _plan(self):
        """(p, scale) of the current mode; None when the layer is the identity."""
        p = self._p
        if self.training:
            return (p, _inverted_scale(p) if self._mode == "inverted" else 1.0)
        return None if self._mode == "inverted" else (0.0, 1.0 - p)

    def forward(self, x):
        x = check_input(self, x)
        plan = self._plan()
        if plan is None:
            self._ctx = (x, None, 0)
            return x
        stream = self._next_stream() if self.training else 0
        y = self._workspace("y", x.shape, x.dtype)
        kernels().dropout_forward(x, plan[0], plan[1], self.seed, stream, out=y)
        self._ctx = (y, plan, stream)
        return y

    def backward(self, grad_output):
        y, plan, stream = self._saved()
        g = check_grad(self, grad_output, y)
        if plan is None:
            return g
        return kernels().dropout_backward(g, plan[0], plan[1], self.seed, stream,
                                          out=self._workspace("gx", y.shape, y.dtype))

    def extra_repr(self):
        return f"p={self._p}" + (", mode='classic'" if self.mode == "classic" else "")

    def _config(self):
        return {"p": self._p, "mode": self.mode, "seed": self.seed}


class DropConnect(Stochastic, Module):
    """A Linear whose weights (not units) are dropped with probability p in training (inverted scaling)."""

    _required = ("linear",)

    def _check_assignment(self, name, value):
        super()._check_assignment(name, value)
        if name == "linear" and not isinstance(value, Linear):
            raise TypeError(f"DropConnect.linear must be a Linear, got {type(value).__name__}")

    def __init__(self, linear, p=0.5, seed=None):
        super().__init__()
        if not isinstance(linear, Linear):
            raise TypeError(f"DropConnect wraps a Linear, got {type(linear).__name__}")
        self.linear = linear
        self.p = p
        self._init_random(seed)

    p = property(lambda self: self._p, lambda self, value: setattr(self, "_p", _check_p(value)),
                 doc="weight drop probability in [0, 1]")

    def forward(self, x):
        lin = self.linear
        p, stream = (self._p, self._next_stream()) if self.training else (0.0, 0)
        if p == 0.0:
            self._ctx = (None, None, None)
            return lin.forward(x)
        w = lin.weight.data
        scale = _inverted_scale(p)
        wm = kernels().dropout_forward(w, p, scale, self.seed, stream, out=self._workspace("w", w.shape, w.dtype))
        self._ctx = (p, scale, stream)
        return lin._forward(x, lin._act, weight=wm)

    def backward(self, grad_output):
        p, scale, stream = self._saved()
        if p is None:
            return self.linear.backward(grad_output)
        w = self.linear.weight

        def masked(gw):                                # d/dW of (W ⊙ mask·scale): the same mask
            d = kernels().dropout_backward(gw, p, scale, self.seed, stream,
                                           out=self._workspace("gw", gw.shape, gw.dtype))
            grad, beta = w._grad_to_accumulate("DropConnect.linear.weight")   # recreated if None
            if beta:
                grad += d
            else:
                grad[...] = d

        return self.linear._backward(grad_output, weight_grad=masked)

    def extra_repr(self):
        return f"p={self._p}"

    def _config(self):
        return {"linear": self.linear, "p": self._p, "seed": self.seed}
