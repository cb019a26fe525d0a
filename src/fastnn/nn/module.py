"""The module protocol: Parameter, Module, and the config registry behind get_config/from_config.

Design. A Module owns Parameters (learnable arrays with an accumulated ``.grad``), buffers
(plain arrays such as running statistics) and child Modules, registered by attribute
assignment in definition order; dotted names ("0.weight", "1.running_mean") follow
PyTorch, so state dicts line up key for key. ``forward(x)`` saves what ``backward`` needs;
``backward(grad_output)`` returns a freshly written grad_input and accumulates parameter
gradients. Layers keep their outputs and gradients in a per-module workspace keyed by
(name, shape, dtype), so steady-state training allocates nothing: an array a module
returns stays valid until that module's next forward (outputs) or backward (gradients).
Copy what must outlive that, and use a module instance once per chain. Inputs kept for
backward are referenced, not copied: do not modify them in between. Non-contiguous
inputs are copied to C order (np.ascontiguousarray), not rejected. Parameters, children and
buffers are checked when assigned, never per step: a layer's arrays keep their shape and dtype
(Module.to converts), and no module may become its own descendant. Architecture travels
as JSON-able configs (class name + constructor arguments, children nested); from_config
looks classes up in a registry filled by subclassing, never imports by name, never pickles.
"""
from __future__ import annotations

import contextlib
import numbers
from collections import OrderedDict, namedtuple
from collections.abc import Mapping

import numpy as np

from .._validate import FLOAT_DTYPES, as_bool

__all__ = ["Parameter", "Module", "from_config"]

_REGISTRY = {}
IncompatibleKeys = namedtuple("IncompatibleKeys", ["missing_keys", "unexpected_keys"])


def float_dtype(dtype, name="dtype"):
    """np.dtype(dtype), which must be float32 or float64."""
    if dtype is None:                                  # (np.dtype(None) would be float64)
        raise TypeError(f"{name} must be float32 or float64, got None")
    try:
        dt = np.dtype(dtype)
    except TypeError:
        raise TypeError(f"{name} must be float32 or float64, got {dtype!r}") from None
    if dt not in FLOAT_DTYPES:
        raise TypeError(f"{name} must be float32 or float64, got {dt}")
    return dt


def dtype_repr(dtype):
    """", dtype=float64" for extra_repr when not the float32 default."""
    return "" if dtype == np.float32 else f", dtype={dtype}"


def _describe(a):
    """'shape (2, 3), dtype float32, C-contiguous' for an array; the type name otherwise."""
    if not isinstance(a, np.ndarray):
        return type(a).__name__
    layout = "C-contiguous" if a.flags.c_contiguous else "not C-contiguous"
    return f"shape {a.shape}, dtype {a.dtype}, {layout}" + ("" if a.flags.writeable else ", read-only")


_set_slot = object.__setattr__                        # a write past Parameter.__setattr__'s check


def _root(a):
    """The array that owns a's memory (a itself when it owns it)."""
    while isinstance(a.base, np.ndarray):
        a = a.base
    return a


def _misfit(a, like):
    """None when ``a`` is a C-contiguous writable ndarray of like's shape and dtype; else the
    error class: TypeError for a non-array or another dtype, ValueError for shape or layout."""
    if not isinstance(a, np.ndarray) or a.dtype != like.dtype:
        return TypeError
    if a.shape != like.shape or not a.flags.c_contiguous or not a.flags.writeable:
        return ValueError
    return None


def _misfit_message(what, like, got):
    return (f"{what} must be a C-contiguous writable array of shape {like.shape} and dtype {like.dtype}, "
            f"got {_describe(got)}")


