"""Trainer callbacks: early stopping, checkpoints, learning-rate and dropout schedules, gradient statistics.

Design. A callback gets ``set_trainer(trainer)`` at the start of each ``fit`` and hooks
with Keras' names: on_train_begin/end(logs), on_epoch_begin(epoch, logs),
on_epoch_end(epoch, logs) (logs holds the epoch's loss, metrics, val_* and lr; keys a
callback adds there are recorded in the History), on_batch_end(step, logs) (running
loss and metrics, called after the optimizer step). Epochs count from 0. A callback
stops training by setting ``trainer.stop_training``. The hooks of the callbacks here
raise RuntimeError when called before ``set_trainer``. ``state_dict`` / ``load_state_dict``
(JSON-able values and arrays) let checkpoints carry a callback's progress, e.g. a
schedule's epoch counter or early stopping's patience, so a resumed run matches an
uninterrupted one. ``load_state_dict`` takes only what ``state_dict`` gives (the same
keys, values of the same kinds, nested at most MAX_STATE_DEPTH levels, so never a
container holding itself) and checks it whole before anything changes.
"""
from __future__ import annotations

import math
import os
import reprlib
import string
import warnings

import numpy as np

from ._safetensors import MAX_STATE_DEPTH
from ._validate import as_bool, as_float, as_int
from .regularization import _p_norm

__all__ = ["Callback", "EarlyStopping", "ModelCheckpoint", "LearningRateScheduler", "DropoutSchedule",
           "GradientStats"]


def _check_depth(state, who):
    """Refuse ``state`` nested deeper than MAX_STATE_DEPTH, as a container holding itself is.
    Walked level by level (no recursion), each container once per level."""
    level = [state]
    for _ in range(MAX_STATE_DEPTH + 1):
        level = list({id(c): c for c in level if isinstance(c, (dict, list, tuple))}.values())
        if not level:
            return
        level = [v for c in level for v in (c.values() if isinstance(c, dict) else c)]
    raise ValueError(f"{who} state is nested deeper than {MAX_STATE_DEPTH} levels (does a container hold itself?)")


def _checked(cb, state, checks):
    """{key: check(state[key], name)} for a state dict whose keys are exactly those of ``checks``;
    TypeError / ValueError naming the callback and the key. Assigns nothing, so a callback
    that assigns after this returns loads all or nothing."""
    who = type(cb).__name__
    if not isinstance(state, dict):
        raise TypeError(f"{who}.load_state_dict takes a dict (from state_dict()), got {type(state).__name__}")
    _check_depth(state, who)
    if set(state) != set(checks):
        raise ValueError(f"{who} state dict: unknown keys {sorted(set(state) - set(checks), key=repr)}, "
                         f"missing keys {sorted(set(checks) - set(state))}")
    return {key: check(state[key], f"{who} state {key!r}") for key, check in checks.items()}


def _load_into(cb, owner, state):
    """A callback whose state is that of ``owner`` (a schedule with its own load_state_dict, which
    checks the content): ``state`` goes there, once its depth is checked; with no owner it is {}."""
    if owner is None:
        _checked(cb, state, {})
        return
    if isinstance(state, dict):
        _check_depth(state, type(owner).__name__)
    owner.load_state_dict(state)


class Callback:
    """Base class: every hook does nothing, and there is no state."""

    trainer = None

    def set_trainer(self, trainer):
        self.trainer = trainer

    def _attached(self):
        """The trainer; hooks that use it cannot run before ``set_trainer``."""
        if self.trainer is None:
            raise RuntimeError(f"{type(self).__name__} is not attached to a trainer: Trainer.fit calls "
                               f"set_trainer(trainer) before the first hook; call it yourself to run hooks by hand")
        return self.trainer

    def on_train_begin(self, logs):
        pass

    def on_train_end(self, logs):
        pass

    def on_epoch_begin(self, epoch, logs):
        pass

    def on_epoch_end(self, epoch, logs):
        pass

    def on_batch_end(self, step, logs):
        pass

    def state_dict(self):
        return {}

    def load_state_dict(self, state):
        if type(self).state_dict is not Callback.state_dict and isinstance(state, dict):
            # A subclass that saves state but cannot load it: refusing would also break the
            # rollback of a failed load_checkpoint, which reloads every callback's state.
            _check_depth(state, type(self).__name__)
            warnings.warn(f"{type(self).__name__} overrides state_dict but not load_state_dict: its state is "
                          f"not restored", RuntimeWarning, stacklevel=2)
            return
        _checked(self, state, {})


