"""Learning-rate schedules (torch.optim.lr_scheduler semantics) and attribute schedules.

Design. A scheduler owns a counter ``last_epoch`` and writes ``group["lr"]`` of every
parameter group of its optimizer; call ``step()`` once per epoch (or per iteration, for
schedules measured in iterations), after ``optimizer.step()``. As in PyTorch, building a
scheduler records ``initial_lr`` in each group and applies epoch 0, and StepLR,
MultiStepLR, ExponentialLR and CosineAnnealingLR update the current lr recursively
(lr ← lr·γ ...), so two schedulers on one optimizer compose and the values agree with
PyTorch's to the last bit. ``CosineWarmup`` is closed form in the epoch.
``ReduceLROnPlateau.step(metric)`` lowers lr when the metric stops improving.
``state_dict()`` holds plain numbers and lists (everything but the optimizer).

``AttributeScheduler`` / ``DropoutScheduler`` drive any settable attribute (the drop
probability ``p`` of every Dropout module for annealed dropout) from a schedule callable
epoch → value, such as ``LinearSchedule(start, end, epochs)``.
"""
from __future__ import annotations

import math
import numbers
import reprlib

from .optimizer import Optimizer, real_value

__all__ = [
    "LRScheduler", "StepLR", "MultiStepLR", "ExponentialLR", "CosineAnnealingLR", "CosineWarmup",
    "ReduceLROnPlateau", "LinearSchedule", "AttributeScheduler", "DropoutScheduler",
]


def _positive_int(value, name):
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < 1:
        raise ValueError(f"{name} must be a positive integer, got {value!r}")
    return int(value)


def _epoch(value, name="last_epoch"):
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < -1:
        raise ValueError(f"{name} must be an integer >= -1, got {value!r}")
    return int(value)


class _LrState:
    """What every learning-rate scheduler shares: the last lrs set, and a state dict of every
    attribute but the optimizer."""

    def get_last_lr(self):
        """The learning rates set by the last ``step()`` (one per group)."""
        return list(self._last_lr)

    def state_dict(self):
        return {key: (list(v) if isinstance(v, list) else v) for key, v in self.__dict__.items() if key != "optimizer"}

    def load_state_dict(self, state_dict):
        """Restore what ``state_dict`` returned: the same keys, each value of the kind this
        scheduler holds (number, flag, text, list of as many entries, mapping); checked
        whole before any attribute changes."""
        state = self._loaded(_checked_state(self, state_dict))
        self.__dict__.update({key: list(v) if isinstance(v, list) else v for key, v in state.items()})

    def _loaded(self, state):
        """The attribute values to set for a checked ``state`` (raising here still changes nothing)."""
        if "last_epoch" in state:
            _epoch(state["last_epoch"])
        return state


def _checked_state(obj, state_dict):
    """``state_dict`` if it has exactly the keys of ``obj.state_dict()`` and each value is of
    the same kind (``_same_kind``); else TypeError / ValueError naming the scheduler and key."""
    name = type(obj).__name__
    if not isinstance(state_dict, dict):
        raise TypeError(f"{name}.load_state_dict takes a dict, got {type(state_dict).__name__}")
    own = obj.state_dict()
    if set(state_dict) != set(own):
        raise ValueError(f"{name} state dict: unknown keys {sorted(set(state_dict) - set(own), key=repr)}, "
                         f"missing keys {sorted(set(own) - set(state_dict))}")
    for key, value in state_dict.items():
        if not _same_kind(own[key], value):
            raise TypeError(f"{name} state {key!r} must be like {own[key]!r}, got {reprlib.repr(value)}")
    return state_dict


def _same_kind(mine, loaded):
    """Whether a loaded state value can stand for ``mine``: numbers for numbers (an int for a
    float, never a bool), the same types otherwise, lists of equal length element-wise."""
    if mine is None:
        return True                         # not set yet: nothing to compare with
    if isinstance(mine, (bool, str)):
        return type(loaded) is type(mine)
    if isinstance(mine, numbers.Integral):
        return isinstance(loaded, numbers.Integral) and not isinstance(loaded, bool)
    if isinstance(mine, numbers.Real):
        return isinstance(loaded, numbers.Real) and not isinstance(loaded, bool)
    if isinstance(mine, (list, tuple)):
        return (isinstance(loaded, (list, tuple)) and len(loaded) == len(mine)
                and all(map(_same_kind, mine, loaded)))
    if isinstance(mine, dict):
        return isinstance(loaded, dict)
    return True                             # anything else: as PyTorch, taken as saved


