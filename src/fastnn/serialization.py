"""Saving models and training checkpoints as safetensors files; never pickle.

Design. Both kinds of file are plain safetensors (fastnn._safetensors: written
atomically, read with every layout check), readable by the ``safetensors`` package.

- ``save(model, path)``: the model's state_dict under its own names ("0.weight",
  "1.running_mean", ...) and, in ``__metadata__``, ``format`` = "fastnn.model",
  ``fastnn_version`` and ``config`` (the JSON of ``model.get_config()``). ``load(path)``
  rebuilds the model with ``fastnn.nn.from_config`` and loads the state strictly: names,
  shapes and dtypes must match exactly.
- ``save_checkpoint(path, trainer)``: tensors "model/<name>" and "optimizer/<path>"
  (the optimizer's state_dict with its arrays pulled out and its tree, scalars included,
  kept as JSON under ``optimizer``); metadata also holds ``random`` (every stochastic
  layer's seed and step counter: Dropout, DropConnect, RReLU), ``trainer`` (epochs done,
  seed, history) and ``callbacks`` (each callback's state_dict, matched back by position
  and class). Since shuffling depends only on (seed, epoch) and masks on (seed, step),
  ``load_checkpoint`` into freshly built objects followed by ``fit`` continues exactly as
  the uninterrupted run would have, bit for bit.

A damaged file raises ``SafetensorsError`` (a ValueError) naming the file and the
problem; a well-formed file that does not fit the model raises ``CheckpointError`` (also
a ValueError) naming the file and the metadata entry. Loading trusts nothing in the file:
the model is built only after its config is known to need no more state than the file
stores (a small file cannot make it allocate gigabytes), and a checkpoint is decoded and
checked whole before any live object changes; what can still fail then (the model's,
the optimizer's and the callbacks' own load_state_dict) is rolled back together.
"""
from __future__ import annotations

import contextlib
import inspect
import json
import math
import os
import reprlib
from dataclasses import dataclass, field

import numpy as np

from ._safetensors import MAX_INT_DIGITS, MAX_STATE_DEPTH, SafetensorsError, _is_int, load_file, loads_json, save_file
from ._validate import as_int

__all__ = ["save", "load", "save_checkpoint", "load_checkpoint", "Checkpoint", "CheckpointError"]

MODEL_FORMAT = "fastnn.model"
CHECKPOINT_FORMAT = "fastnn.checkpoint"


class CheckpointError(ValueError):
    """A well-formed file that is not the expected kind, or does not fit the target objects."""


def _version():
    from . import __version__
    return __version__


# ------------------------------------------------------------------------------ models

def save(model, path):
    """Write ``model``'s parameters, buffers and config to ``path`` (safetensors, atomic)."""
    from .nn import Module
    if not isinstance(model, Module):
        raise TypeError(f"model must be a fastnn.nn.Module, got {type(model).__name__}")
    meta = {"format": MODEL_FORMAT, "fastnn_version": _version(), "config": json.dumps(model.get_config())}
    save_file(dict(model.state_dict()), path, meta)


def load(path):
    """The model saved at ``path`` by ``save``, rebuilt from its config with the saved state."""
    tensors, meta = _read(path, MODEL_FORMAT)
    model = _build(meta, "config", path, tensors)
    _load_state(model, tensors, path)
    return model


def _error(path, message):
    return CheckpointError(f"{os.fspath(path)}: {message}")


def _read(path, fmt):
    """(tensors, metadata) of a fastnn file of format ``fmt``; errors name the file."""
    try:
        tensors, meta = load_file(path)
    except SafetensorsError as e:
        raise SafetensorsError(f"{os.fspath(path)}: not a valid safetensors file: {e}") from None
    found = meta.get("format")
    if found != fmt:
        hint = {MODEL_FORMAT: "fastnn.load", CHECKPOINT_FORMAT: "fastnn.load_checkpoint"}.get(found)
        raise _error(path, f"expected a {fmt!r} file, found format {found!r}"
                     + (f" (read it with {hint})" if hint else ""))
    return tensors, meta


def _json(meta, key, path):
    if key not in meta:
        raise _error(path, f"metadata entry {key!r} is missing")
    try:
        return loads_json(meta[key])
    except ValueError as e:
        raise _error(path, f"metadata entry {key!r} is not valid JSON: {e}") from None