class Parameter:
    """A learnable array ``data`` and its gradient ``grad`` (same shape and dtype, starts at 0).

    ``data`` keeps its shape and dtype: the owning layer's kernels are sized for them, so an
    assigned array must match (C-contiguous and writable too: optimizers update it in place);
    ``Module.to`` changes the dtype, a new Parameter another shape. The check runs on
    assignment (``__setattr__``), so reading ``data`` stays a plain slot load; the flag written
    every step (``_stale``) is a one-element list, so no step goes through ``__setattr__``.

    ``zero_grad_()`` zeroes the gradient lazily: the array is only filled with 0 when
    someone reads ``grad``, and a layer whose backward overwrites the whole gradient
    (Linear's weight: a GEMM with beta = 0 instead of 1) takes it through
    ``_grad_to_accumulate()`` and skips the fill. Readers always see the zeros."""

    __slots__ = ("data", "_grad", "_stale", "requires_grad", "_fits", "_name")

    def __init__(self, data, requires_grad=True):
        data = np.ascontiguousarray(data)
        if data.dtype not in FLOAT_DTYPES:
            raise TypeError(f"Parameter data must be float32 or float64, got {data.dtype}")
        _set_slot(self, "data", data)
        self._grad = np.zeros_like(data)
        self._stale = [False]                         # [True]: _grad holds old values that read as 0
        self._fits = (None, None)                     # the (grad, data) pair last checked to fit
        self.requires_grad = bool(requires_grad)
        self._name = "Parameter"                      # "Linear.weight" once a module registers it

    def __setattr__(self, name, value):
        if name == "data" and hasattr(self, "data"):  # (copy and unpickling fill an empty Parameter)
            error = _misfit(value, self.data)
            if error is not None:
                other_dtype = error is TypeError and isinstance(value, np.ndarray)
                raise error(_misfit_message(f"{self._name}.data", self.data, value)
                            + ("; Module.to converts a model's dtype" if other_dtype else ""))
        _set_slot(self, name, value)

    @property
    def grad(self):
        if self._stale[0]:
            self._stale[0] = False
            self._grad.fill(0)
        return self._grad

    @grad.setter
    def grad(self, value):
        self._grad = value
        self._stale[0] = False

    def zero_grad_(self):
        """grad ← 0 in place (deferred until the gradient is next read or accumulated into)."""
        self._stale[0] = self._grad is not None

    def _astype(self, dtype):
        """data and grad converted to ``dtype``: the one way a parameter's dtype changes (Module.to)."""
        _set_slot(self, "data", self.data.astype(dtype))
        self.grad = None if self._grad is None else self.grad.astype(dtype)

    def _check_grad_fits(self, g, owner):
        """g, after checking it fits data (a user may have replaced .grad): a C-contiguous
        writable array of data's shape and dtype; ``owner`` names the parameter in the error,
        e.g. "Linear.bias". Checked once per (grad, data) pair of arrays: the kernels compare
        shapes again on every call, so an array reshaped in place later is still refused."""
        if g is self._fits[0] and self.data is self._fits[1]:
            return g
        if _misfit(g, self.data) is not None:
            raise ValueError(_misfit_message(f"{owner}.grad", self.data, g))
        self._fits = (g, self.data)
        return g

    def _checked_grad(self, owner):
        """grad to accumulate into, checked to fit data before the deferred zero fill runs on it
        (zeros after zero_grad; a gradient set to None is recreated)."""
        g, beta = self._grad_to_accumulate(owner)
        if not beta:
            g.fill(0)                                 # (already zeros when just recreated)
        return g

    def _grad_to_accumulate(self, owner):
        """(gradient array, beta) for a kernel computing grad = beta·grad + new: beta 0 when the
        gradient reads as zero (no fill needed); a gradient set to None is recreated. The
        array is checked to fit data either way (stale values are never read, but written)."""
        if self._grad is None:
            self._grad = np.zeros_like(self.data)
            return self._grad, 0.0
        g = self._check_grad_fits(self._grad, owner)
        if self._stale[0]:
            self._stale[0] = False
            return g, 0.0
        return g, 1.0

    shape = property(lambda self: self.data.shape)
    dtype = property(lambda self: self.data.dtype)
    size = property(lambda self: self.data.size)

    def __repr__(self):
        return f"Parameter(shape={self.data.shape}, dtype={self.data.dtype}, requires_grad={self.requires_grad})"