def _monitor_mode(monitor, mode):
    """"min" or "max"; "auto" is "max" for accuracy-like names, else "min" (Keras)."""
    if not isinstance(mode, str) or mode not in ("auto", "min", "max"):
        raise ValueError(f"mode must be 'auto', 'min' or 'max', got {reprlib.repr(mode)}")
    if mode == "auto":
        return "max" if "acc" in monitor or "auc" in monitor else "min"
    return mode


def _check_monitor(monitor):
    if not isinstance(monitor, str):
        raise TypeError(f"monitor must be a log key such as 'val_loss', got {type(monitor).__name__}")
    return monitor


class _Monitor:
    """Tracks the best value of ``logs[monitor]``: improvement means beyond best by min_delta."""

    def __init__(self, monitor, mode, min_delta=0.0):
        self.monitor = _check_monitor(monitor)
        self.mode = _monitor_mode(monitor, mode)
        self.min_delta = abs(as_float(min_delta, "min_delta"))
        self.best = self.worst

    @property
    def worst(self):
        return math.inf if self.mode == "min" else -math.inf

    def improved(self, value):
        if self.mode == "min":
            return value + self.min_delta < self.best
        return value - self.min_delta > self.best

    def value(self, logs, who):
        if self.monitor not in logs:
            warnings.warn(f"{who}: metric {self.monitor!r} is not in the logs (available: {sorted(logs)}); "
                          f"skipping", RuntimeWarning, stacklevel=3)
            return None
        return as_float(logs[self.monitor], f"{who}: logs[{self.monitor!r}]", finite=False)


def _epoch(epoch):
    """A hook's epoch number: an int >= 0 (epochs count from 0)."""
    return as_int(epoch, "epoch", low=0)


def _logs(logs):
    """A hook's logs: a dict, or {} for None (Keras passes logs=None to hooks called by hand)."""
    if logs is None:
        return {}
    if not isinstance(logs, dict):
        raise TypeError(f"logs must be a dict of log values (or None), got {type(logs).__name__}")
    return logs


def _not_a_class(obj, name, expected):
    """Refuse a class where an instance or a function is expected (StepLR instead of StepLR(opt, 2))."""
    if isinstance(obj, type):
        raise TypeError(f"{name} must be {expected}, got the class {obj.__name__}; pass an instance")


def _count(low):
    return lambda v, name: as_int(v, name, low=low)


def _real(v, name):
    """A best value: a float or ±inf (what a monitor can hold), never NaN, with which nothing improves."""
    v = as_float(v, name, finite=False)
    if math.isnan(v):
        raise ValueError(f"{name} must be a number or ±inf, got nan")
    return v


def _weights(v, name):
    """A copy of a model state dict (name → ndarray), or None."""
    if v is None:
        return None
    if not isinstance(v, dict) or not all(isinstance(k, str) and isinstance(a, np.ndarray) for k, a in v.items()):
        raise TypeError(f"{name} must be None or a model state dict (str → numpy.ndarray), got {reprlib.repr(v)}")
    return {k: a.copy() for k, a in v.items()}