class LRScheduler(_LrState):
    """Base: ``step()`` advances ``last_epoch`` and sets every group's lr to ``get_lr()``."""

    def __init__(self, optimizer, last_epoch=-1):
        if not isinstance(optimizer, Optimizer):
            raise TypeError(f"{type(optimizer).__name__} is not a fastnn Optimizer")
        self.optimizer = optimizer
        last_epoch = _epoch(last_epoch)
        for n, group in enumerate(optimizer.param_groups):
            if last_epoch == -1:
                group.setdefault("initial_lr", group["lr"])
            elif "initial_lr" not in group:
                raise KeyError(f"param 'initial_lr' is not specified in param_groups[{n}] when resuming "
                               f"a scheduler with last_epoch >= 0 (load the optimizer state first)")
        self.base_lrs = [group["initial_lr"] for group in optimizer.param_groups]
        self.last_epoch = last_epoch
        self._step_count = 0
        self._is_initial = True
        self.step()
        self._is_initial = False

    def get_lr(self):
        """The lr of each group for epoch ``last_epoch`` (just incremented)."""
        raise NotImplementedError

    def _current(self):
        return [group["lr"] for group in self.optimizer.param_groups]

    def step(self):
        self._step_count += 1
        self.last_epoch += 1
        for group, lr in zip(self.optimizer.param_groups, self.get_lr()):
            group["lr"] = lr
        self._last_lr = self._current()


class StepLR(LRScheduler):
    """lr·gamma every ``step_size`` epochs: base_lr·gamma^⌊epoch/step_size⌋."""

    def __init__(self, optimizer, step_size, gamma=0.1, last_epoch=-1):
        self.step_size = _positive_int(step_size, "step_size")
        self.gamma = real_value(gamma, "gamma", "gamma value", low=0.0)
        super().__init__(optimizer, last_epoch)

    def get_lr(self):
        if self.last_epoch == 0 or self.last_epoch % self.step_size != 0:
            return self._current()
        return [lr * self.gamma for lr in self._current()]


class MultiStepLR(LRScheduler):
    """lr·gamma at each milestone epoch (gamma^k if a milestone is listed k times)."""

    def __init__(self, optimizer, milestones, gamma=0.1, last_epoch=-1):
        self.milestones = {}
        for m in milestones:
            m = _positive_int(m, "each milestone")
            self.milestones[m] = self.milestones.get(m, 0) + 1
        self.gamma = real_value(gamma, "gamma", "gamma value", low=0.0)
        super().__init__(optimizer, last_epoch)

    def get_lr(self):
        if self.last_epoch not in self.milestones:
            return self._current()
        return [lr * self.gamma ** self.milestones[self.last_epoch] for lr in self._current()]

    def _loaded(self, state):
        milestones = {}
        for m, count in state["milestones"].items():
            if isinstance(m, str) and m.isdigit():
                m = int(m)                          # JSON turns keys into str
            if (isinstance(m, bool) or not isinstance(m, numbers.Integral) or m < 1
                    or isinstance(count, bool) or not isinstance(count, numbers.Integral) or count < 1):
                raise ValueError(f"MultiStepLR state 'milestones' must map epochs >= 1 to counts >= 1, "
                                 f"got {reprlib.repr(state['milestones'])}")
            milestones[int(m)] = int(count)
        return super()._loaded(dict(state, milestones=milestones))


class ExponentialLR(LRScheduler):
    """lr·gamma every epoch: base_lr·gamma^epoch."""

    def __init__(self, optimizer, gamma, last_epoch=-1):
        self.gamma = real_value(gamma, "gamma", "gamma value", low=0.0)
        super().__init__(optimizer, last_epoch)

    def get_lr(self):
        if self._is_initial:
            return self._current()
        return [lr * self.gamma for lr in self._current()]


class CosineAnnealingLR(LRScheduler):
    """eta_min + (base_lr − eta_min)·(1 + cos(π·epoch/T_max))/2, in PyTorch's recursive form
    (past T_max it rises again, as PyTorch's does)."""

    def __init__(self, optimizer, T_max, eta_min=0.0, last_epoch=-1):
        self.T_max = real_value(T_max, "T_max", "T_max value", low=0.0)
        if self.T_max == 0:
            raise ValueError("Invalid T_max value: 0")
        self.eta_min = real_value(eta_min, "eta_min", "eta_min value", low=0.0)
        super().__init__(optimizer, last_epoch)

    def get_lr(self):
        e, t_max, eta_min = self.last_epoch, self.T_max, self.eta_min
        if self._is_initial:
            return self._current()
        if self._step_count == 1 and e > 0:
            return [eta_min + (base - eta_min) * (1 + math.cos(e * math.pi / t_max)) / 2 for base in self.base_lrs]
        if (e - 1 - t_max) % (2 * t_max) == 0:
            return [lr + (base - eta_min) * (1 - math.cos(math.pi / t_max)) / 2
                    for base, lr in zip(self.base_lrs, self._current())]
        ratio = (1 + math.cos(math.pi * e / t_max)) / (1 + math.cos(math.pi * (e - 1) / t_max))
        return [ratio * (lr - eta_min) + eta_min for lr in self._current()]