def _decoded(meta, key, path, decode, optional=False):
    """decode(JSON of metadata entry ``key``), None when optional and absent; a ValueError or
    TypeError from ``decode`` becomes a CheckpointError naming the file and the entry."""
    if optional and key not in meta:
        return None
    tree = _json(meta, key, path)
    try:
        return decode(tree)
    except (TypeError, ValueError) as e:
        raise _error(path, f"metadata entry {key!r}: {e}") from None


def _count(v):
    """v when it is a positive int, else 0 (the constructor rejects it before allocating)."""
    return v if _is_int(v) and v > 0 else 0


# At least how many state elements each built-in layer owning arrays creates, from its bound
# constructor arguments. _build checks the sum against the file before building anything, so
# a small file cannot demand gigabytes; test_state_floor_holds_for_every_layer keeps it true.
_STATE_FLOOR = {
    "Linear": lambda a: _count(a["in_features"]) * _count(a["out_features"]),
    "Maxout": lambda a: _count(a["in_features"]) * _count(a["out_features"]) * _count(a["pieces"]),
    "PReLU": lambda a: _count(a["num_parameters"]),
    "BatchNorm1d": lambda a: _count(a["num_features"]) if a["affine"] or a["track_running_stats"] else 0,
    "LayerNorm": lambda a: _count(_only(a["normalized_shape"])) if a["elementwise_affine"] else 0,
}


def _only(v):
    """The element of a one-element list (LayerNorm's normalized_shape), else v."""
    return v[0] if isinstance(v, list) and len(v) == 1 else v


def _state_floor(config):
    """A lower bound on the state elements of the modules in a config (0 for classes not in _STATE_FLOOR)."""
    if isinstance(config, list):
        return sum(map(_state_floor, config))
    if not isinstance(config, dict):
        return 0
    return sum(map(_state_floor, config.values())) + _own_state_floor(config)


def _own_state_floor(config):
    """The floor of the module a {"class", "config"} dict describes, its children aside."""
    name = config.get("class") if set(config) == {"class", "config"} else None
    floor = _STATE_FLOOR.get(name) if isinstance(name, str) else None
    if floor is None or not isinstance(config["config"], dict):
        return 0
    from . import nn
    try:
        args = inspect.signature(getattr(nn, name)).bind(**config["config"])
    except TypeError:
        return 0                            # the constructor rejects these arguments too
    args.apply_defaults()
    return floor(args.arguments)


def _build(meta, key, path, tensors):
    """The model of metadata entry ``key``, once the file is known to hold enough state for it."""
    from .nn import from_config
    config = _json(meta, key, path)
    need, stored = _state_floor(config), sum(t.size for t in tensors.values())
    if need > stored:
        raise _error(path, f"the model in {key!r} has at least {need:,} parameter and buffer elements, "
                           f"the file stores {stored:,}")
    try:
        return from_config(config)
    except KeyError as e:
        reason = f"entry {e} is missing"
    except (TypeError, ValueError) as e:
        reason = str(e)
    except MemoryError:
        reason = "out of memory"
    raise _error(path, f"cannot rebuild the model from its config: {reason}")


def _load_state(model, tensors, path):
    try:
        model.load_state_dict(tensors, strict=True)
    except ValueError as e:
        raise _error(path, str(e)) from None


# ------------------------------------------------------------------------------ nested state ↔ tensors + JSON

def _flatten(obj, name, tensors, depth=0):
    """A JSON-able tree of ``obj`` with each ndarray moved into ``tensors[name/...]``."""
    if depth > MAX_STATE_DEPTH:
        raise ValueError(f"the state at {name!r} is nested deeper than {MAX_STATE_DEPTH} levels "
                         f"(does a container hold itself?)")
    depth += 1
    if isinstance(obj, np.ndarray):
        if name in tensors:
            raise ValueError(f"two state entries map to the tensor name {name!r}")
        tensors[name] = obj
        return {"__tensor__": name}
    if isinstance(obj, dict):
        return {"__dict__": [[_key(k, name), _flatten(v, f"{name}/{k}", tensors, depth)] for k, v in obj.items()]}
    if isinstance(obj, tuple):
        return {"__tuple__": [_flatten(v, f"{name}/{i}", tensors, depth) for i, v in enumerate(obj)]}
    if isinstance(obj, list):
        return [_flatten(v, f"{name}/{i}", tensors, depth) for i, v in enumerate(obj)]
    if isinstance(obj, np.generic):
        obj = obj.item()
    if isinstance(obj, float) and not math.isfinite(obj):
        return {"__float__": repr(obj)}                # JSON has no NaN / inf
    if _is_int(obj):
        _check_int(obj, f"the value at {name!r}")
    if obj is None or isinstance(obj, (bool, int, float, str)):
        return obj
    raise TypeError(f"cannot store a {type(obj).__name__} at {name!r} in a checkpoint")