class EarlyStopping(Callback):
    """Stop once ``monitor`` has not improved by more than ``min_delta`` for ``patience`` epochs.

    Keras semantics: the wait counter resets on improvement; with restore_best_weights the
    model (parameters and buffers) is set back to its best epoch at the end of training.
    ``stopped_epoch`` and ``best_epoch`` are 0-based epoch numbers. A ``fit`` that starts
    where the last epoch this callback saw left off (the next ``fit`` on the same trainer, or
    one after load_checkpoint) continues the count, so a resumed run stops where the
    uninterrupted one does, and fit(2) + fit(2) where fit(4) does (unless
    restore_best_weights, which rewinds the model at the end of each fit); after a stop,
    or on another trainer, it starts afresh (Keras does at every fit). For a checkpoint
    written by ModelCheckpoint to resume exactly, list ModelCheckpoint after EarlyStopping,
    so that the file holds this epoch's state.
    """

    def __init__(self, monitor="val_loss", min_delta=0.0, patience=0, mode="auto", restore_best_weights=False,
                 start_from_epoch=0, verbose=0):
        self._monitor = _Monitor(monitor, mode, min_delta)
        self.monitor, self.mode, self.min_delta = monitor, self._monitor.mode, self._monitor.min_delta
        self.patience = as_int(patience, "patience", low=0)
        self.restore_best_weights = as_bool(restore_best_weights, "restore_best_weights")
        self.start_from_epoch = as_int(start_from_epoch, "start_from_epoch", low=0)
        self.verbose = as_int(verbose, "verbose", low=0)
        self._reset()

    def _reset(self):
        self._monitor.best = self._monitor.worst
        self.wait, self.stopped_epoch, self.best_epoch = 0, 0, 0
        self.last_epoch = -1                                # the last epoch seen (-1: none)
        self.best_weights = None

    def on_train_begin(self, logs):
        trainer = self._attached()
        # Continue only the run this state belongs to: not after a stop, nor on a trainer
        # elsewhere (or without an epoch count).
        if self.stopped_epoch or self.last_epoch + 1 != getattr(trainer, "epoch", None):
            self._reset()
        elif self.best_weights is not None:
            self._check_weights(trainer.model)

    def _check_weights(self, model):
        """Loaded best weights must fit the model now, not only at the end of training."""
        own = model.state_dict()
        bad = [k for k in own.keys() | self.best_weights.keys() if k not in own or k not in self.best_weights
               or own[k].shape != self.best_weights[k].shape or own[k].dtype != self.best_weights[k].dtype]
        if bad:
            raise ValueError(f"EarlyStopping: the best weights in its state do not fit the model: "
                             f"{sorted(bad)} differ in presence, shape or dtype")

    @property
    def best(self):
        return self._monitor.best

    def on_epoch_end(self, epoch, logs):
        trainer = self._attached()
        epoch, logs = _epoch(epoch), _logs(logs)
        self.last_epoch = epoch
        value = self._monitor.value(logs, "EarlyStopping")
        if value is None or epoch < self.start_from_epoch:
            return
        if self.restore_best_weights and self.best_weights is None:
            self.best_weights = trainer.model.state_dict()
        self.wait += 1
        if self._monitor.improved(value):
            self._monitor.best = value
            self.best_epoch = epoch
            if self.restore_best_weights:
                self.best_weights = trainer.model.state_dict()
            self.wait = 0
            return
        if self.wait >= self.patience and epoch > 0:
            self.stopped_epoch = epoch
            trainer.stop_training = True

    def on_train_end(self, logs):
        trainer = self._attached()
        if self.stopped_epoch and self.verbose:
            print(f"Early stopping at epoch {self.stopped_epoch + 1}; best {self.monitor} "
                  f"{self.best:.4f} at epoch {self.best_epoch + 1}")
        if self.restore_best_weights and self.best_weights is not None:
            trainer.model.load_state_dict(self.best_weights)

    def state_dict(self):
        return {"wait": self.wait, "best": self.best, "best_epoch": self.best_epoch,
                "stopped_epoch": self.stopped_epoch, "last_epoch": self.last_epoch,
                "best_weights": None if self.best_weights is None else dict(self.best_weights)}

    def load_state_dict(self, state):
        state = _checked(self, state, {"wait": _count(0), "best": _real, "best_epoch": _count(0),
                                       "stopped_epoch": _count(0), "last_epoch": _count(-1),
                                       "best_weights": _weights})
        self._monitor.best = state.pop("best")
        if not self.restore_best_weights:
            state["best_weights"] = None                    # saved with restore_best_weights=True
        self.__dict__.update(state)


