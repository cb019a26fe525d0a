"""Trainer callbacks: early stopping, checkpoints, learning-rate and dropout schedules, gradient statistics.

Design. A callback gets ``set_trainer(trainer)`` at the start of each ``fit`` and hooks
with Keras' names: on_train_begin/end(logs), on_epoch_begin(epoch, logs),
on_epoch_end(epoch, logs) (logs holds the epoch's loss, metrics, val_* and lr; keys a
callback adds there are recorded in the History), on_batch_end(step, logs) (running
loss and metrics, called after the optimizer step). Epochs count from 0. A callback
stops training by setting ``trainer.stop_training``. ``state_dict`` /
``load_state_dict`` (JSON-able values) let checkpoints carry a callback's progress,
e.g. a schedule's epoch counter, so a resumed run matches an uninterrupted one.
"""
from __future__ import annotations

import math
import warnings

import numpy as np

from ._validate import as_float, as_int

__all__ = ["Callback", "EarlyStopping", "ModelCheckpoint", "LearningRateScheduler", "DropoutSchedule",
           "GradientStats"]


class Callback:
    """Base class: every hook does nothing."""

    trainer = None

    def set_trainer(self, trainer):
        self.trainer = trainer

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
        pass


def _monitor_mode(monitor, mode):
    """"min" or "max"; "auto" is "max" for accuracy-like names, else "min" (Keras)."""
    if mode not in ("auto", "min", "max"):
        raise ValueError(f"mode must be 'auto', 'min' or 'max', got {mode!r}")
    if mode == "auto":
        return "max" if "acc" in monitor or "auc" in monitor else "min"
    return mode


class _Monitor:
    """Tracks the best value of ``logs[monitor]``: improvement means beyond best by min_delta."""

    def __init__(self, monitor, mode, min_delta=0.0):
        if not isinstance(monitor, str):
            raise TypeError(f"monitor must be a log key such as 'val_loss', got {type(monitor).__name__}")
        self.monitor = monitor
        self.mode = _monitor_mode(monitor, mode)
        self.min_delta = abs(as_float(min_delta, "min_delta"))
        self.best = math.inf if self.mode == "min" else -math.inf

    def improved(self, value):
        if self.mode == "min":
            return value + self.min_delta < self.best
        return value - self.min_delta > self.best

    def value(self, logs, who):
        if self.monitor not in logs:
            warnings.warn(f"{who}: metric {self.monitor!r} is not in the logs (available: {sorted(logs)}); "
                          f"skipping", RuntimeWarning, stacklevel=3)
            return None
        return float(logs[self.monitor])


class EarlyStopping(Callback):
    """Stop once ``monitor`` has not improved by more than ``min_delta`` for ``patience`` epochs.

    Keras semantics: the wait counter resets on improvement; with restore_best_weights the
    model (parameters and buffers) is set back to its best epoch at the end of training.
    ``stopped_epoch`` and ``best_epoch`` are 0-based epoch numbers.
    """

    def __init__(self, monitor="val_loss", min_delta=0.0, patience=0, mode="auto", restore_best_weights=False,
                 start_from_epoch=0, verbose=0):
        self._monitor = _Monitor(monitor, mode, min_delta)
        self.monitor, self.mode, self.min_delta = monitor, self._monitor.mode, self._monitor.min_delta
        self.patience = as_int(patience, "patience", low=0)
        self.restore_best_weights = bool(restore_best_weights)
        self.start_from_epoch = as_int(start_from_epoch, "start_from_epoch", low=0)
        self.verbose = verbose

    def on_train_begin(self, logs):
        self._monitor.best = math.inf if self.mode == "min" else -math.inf
        self.wait, self.stopped_epoch, self.best_epoch = 0, 0, 0
        self.best_weights = None

    @property
    def best(self):
        return self._monitor.best

    def on_epoch_end(self, epoch, logs):
        value = self._monitor.value(logs, "EarlyStopping")
        if value is None or epoch < self.start_from_epoch:
            return
        if self.restore_best_weights and self.best_weights is None:
            self.best_weights = self.trainer.model.state_dict()
        self.wait += 1
        if self._monitor.improved(value):
            self._monitor.best = value
            self.best_epoch = epoch
            if self.restore_best_weights:
                self.best_weights = self.trainer.model.state_dict()
            self.wait = 0
            return
        if self.wait >= self.patience and epoch > 0:
            self.stopped_epoch = epoch
            self.trainer.stop_training = True

    def on_train_end(self, logs):
        if self.stopped_epoch and self.verbose:
            print(f"Early stopping at epoch {self.stopped_epoch + 1}; best {self.monitor} "
                  f"{self.best:.4f} at epoch {self.best_epoch + 1}")
        if self.restore_best_weights and self.best_weights is not None:
            self.trainer.model.load_state_dict(self.best_weights)


