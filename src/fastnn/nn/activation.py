"""Activation modules with PyTorch's class names and arguments.

Design. An element-wise activation is a kernel name plus up to two parameters
(docs/kernel_api.md): forward is one act_forward call, backward one act_backward call from
the saved x and y. Such modules are stateless, so Sequential folds one that directly
follows a Linear into the GEMM epilogue (``fused_act``). PReLU (a learnable slope) and
RReLU (random slopes in training) carry state, are composed from NumPy and kernel calls,
and are never fused. Activations accept float32 or float64 input (B, F).
"""
from __future__ import annotations

import numpy as np

from .._backend import kernels
from .._validate import F32_MAX, as_choice, as_float, as_int
from ..ops import ACTIVATIONS, check_activation_params
from .module import Module, Parameter, Stochastic, check_grad, check_input, dtype_repr, float_dtype

__all__ = ["Identity", "Sigmoid", "Tanh", "ReLU", "LeakyReLU", "PReLU", "RReLU", "ELU", "SELU",
           "CELU", "Softplus", "Softsign", "Hardtanh", "Hardsigmoid", "SiLU", "Swish", "GELU",
           "Mish", "MaxExp"]


class Elementwise(Module):
    """y = f(x) for the kernel activation ``act`` with parameters ``act_params()``."""

    act = "identity"

    def act_params(self):
        return ()

    def fused_act(self):
        """(kernel name, params) for a GEMM epilogue."""
        return self.act, self.act_params()

    def forward(self, x):
        x = check_input(self, x)
        y = kernels().act_forward(x, self.act, self.act_params(), out=self._workspace("y", x.shape, x.dtype))
        self._ctx = (x, y)
        return y

    def backward(self, grad_output):
        x, y = self._saved()
        g = check_grad(self, grad_output, y)
        return kernels().act_backward(g, x, y, self.act, self.act_params(),
                                      out=self._workspace("gx", y.shape, y.dtype))

    def _config(self):
        return {}


class Identity(Elementwise):
    """y = x (PyTorch's Identity ignores its arguments)."""

    def __init__(self, *args, **kwargs):
        super().__init__()


class ReLU(Elementwise):
    """max(0, x)."""
    act = "relu"


class Sigmoid(Elementwise):
    """1/(1 + e^−x)."""
    act = "sigmoid"


class Tanh(Elementwise):
    """tanh x."""
    act = "tanh"


class SELU(Elementwise):
    """λ·(x if x > 0 else α(eˣ − 1)), PyTorch's α and λ."""
    act = "selu"


class Softsign(Elementwise):
    """x/(1 + |x|)."""
    act = "softsign"


class SiLU(Elementwise):
    """x·σ(x)."""
    act = "silu"


Swish = SiLU


class Mish(Elementwise):
    """x·tanh(softplus(x))."""
    act = "mish"


class MaxExp(Elementwise):
    """max(x, x·e^(−|x|))."""
    act = "maxexp"


class _Parametrised(Elementwise):
    """An activation whose kernel parameters are its constructor arguments and attributes, named
    as in ops.ACTIVATIONS[act]. Setting them (at construction or later) checks them all through
    ops.check_activation_params, the rule table of ops.gemm's epilogue too, and keeps the tuple
    act_params() returns on every forward."""

    def _set_params(self, *values):
        self._params = check_activation_params(self.act, values, f"{type(self).__name__}: ")

    def act_params(self):
        return self._params

    def extra_repr(self):
        return ", ".join(f"{k}={v}" for k, v in self._config().items())

    def _config(self):
        return dict(zip(ACTIVATIONS[self.act], self._params))


def _kernel_param(i):
    """The i-th kernel parameter of a _Parametrised module as an attribute, re-checked when set."""
    def set_param(self, value):
        self._set_params(*self._params[:i], value, *self._params[i + 1:])
    return property(lambda self: self._params[i], set_param)


class LeakyReLU(_Parametrised):
    """x if x > 0 else negative_slope·x."""
    act = "leaky_relu"
    negative_slope = _kernel_param(0)

    def __init__(self, negative_slope=0.01):
        super().__init__()
        self._set_params(negative_slope)


class _AlphaUnit(_Parametrised):
    alpha = _kernel_param(0)

    def __init__(self, alpha=1.0):
        super().__init__()
        self._set_params(alpha)


class ELU(_AlphaUnit):
    """x if x > 0 else α·(eˣ − 1)."""
    act = "elu"


class CELU(_AlphaUnit):
    """x if x > 0 else α·(e^(x/α) − 1); α ≠ 0, with α and 1/α within float32's range."""
    act = "celu"


class Softplus(_Parametrised):
    """log(1 + e^(βx))/β, or x where βx > threshold; β > 0, with β and 1/β within float32's range."""
    act = "softplus"
    beta, threshold = _kernel_param(0), _kernel_param(1)

    def __init__(self, beta=1.0, threshold=20.0):
        super().__init__()
        self._set_params(beta, threshold)


class Hardtanh(_Parametrised):
    """clamp(x, min_val, max_val); min_val < max_val."""
    act = "hardtanh"
    min_val, max_val = _kernel_param(0), _kernel_param(1)

    def __init__(self, min_val=-1.0, max_val=1.0):
        super().__init__()
        self._set_params(min_val, max_val)