class _TrainingModeError(TypeError, ValueError):
    """``train(mode)`` with a non-bool mode: a TypeError, as fastnn refuses every wrong type, and
    a ValueError, which is what PyTorch raises there, so either ``except`` catches it."""


class Module:
    """Base class: forward/backward, parameters, buffers, children, modes, state and config."""

    _dtype = None              # parameter dtype of layers that own arrays; None: any float input
    _required = ()             # parameters/children the layer cannot run without (None refused)

    def __init__(self):
        d = self.__dict__
        d["_parameters"], d["_buffers"], d["_modules"] = {}, {}, {}
        d["_workspace_arrays"] = {}
        d["training"] = True
        d["_ctx"] = None

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        _REGISTRY[_class_key(cls)] = cls

    def __setattr__(self, name, value):
        d = self.__dict__
        if name == "_ctx":                             # every forward saves its context: keep it cheap
            d["_ctx"] = value
            return
        if "_parameters" not in d:
            raise AttributeError(f"{type(self).__name__}.__init__ must call super().__init__() first")
        if isinstance(value, (Parameter, Module)) or name in d["_parameters"] or name in d["_modules"]:
            self._check_assignment(name, value)
            d["_parameters"].pop(name, None)
            d["_modules"].pop(name, None)
            if isinstance(value, Parameter):
                d["_parameters"][name] = value
                value._name = f"{type(self).__name__}.{name}"
            elif isinstance(value, Module):
                d["_modules"][name] = value
        elif name in d["_buffers"]:
            self._check_assignment(name, value)
            d["_buffers"][name] = value
        object.__setattr__(self, name, value)

    def _check_assignment(self, name, value):
        """Refuse, when assigned, what a registered parameter, child or buffer cannot hold. As in
        PyTorch a parameter takes a Parameter or None, a child a Module or None (or a Parameter);
        no module may contain itself (traversals would never end); and a layer that declares
        its dtype sizes its kernels from its arguments, so its parameters and float buffers keep
        their shape and dtype (a custom module may resize its own)."""
        owner, got = f"{type(self).__name__}.{name}", type(value).__name__
        params = self._parameters
        if name in params and not (value is None or isinstance(value, Parameter)):
            raise TypeError(f"{owner} is a parameter: assign a Parameter or None, got {got}")
        if name in self._modules and not (value is None or isinstance(value, (Module, Parameter))):
            raise TypeError(f"{owner} is a child module: assign a Module or None, got {got}")
        if value is None and name in self._required:
            raise TypeError(f"{owner} cannot be None: {type(self).__name__} needs it to run")
        if isinstance(value, Module) and any(m is self for m in value.modules()):
            raise ValueError(f"{owner}: cannot add a {got} that is or contains this {type(self).__name__} "
                             f"(a module cannot be its own descendant)")
        old = params[name] if name in params else self._buffers.get(name)
        if self._dtype is None or value is None:
            return
        if old is None and isinstance(value, Parameter):
            shape = self._parameter_shape(name)       # a parameter set to None, now given back
            if shape is not None:
                owner, old, value = owner + ".data", np.empty(shape, self._dtype), value.data
        elif isinstance(old, Parameter):
            owner, old, value = owner + ".data", old.data, value.data
        if old is None:
            return
        error = _misfit(value, old) if isinstance(old, np.ndarray) and old.dtype.kind == "f" else None
        if error is not None:
            raise error(_misfit_message(owner, old, value))

    def _parameter_shape(self, name):
        """The shape a parameter of this layer set to None (e.g. Linear's bias) must have when
        given back, in the layer's dtype; None when the layer does not fix one."""
        return None

    def register_buffer(self, name, array):
        """A named non-learnable array saved in state_dict (None: registered but absent)."""
        self.__dict__["_buffers"][name] = array
        object.__setattr__(self, name, array)

    # -------------------------------------------------------------- compute

    def forward(self, x):
        raise NotImplementedError(f"{type(self).__name__} does not implement forward")

    def backward(self, grad_output):
        raise NotImplementedError(f"{type(self).__name__} does not implement backward")

    def __call__(self, x):
        """forward(x) as an array the caller owns.

        ``forward`` returns a buffer the module reuses on its next forward (no allocation
        per step inside containers and the trainer); calling the module copies it, so
        outputs a user keeps are never overwritten later.
        """
        return self.forward(x).copy()

    def _saved(self):
        """What the last forward saved; RuntimeError when there was none."""
        if self._ctx is None:
            raise RuntimeError(f"{type(self).__name__}.backward called before forward")
        return self._ctx

    def _workspace(self, key, shape, dtype):
        """A reusable uninitialised array for ``key`` (valid until the same key is asked again)."""
        ws = self._workspace_arrays
        a = ws.get(key)                               # the last one handed out for key
        if a is not None and a.shape == shape and a.dtype == dtype:
            return a
        k = (key, shape, dtype)
        a = ws.get(k)
        if a is None:
            if len(ws) >= 64:                         # batch sizes keep changing: start over
                ws.clear()
            a = ws[k] = np.empty(shape, dtype)
        ws[key] = a
        return a

    # -------------------------------------------------------------- traversal

    def named_children(self):
        return iter(self._modules.items())

    def children(self):
        return iter(self._modules.values())

    def named_modules(self, prefix=""):
        """(dotted name, module) for self and every descendant, depth first."""
        yield prefix, self
        for name, m in self._modules.items():
            yield from m.named_modules(f"{prefix}.{name}" if prefix else name)

    def modules(self):
        return (m for _, m in self.named_modules())

    def named_parameters(self):
        seen = set()
        for prefix, m in self.named_modules():
            for name, p in m._parameters.items():
                if id(p) not in seen:
                    seen.add(id(p))
                    yield (f"{prefix}.{name}" if prefix else name), p

    def parameters(self):
        return (p for _, p in self.named_parameters())

    def named_buffers(self):
        for prefix, m in self.named_modules():
            for name, b in m._buffers.items():
                if b is not None:
                    yield (f"{prefix}.{name}" if prefix else name), b

    def buffers(self):
        return (b for _, b in self.named_buffers())

    def num_parameters(self):
        return sum(p.data.size for p in self.parameters())

    # -------------------------------------------------------------- modes and gradients

    def train(self, mode=True):
        try:
            mode = as_bool(mode, "train: mode")
        except TypeError as e:
            raise _TrainingModeError(*e.args) from None
        for m in self.modules():
            m.training = mode
        return self

    def eval(self):
        return self.train(False)

    def zero_grad(self):
        """Set every parameter gradient to 0 in place (optimizers keep their references; the
        fill itself is deferred, see Parameter)."""
        for p in self.parameters():
            p.zero_grad_()

    # -------------------------------------------------------------- state

    def _state_arrays(self):
        """Key → the live array behind it, parameters then buffers per module (PyTorch order)."""
        out = OrderedDict()
        for prefix, m in self.named_modules():
            join = (lambda n: f"{prefix}.{n}") if prefix else (lambda n: n)
            for name, p in m._parameters.items():
                out[join(name)] = p.data
            for name, b in m._buffers.items():
                if b is not None:
                    out[join(name)] = b
        return out

    def state_dict(self):
        """Ordered name → copy of every parameter and buffer array."""
        return OrderedDict((k, v.copy()) for k, v in self._state_arrays().items())

    def load_state_dict(self, state_dict, strict=True):
        """Copy arrays in place (references stay valid); shapes and dtypes must match exactly."""
        if not isinstance(state_dict, Mapping):
            raise TypeError(f"state_dict must be a mapping name -> array, got {type(state_dict).__name__}")
        strict = as_bool(strict, "strict")
        own = self._state_arrays()
        missing = [k for k in own if k not in state_dict]
        unexpected = [k for k in state_dict if k not in own]
        errors = []
        if strict and (missing or unexpected):
            errors.append(f"missing keys {missing}, unexpected keys {unexpected}")
        values = {}
        roots = {id(_root(a)) for a in own.values()}
        for k, target in own.items():
            if k not in state_dict:
                continue
            v = state_dict[k]
            if not isinstance(v, np.ndarray):
                try:
                    v = np.asarray(v)
                except ValueError:                     # a ragged nested list
                    errors.append(f"{k!r}: a {type(v).__name__} that is not a rectangular array")
                    continue
            elif id(_root(v)) in roots:
                v = v.copy()                           # a view of the module's own arrays: read before any write
            if v.shape != target.shape:
                errors.append(f"{k!r}: shape {v.shape} in the state dict, {target.shape} in the module")
            elif v.dtype != target.dtype:
                errors.append(f"{k!r}: dtype {v.dtype} in the state dict, {target.dtype} in the module")
            values[k] = v
        if errors:
            raise ValueError(f"cannot load state dict into {type(self).__name__}: " + "; ".join(errors))
        for k, v in values.items():
            np.copyto(own[k], v)
        return IncompatibleKeys(missing, unexpected)

    def to(self, dtype):
        """Convert every float parameter, gradient and buffer to ``dtype`` (float32 or float64).

        New arrays replace the old ones: build optimizers after converting.
        """
        dt = float_dtype(dtype)
        for m in self.modules():
            for p in m._parameters.values():
                if p.data.dtype != dt:
                    p._astype(dt)
            for name, b in list(m._buffers.items()):
                if b is not None and b.dtype.kind == "f" and b.dtype != dt:
                    m.register_buffer(name, b.astype(dt))     # (setattr keeps a layer's dtype)
            if m._dtype is not None:
                m._dtype = dt
            m._workspace_arrays.clear()
            m._ctx = None
        return self

    def float(self):
        return self.to(np.float32)

    def double(self):
        return self.to(np.float64)

    # -------------------------------------------------------------- repr and config

    def extra_repr(self):
        return ""

    def _repr_tree(self):
        extra = self.extra_repr()
        if not self._modules:
            return f"{type(self).__name__}({extra})"
        lines = [extra] if extra else []
        lines += [f"({name}): " + m._repr_tree().replace("\n", "\n  ") for name, m in self._modules.items()]
        return f"{type(self).__name__}(\n  " + "\n  ".join(lines) + "\n)"

    def __repr__(self):
        text = self._repr_tree()
        if self._modules or self._parameters:
            text += f"\nTotal parameters: {Module.num_parameters(self):,}"   # (PReLU's is its slope count)
        return text

    def _config(self):
        """Constructor arguments that rebuild this module (JSON values or Modules)."""
        raise NotImplementedError(f"{type(self).__name__} does not define _config(), so it has no config")

    @classmethod
    def _from_config(cls, args):
        return cls(**args)

    def get_config(self):
        """{"class": name, "config": constructor arguments}, JSON-serialisable, children nested."""
        return {"class": _class_key(type(self)), "config": _encode(self._config())}