class ModelCheckpoint(Callback):
    """Save a trainer checkpoint (fastnn.save_checkpoint) after each epoch, or only on improvement.

    ``path`` may hold ``{epoch}`` (1-based) and log keys, e.g. "ckpt-{epoch:03d}-{val_loss:.3f}.safetensors".
    """

    def __init__(self, path, monitor="val_loss", save_best_only=False, mode="auto"):
        self.path = str(path)
        self._monitor = _Monitor(monitor, mode)
        self.monitor = monitor
        self.save_best_only = bool(save_best_only)

    def on_epoch_end(self, epoch, logs):
        if self.save_best_only:
            value = self._monitor.value(logs, "ModelCheckpoint")
            if value is None or not self._monitor.improved(value):
                return
            self._monitor.best = value
        from .serialization import save_checkpoint
        save_checkpoint(self.path.format(epoch=epoch + 1, **logs), self.trainer)

    def state_dict(self):
        return {"best": self._monitor.best}

    def load_state_dict(self, state):
        self._monitor.best = float(state["best"])


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
        if not (hasattr(scheduler, "step") or callable(scheduler)):
            raise TypeError(f"scheduler must be an lr_scheduler (with step()) or a function (epoch, lr) -> lr, "
                            f"got {type(scheduler).__name__}")
        self.scheduler = scheduler
        self.monitor = monitor

    def on_epoch_begin(self, epoch, logs):
        if not hasattr(self.scheduler, "step"):
            opt = self.trainer.optimizer
            lr = as_float(self.scheduler(epoch, opt.param_groups[0]["lr"]), "scheduled lr", low=0.0)
            for group in opt.param_groups:
                group["lr"] = lr

    def on_epoch_end(self, epoch, logs):
        if not hasattr(self.scheduler, "step"):
            return
        if isinstance(self.scheduler, _plateau_class()):
            if self.monitor not in logs:
                raise KeyError(f"LearningRateScheduler: ReduceLROnPlateau monitors {self.monitor!r}, which is not "
                               f"in the logs (available: {sorted(logs)}); pass validation data or monitor='loss'")
            self.scheduler.step(logs[self.monitor])
        else:
            self.scheduler.step()

    def state_dict(self):
        return self.scheduler.state_dict() if hasattr(self.scheduler, "state_dict") else {}

    def load_state_dict(self, state):
        if state and hasattr(self.scheduler, "load_state_dict"):
            self.scheduler.load_state_dict(state)


class DropoutSchedule(Callback):
    """Annealed dropout: the drop probability p of every Dropout and DropConnect follows a schedule.

    ``schedule`` is a function epoch → p (e.g. ``optim.lr_scheduler.LinearSchedule(0.5, 0.0,
    20)``), applied at each epoch's start with the trainer's epoch number (so a resumed
    run gets the same rates), or an ``optim.lr_scheduler.DropoutScheduler``, stepped at
    each epoch's end. The rate used in the epoch is logged as "dropout".
    """

    def __init__(self, schedule):
        from .optim.lr_scheduler import AttributeScheduler
        self._stepped = isinstance(schedule, AttributeScheduler)
        if not (self._stepped or callable(schedule)):
            raise TypeError(f"schedule must be a function epoch -> p or a DropoutScheduler, "
                            f"got {type(schedule).__name__}")
        self.schedule = schedule

    def on_epoch_begin(self, epoch, logs):
        from .nn import DropConnect, Dropout
        if self._stepped:
            self.p = self.schedule.get_last_value()
            return
        self.p = as_float(self.schedule(epoch), f"scheduled dropout rate at epoch {epoch}", low=0.0, high=1.0)
        for m in self.trainer.model.modules():
            if isinstance(m, (Dropout, DropConnect)):
                m.p = self.p

    def on_epoch_end(self, epoch, logs):
        logs["dropout"] = self.p
        if self._stepped:
            self.schedule.step()

    def state_dict(self):
        return self.schedule.state_dict() if self._stepped else {}

    def load_state_dict(self, state):
        if self._stepped and state:
            self.schedule.load_state_dict(state)


class GradientStats(Callback):
    """Per weight matrix, the gradient norm ‖g‖ and update ratio ‖Δw‖/‖w‖ of each epoch's first step.

    Logged as "grad_norm/<name>" and "update_ratio/<name>" (recorded in the History). A
    healthy ratio is around 1e-3 (much lower: learning rate too small; much higher: too
    large). ``last`` holds the latest values as {name: (grad_norm, weight_norm, ratio)}.
    """

    def __init__(self):
        self.last = {}

    def on_epoch_begin(self, epoch, logs):
        self._weights = [(n, p, p.data.copy()) for n, p in self.trainer.model.named_parameters() if p.data.ndim >= 2]
        self._pending = True

    def on_batch_end(self, step, logs):
        if not self._pending:
            return
        self._pending = False
        self.last = {}
        for name, p, before in self._weights:
            w_norm = float(np.linalg.norm(before.astype(np.float64)))
            delta = float(np.linalg.norm(p.data.astype(np.float64) - before))
            self.last[name] = (float(np.linalg.norm(p.grad.astype(np.float64))), w_norm,
                               delta / w_norm if w_norm > 0 else math.inf)
        self._weights = []

    def on_epoch_end(self, epoch, logs):
        for name, (g, _, ratio) in self.last.items():
            logs[f"grad_norm/{name}"] = g
            logs[f"update_ratio/{name}"] = ratio
