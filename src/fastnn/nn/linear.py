"""Linear: y = act(x·Wᵀ + b), one GEMM with the bias + activation epilogue fused.

Design. weight (O, I) and bias (O,) as in PyTorch, default init U(±1/√I) for both
(kaiming_uniform(a=√5)). The forward saves x and y; activations whose derivative y
determines (``backward_uses_output``) run inside the GEMM epilogue, the others (GELU,
softplus, ...) write the pre-activation z with a plain GEMM, then one act_forward, and keep
z. Backward: grad_z = act_backward (skipped without activation), grad_W += grad_zᵀ·x
(GEMM, beta = 1), grad_b += Σ_B grad_z, grad_x = grad_z·W. ``_forward``/``_backward`` take
an activation and a weight from outside, so Sequential fuses a following activation module
and DropConnect substitutes a masked weight.
"""
from __future__ import annotations

import inspect
import math

import numpy as np

from .._backend import kernels
from .._validate import as_bool, as_int
from ..init import as_generator
from ..reference.activation import ACTIVATIONS, backward_uses_output
from .module import Module, Parameter, check_grad, check_input, dtype_repr, float_dtype

__all__ = ["Linear"]

_ALIASES = {"swish": "silu", "linear": "identity", None: "identity"}


def resolve_activation(spec):
    """(kernel name, params) for a name or an element-wise activation module; None for identity."""
    from .activation import Elementwise

    if isinstance(spec, Elementwise):
        act = spec.fused_act()
    elif spec is None or isinstance(spec, str):
        name = _ALIASES.get(spec, spec)
        if name not in ACTIVATIONS:
            raise ValueError(f"unknown activation {spec!r}; known: {sorted(ACTIVATIONS)}")
        act = (name, ACTIVATIONS[name])
    else:
        raise TypeError(f"activation must be None, a name or an element-wise activation module, "
                        f"got {type(spec).__name__}")
    return None if act[0] == "identity" else act


class Linear(Module):
    """y = act(x·Wᵀ + b); W (out_features, in_features), b (out_features,)."""

    _required = ("weight",)                           # bias may be None

    def __init__(self, in_features, out_features, bias=True, activation=None, init=None,
                 dtype=np.float32, rng=None):
        super().__init__()
        self.in_features = as_int(in_features, "in_features", low=1)
        self.out_features = as_int(out_features, "out_features", low=1)
        self._dtype = float_dtype(dtype)
        object.__setattr__(self, "_activation_spec", activation)   # not a child module
        self._act = resolve_activation(activation)
        g = as_generator(rng)
        bound = 1.0 / math.sqrt(self.in_features)
        shape = (self.out_features, self.in_features)
        self.weight = Parameter(g.uniform(-bound, bound, shape).astype(self._dtype))
        self.bias = (Parameter(g.uniform(-bound, bound, self.out_features).astype(self._dtype))
                     if as_bool(bias, "bias") else None)
        if init is not None:
            self._apply_init(init, g)

    def _apply_init(self, init, g):
        """Weight from a fastnn.init name or callable (given rng= when it takes one); bias zeroed."""
        if isinstance(init, str):
            from ..init import get_initializer
            init = get_initializer(init)
        if not callable(init):
            raise TypeError(f"init must be None, an initializer name or a callable, got {type(init).__name__}")
        try:
            takes_rng = "rng" in inspect.signature(init).parameters
        except (TypeError, ValueError):
            takes_rng = False
        init(self.weight.data, rng=g) if takes_rng else init(self.weight.data)
        if self.bias is not None:
            self.bias.data.fill(0)

    def _parameter_shape(self, name):
        """A bias given back after ``bias = None`` must still be (out_features,)."""
        return (self.out_features,) if name == "bias" else None

    # -------------------------------------------------------------- compute

    def forward(self, x):
        return self._forward(x, self._act)

    def _forward(self, x, act, weight=None):
        """act(x·weightᵀ + b), weight defaulting to self.weight; saves what backward needs."""
        x = check_input(self, x, self.in_features, lambda: f"weight has shape {self.weight.data.shape}, so inputs")
        w = self.weight.data if weight is None else weight
        b = None if self.bias is None else self.bias.data
        act = None if act is None or act[0] == "identity" else act
        K = kernels()
        y = self._workspace("y", (x.shape[0], self.out_features), x.dtype)
        name, params = act or (None, ())
        if name is None or backward_uses_output(name, params):
            K.gemm(x, w, y, trans_a=False, trans_b=True, alpha=1.0, beta=0.0, bias=b, act=name, params=params)
            z = y                                     # the activation's backward reads y only
        else:
            z = self._workspace("z", y.shape, y.dtype)
            K.gemm(x, w, z, trans_a=False, trans_b=True, alpha=1.0, beta=0.0, bias=b, act=None, params=())
            K.act_forward(z, name, params, out=y)
        self._ctx = (x, w, z, y, act)
        return y

    def backward(self, grad_output, need_input_grad=True):
        """grad_x (None when ``need_input_grad`` is False: the dX GEMM is skipped)."""
        return self._backward(grad_output, need_input_grad=need_input_grad)

    def _backward(self, grad_output, weight_grad=None, need_input_grad=True):
        """grad_x; grad_W accumulated into .grad, or handed to ``weight_grad(g_W)`` when given."""
        x, w, z, y, act = self._saved()
        g = check_grad(self, grad_output, y)
        K = kernels()
        if act is not None:
            g = K.act_backward(g, z, y, act[0], act[1], out=self._workspace("gz", y.shape, y.dtype))
        if self.weight.requires_grad:
            if weight_grad is None:
                gw, beta = self.weight._grad_to_accumulate("Linear.weight")   # beta 0 after zero_grad: no fill
                K.gemm(g, x, gw, trans_a=True, trans_b=False, alpha=1.0, beta=beta, bias=None, act=None, params=())
            else:
                gw = self._workspace("gw", w.shape, w.dtype)
                K.gemm(g, x, gw, trans_a=True, trans_b=False, alpha=1.0, beta=0.0, bias=None, act=None, params=())
                weight_grad(gw)
        if self.bias is not None and self.bias.requires_grad:
            K.bias_grad(g, self.bias._checked_grad("Linear.bias"))
        if not need_input_grad:
            return None
        gx = self._workspace("gx", x.shape, x.dtype)
        K.gemm(g, w, gx, trans_a=False, trans_b=False, alpha=1.0, beta=0.0, bias=None, act=None, params=())
        return gx

    # -------------------------------------------------------------- description

    def extra_repr(self):
        s = f"in_features={self.in_features}, out_features={self.out_features}, bias={self.bias is not None}"
        if self._act is not None:
            s += f", activation={self._act[0]}"
        return s + dtype_repr(self._dtype)

    def _config(self):
        return {"in_features": self.in_features, "out_features": self.out_features,
                "bias": self.bias is not None, "activation": self._activation_spec, "dtype": self._dtype}