def _key(k, name):
    if isinstance(k, np.generic):
        k = k.item()
    if not isinstance(k, (str, int)) or isinstance(k, bool):
        raise TypeError(f"checkpoint state keys must be str or int, got {k!r}")
    if isinstance(k, int):
        _check_int(k, f"a key of {name!r}")
    return k


_INT_BOUND = 10 ** MAX_INT_DIGITS                     # (formed once, not per stored int)


def _check_int(v, name):
    """Refuse an int the loader would refuse (more than MAX_INT_DIGITS digits), so no save is unreadable."""
    if abs(v) >= _INT_BOUND:
        raise ValueError(f"cannot store {name} in a checkpoint: a {v.bit_length()}-bit int, and at most "
                         f"{MAX_INT_DIGITS} digits can be read back")


_NON_FINITE = ("nan", "inf", "-inf")          # repr of the floats _flatten stores as {"__float__": ...}


def _unflatten(tree, tensors):
    """Inverse of _flatten; ValueError naming the entry that _flatten cannot have written."""
    if isinstance(tree, list):
        return [_unflatten(v, tensors) for v in tree]
    if not isinstance(tree, dict):
        return tree
    if len(tree) != 1:
        raise ValueError(f"unknown entry {reprlib.repr(tree)}")
    (tag, value), = tree.items()
    if tag == "__tensor__":
        if not isinstance(value, str) or value not in tensors:
            raise ValueError(f"the state refers to tensor {reprlib.repr(value)}, which is not in the file")
        return tensors[value]
    if tag == "__float__":
        if value not in _NON_FINITE:
            raise ValueError(f"__float__ must be one of {list(_NON_FINITE)}, got {reprlib.repr(value)}")
        return float(value)
    if tag == "__tuple__" and isinstance(value, list):
        return tuple(_unflatten(v, tensors) for v in value)
    if tag == "__dict__" and isinstance(value, list):
        if not all(isinstance(kv, list) and len(kv) == 2 and (_is_int(kv[0]) or isinstance(kv[0], str))
                   for kv in value):
            raise ValueError(f"__dict__ must hold [key, value] pairs with str or int keys, got {reprlib.repr(value)}")
        if len({k for k, _ in value}) != len(value):
            raise ValueError(f"__dict__ has a duplicate key: {reprlib.repr(value)}")
        return {k: _unflatten(v, tensors) for k, v in value}
    raise ValueError(f"unknown entry {reprlib.repr(tree)}")


# ------------------------------------------------------------------------------ checkpoints

@dataclass
class Checkpoint:
    """What a checkpoint holds: the model, the optimizer's state dict and the training counters."""

    model: object
    optimizer_class: str | None
    optimizer_state: dict | None
    epoch: int
    seed: int | None
    history: dict = field(default_factory=dict)
    metadata: dict = field(default_factory=dict)


def _parts(target):
    """(model, optimizer or None, trainer or None) from a Trainer, a Module or a dict of parts."""
    from .nn import Module
    from .trainer import Trainer
    if isinstance(target, Trainer):
        return target.model, target.optimizer, target
    if isinstance(target, Module):
        return target, None, None
    if isinstance(target, dict) and isinstance(target.get("model"), Module):
        unknown = set(target) - {"model", "optimizer"}
        if unknown:
            raise ValueError(f"checkpoint parts are 'model' and 'optimizer', got also {sorted(unknown, key=repr)}")
        from .optim import Optimizer
        optimizer = target.get("optimizer")
        if optimizer is not None and not isinstance(optimizer, Optimizer):
            raise TypeError(f"checkpoint part 'optimizer' must be a fastnn.optim.Optimizer or None, "
                            f"got {type(optimizer).__name__}")
        return target["model"], optimizer, None
    raise TypeError(f"expected a Trainer, a Module or a dict {{'model': ..., 'optimizer': ...}}, "
                    f"got {type(target).__name__}")


def _stochastic(model):
    return {name: m for name, m in model.named_modules() if hasattr(m, "_step") and hasattr(m, "seed")}