class CosineWarmup(LRScheduler):
    """Linear warm-up then cosine decay, closed form in the epoch t:
    t < warmup_steps: base_lr·(start_factor + (1 − start_factor)·t/warmup_steps);
    then min_lr + (base_lr − min_lr)·(1 + cos(π·(t − warmup_steps)/(total_steps − warmup_steps)))/2,
    held at min_lr from total_steps on. start_factor = 0, min_lr = 0 is the common
    "cosine schedule with warm-up" (the lr is 0 at t = 0)."""

    def __init__(self, optimizer, warmup_steps, total_steps, min_lr=0.0, start_factor=0.0, last_epoch=-1):
        if isinstance(warmup_steps, bool) or not isinstance(warmup_steps, numbers.Integral) or warmup_steps < 0:
            raise ValueError(f"warmup_steps must be a non-negative integer, got {warmup_steps!r}")
        self.warmup_steps = int(warmup_steps)
        self.total_steps = _positive_int(total_steps, "total_steps")
        if self.total_steps <= self.warmup_steps:
            raise ValueError(f"total_steps ({total_steps}) must be greater than warmup_steps ({warmup_steps})")
        self.min_lr = real_value(min_lr, "min_lr", "min_lr value", low=0.0)
        self.start_factor = real_value(start_factor, "start_factor", "start_factor value", low=0.0, high=1.0)
        super().__init__(optimizer, last_epoch)

    def _lr(self, base, t):
        if t < self.warmup_steps:
            return base * (self.start_factor + (1.0 - self.start_factor) * t / self.warmup_steps)
        if t >= self.total_steps:
            return self.min_lr
        progress = (t - self.warmup_steps) / (self.total_steps - self.warmup_steps)
        return self.min_lr + (base - self.min_lr) * 0.5 * (1.0 + math.cos(math.pi * progress))

    def get_lr(self):
        return [self._lr(base, self.last_epoch) for base in self.base_lrs]


class ReduceLROnPlateau(_LrState):
    """lr ← max(lr·factor, min_lr) after more than ``patience`` epochs without improvement of the
    metric passed to ``step(metric)`` (PyTorch's rules for threshold, cooldown and eps)."""

    def __init__(self, optimizer, mode="min", factor=0.1, patience=10, threshold=1e-4, threshold_mode="rel",
                 cooldown=0, min_lr=0.0, eps=1e-8):
        if not isinstance(optimizer, Optimizer):
            raise TypeError(f"{type(optimizer).__name__} is not a fastnn Optimizer")
        if mode not in ("min", "max"):
            raise ValueError(f"mode must be 'min' or 'max', got {mode!r}")
        if threshold_mode not in ("rel", "abs"):
            raise ValueError(f"threshold_mode must be 'rel' or 'abs', got {threshold_mode!r}")
        self.factor = real_value(factor, "factor", "factor value", low=0.0)
        if self.factor >= 1.0:
            raise ValueError("Factor should be < 1.0.")
        self.optimizer = optimizer
        n = len(optimizer.param_groups)
        if isinstance(min_lr, (list, tuple)):
            if len(min_lr) != n:
                raise ValueError(f"expected {n} min_lrs, got {len(min_lr)}")
            self.min_lrs = [real_value(v, "min_lr", "min_lr value", low=0.0) for v in min_lr]
        else:
            self.min_lrs = [real_value(min_lr, "min_lr", "min_lr value", low=0.0)] * n
        if isinstance(patience, bool) or not isinstance(patience, numbers.Integral) or patience < 0:
            raise ValueError(f"patience must be a non-negative integer, got {patience!r}")
        if isinstance(cooldown, bool) or not isinstance(cooldown, numbers.Integral) or cooldown < 0:
            raise ValueError(f"cooldown must be a non-negative integer, got {cooldown!r}")
        self.mode, self.threshold_mode = mode, threshold_mode
        self.threshold = real_value(threshold, "threshold", "threshold value", low=0.0)
        self.patience, self.cooldown = int(patience), int(cooldown)
        self.eps = real_value(eps, "eps", "eps value", low=0.0)
        self.last_epoch = 0
        self.best = math.inf if mode == "min" else -math.inf
        self.num_bad_epochs = 0
        self.cooldown_counter = 0
        self._last_lr = [group["lr"] for group in optimizer.param_groups]

    def _is_better(self, a, best):
        if self.mode == "min":
            return a < (best * (1.0 - self.threshold) if self.threshold_mode == "rel" else best - self.threshold)
        return a > (best * (self.threshold + 1.0) if self.threshold_mode == "rel" else best + self.threshold)

    def step(self, metrics):
        current = float(metrics)
        self.last_epoch += 1
        if self._is_better(current, self.best):
            self.best = current
            self.num_bad_epochs = 0
        else:
            self.num_bad_epochs += 1
        if self.cooldown_counter > 0:
            self.cooldown_counter -= 1
            self.num_bad_epochs = 0  # bad epochs in cooldown do not count
        if self.num_bad_epochs > self.patience:
            for group, min_lr in zip(self.optimizer.param_groups, self.min_lrs):
                old = float(group["lr"])
                new = max(old * self.factor, min_lr)
                if old - new > self.eps:
                    group["lr"] = new
            self.cooldown_counter = self.cooldown
            self.num_bad_epochs = 0
        self._last_lr = [group["lr"] for group in self.optimizer.param_groups]

    @property
    def in_cooldown(self):
        return self.cooldown_counter > 0