_MAX_FIELD = 255                                    # NAME_MAX: the longest file name on common filesystems


def _path_template(path):
    """``path`` as a str whose format fields are checked: (template, log keys it names besides epoch)."""
    if not isinstance(path, (str, os.PathLike)):
        raise TypeError(f"path must be a str or os.PathLike, got {type(path).__name__}")
    path = os.fsdecode(os.fspath(path))
    if not path:
        raise ValueError("path must not be empty")
    if "\0" in path:
        raise ValueError(f"path {path!r} contains a NUL character")
    try:
        fields = [(name, spec, conv) for _, name, spec, conv in string.Formatter().parse(path) if name is not None]
    except ValueError as e:
        raise ValueError(f"path {path!r} is not a valid format template: {e}") from None
    for name, spec, conv in fields:
        if not name or name.isdigit() or "." in name or "[" in name:
            raise ValueError(f"path {path!r}: field {{{name}}} must be a plain name, {{epoch}} or a log key "
                             f"such as {{val_loss}} (no positions, attributes or indices)")
        if "{" in spec:
            raise ValueError(f"path {path!r}: field {{{name}}} has a nested field in its format spec {spec!r}")
        sample = 1 if name == "epoch" else 1.0             # epochs are ints, log values floats
        try:
            width = len(format(string.Formatter().convert_field(sample, conv), spec))
        except (ValueError, MemoryError) as e:          # MemoryError: a width such as {epoch:99999999999}
            raise ValueError(f"path {path!r}: field {{{name}}} has a bad format: {str(e) or 'too wide'}") from None
        if width > _MAX_FIELD:
            raise ValueError(f"path {path!r}: field {{{name}}} formats to {width} characters, more than a file "
                             f"name can hold ({_MAX_FIELD})")
    directory = os.path.dirname(path)
    if "{" not in directory and not os.path.isdir(directory or "."):
        raise ValueError(f"path {path!r}: directory {directory!r} does not exist")
    if not fields and os.path.isdir(path):
        raise ValueError(f"path {path!r} is a directory; give a file name")
    return path, sorted({name for name, _, _ in fields} - {"epoch"})


class ModelCheckpoint(Callback):
    """Save a trainer checkpoint (fastnn.save_checkpoint) after each epoch, or only on improvement.

    ``path`` may hold ``{epoch}`` (1-based) and log keys, e.g. "ckpt-{epoch:03d}-{val_loss:.3f}.safetensors".
    The template and its directory are checked here; a log key the epoch did not log is a
    ValueError when the file would be written.
    """

    def __init__(self, path, monitor="val_loss", save_best_only=False, mode="auto"):
        self.path, self._keys = _path_template(path)
        self._monitor = _Monitor(monitor, mode)
        self.monitor = monitor
        self.save_best_only = as_bool(save_best_only, "save_best_only")

    def _filename(self, epoch, logs):
        values = {**logs, "epoch": epoch + 1}
        missing = [k for k in self._keys if k not in values]
        if missing:
            raise ValueError(f"ModelCheckpoint path {self.path!r} names {missing}, which epoch {epoch + 1} did not "
                             f"log (available: {sorted(values)})")
        try:
            filename = self.path.format_map(values)
        except (TypeError, ValueError) as e:
            raise ValueError(f"ModelCheckpoint path {self.path!r} cannot hold the logs of epoch {epoch + 1}: "
                             f"{e}") from None
        directory = os.path.dirname(filename) or "."
        if os.path.isdir(filename):
            raise IsADirectoryError(f"ModelCheckpoint cannot write {filename!r}: it is a directory")
        if not os.path.isdir(directory):
            raise FileNotFoundError(f"ModelCheckpoint cannot write {filename!r}: directory {directory!r} does "
                                    f"not exist")
        return filename

    def on_epoch_end(self, epoch, logs):
        trainer = self._attached()
        epoch, logs = _epoch(epoch), _logs(logs)
        value = None
        if self.save_best_only:
            value = self._monitor.value(logs, "ModelCheckpoint")
            if value is None or not self._monitor.improved(value):
                return
        from .serialization import save_checkpoint
        save_checkpoint(self._filename(epoch, logs), trainer)
        if value is not None:
            self._monitor.best = value

    def state_dict(self):
        return {"best": self._monitor.best}

    def load_state_dict(self, state):
        self._monitor.best = _checked(self, state, {"best": _real})["best"]