def save_checkpoint(path, target):
    """Write a checkpoint of a Trainer (or {'model', 'optimizer'} parts) to ``path`` atomically."""
    model, optimizer, trainer = _parts(target)
    tensors = {f"model/{k}": v for k, v in model.state_dict().items()}
    meta = {"format": CHECKPOINT_FORMAT, "fastnn_version": _version(),
            "model_config": json.dumps(model.get_config()),
            "random": json.dumps({n: [m.seed, m._step] for n, m in _stochastic(model).items()})}
    if optimizer is not None:
        meta["optimizer_class"] = type(optimizer).__name__
        meta["optimizer"] = json.dumps(_flatten(optimizer.state_dict(), "optimizer", tensors))
    if trainer is not None:
        history = trainer.history
        tree = _flatten({"epoch": trainer.epoch, "seed": trainer.seed, "history": history.history,
                         "history_epochs": history.epoch}, "trainer", tensors)
        try:
            _trainer_state(_unflatten(tree, tensors))       # what load_checkpoint would refuse is not written
        except (TypeError, ValueError) as e:
            raise ValueError(f"cannot save the trainer's state, load_checkpoint would refuse it: {e}") from None
        meta["trainer"] = json.dumps(tree)
        meta["callbacks"] = json.dumps([[type(cb).__name__, _flatten(cb.state_dict(), f"callbacks/{i}", tensors)]
                                        for i, cb in enumerate(trainer.callbacks)])
    save_file(tensors, path, meta)


def load_checkpoint(path, target=None):
    """Read a checkpoint; with a target (Trainer, Module or parts dict) restore it in place.

    Returns a ``Checkpoint``. Without a target its model is rebuilt from the saved config
    and its optimizer_state can be given to an optimizer's ``load_state_dict``. The whole
    file is decoded and checked first; if a part still does not fit, every part is put back
    as it was, so a failed load changes nothing.
    """
    tensors, meta = _read(path, CHECKPOINT_FORMAT)
    model_tensors = {k[6:]: v for k, v in tensors.items() if k.startswith("model/")}
    random = _decoded(meta, "random", path, _random_state)
    opt_state = _decoded(meta, "optimizer", path, lambda t: _unflatten(t, tensors), optional=True)
    state = _decoded(meta, "trainer", path, lambda t: _trainer_state(_unflatten(t, tensors)), optional=True)
    callbacks = _decoded(meta, "callbacks", path, lambda t: _callback_states(t, tensors), optional=state is None)
    if target is None:
        model, optimizer, trainer = _build(meta, "model_config", path, model_tensors), None, None
    else:
        model, optimizer, trainer = _parts(target)
    _check_parts(path, meta, model, optimizer, trainer, random, opt_state, state)
    with _all_or_nothing(model, optimizer, trainer):
        _load_state(model, model_tensors, path)
        if optimizer is not None:
            _restore_optimizer(optimizer, opt_state, path)
        if trainer is not None:
            _restore_callbacks(trainer.callbacks, callbacks, path)
    for name, m in _stochastic(model).items():          # from here on nothing can fail
        m.seed, m._step = random[name]
    if trainer is not None:
        _restore_trainer(trainer, state)
    state = state or {"epoch": 0, "seed": None, "history": {}}
    return Checkpoint(model=model, optimizer_class=meta.get("optimizer_class"), optimizer_state=opt_state,
                      epoch=state["epoch"], seed=state["seed"], history=state["history"], metadata=meta)


# Decoding: each takes the JSON tree of one metadata entry and raises ValueError or TypeError
# naming what is wrong in it; _decoded adds the file and the entry.

def _random_state(tree):
    """{layer name: (seed, step)} of the stochastic layers."""
    if not isinstance(tree, dict):
        raise TypeError(f"must map layer names to [seed, step], got {reprlib.repr(tree)}")
    for name, pair in tree.items():
        if not isinstance(pair, list) or len(pair) != 2:
            raise ValueError(f"layer {name!r} must have [seed, step], got {reprlib.repr(pair)}")
        for what, v in zip(("seed", "step"), pair):
            as_int(v, f"layer {name!r}: {what}", low=0)
    return {name: tuple(pair) for name, pair in tree.items()}


_TRAINER_KEYS = ("epoch", "seed", "history", "history_epochs")
_MAX_EPOCH = 2 ** 63 - 1


