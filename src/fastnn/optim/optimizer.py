"""Optimizer: parameter groups, per-parameter state records, and their (de)serialisation.

Design. An optimizer is an update rule over a small state record (STYLE.md §7, optax).
A rule names its hyper-parameters (the ``defaults`` passed here), checks and normalises
one group of them in ``_check(group)``, and updates one parameter in
``_update(k, param, grad, state, group)`` with one fused kernel call from ``k =
fastnn._backend.kernels()`` (so ``set_backend("numpy")`` runs the NumPy reference). Its
state is a plain dict per parameter, created at the parameter's first step as in
PyTorch: ndarrays shaped and typed like the parameter (made by ``state_buffer``) and
Python scalars such as ``step``. Groups, ``zero_grad``, ``state_dict`` live here once.
Hyper-parameters edited in ``param_groups`` between steps (lr schedulers do) are checked
again by ``step`` when their value objects changed; errors name the group, or the
parameter (its index in ``state_dict()``), they concern.

The built-in rules also have a multi-tensor form (``_multi_tensor``, ``_apply_rows``): the
group's (param, grad, *state) rows go to the native kernel in one call through a tensor list
made once and reused while no array, record or option changed: one kernel call a step, not
one Python call a parameter. ``_update`` stays the reference the tests hold the multi-tensor
step to, bit for bit.

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
import reprlib

import numpy as np

from .._backend import kernels
from .._validate import FLOAT_DTYPES, as_bool

__all__ = ["Optimizer", "state_buffer"]

# Keys a parameter group may hold besides the rule's hyper-parameters.
_GROUP_EXTRA_KEYS = ("params", "initial_lr", "name")
# Largest loadable step count (an int64 counter; beyond ~1e308 β**t would overflow).
_MAX_STEP = 2**63 - 1


def state_buffer(state, key, param, fill=0.0):
    """``state[key]``, created as ``full_like(param, fill)`` on first use; it must match param and
    be writeable and C-contiguous (kernels update it in place through a flat view)."""
    buf = state.get(key)
    if buf is None:
        buf = state[key] = np.full_like(param, fill)
    elif not isinstance(buf, np.ndarray):
        raise TypeError(f"optimizer state {key!r} must be a numpy.ndarray, got {type(buf).__name__}")
    elif buf.shape != param.shape or buf.dtype != param.dtype:
        raise ValueError(f"optimizer state {key!r} has shape {buf.shape} and dtype {buf.dtype} but the parameter "
                         f"has shape {param.shape} and dtype {param.dtype}; was the parameter replaced?")
    elif not buf.flags.c_contiguous or not buf.flags.writeable:
        raise ValueError(f"optimizer state {key!r} must be a writeable C-contiguous array (it is updated in place)")
    return buf


def _stepped_grad(p):
    """p's gradient, or None when step() leaves p alone (no gradient, or requires_grad False)."""
    grad = p.grad
    return None if grad is None or getattr(p, "requires_grad", True) is False else grad


def _check_step(state):
    """A step count set by hand (opt.state[p]["step"] = ...) checked as a loaded one is, before
    the step updates anything; an integral float or 0-d array becomes an int."""
    step = state.get("step", 0)
    if type(step) is not int or not 0 <= step <= _MAX_STEP:
        state["step"] = _loaded_step(step, "optimizer state 'step'")


def _next_step(state):
    """Count one more step in a parameter's state record; the new count."""
    t = state["step"] = state.get("step", 0) + 1
    return t


def _count_steps(states, update):
    """update([each record's step count + 1]) → whether it updated; the counts are stored only
    if it did (a multi-tensor step refused for a non-finite gradient changes nothing)."""
    steps = [state.get("step", 0) + 1 for state in states]
    done = update(steps)
    if done:
        for state, t in zip(states, steps):
            state["step"] = t
    return done