def _plateau_class():
    from .optim.lr_scheduler import ReduceLROnPlateau
    return ReduceLROnPlateau


class LearningRateScheduler(Callback):
    """Step a ``fastnn.optim.lr_scheduler`` scheduler once per epoch, at the epoch's end.

    ReduceLROnPlateau is given ``logs[monitor]``. A plain function ``schedule(epoch, lr) →
    lr`` (Keras style) is also accepted: it sets every parameter group's lr at each epoch's
    start.
    """

    def __init__(self, scheduler, monitor="val_loss"):
        from .optim import Optimizer
        _not_a_class(scheduler, "scheduler", "an lr_scheduler or a function (epoch, lr) -> lr")
        if isinstance(scheduler, Optimizer) or not (hasattr(scheduler, "step") or callable(scheduler)):
            raise TypeError(f"scheduler must be an lr_scheduler (with step()) or a function (epoch, lr) -> lr, "
                            f"got {type(scheduler).__name__}")
        self.scheduler = scheduler
        self.monitor = _check_monitor(monitor)

    def on_train_begin(self, logs):
        trainer = self._attached()
        opt = getattr(self.scheduler, "optimizer", None)
        if opt is not None and opt is not getattr(trainer, "optimizer", opt):
            raise ValueError(f"LearningRateScheduler: the {type(self.scheduler).__name__} schedules another "
                             f"optimizer than the trainer's; build it on trainer.optimizer")

    def on_epoch_begin(self, epoch, logs):
        opt = self._attached().optimizer
        epoch = _epoch(epoch)
        if not hasattr(self.scheduler, "step"):
            lr = as_float(self.scheduler(epoch, opt.param_groups[0]["lr"]), "scheduled lr", low=0.0)
            for group in opt.param_groups:
                group["lr"] = lr

    def on_epoch_end(self, epoch, logs):
        self._attached()
        logs = _logs(logs)
        if not hasattr(self.scheduler, "step"):
            return
        if isinstance(self.scheduler, _plateau_class()):
            if self.monitor not in logs:
                raise ValueError(f"LearningRateScheduler: ReduceLROnPlateau monitors {self.monitor!r}, which is "
                                 f"not in the logs (available: {sorted(logs)}); pass validation data or "
                                 f"monitor='loss'")
            self.scheduler.step(as_float(logs[self.monitor], f"logs[{self.monitor!r}]", finite=False))
        else:
            self.scheduler.step()

    def state_dict(self):
        return self.scheduler.state_dict() if hasattr(self.scheduler, "state_dict") else {}

    def load_state_dict(self, state):
        _load_into(self, self.scheduler if hasattr(self.scheduler, "load_state_dict") else None, state)