# ---------------------------------------------------------------- attribute schedules (annealed dropout)

class LinearSchedule:
    """epoch ↦ start + (end − start)·min(epoch, epochs)/epochs: a line from start to end, then held."""

    def __init__(self, start, end, epochs):
        self.start = real_value(start, "start", "start value")
        self.end = real_value(end, "end", "end value")
        self.epochs = _positive_int(epochs, "epochs")

    def __call__(self, epoch):
        return self.start + (self.end - self.start) * min(max(epoch, 0), self.epochs) / self.epochs

    def __repr__(self):
        return f"LinearSchedule(start={self.start}, end={self.end}, epochs={self.epochs})"


class AttributeScheduler:
    """Sets attribute ``name`` of every target to ``schedule(epoch)``: epoch 0 at construction,
    then the next epoch at each ``step()``. ``targets`` is a model (every module from
    ``modules()`` having the attribute, optionally only instances of ``types``), one
    object, or an iterable of objects."""

    def __init__(self, targets, name, schedule, *, types=None, last_epoch=-1):
        if not callable(schedule):
            raise TypeError(f"schedule must be a callable epoch -> value, got {type(schedule).__name__}")
        self.name = name
        self.schedule = schedule
        if callable(getattr(targets, "modules", None)):
            found = [m for m in targets.modules() if hasattr(m, name) and (types is None or isinstance(m, types))]
        elif hasattr(targets, name):
            found = [targets]
        else:
            found = list(targets)
            for t in found:
                if not hasattr(t, name):
                    raise TypeError(f"{type(t).__name__} has no attribute {name!r} to schedule")
        if not found:
            raise ValueError(f"no module with a {name!r} attribute to schedule")
        self.targets = found
        self._apply(_epoch(last_epoch) + 1)

    def _check(self, value, epoch):
        return value

    def step(self):
        self._apply(self.last_epoch + 1)

    def _apply(self, epoch):
        """Set every target to the value of ``epoch``; a schedule that raises changes nothing."""
        value = self._check(self.schedule(epoch), epoch)
        for t in self.targets:
            setattr(t, self.name, value)
        self.last_epoch, self._last_value = epoch, value

    def get_last_value(self):
        return self._last_value

    def state_dict(self):
        return {"last_epoch": self.last_epoch}

    def load_state_dict(self, state_dict):
        """Resume: re-applies the value of the saved epoch. The state is checked as the
        learning-rate schedulers' is, and the value computed, before anything changes."""
        self._apply(_epoch(_checked_state(self, state_dict)["last_epoch"]))


class DropoutScheduler(AttributeScheduler):
    """Annealed dropout: the drop probability ``p`` of every module having one (Dropout,
    DropConnect, ...) follows ``schedule(epoch)``, e.g. ``LinearSchedule(0.5, 0.0, 20)``."""

    def __init__(self, model_or_modules, schedule, *, types=None, last_epoch=-1):
        super().__init__(model_or_modules, "p", schedule, types=types, last_epoch=last_epoch)

    def _check(self, value, epoch):
        return real_value(value, "p", f"dropout probability at epoch {epoch}", low=0.0, high=1.0)
