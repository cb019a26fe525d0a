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
a ValueError).
"""
from __future__ import annotations

import json
import math
import os
from dataclasses import dataclass, field

import numpy as np

from ._safetensors import SafetensorsError, load_file, save_file

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
    model = _build(meta, "config", path)
    _load_state(model, tensors, path)
    return model


def _read(path, fmt):
    """(tensors, metadata) of a fastnn file of format ``fmt``; errors name the file."""
    try:
        tensors, meta = load_file(path)
    except SafetensorsError as e:
        raise SafetensorsError(f"{os.fspath(path)}: not a valid safetensors file: {e}") from None
    found = meta.get("format")
    if found != fmt:
        hint = {MODEL_FORMAT: "fastnn.load", CHECKPOINT_FORMAT: "fastnn.load_checkpoint"}.get(found)
        raise CheckpointError(f"{os.fspath(path)}: expected a {fmt!r} file, found format {found!r}"
                              + (f" (read it with {hint})" if hint else ""))
    return tensors, meta


def _json(meta, key, path):
    try:
        return json.loads(meta[key])
    except KeyError:
        raise CheckpointError(f"{os.fspath(path)}: metadata entry {key!r} is missing") from None
    except json.JSONDecodeError as e:
        raise CheckpointError(f"{os.fspath(path)}: metadata entry {key!r} is not valid JSON: {e}") from None


def _build(meta, key, path):
    from .nn import from_config
    try:
        return from_config(_json(meta, key, path))
    except (TypeError, ValueError) as e:
        raise CheckpointError(f"{os.fspath(path)}: cannot rebuild the model from its config: {e}") from None


def _load_state(model, tensors, path):
    try:
        model.load_state_dict(tensors, strict=True)
    except ValueError as e:
        raise CheckpointError(f"{os.fspath(path)}: {e}") from None


# ------------------------------------------------------------------------------ nested state ↔ tensors + JSON

def _flatten(obj, name, tensors):
    """A JSON-able tree of ``obj`` with each ndarray moved into ``tensors[name/...]``."""
    if isinstance(obj, np.ndarray):
        if name in tensors:
            raise ValueError(f"two state entries map to the tensor name {name!r}")
        tensors[name] = obj
        return {"__tensor__": name}
    if isinstance(obj, dict):
        return {"__dict__": [[_key(k), _flatten(v, f"{name}/{k}", tensors)] for k, v in obj.items()]}
    if isinstance(obj, tuple):
        return {"__tuple__": [_flatten(v, f"{name}/{i}", tensors) for i, v in enumerate(obj)]}
    if isinstance(obj, list):
        return [_flatten(v, f"{name}/{i}", tensors) for i, v in enumerate(obj)]
    if isinstance(obj, np.generic):
        obj = obj.item()
    if isinstance(obj, float) and not math.isfinite(obj):
        return {"__float__": repr(obj)}                # JSON has no NaN / inf
    if obj is None or isinstance(obj, (bool, int, float, str)):
        return obj
    raise TypeError(f"cannot store a {type(obj).__name__} at {name!r} in a checkpoint")


def _key(k):
    if isinstance(k, np.generic):
        k = k.item()
    if not isinstance(k, (str, int)) or isinstance(k, bool):
        raise TypeError(f"checkpoint state keys must be str or int, got {k!r}")
    return k


def _unflatten(tree, tensors):
    if isinstance(tree, list):
        return [_unflatten(v, tensors) for v in tree]
    if isinstance(tree, dict):
        if "__tensor__" in tree:
            try:
                return tensors[tree["__tensor__"]]
            except KeyError:
                raise CheckpointError(f"state refers to tensor {tree['__tensor__']!r}, "
                                      f"which is not in the file") from None
        if "__dict__" in tree:
            return {k: _unflatten(v, tensors) for k, v in tree["__dict__"]}
        if "__tuple__" in tree:
            return tuple(_unflatten(v, tensors) for v in tree["__tuple__"])
        if "__float__" in tree:
            return float(tree["__float__"])
        raise CheckpointError(f"unknown entry in checkpoint state: {sorted(tree)}")
    return tree


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
            raise ValueError(f"checkpoint parts are 'model' and 'optimizer', got also {sorted(unknown)}")
        return target["model"], target.get("optimizer"), None
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
        meta["trainer"] = json.dumps(_flatten({"epoch": trainer.epoch, "seed": trainer.seed,
                                               "history": history.history, "history_epochs": history.epoch},
                                              "trainer", tensors))
        meta["callbacks"] = json.dumps([[type(cb).__name__, _flatten(cb.state_dict(), f"callbacks/{i}", tensors)]
                                        for i, cb in enumerate(trainer.callbacks)])
    save_file(tensors, path, meta)


def load_checkpoint(path, target=None):
    """Read a checkpoint; with a target (Trainer, Module or parts dict) restore it in place.

    Returns a ``Checkpoint``. Without a target its model is rebuilt from the saved config
    and its optimizer_state can be given to an optimizer's ``load_state_dict``.
    """
    tensors, meta = _read(path, CHECKPOINT_FORMAT)
    model_tensors = {k[6:]: v for k, v in tensors.items() if k.startswith("model/")}
    if target is None:
        model, optimizer, trainer = _build(meta, "model_config", path), None, None
    else:
        model, optimizer, trainer = _parts(target)
    _load_state(model, model_tensors, path)
    _restore_random(model, _json(meta, "random", path), path)
    opt_state = _unflatten(_json(meta, "optimizer", path), tensors) if "optimizer" in meta else None
    if optimizer is not None:
        _restore_optimizer(optimizer, meta.get("optimizer_class"), opt_state, path)
    state = _unflatten(_json(meta, "trainer", path), tensors) if "trainer" in meta else {}
    if trainer is not None:
        if not state:
            raise CheckpointError(f"{os.fspath(path)}: the checkpoint holds no trainer state (saved from parts?)")
        _restore_trainer(trainer, state, _unflatten(_json(meta, "callbacks", path), tensors))
    return Checkpoint(model=model, optimizer_class=meta.get("optimizer_class"), optimizer_state=opt_state,
                      epoch=int(state.get("epoch", 0)), seed=state.get("seed"), history=state.get("history", {}),
                      metadata=meta)


def _restore_random(model, saved, path):
    live = _stochastic(model)
    if set(live) != set(saved):
        raise CheckpointError(f"{os.fspath(path)}: the checkpoint has random layers {sorted(saved)}, "
                              f"the model {sorted(live)}")
    for name, (seed, step) in saved.items():
        live[name].seed, live[name]._step = int(seed), int(step)


def _restore_optimizer(optimizer, cls, state, path):
    if state is None:
        raise CheckpointError(f"{os.fspath(path)}: the checkpoint holds no optimizer state")
    if cls != type(optimizer).__name__:
        raise CheckpointError(f"{os.fspath(path)}: the checkpoint holds {cls} state, the optimizer is a "
                              f"{type(optimizer).__name__}")
    try:
        optimizer.load_state_dict(state)
    except (KeyError, TypeError, ValueError) as e:
        raise CheckpointError(f"{os.fspath(path)}: optimizer state does not fit: {e}") from None


def _restore_trainer(trainer, state, callbacks):
    from .trainer import History
    trainer.epoch, trainer.seed = int(state["epoch"]), state["seed"]
    trainer.history = History()
    trainer.history.history = {k: list(v) for k, v in state["history"].items()}
    trainer.history.epoch = list(state["history_epochs"])
    for (cls, cb_state), cb in zip(callbacks, trainer.callbacks):
        if cls == type(cb).__name__:
            cb.load_state_dict(cb_state)