def real_value(value, name, label, *, low=None, high=None, high_inclusive=True):
    """value as a float; TypeError if not a real number, ValueError (PyTorch's wording, plus
    ``name`` unless ``label`` holds it) if out of range."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name} must be a real number, got {type(value).__name__}")
    v = float(value)
    if (not math.isfinite(v) or (low is not None and v < low)
            or (high is not None and (v > high or (v == high and not high_inclusive)))):
        raise ValueError(f"Invalid {label}: {value}" + ("" if name in label else f" ({name})"))
    return v


def check_real(group, key, label, **bounds):
    """Replace group[key] by its float value, checked by ``real_value``."""
    group[key] = real_value(group[key], key, label, **bounds)
    return group[key]


def check_bool(group, key):
    group[key] = as_bool(group[key], key)
    return group[key]


def _prefixed(error, where):
    """A TypeError or ValueError like ``error``, its message prefixed by ``where``."""
    return (TypeError if isinstance(error, TypeError) else ValueError)(f"{where}: {error}")


def _check_data(data):
    """data as the kernels update it: a writeable C-contiguous float32/float64 ndarray."""
    if not isinstance(data, np.ndarray):
        raise TypeError(f"data must be a numpy.ndarray, got {type(data).__name__}")
    if data.dtype not in FLOAT_DTYPES:
        raise TypeError(f"data must be float32 or float64, got {data.dtype} with shape {data.shape}")
    if not data.flags.c_contiguous or not data.flags.writeable:
        raise ValueError(f"data must be a writeable C-contiguous array (shape {data.shape})")


def _check_param(p):
    if not isinstance(getattr(p, "data", None), np.ndarray) or not hasattr(p, "grad"):
        raise TypeError(f"optimizer can only optimize objects with .data and .grad ndarrays (Parameters), "
                        f"got {type(p).__name__}")
    _check_data(p.data)


def _check_grad(data, grad):
    """data and grad as the kernels take them: grad an ndarray like data, both C-contiguous."""
    _check_data(data)
    if not isinstance(grad, np.ndarray):
        raise TypeError(f"grad must be a numpy.ndarray or None, got {type(grad).__name__}")
    if grad.dtype != data.dtype:
        raise TypeError(f"grad has dtype {grad.dtype} but its data has dtype {data.dtype}")
    if grad.shape != data.shape:
        raise ValueError(f"grad has shape {grad.shape} but its data has shape {data.shape}")
    if not grad.flags.c_contiguous:
        raise ValueError(f"grad must be C-contiguous (shape {grad.shape})")


def _loaded_value(where, key, value, p):
    """A loaded state entry, checked and copied (arrays in p's dtype); ``where`` names the record."""
    if not isinstance(key, str):
        raise TypeError(f"{where}: keys must be strings, got {key!r}")
    where = f"{where}: {key!r}"
    if key == "step":
        return _loaded_step(value, where)
    if isinstance(value, np.ndarray):
        if value.dtype.kind != "f":
            raise TypeError(f"{where} must be a float array, got dtype {value.dtype}")
        if value.shape != p.data.shape:
            raise ValueError(f"{where} has shape {value.shape}, its parameter {p.data.shape}")
        return np.array(value, dtype=p.data.dtype, order="C", copy=True)
    if isinstance(value, (bool, np.bool_, numbers.Integral)):
        return value if isinstance(value, bool) else int(value)
    if isinstance(value, numbers.Real):
        return float(value)
    raise TypeError(f"{where} must be an ndarray or a number, got {type(value).__name__}")


def _saved_index(i, where):
    """A parameter index of a loaded state dict as an int."""
    if isinstance(i, bool) or not isinstance(i, numbers.Integral):
        raise TypeError(f"{where}: parameter indices must be integers, got {i!r}")
    return int(i)


def _loaded_step(value, where):
    """A loaded step count as an int: a non-negative integer (PyTorch keeps it as a 0-d float
    tensor, so an integral float or a 0-d array is accepted too)."""
    if isinstance(value, np.ndarray) and value.ndim == 0:
        value = value[()]
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Real):
        raise TypeError(f"{where} must be a non-negative integer, got {type(value).__name__}")
    if not 0 <= value <= _MAX_STEP or int(value) != value:
        raise ValueError(f"{where} must be an integer in [0, 2**63), got {reprlib.repr(value)}")
    return int(value)


