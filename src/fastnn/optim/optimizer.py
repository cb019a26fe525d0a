"""Optimizer: parameter groups, per-parameter state records, and their (de)serialisation.

Design. An optimizer is an update rule over a small state record (STYLE.md §7, optax).
A rule names its hyper-parameters (the ``defaults`` passed here), checks and normalises
one group of them in ``_check(group)``, and updates one parameter in
``_update(k, param, grad, state, group)`` with one fused kernel call from ``k =
fastnn._backend.kernels()`` (so ``set_backend("numpy")`` runs the NumPy reference). Its
state is a plain dict per parameter, created at the parameter's first step as in
PyTorch: ndarrays shaped and typed like the parameter (made by ``state_buffer``) and
Python scalars such as ``step``. Groups, ``zero_grad``, ``state_dict`` live here once.

A parameter is any object with ``.data`` and ``.grad``: C-contiguous float32/float64
ndarrays of one shape and dtype (``grad`` may be None: the parameter is skipped, as is
one whose ``requires_grad`` is False). Updates are in place, so a parameter's ``.data``
array keeps its identity.

State layout (``state_dict()``), PyTorch's with NumPy values::

    {"state": {i: {"step": int, "<buffer>": ndarray, ...}},     # i: position over all groups
     "param_groups": [{"lr": float, ..., "params": [i, ...]}]}

``state_arrays()`` splits it for tensor files (safetensors): arrays named
``"state.<i>.<buffer>"`` and a JSON-serialisable ``meta`` holding everything else, each
array replaced by ``{"__array__": name}``; ``load_state_arrays(arrays, meta)`` inverts it.
"""
from __future__ import annotations

import math
import numbers
import operator

import numpy as np

from .._backend import kernels
from .._validate import FLOAT_DTYPES

__all__ = ["Optimizer", "state_buffer"]

# Keys a parameter group may hold besides the rule's hyper-parameters.
_GROUP_EXTRA_KEYS = ("params", "initial_lr", "name")


def state_buffer(state, key, param, fill=0.0):
    """``state[key]``, created as ``full_like(param, fill)`` on first use; it must match param."""
    buf = state.get(key)
    if buf is None:
        buf = state[key] = np.full_like(param, fill)
    elif buf.shape != param.shape or buf.dtype != param.dtype:
        raise ValueError(f"optimizer state {key!r} has shape {buf.shape} and dtype {buf.dtype} but the parameter "
                         f"has shape {param.shape} and dtype {param.dtype}; was the parameter replaced?")
    return buf