def _kernel_choice(attr, label, acts):
    """A string attribute choosing the kernel among ``acts`` (choice -> act name): checked when
    set, at construction or later, and taking effect from the next forward (as in PyTorch)."""
    private = "_" + attr

    def set_choice(self, value):
        setattr(self, private, as_choice(value, label, acts))
        self.act = acts[value]
    return property(lambda self: getattr(self, private), set_choice, doc=f"one of {list(acts)}; checked when set")


class Hardsigmoid(Elementwise):
    """mode "pytorch": relu6(x + 3)/6; mode "linear" (Keras 2): clamp(0.2x + 0.5, 0, 1)."""

    mode = _kernel_choice("mode", "Hardsigmoid: mode", {"pytorch": "hardsigmoid", "linear": "hardsigmoid_linear"})

    def __init__(self, mode="pytorch"):
        super().__init__()
        self.mode = mode

    def extra_repr(self):
        return "" if self.mode == "pytorch" else "mode='linear'"

    def _config(self):
        return {"mode": self.mode}


class GELU(Elementwise):
    """x·Φ(x) (approximate="none", erf) or its tanh approximation (approximate="tanh")."""

    approximate = _kernel_choice("approximate", "GELU: approximate", {"none": "gelu", "tanh": "gelu_tanh"})

    def __init__(self, approximate="none"):
        super().__init__()
        self.approximate = approximate

    def extra_repr(self):
        return f"approximate={self.approximate!r}"

    def _config(self):
        return {"approximate": self.approximate}


class PReLU(Module):
    """x if x > 0 else a·x with learnable a: one shared slope or one per feature."""

    _required = ("weight",)

    def __init__(self, num_parameters=1, init=0.25, dtype=np.float32):
        super().__init__()
        n = as_int(num_parameters, "num_parameters", low=1)
        self._dtype = float_dtype(dtype)
        big = float(np.finfo(self._dtype).max)            # (past it the slope would be stored as ±inf)
        self.weight = Parameter(np.full(n, as_float(init, "init", low=-big, high=big), self._dtype))

    # The weight's length: it cannot change (Parameter.data and Module keep the shape), so the
    # width the forward checks and the weight it broadcasts never disagree.
    num_parameters = property(lambda self: self.weight.data.shape[0], doc="number of slopes: 1 or the features")

    def forward(self, x):
        w = self.weight.data                          # (1,) or (F,): broadcasts over the batch
        n = w.shape[0]
        x = check_input(self, x, None if n == 1 else n, lambda: f"num_parameters is {n}, so inputs")
        y = self._workspace("y", x.shape, x.dtype)
        np.multiply(x, w, out=y)
        np.copyto(y, x, where=x > 0)
        self._ctx = (x, y, w)
        return y

    def backward(self, grad_output):
        x, y, w = self._saved()
        g = check_grad(self, grad_output, y)
        pos = x > 0
        if self.weight.requires_grad:
            gw = np.where(pos, 0, g * x).sum(axis=0)  # (F,)
            acc = self.weight._checked_grad("PReLU.weight")   # checked: .grad may have been replaced
            acc += gw.sum(keepdims=True) if w.shape[0] == 1 else gw
        gx = self._workspace("gx", x.shape, x.dtype)
        np.multiply(g, w, out=gx)
        np.copyto(gx, g, where=pos)
        return gx

    def extra_repr(self):
        return f"num_parameters={self.num_parameters}" + dtype_repr(self._dtype)

    def _config(self):
        return {"num_parameters": self.num_parameters, "init": float(self.weight.data[0]), "dtype": self._dtype}


class RReLU(Stochastic, Module):
    """x if x > 0 else a·x; a ~ U(lower, upper) per element in training, (lower + upper)/2 in eval."""

    def __init__(self, lower=1.0 / 8, upper=1.0 / 3, seed=None):
        super().__init__()
        # Slopes enter the float32 kernels as float32: ±inf there would give 0·inf = NaN.
        self.lower = as_float(lower, "lower", low=-F32_MAX, high=F32_MAX)
        self.upper = as_float(upper, "upper", low=-F32_MAX, high=F32_MAX)
        if self.upper < self.lower:
            raise ValueError(f"RReLU: upper ({self.upper}) must be >= lower ({self.lower})")
        self._init_random(seed)

    def forward(self, x):
        x = check_input(self, x)
        K = kernels()
        y = self._workspace("y", x.shape, x.dtype)
        if not self.training:
            K.act_forward(x, "leaky_relu", ((self.lower + self.upper) / 2,), out=y)
            self._ctx = (x, y, None)
            return y
        slopes = K.rrelu_slopes(x.size, self.lower, self.upper, self.seed, self._next_stream(), x.dtype)
        slopes = slopes.reshape(x.shape)
        np.multiply(x, slopes, out=y)
        np.copyto(y, x, where=x > 0)
        self._ctx = (x, y, slopes)
        return y

    def backward(self, grad_output):
        x, y, slopes = self._saved()
        g = check_grad(self, grad_output, y)
        gx = self._workspace("gx", x.shape, x.dtype)
        if slopes is None:
            s = ((self.lower + self.upper) / 2,)
            return kernels().act_backward(g, x, y, "leaky_relu", s, out=gx)
        np.multiply(g, slopes, out=gx)
        np.copyto(gx, g, where=x > 0)
        return gx

    def extra_repr(self):
        return f"lower={self.lower}, upper={self.upper}"

    def _config(self):
        return {"lower": self.lower, "upper": self.upper, "seed": self.seed}