class Optimizer:
    """Base of the update rules: ``param_groups``, ``state``, ``step``, ``zero_grad``, state dicts."""

    def __init__(self, params, defaults):
        self.defaults = dict(defaults)
        self._check(dict(self.defaults))
        self.param_groups = []
        self.state = {}
        self._tensor_cache = {}                        # group index -> _group_tensors' cached handle
        self._checked_values = {}                      # group index -> its hyper-parameters last checked
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

    def _state_keys(self, group):
        """The state buffers the rule keeps for a parameter of ``group``, in the order of its
        kernel's columns (None for a column the group's options leave out); the step checks
        the ones that already exist before it updates anything."""
        return ()

    def _state_fill(self, group, key):
        """The value a new ``key`` buffer starts at."""
        return 0.0

    # A rule with a multi-tensor kernel sets _multi_tensor and defines _apply_rows: a step
    # is then one kernel call per group over a cached tensor list. _update stays the
    # reference path (one call per parameter; tests compare the two bit for bit).
    _multi_tensor = False

    def _apply_rows(self, k, group, tensors, states, fresh, check_finite):
        """Update every row of ``tensors`` (param, grad, *state buffers) in one kernel call;
        ``states`` are the rows' state records, ``fresh[i]`` the keys of row i's buffers created
        for this step (true when any; cleared once the rows are updated). check_finite: only
        if every gradient is finite, else change nothing (step counts included). Returns
        whether it updated."""
        raise NotImplementedError

    def _prepare_group(self, k, index, group):
        """What ``_apply_group`` needs to update the ``index``-th group, with everything that can
        be refused (gradients, state records and buffers) checked: step prepares every group
        before it applies any, so a refused parameter leaves all of them as they were."""
        if self._multi_tensor:
            prepared = self._group_tensors(k, index, group, self._state_keys(group))
            for state in prepared[1]:
                try:
                    _check_step(state)
                except (TypeError, ValueError) as e:
                    i = next(i for i, p in enumerate(group["params"]) if self.state.get(p) is state)
                    raise _prefixed(e, self._param_name(index, i)) from None
            return prepared
        rows, keys = [], self._state_keys(group)
        for i, p in enumerate(group["params"]):
            grad = _stepped_grad(p)
            if grad is None:
                continue
            data = p.data
            try:
                _check_grad(data, grad)
                state = self._state_of(p)
                _check_step(state)
                for key in keys:
                    if key is not None and state.get(key) is not None:
                        state_buffer(state, key, data)
            except (TypeError, ValueError) as e:
                raise _prefixed(e, self._param_name(index, i)) from None
            rows.append((data, grad, state))
        return rows

    def _apply_group(self, k, group, prepared, check_finite=False):
        """Update the group from what _prepare_group returned; with check_finite (the multi-tensor
        form only) nothing changes unless every gradient is finite. Returns whether it updated."""
        if self._multi_tensor:
            tensors, states, fresh = prepared
            if states:
                if not self._apply_rows(k, group, tensors, states, fresh, check_finite):
                    return False
                fresh[:] = [()] * len(fresh)
            return True
        for data, grad, state in prepared:
            self._update(k, data, grad, state, group)
        return True

    def _forget_new_state(self, known, prepared):
        """After a refused step: the buffers its preparation created (still zeros; multi-tensor
        form) and the records it created go again, so the state is as before the step."""
        if self._multi_tensor:
            for _, states, fresh in prepared:
                for state, keys in zip(states, fresh):
                    for key in keys:
                        state.pop(key, None)
        for p in [p for p, state in self.state.items() if p not in known and not state]:
            del self.state[p]

    def _state_of(self, p):
        """p's state record, created empty at its first step (as in PyTorch)."""
        state = self.state.get(p)
        if state is None:
            state = self.state[p] = {}
        elif not isinstance(state, dict):
            raise TypeError(f"optimizer state record must be a dict, got {type(state).__name__}")
        return state

    def _param_name(self, n, i):
        """Names the i-th parameter of group n by its index in ``state_dict()``."""
        return f"parameter {sum(len(g['params']) for g in self.param_groups[:n]) + i} (param_groups[{n}])"

    def _group_tensors(self, k, index, group, keys):
        """(k.tensor_list of rows (param, grad, *state[keys]) flattened, [state per row], [row's
        buffers created now: their keys, per row]) for the parameters of ``group`` that have a gradient;
        state buffers are created on first use.

        Cached between steps: the handle is rebuilt only when a parameter's data, grad or
        requires_grad, a state record in ``self.state``, a state buffer, the group or the
        backend changed (an identity check per object), so a step costs one kernel call for
        all parameters."""
        cached = self._tensor_cache.get(index)
        params = group["params"]
        if (cached is not None and cached[0] is k and cached[1] is params and cached[2] == keys
                and len(params) == len(cached[3])):
            for p, (q, data, grad, req) in zip(params, cached[3]):
                if (p is not q or p.data is not data or p.grad is not grad
                        or getattr(p, "requires_grad", True) is not req):
                    break
            else:
                updated, states, (owners, names, bufs) = cached[4:7]
                # every self.state[p] still the record, and every record[key] the buffer, in the handle?
                if not (any(map(operator.is_not, map(self.state.get, updated), states))
                        or any(map(operator.is_not, map(dict.get, owners, names), bufs))):
                    return cached[7], states, cached[8]
        checks, updated, states, buffer_checks, rows, fresh = [], [], [], [], [], []
        for i, p in enumerate(params):
            data, grad, req = p.data, p.grad, getattr(p, "requires_grad", True)
            checks.append((p, data, grad, req))
            if grad is None or req is False:
                continue
            try:
                _check_grad(data, grad)
                state = self._state_of(p)
                fresh.append(tuple(key for key in keys if key is not None and state.get(key) is None))
                bufs = tuple(None if key is None else state_buffer(state, key, data, self._state_fill(group, key))
                             for key in keys)
            except (TypeError, ValueError) as e:
                raise _prefixed(e, self._param_name(index, i)) from None
            buffer_checks.extend((state, key, b) for key, b in zip(keys, bufs) if key is not None)
            rows.append((data.reshape(-1), grad.reshape(-1)) + tuple(None if b is None else b.reshape(-1)
                                                                     for b in bufs))
            updated.append(p)
            states.append(state)
        handle = k.tensor_list(rows)
        buffer_checks = tuple(zip(*buffer_checks)) or ((), (), ())   # (records, keys, buffers)
        self._tensor_cache[index] = (k, params, keys, checks, updated, states, buffer_checks, handle, fresh)
        return handle, states, fresh

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
        for i, p in enumerate(params):
            try:
                _check_param(p)
            except (TypeError, ValueError) as e:
                raise _prefixed(e, self._param_name(len(self.param_groups), i)) from None
        group = dict(param_group, params=params)
        for key, value in self.defaults.items():
            group.setdefault(key, value)
        self._check(group)
        seen = {id(p) for g in self.param_groups for p in g["params"]}
        ids = [id(p) for p in params]
        if len(set(ids)) != len(ids) or seen.intersection(ids):
            raise ValueError("some parameters appear more than once (within or across parameter groups)")
        self.param_groups.append(group)

    def _check_group(self, group, where):
        """``_check(group)`` after checking that no hyper-parameter is missing; errors name ``where``."""
        missing = [key for key in self.defaults if key not in group]
        if missing:
            raise ValueError(f"{where} does not fit {type(self).__name__}: missing {missing}")
        try:
            self._check(group)
        except (TypeError, ValueError) as e:
            raise _prefixed(e, where) from None

    def _recheck_group(self, index, group):
        """Check the group's hyper-parameters again if one was replaced since they were last
        checked (lr schedulers and users edit them between steps): an identity test per value."""
        checked = self._checked_values.get(index)
        if checked is None or any(map(operator.is_not, map(group.get, self.defaults), checked)):
            self._check_group(group, f"param_groups[{index}]")
            self._checked_values[index] = tuple(map(group.get, self.defaults))

    # ---------------------------------------------------------------- training

    def step(self, closure=None):
        """One update of every parameter that has a gradient; returns closure() if given."""
        loss = closure() if closure is not None else None
        self._step(check_finite=False)
        return loss

    def _step_if_finite(self):
        """step() when every gradient it would use is finite, else change nothing and return
        False (the trainer's divergence guard). A one-group multi-tensor rule tests the
        gradients inside its update kernel, each thread its piece just before updating it,
        instead of in a separate pass over all of them."""
        return self._step(check_finite=True)

    def _step(self, check_finite):
        k = kernels()
        for index, group in enumerate(self.param_groups):
            self._recheck_group(index, group)
        known = set(self.state) if check_finite else None
        prepared = [self._prepare_group(k, index, group) for index, group in enumerate(self.param_groups)]
        if check_finite and not (self._multi_tensor and len(prepared) == 1):
            grads = [g for group in self.param_groups for g in map(_stepped_grad, group["params"]) if g is not None]
            if not k.all_finite(grads):
                self._forget_new_state(known, prepared)
                return False
            check_finite = False
        for group, plan in zip(self.param_groups, prepared):
            if not self._apply_group(k, group, plan, check_finite):
                self._forget_new_state(known, prepared)
                return False
        return True

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
        """Restore hyper-parameters and state saved by ``state_dict`` for the same parameter layout.
        All of it is checked first: one that does not fit leaves the optimizer unchanged."""
        if not isinstance(state_dict, dict) or set(state_dict) != {"state", "param_groups"}:
            raise ValueError('an optimizer state dict has exactly the keys "state" and "param_groups"')
        saved_groups, saved_state = state_dict["param_groups"], state_dict["state"]
        if not isinstance(saved_groups, (list, tuple)):
            raise TypeError(f'loaded state dict: "param_groups" must be a list, got {type(saved_groups).__name__}')
        if not isinstance(saved_state, dict):
            raise TypeError(f'loaded state dict: "state" must be a dict, got {type(saved_state).__name__}')
        if len(saved_groups) != len(self.param_groups):
            raise ValueError(f"loaded state dict has {len(saved_groups)} parameter groups, "
                             f"the optimizer has {len(self.param_groups)}")
        by_index = {}
        groups = []
        for n, (mine, saved) in enumerate(zip(self.param_groups, saved_groups)):
            where = f"parameter group {n} of the loaded state dict"
            if not isinstance(saved, dict) or not isinstance(saved.get("params"), (list, tuple)):
                raise TypeError(f'{where} must be a dict with a "params" list of parameter indices')
            ids = [_saved_index(i, where) for i in saved["params"]]
            if len(ids) != len(mine["params"]):
                raise ValueError(f"{where} has {len(ids)} parameters, the optimizer's has {len(mine['params'])}")
            if by_index.keys() & ids or len(set(ids)) != len(ids):
                raise ValueError(f"{where} lists a parameter index more than once")
            by_index.update(zip(ids, mine["params"]))
            group = {key: v for key, v in saved.items() if key != "params"}
            unknown = sorted(set(group) - set(self.defaults) - set(_GROUP_EXTRA_KEYS), key=repr)
            if unknown:
                raise ValueError(f"{where} does not fit {type(self).__name__}: unknown {unknown}")
            self._check_group(group, where)
            group["params"] = mine["params"]
            groups.append(group)
        state = {}
        for i, record in saved_state.items():
            p = by_index.get(_saved_index(i, 'loaded state dict: "state"'))
            if p is None:
                raise ValueError(f"loaded state dict has state for parameter {i}, which no group lists")
            if not isinstance(record, dict):
                raise TypeError(f"loaded state of parameter {i} must be a dict, got {type(record).__name__}")
            state[p] = {key: _loaded_value(f"loaded state of parameter {i}", key, v, p) for key, v in record.items()}
        self.param_groups = groups
        self.state = state
        self._tensor_cache = {}
        self._checked_values = {}

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