class DropoutSchedule(Callback):
    """Annealed dropout: the drop probability p of every Dropout and DropConnect follows a schedule.

    ``schedule`` is a function epoch → p (e.g. ``optim.lr_scheduler.LinearSchedule(0.5, 0.0,
    20)``), applied at each epoch's start with the trainer's epoch number (so a resumed
    run gets the same rates), or an ``optim.lr_scheduler.DropoutScheduler``, stepped at
    each epoch's end. The rate used in the epoch is logged as "dropout".
    """

    def __init__(self, schedule):
        from .optim.lr_scheduler import AttributeScheduler
        _not_a_class(schedule, "schedule", "a function epoch -> p or a DropoutScheduler")
        self._stepped = isinstance(schedule, AttributeScheduler)
        if not (self._stepped or callable(schedule)):
            raise TypeError(f"schedule must be a function epoch -> p or a DropoutScheduler, "
                            f"got {type(schedule).__name__}")
        self.schedule = schedule
        self.p = None                                       # the rate of the epoch under way

    def on_epoch_begin(self, epoch, logs):
        from .nn import DropConnect, Dropout
        model = self._attached().model
        epoch = _epoch(epoch)
        if self._stepped:
            self.p = self.schedule.get_last_value()
            return
        p = as_float(self.schedule(epoch), f"scheduled dropout rate at epoch {epoch}", low=0.0, high=1.0)
        for m in model.modules():
            if isinstance(m, (Dropout, DropConnect)):
                m.p = p
        self.p = p

    def on_epoch_end(self, epoch, logs):
        self._attached()
        logs = _logs(logs)
        if self.p is None:
            raise RuntimeError("DropoutSchedule.on_epoch_end was called before any on_epoch_begin "
                               "(Trainer.fit calls both)")
        logs["dropout"] = self.p
        if self._stepped:
            self.schedule.step()

    def state_dict(self):
        return self.schedule.state_dict() if self._stepped else {}

    def load_state_dict(self, state):
        _load_into(self, self.schedule if self._stepped else None, state)


def _ratio(delta, w_norm):
    """‖Δw‖/‖w‖: 0 for no update (even of zero weights), inf for an update of zero weights."""
    if delta == 0.0:
        return 0.0
    return delta / w_norm if w_norm > 0 else math.inf     # Python floats: overflow gives inf


class GradientStats(Callback):
    """Per weight matrix, the gradient norm ‖g‖ and update ratio ‖Δw‖/‖w‖ of each epoch's first step.

    Logged as "grad_norm/<name>" and "update_ratio/<name>" (recorded in the History). A
    healthy ratio is around 1e-3 (much lower: learning rate too small; much higher: too
    large). ``last`` holds the latest values as {name: (grad_norm, weight_norm, ratio)}. A
    gradient of None (not computed) counts as zero; no update gives ratio 0, an update of
    all-zero weights inf.
    """

    def __init__(self):
        self.last = {}
        self._weights, self._pending = [], False

    def on_epoch_begin(self, epoch, logs):
        model = self._attached().model
        self._weights = [(n, p, p.data.copy()) for n, p in model.named_parameters() if p.data.ndim >= 2]
        self._pending = True

    def on_batch_end(self, step, logs):
        self._attached()
        if not self._pending:
            return
        self._pending = False
        self.last = {}
        for name, p, before in self._weights:
            # ‖·‖₂ in units of max|·| (np.linalg.norm squares first: inf past ~1e154, 0 below ~1e-162)
            w_norm = _p_norm([before], 2.0)
            delta = _p_norm([np.subtract(p.data, before, dtype=np.float64)], 2.0)
            g_norm = 0.0 if p.grad is None else _p_norm([p.grad], 2.0)
            self.last[name] = (g_norm, w_norm, _ratio(delta, w_norm))
        self._weights = []

    def on_epoch_end(self, epoch, logs):
        self._attached()
        logs = _logs(logs)
        for name, (g, _, ratio) in self.last.items():
            logs[f"grad_norm/{name}"] = g
            logs[f"update_ratio/{name}"] = ratio