def _class_key(cls):
    return cls.__name__ if cls.__module__.startswith("fastnn.") else f"{cls.__module__}.{cls.__qualname__}"


def _encode(v):
    if isinstance(v, Module):
        return v.get_config()
    if isinstance(v, (list, tuple)):
        return [_encode(e) for e in v]
    if isinstance(v, dict):
        return {str(k): _encode(e) for k, e in v.items()}
    if isinstance(v, np.dtype):
        return str(v)
    if isinstance(v, np.generic):
        return v.item()
    if v is None or isinstance(v, (bool, str, numbers.Integral, numbers.Real)):
        return v
    raise TypeError(f"cannot put a {type(v).__name__} into a module config")


MAX_CONFIG_DEPTH = 200                                # nested dicts/lists; deeper is refused, not recursed into


def _decode(v, depth):
    if depth > MAX_CONFIG_DEPTH:
        raise ValueError(f"module config is nested more than {MAX_CONFIG_DEPTH} levels deep")
    if isinstance(v, dict) and set(v) == {"class", "config"}:
        return _from_config(v, depth + 1)
    if isinstance(v, list):
        return [_decode(e, depth + 1) for e in v]
    if isinstance(v, dict):
        return {k: _decode(e, depth + 1) for k, e in v.items()}
    return v