def real_value(value, name, label, *, low=None, high=None, high_inclusive=True):
    """value as a float; TypeError if not a real number, ValueError (PyTorch's wording) if out of range."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name} must be a real number, got {type(value).__name__}")
    v = float(value)
    if (not math.isfinite(v) or (low is not None and v < low)
            or (high is not None and (v > high or (v == high and not high_inclusive)))):
        raise ValueError(f"Invalid {label}: {value}")
    return v


def check_real(group, key, label, **bounds):
    """Replace group[key] by its float value, checked by ``real_value``."""
    group[key] = real_value(group[key], key, label, **bounds)
    return group[key]


def check_bool(group, key):
    value = group[key]
    if not isinstance(value, (bool, np.bool_)):
        raise TypeError(f"{key} must be a bool, got {type(value).__name__}")
    group[key] = bool(value)
    return group[key]


def _check_param(p):
    data = getattr(p, "data", None)
    if not isinstance(data, np.ndarray) or not hasattr(p, "grad"):
        raise TypeError(f"optimizer can only optimize objects with .data and .grad ndarrays (Parameters), "
                        f"got {type(p).__name__}")
    if data.dtype not in FLOAT_DTYPES:
        raise TypeError(f"parameter data must be float32 or float64, got {data.dtype} with shape {data.shape}")
    if not data.flags.c_contiguous or not data.flags.writeable:
        raise ValueError(f"parameter data must be a writeable C-contiguous array (shape {data.shape})")


def _check_grad(data, grad):
    if not isinstance(grad, np.ndarray):
        raise TypeError(f"parameter grad must be a numpy.ndarray or None, got {type(grad).__name__}")
    if grad.dtype != data.dtype:
        raise TypeError(f"parameter grad has dtype {grad.dtype} but its data has dtype {data.dtype}")
    if grad.shape != data.shape:
        raise ValueError(f"parameter grad has shape {grad.shape} but its data has shape {data.shape}")
    if not grad.flags.c_contiguous or not data.flags.c_contiguous or not data.flags.writeable:
        raise ValueError(f"parameter data and grad must be C-contiguous and data writeable (shape {data.shape})")


class Optimizer:
    """Base of the update rules: ``param_groups``, ``state``, ``step``, ``zero_grad``, state dicts."""

    def __init__(self, params, defaults):
        self.defaults = dict(defaults)
        self._check(dict(self.defaults))
        self.param_groups = []
        self.state = {}
        self._tensor_cache = {}                        # group index -> _group_tensors' cached handle
        if hasattr(params, "data") or isinstance(params, np.ndarray):
            raise TypeError("params must be an iterable of Parameters or of dicts, got a single "
                            f"{type(params).__name__}; wrap it in a list")
        if callable(getattr(params, "parameters", None)):
            raise TypeError(f"params must be an iterable of Parameters or dicts: pass "
                            f"{type(params).__name__}.parameters(), not the model")
        if isinstance(params, (set, frozenset)):
            raise TypeError("parameters must be an ordered collection, not a set (the order fixes the state indices)")
        groups = list(params)
        if not groups:
            raise ValueError("optimizer got an empty parameter list")
        if not isinstance(groups[0], dict):
            groups = [{"params": groups}]
        for group in groups:
            self.add_param_group(group)

    # ---------------------------------------------------------------- the rule's part

    def _check(self, group):
        """Validate and normalise one group's hyper-parameters in place."""
        raise NotImplementedError

    def _update(self, k, param, grad, state, group):
        """One fused kernel call updating ``param`` (ndarray) in place from ``grad`` and ``state``."""
        raise NotImplementedError

    def _update_group(self, k, index, group):
        """Update every parameter of ``group`` (the ``index``-th) that has a gradient. The default
        is one ``_update`` per parameter; a rule with a multi-tensor kernel overrides it
        and uses ``_group_tensors``."""
        for p in group["params"]:
            grad = p.grad
            if grad is None or getattr(p, "requires_grad", True) is False:
                continue
            data = p.data
            _check_grad(data, grad)
            self._update(k, data, grad, self._state_of(p), group)

    def _state_of(self, p):
        """p's state record, created empty at its first step (as in PyTorch)."""
        state = self.state.get(p)
        if state is None:
            state = self.state[p] = {}
        return state

    def _group_tensors(self, k, index, group, keys):
        """(k.tensor_list of rows (param, grad, *state[keys]) flattened, [state per row]) for the
        parameters of ``group`` that have a gradient; state buffers are created on first use.

        Cached between steps: the handle is rebuilt only when a parameter's data, grad or
        requires_grad, a state buffer, the state dict, the group or the backend changed (an
        identity check per array), so a step costs one kernel call for all parameters."""
        cached = self._tensor_cache.get(index)
        params = group["params"]
        if (cached is not None and cached[0] is k and cached[1] is params and cached[2] is self.state
                and cached[3] == keys and len(params) == len(cached[4])):
            for p, (q, data, grad, req) in zip(params, cached[4]):
                if (p is not q or p.data is not data or p.grad is not grad
                        or getattr(p, "requires_grad", True) is not req):
                    break
            else:
                owners, names, bufs = cached[5]           # every state[key] still the buffer in the handle?
                if not any(map(operator.is_not, map(dict.get, owners, names), bufs)):
                    return cached[6], cached[7]
        checks, buffer_checks, rows, states = [], [], [], []
        for p in params:
            data, grad, req = p.data, p.grad, getattr(p, "requires_grad", True)
            checks.append((p, data, grad, req))
            if grad is None or req is False:
                continue
            _check_grad(data, grad)
            state = self._state_of(p)
            bufs = tuple(state_buffer(state, key, data) if key is not None else None for key in keys)
            buffer_checks.extend((state, key, b) for key, b in zip(keys, bufs) if key is not None)
            rows.append((data.reshape(-1), grad.reshape(-1)) + tuple(None if b is None else b.reshape(-1)
                                                                     for b in bufs))
            states.append(state)
        handle = k.tensor_list(rows)
        buffer_checks = tuple(zip(*buffer_checks)) or ((), (), ())   # (states, keys, buffers)
        self._tensor_cache[index] = (k, params, self.state, keys, checks, buffer_checks, handle, states)
        return handle, states

    # ---------------------------------------------------------------- groups

    def add_param_group(self, param_group):
        """Add a dict with "params" and optional per-group hyper-parameters (missing ones: defaults)."""
        if not isinstance(param_group, dict):
            raise TypeError(f"a parameter group must be a dict, got {type(param_group).__name__}")
        if "params" not in param_group:
            raise ValueError('a parameter group must have a "params" entry')
        unknown = sorted(set(param_group) - set(self.defaults) - set(_GROUP_EXTRA_KEYS))
        if unknown:
            raise TypeError(f"{type(self).__name__}: unknown option(s) {unknown} in parameter group; "
                            f"expected some of {sorted(self.defaults)}")
        params = param_group["params"]
        if hasattr(params, "data"):
            params = [params]
        elif isinstance(params, (set, frozenset)):
            raise TypeError("parameters must be an ordered collection, not a set (the order fixes the state indices)")
        params = list(params)
        for p in params:
            _check_param(p)
        group = dict(param_group, params=params)
        for key, value in self.defaults.items():
            group.setdefault(key, value)
        self._check(group)
        seen = {id(p) for g in self.param_groups for p in g["params"]}
        ids = [id(p) for p in params]
        if len(set(ids)) != len(ids) or seen.intersection(ids):
            raise ValueError("some parameters appear more than once (within or across parameter groups)")
        self.param_groups.append(group)

    # ---------------------------------------------------------------- training

    def step(self, closure=None):
        """One update of every parameter that has a gradient; returns closure() if given."""
        loss = closure() if closure is not None else None
        k = kernels()
        for index, group in enumerate(self.param_groups):
            self._update_group(k, index, group)
        return loss

    def zero_grad(self, set_to_none=False):
        """Zero every gradient in place (the default: layers keep accumulating into the same
        arrays), or set them to None."""
        for group in self.param_groups:
            for p in group["params"]:
                if set_to_none:
                    if p.grad is not None:
                        p.grad = None
                elif hasattr(p, "zero_grad_"):              # fastnn Parameter: deferred fill
                    p.zero_grad_()
                elif p.grad is not None:
                    p.grad.fill(0)

    # ---------------------------------------------------------------- state

    def state_dict(self):
        """{"state": {i: {...}}, "param_groups": [...]} with copies of the state arrays."""
        index = {}
        groups = []
        for group in self.param_groups:
            ids = []
            for p in group["params"]:
                ids.append(index.setdefault(p, len(index)))
            groups.append({**{key: v for key, v in group.items() if key != "params"}, "params": ids})
        state = {index[p]: {key: (v.copy() if isinstance(v, np.ndarray) else v) for key, v in s.items()}
                 for p, s in self.state.items() if p in index}
        return {"state": dict(sorted(state.items())), "param_groups": groups}

    def load_state_dict(self, state_dict):
        """Restore hyper-parameters and state saved by ``state_dict`` for the same parameter layout."""
        if not isinstance(state_dict, dict) or set(state_dict) != {"state", "param_groups"}:
            raise ValueError('an optimizer state dict has exactly the keys "state" and "param_groups"')
        saved_groups = state_dict["param_groups"]
        if len(saved_groups) != len(self.param_groups):
            raise ValueError(f"loaded state dict has {len(saved_groups)} parameter groups, "
                             f"the optimizer has {len(self.param_groups)}")
        by_index = {}
        groups = []
        for n, (mine, saved) in enumerate(zip(self.param_groups, saved_groups)):
            if len(saved["params"]) != len(mine["params"]):
                raise ValueError(f"parameter group {n} of the loaded state dict has {len(saved['params'])} "
                                 f"parameters, the optimizer's has {len(mine['params'])}")
            by_index.update(zip((int(i) for i in saved["params"]), mine["params"]))
            group = {key: v for key, v in saved.items() if key != "params"}
            unknown = sorted(set(group) - set(self.defaults) - set(_GROUP_EXTRA_KEYS))
            missing = sorted(set(self.defaults) - set(group))
            if unknown or missing:
                raise ValueError(f"parameter group {n} of the loaded state dict does not fit {type(self).__name__}: "
                                 f"unknown {unknown}, missing {missing}")
            self._check(group)
            group["params"] = mine["params"]
            groups.append(group)
        state = {}
        for i, record in state_dict["state"].items():
            p = by_index.get(int(i))
            if p is None:
                raise ValueError(f"loaded state dict has state for parameter {i}, which no group lists")
            state[p] = {key: self._loaded_value(key, v, p) for key, v in record.items()}
        self.param_groups = groups
        self.state = state
        self._tensor_cache = {}

    @staticmethod
    def _loaded_value(key, value, p):
        if isinstance(value, np.ndarray):
            if value.shape != p.data.shape:
                raise ValueError(f"loaded state {key!r} has shape {value.shape}, its parameter {p.data.shape}")
            return np.array(value, dtype=p.data.dtype, order="C", copy=True)
        if isinstance(value, (bool, np.bool_, numbers.Integral)):
            return value if isinstance(value, bool) else int(value)
        if isinstance(value, numbers.Real):
            return float(value)
        raise TypeError(f"loaded state {key!r} must be an ndarray or a number, got {type(value).__name__}")

    def state_arrays(self):
        """(arrays, meta): ``state_dict()`` split into named arrays and a JSON-serialisable rest."""
        sd = self.state_dict()
        arrays = {}
        state = {}
        for i, record in sd["state"].items():
            state[str(i)] = entry = {}
            for key, v in record.items():
                if isinstance(v, np.ndarray):
                    name = f"state.{i}.{key}"
                    arrays[name] = v
                    entry[key] = {"__array__": name}
                else:
                    entry[key] = v
        groups = [{key: (list(v) if isinstance(v, tuple) else v) for key, v in g.items()} for g in sd["param_groups"]]
        return arrays, {"state": state, "param_groups": groups}

    def load_state_arrays(self, arrays, meta):
        """Inverse of ``state_arrays``."""
        state = {}
        for i, record in meta["state"].items():
            state[int(i)] = {key: (arrays[v["__array__"]] if isinstance(v, dict) else v) for key, v in record.items()}
        self.load_state_dict({"state": state, "param_groups": [dict(g) for g in meta["param_groups"]]})

    def __repr__(self):
        lines = [f"{type(self).__name__} ("]
        for n, group in enumerate(self.param_groups):
            lines.append(f"Parameter Group {n}")
            lines += [f"    {key}: {v}" for key, v in sorted(group.items()) if key != "params"]
        return "\n".join(lines + [")"])