def _trainer_state(state):
    """{"epoch", "seed", "history": {key: [float]}, "history_epochs": [int]}, consistent with each other."""
    if not isinstance(state, dict) or set(state) != set(_TRAINER_KEYS):
        raise ValueError(f"must be an object with the keys {list(_TRAINER_KEYS)}, got {reprlib.repr(state)}")
    as_int(state["epoch"], "epoch", low=0, high=_MAX_EPOCH)
    if state["seed"] is not None:
        as_int(state["seed"], "seed", low=0)
    epochs, history = state["history_epochs"], state["history"]
    if not isinstance(epochs, list):
        raise TypeError(f"history_epochs must be a list of epoch numbers, got {reprlib.repr(epochs)}")
    for e in epochs:
        as_int(e, "history_epochs entry", low=0, high=_MAX_EPOCH)
    if not isinstance(history, dict):
        raise TypeError(f"history must map log keys to lists of numbers, got {reprlib.repr(history)}")
    for key, values in history.items():
        if (not isinstance(key, str) or not isinstance(values, list) or len(values) != len(epochs)
                or not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in values)):
            raise ValueError(f"history[{key!r}] must be a list of {len(epochs)} numbers (one per epoch), "
                             f"got {reprlib.repr(values)}")
        try:
            history[key] = [float(v) for v in values]       # here, so that restoring cannot fail
        except OverflowError:
            raise ValueError(f"history[{key!r}] holds an int too large for a float: {reprlib.repr(values)}") from None
    return state


def _callback_states(tree, tensors):
    """[(callback class name, state)] in the trainer's callback order."""
    if not isinstance(tree, list) or not all(isinstance(e, list) and len(e) == 2 and isinstance(e[0], str)
                                             for e in tree):
        raise ValueError(f"must be a list of [class name, state] pairs, got {reprlib.repr(tree)}")
    return [(cls, _unflatten(cb_state, tensors)) for cls, cb_state in tree]


# Restoring: checks that need only the file and the live objects come first, then the steps
# that can still fail run under _all_or_nothing.

def _check_parts(path, meta, model, optimizer, trainer, random, opt_state, state):
    live = sorted(_stochastic(model))
    if live != sorted(random):
        raise _error(path, f"the checkpoint has random layers {sorted(random)}, the model {live}")
    if optimizer is not None:
        if opt_state is None:
            raise _error(path, "the checkpoint holds no optimizer state")
        if meta.get("optimizer_class") != type(optimizer).__name__:
            raise _error(path, f"the checkpoint holds {meta.get('optimizer_class')} state, the optimizer is a "
                               f"{type(optimizer).__name__}")
    if trainer is not None and state is None:
        raise _error(path, "the checkpoint holds no trainer state (saved from parts?)")


@contextlib.contextmanager
def _all_or_nothing(model, optimizer, trainer):
    """Put the model's weights, the optimizer's state and the callbacks' states back if the block raises."""
    weights = model.state_dict()
    opt_state = optimizer.state_dict() if optimizer is not None else None
    callbacks = [(cb, cb.state_dict()) for cb in trainer.callbacks] if trainer is not None else []
    try:
        yield
    except BaseException:
        model.load_state_dict(weights)
        if optimizer is not None:
            optimizer.load_state_dict(opt_state)
        for cb, cb_state in callbacks:
            cb.load_state_dict(cb_state)
        raise


_MISFIT = (KeyError, TypeError, ValueError, OverflowError)     # what load_state_dict methods raise on bad state


def _restore_optimizer(optimizer, state, path):
    try:
        optimizer.load_state_dict(state)
    except _MISFIT as e:
        raise _error(path, f"optimizer state does not fit: {e}") from None


def _restore_callbacks(callbacks, saved, path):
    """Each callback whose class matches the one saved at its position gets that state."""
    for i, ((cls, cb_state), cb) in enumerate(zip(saved, callbacks)):
        if cls == type(cb).__name__:
            try:
                cb.load_state_dict(cb_state)
            except _MISFIT as e:
                raise _error(path, f"state of callback {i} ({cls}) does not fit: {e}") from None


def _restore_trainer(trainer, state):
    from .trainer import History
    trainer.epoch, trainer.seed = state["epoch"], state["seed"]
    trainer.history = History()
    trainer.history.history = {k: list(values) for k, values in state["history"].items()}
    trainer.history.epoch = list(state["history_epochs"])