def from_config(config):
    """The module described by ``get_config()`` output (freshly initialised parameters)."""
    return _from_config(config, 0)


def _from_config(config, depth):
    if not isinstance(config, dict) or set(config) != {"class", "config"}:
        raise ValueError(f"a module config is a dict with keys 'class' and 'config', got {config!r}")
    name, args = config["class"], config["config"]
    if not isinstance(name, str):
        raise TypeError(f"a module config's 'class' must be a class name (str), got {type(name).__name__}")
    cls = _REGISTRY.get(name)
    if cls is None:
        raise ValueError(f"unknown module class {name!r} in config")
    if not isinstance(args, dict):
        raise TypeError(f"the 'config' of a {name} config must be a dict of constructor arguments, "
                        f"got {type(args).__name__}")
    return cls._from_config(_decode(args, depth + 1))


# ------------------------------------------------------------------ helpers for layers

def check_input(module, x, features=None, what=None):
    """x as a C-contiguous 2-D float array of the module's dtype (non-contiguous input is copied).
    ``what`` (text, or a callable giving it) describes the expected features in the error."""
    name = type(module).__name__
    if not isinstance(x, np.ndarray):
        raise TypeError(f"{name}: input must be a numpy.ndarray, got {type(x).__name__}")
    if x.ndim != 2:
        raise ValueError(f"{name}: input must be 2-D (batch, features), got shape {x.shape}")
    dt = module._dtype
    if dt is None:
        if x.dtype not in FLOAT_DTYPES:
            raise TypeError(f"{name}: input must have dtype float32 or float64, got {x.dtype}")
    elif x.dtype != dt:
        raise TypeError(f"{name}: input has dtype {x.dtype} but the module's parameters have dtype {dt}; "
                        f"convert the input (x.astype) or the module (.to)")
    if features is not None and x.shape[1] != features:
        what = what() if callable(what) else what     # a callable: no message formatted per call
        raise ValueError(f"{name}: input has shape {x.shape} but {what or f'{features} features are'} "
                         f"expected: (batch, {features})")
    return np.ascontiguousarray(x)


def check_grad(module, g, like):
    """grad_output as a C-contiguous array of the forward output's shape and dtype."""
    name = type(module).__name__
    if not isinstance(g, np.ndarray):
        raise TypeError(f"{name}.backward: grad_output must be a numpy.ndarray, got {type(g).__name__}")
    if g.shape != like.shape:
        raise ValueError(f"{name}.backward: grad_output has shape {g.shape}, the output had shape {like.shape}")
    if g.dtype != like.dtype:
        raise TypeError(f"{name}.backward: grad_output has dtype {g.dtype}, the output had dtype {like.dtype}")
    return np.ascontiguousarray(g)


class Stochastic:
    """Mixin for modules drawing counter-based randomness keyed by (seed, step, index).

    ``seed`` None draws one from the OS (kept, so get_config reproduces it); the step
    counter advances once per training forward unless frozen (gradcheck freezes it).
    """

    def _init_random(self, seed):
        if seed is None:
            seed = int(np.random.SeedSequence().entropy % (1 << 63))
        elif isinstance(seed, bool) or not isinstance(seed, numbers.Integral) or seed < 0:
            raise ValueError(f"seed must be None or a non-negative int, got {seed!r}")
        self.seed = int(seed)
        self._step = 0
        self._frozen = False

    def _next_stream(self):
        d = self.__dict__                             # a plain int: no Module.__setattr__ checks (~1 µs)
        s = d["_step"]
        if not d["_frozen"]:
            d["_step"] = s + 1
        return s


@contextlib.contextmanager
def frozen_randomness(module):
    """Within the block every stochastic module reuses its current step: masks repeat."""
    mods = [m for m in module.modules() if isinstance(m, Stochastic)]
    saved = [(m, m._step, m._frozen) for m in mods]
    for m in mods:
        m._frozen = True
    try:
        yield
    finally:
        for m, step, frozen in saved:
            m._step, m._frozen = step, frozen
