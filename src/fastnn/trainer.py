"""Trainer: mini-batch training of a fastnn model with metrics, callbacks, progress and history.

Design. ``fit`` converts X once to the model's parameter dtype (float32 unless the model
was built in float64) and, for regression and BCE losses, y too; class labels become
int64. X (NaN or infinity refused) may stay the caller's array; y, after its checks (labels
in range, float targets finite), is copied where it would still share the caller's memory,
so what the loss receives was checked before training. Nothing is copied after that: each
epoch draws one permutation of the training rows from ``default_rng([seed, epoch])`` and
``np.take``s each batch into two reused buffers; the last partial batch is included.
Because the shuffle depends only on (seed, epoch), and dropout masks only on each layer's
(seed, step), a run resumed from a checkpoint (fastnn.serialization) continues
bit-identically, and ``fit`` called twice for 2 epochs equals one call for 4. Epoch numbers
continue across ``fit`` calls; the trainer's ``history`` accumulates across them too.

One step: zero_grad → forward → loss → (non-finite? stop) → backward → L1/L2 gradient
terms → clipping → (non-finite gradient? stop) → optimizer.step(). Both checks run
before the step, so on ``TrainingDivergedError`` the parameters are still the last good
ones; running statistics and random-step counters, which the failed forward changed,
are restored from a per-step snapshot (a few small arrays). The error names the epoch,
the step and the first top-level layer whose output is non-finite (that batch's forward
re-run layer by layer). The gradient check is one native pass over every gradient
(``all_finite``: a subtract and an add per vector), ~1-2 % of a step at batch 32.

For the common MLP (a Sequential of Linear and BatchNorm1d → ReLU [→ Dropout] blocks, one
of fastnn's losses, native backend) forward, loss and backward run as one pre-checked
sequence of the modules' kernel calls (fastnn._train_step): the same bits, 20–45 µs less
Python per step (bench/train_step.py). It is built again when a callback replaces the loss
or a child, and the modules run any step it does not cover.

Logged per epoch: loss (mean over samples of the training-mode batch losses, plus the
L1/L2 penalty; per sample also for reduction="sum"), the metrics (running over the epoch's batches), val_loss and val_<metric>
(eval mode), lr (of the first parameter group, as used during the epoch), epoch_time
(seconds, validation included) and samples_per_sec (training steps only).
"""
from __future__ import annotations

import inspect
import math
import operator
import sys
import time

import numpy as np

from . import _kernels, regularization
from ._backend import kernels
from ._train_step import TrainStep
from ._validate import as_bool, as_float, as_int
from .callbacks import Callback
from .nn import BCEWithLogitsLoss, CrossEntropyLoss, Module, Sequential
from .nn.loss import first_label_out_of_range

__all__ = ["Trainer", "History", "TrainingDivergedError"]


class TrainingDivergedError(FloatingPointError):
    """The loss or a gradient became NaN or infinite; the model holds the last good weights."""


class History:
    """Per-epoch logs: ``history[key]`` is a list with one value per entry of ``epoch``."""

    def __init__(self):
        self.history = {}
        self.epoch = []

    def append(self, epoch, logs):
        n = len(self.epoch)
        for key, value in logs.items():
            self.history.setdefault(key, [math.nan] * n).append(float(value))
        for key, values in self.history.items():
            if len(values) == n:                       # a key this epoch did not log
                values.append(math.nan)
        self.epoch.append(int(epoch))

    def update_last(self, logs):
        """Add keys that callbacks put into the last epoch's logs after it was appended."""
        n = len(self.epoch)
        for key, value in logs.items():
            if key not in self.history:
                self.history[key] = [math.nan] * n
            self.history[key][n - 1] = float(value)

    def __repr__(self):
        return f"History(epochs={len(self.epoch)}, keys={sorted(self.history)})"


# ------------------------------------------------------------------------------ metrics

def _accuracy(kind):
    """Correct-prediction count of one batch, for the loss ``kind``."""
    if kind == "ce_labels":
        return lambda out, y: int(np.count_nonzero(out.argmax(axis=1) == y))
    if kind == "ce_probs":
        return lambda out, y: int(np.count_nonzero(out.argmax(axis=1) == y.argmax(axis=1)))
    if kind == "bce":                                  # per element, as Keras' binary accuracy
        return lambda out, y: np.count_nonzero((out > 0) == (y > 0.5)) / out.shape[1]
    return None


def _metric_fns(metrics, kind):
    """[(name, fn(out, y) → batch sum)]; "accuracy" is skipped for regression losses."""
    if isinstance(metrics, str):
        metrics = (metrics,)
    fns = []
    for m in metrics:
        if m == "accuracy":
            fn = _accuracy(kind)
            if fn is not None:
                fns.append(("accuracy", fn))
        elif m in ("mae", "mse"):
            if kind == "ce_labels":
                raise ValueError(f"metric {m!r} compares outputs with float targets; CrossEntropyLoss with "
                                 f"class labels supports 'accuracy' or a callable")
            power = 1 if m == "mae" else 2
            fns.append((m, lambda out, y, p=power: float((np.abs(out - y) ** p).mean(axis=1).sum())))
        elif callable(m):                              # fn(y_true, y_pred) → batch mean
            fns.append((getattr(m, "__name__", "metric"), lambda out, y, f=m: float(f(y, out)) * len(out)))
        else:
            raise ValueError(f"unknown metric {m!r}: use 'accuracy', 'mae', 'mse' or a callable "
                             f"fn(y_true, y_pred) -> float")
    return fns


def _positive_or_none(value, name):
    return None if value is None else as_float(value, name, low=0.0, low_inclusive=False)


def _check_callbacks(callbacks):
    callbacks = list(callbacks)
    for cb in callbacks:
        if not isinstance(cb, Callback):
            raise TypeError(f"callbacks must be fastnn.callbacks.Callback instances, got {type(cb).__name__}")
    return callbacks


def _check_one_hot(y, name):
    """Integer or bool targets of CrossEntropyLoss in 2-D are taken as probabilities only when
    every row is one-hot (counts or multi-hot rows would be trained on silently)."""
    bad = np.flatnonzero(((y != 0) & (y != 1)).any(axis=1) | (np.count_nonzero(y, axis=1) != 1))
    if bad.size:
        i = int(bad[0])
        raise ValueError(f"{name} is a 2-D {y.dtype} array, read as one-hot class probabilities, but row {i} "
                         f"is {y[i].tolist()[:8]}{' ...' if y.shape[1] > 8 else ''}: pass class labels (n,) "
                         f"or float probabilities (n, classes)")


def _loss_kind(loss, y):
    if isinstance(loss, CrossEntropyLoss):
        return "ce_probs" if np.ndim(y) == 2 else "ce_labels"
    if isinstance(loss, BCEWithLogitsLoss):
        return "bce"
    return "regression"


# ------------------------------------------------------------------------------ helpers

def model_dtype(model):
    """The dtype of the model's first parameter (float32 for a parameter-less model)."""
    for p in model.parameters():
        return p.data.dtype
    return np.dtype(np.float32)


def current_lr(optimizer):
    groups = getattr(optimizer, "param_groups", None)
    if groups:
        return float(groups[0]["lr"])
    return float(getattr(optimizer, "lr", math.nan))


class _Batches:
    """Mini-batches gathered from (X, y) into two reused buffers, in a given row order. X's rows
    go through ``take_rows`` (prefetched, threaded for large batches): 81 -> 57 us at batch
    128 and 343 -> 118 us at 512 from 60000x784 float32 (np.take vs take_rows, 2 threads). The
    byte views made once per epoch: 25.0 -> 17.6 us per batch of 32x784, 12.2 -> 4.9 at 4x8."""

    def __init__(self, X, y, batch_size):
        b = min(batch_size, len(X))
        self.X, self.y = X, y
        self.xb = np.empty((b,) + X.shape[1:], X.dtype)
        self.yb = np.empty((b,) + y.shape[1:], y.dtype)

    def __call__(self, order):
        b = len(self.xb)
        k = kernels()
        # Native backend: the byte-row views take_rows works on, made once per epoch rather
        # than twice per batch, and the binding called directly (X and the buffer are
        # C-contiguous with one dtype and row shape by construction).
        rows = (_kernels._row_bytes(self.X), _kernels._row_bytes(self.xb)) if k is _kernels else None
        for i in range(0, len(order), b):
            idx = order[i:i + b]
            n = len(idx)
            xb, yb = self.xb[:n], self.yb[:n]
            if rows is None:
                k.take_rows(self.X, idx, xb)
            else:
                _kernels._take_row_bytes(rows[0], idx, rows[1][:n])
            self.y.take(idx, 0, yb)                   # a few bytes per row: NumPy's call is cheaper
            yield xb, yb


class _StateGuard:
    """Snapshot of what a forward pass changes besides outputs: buffers and random steps."""

    def __init__(self, model):
        self.buffers = [(b, np.empty_like(b)) for _, b in model.named_buffers()]
        self.stochastic = [m for m in model.modules() if hasattr(m, "_step")]
        self.steps = [0] * len(self.stochastic)

    def save(self):
        for live, copy in self.buffers:
            copy[...] = live
        for i, m in enumerate(self.stochastic):
            self.steps[i] = m._step

    def restore(self):
        for live, copy in self.buffers:
            np.copyto(live, copy)
        for m, step in zip(self.stochastic, self.steps):
            m._step = step


class _GradProbe:
    """Every gradient element finite? One kernel call over all the gradient arrays, through a
    tensor_list handle made once and remade when the backend or a gradient array changes."""

    def __init__(self, model):
        self.params = [p for p in model.parameters() if p.requires_grad]
        self.key = None

    def __call__(self):
        k = kernels()
        grads = [p.grad for p in self.params]
        if self.key is None or self.key[0] is not k or any(map(operator.is_not, grads, self.key[1])):
            rows = [(g.reshape(-1),) for g in grads if g is not None]
            self.key = (k, grads, k.tensor_list(rows))
        return k.all_finite_rows(self.key[2])


def _checked_step(optimizer, model):
    """() → True after an optimizer step, or False, with nothing stepped, when a gradient is
    not finite. A one-group multi-tensor fastnn optimizer tests the gradients inside its update
    kernel (_step_if_finite); any other optimizer gets the cached probe over the model's
    gradients first (_step_if_finite would rebuild its gradient list every step)."""
    if getattr(optimizer, "_multi_tensor", False) and len(getattr(optimizer, "param_groups", ())) == 1:
        return optimizer._step_if_finite
    probe = _GradProbe(model)

    def probe_then_step():
        if not probe():
            return False
        optimizer.step()
        return True
    return probe_then_step


def _is_matrix(name, param):
    """Penalty targets: weight matrices, not biases or normalisation scales."""
    return param.data.ndim >= 2


def _first_nonfinite_layer(model, xb):
    """'name (Class)' of the first top-level layer whose output on xb is non-finite, or None."""
    layers = list(model.named_children()) if isinstance(model, Sequential) else [("", model)]
    x = xb
    with np.errstate(all="ignore"):
        for name, layer in layers:
            x = layer.forward(x)
            if not np.isfinite(x).all():
                return f"{name} ({type(layer).__name__})" if name else type(layer).__name__
    return None


class _Progress:
    """A tqdm bar per epoch on a terminal; one printed line per epoch otherwise; or nothing."""

    def __init__(self, verbose, epochs, first_epoch):
        tty = sys.stdout.isatty()
        self.bar_mode = verbose == 1 and tty
        self.line_mode = verbose == 2 or (verbose == 1 and not tty)
        self.total = first_epoch + epochs
        self.bar = None

    def begin(self, epoch, n):
        if self.bar_mode:
            from tqdm.auto import tqdm
            self.bar = tqdm(total=n, desc=f"Epoch {epoch + 1}/{self.total}", leave=True, file=sys.stdout,
                            bar_format="{desc} |{bar:12}| {n_fmt}/{total_fmt} {elapsed}<{remaining}{postfix}")
            self.last = 0.0

    def step(self, k, seen, start, running):
        if self.bar is None:
            return
        self.bar.update(k)
        now = time.perf_counter()
        if now - self.last > 0.25:                     # formatting the postfix costs ~10 µs
            self.last = now
            self.bar.set_postfix(_postfix(running, seen / max(now - start, 1e-9)), refresh=False)

    def end(self, epoch, logs):
        if self.bar is not None:
            self.bar.set_postfix(_postfix(logs, logs["samples_per_sec"]))
            self.bar.close()
            self.bar = None
        elif self.line_mode:
            parts = [f"{k} {v:.4f}" for k, v in logs.items() if k not in ("lr", "epoch_time", "samples_per_sec")]
            print(f"Epoch {epoch + 1}/{self.total} - {logs['epoch_time']:.2f}s - " + " - ".join(parts)
                  + f" - {logs['samples_per_sec']:,.0f} samples/s", flush=True)


def _postfix(logs, rate):
    """Training loss and metrics, samples/s, then validation values (what a narrow terminal cuts)."""
    shown = {k: f"{v:.4f}" for k, v in logs.items() if k in ("loss", "accuracy", "mae", "mse")}
    shown["samples/s"] = f"{rate:,.0f}"
    shown.update({k: f"{v:.4f}" for k, v in logs.items()
                  if k not in shown and k not in ("lr", "epoch_time", "samples_per_sec")})
    return shown


# ------------------------------------------------------------------------------ Trainer

class Trainer:
    """Trains ``model`` on ``loss`` with ``optimizer``; see the module docstring for the loop.

    metrics: names ("accuracy" for CrossEntropyLoss/BCEWithLogitsLoss, "mae", "mse") or
    callables fn(y_true, y_pred) → float. grad_clip_norm / grad_clip_value clip gradients
    before the step; l1 / l2 add l1·Σ|w| and ½·l2·Σw² over weight matrices (not biases or
    normalisation parameters) to the loss (the l2 gradient, l2·w, is PyTorch's weight_decay).
    verbose: 0 silent, 1 progress bar (one line per epoch when stdout is not a terminal),
    2 one line per epoch.
    """

    def __init__(self, model, loss, optimizer, metrics=("accuracy",), callbacks=(), grad_clip_norm=None,
                 grad_clip_value=None, l1=0.0, l2=0.0, verbose=1):
        if not isinstance(model, Module):
            raise TypeError(f"model must be a fastnn.nn.Module, got {type(model).__name__}")
        for name, obj, attrs in (("loss", loss, ("forward", "backward")),
                                 ("optimizer", optimizer, ("step", "zero_grad"))):
            if not all(callable(getattr(obj, a, None)) for a in attrs):
                raise TypeError(f"{name} must have {' and '.join(attrs)} methods, got {type(obj).__name__}")
        self.model, self.loss, self.optimizer = model, loss, optimizer
        # The inputs are data: models that can skip their input gradient (a leading
        # Linear's dX GEMM, ~1/4 of an MLP step) are told so.
        self._backward_kwargs = ({"need_input_grad": False}
                                 if "need_input_grad" in inspect.signature(model.backward).parameters else {})
        self.metrics = metrics
        _metric_fns(metrics, "regression")               # reject unknown names now
        self.callbacks = _check_callbacks(callbacks)
        self.grad_clip_norm = _positive_or_none(grad_clip_norm, "grad_clip_norm")
        self.grad_clip_value = _positive_or_none(grad_clip_value, "grad_clip_value")
        self.l1 = as_float(l1, "l1", low=0.0)
        self.l2 = as_float(l2, "l2", low=0.0)
        self.verbose = as_int(verbose, "verbose", low=0, high=2)
        self.history = History()
        self.epoch = 0                                   # epochs completed, across fit calls
        self.seed = None                                 # seed of the last fit (checkpointed)
        self.stop_training = False

    # -------------------------------------------------------------- data

    def _prepare_X(self, X, name="X"):
        """X as a C-contiguous array of the model's dtype: 2-D, non-empty, real numbers, finite."""
        if not isinstance(X, np.ndarray):
            raise TypeError(f"{name} must be a numpy.ndarray, got {type(X).__name__}")
        if X.ndim != 2:
            raise ValueError(f"{name} must be 2-D (n_samples, n_features), got shape {X.shape}")
        if len(X) == 0:
            raise ValueError(f"{name} is empty (shape {X.shape}): nothing to train, evaluate or predict on")
        if X.dtype.kind not in "fiub":
            raise TypeError(f"{name} must hold real numbers, got dtype {X.dtype}")
        X = np.ascontiguousarray(X, dtype=model_dtype(self.model))
        if not kernels().all_finite([X]):
            raise ValueError(f"{name} contains NaN or infinity (shape {X.shape})")
        return X

    def _prepare(self, X, y, name="X"):
        """(X, y, output width): X and y converted once to the model's dtype / int64 labels
        (no copy where none is needed), shapes, labels and finiteness checked."""
        yname = "y" if name == "X" else "y_val"
        if not isinstance(y, np.ndarray):
            raise TypeError(f"{yname} must be a numpy.ndarray, got {type(y).__name__}")
        if y.ndim == 0:
            raise ValueError(f"{yname} must have one entry per sample, got a 0-d array")
        X = self._prepare_X(X, name)
        if len(X) != len(y):
            raise ValueError(f"{name} and {yname} have different lengths: {name} {X.shape}, {yname} {y.shape}")
        width = self._output_width(X)
        kind = _loss_kind(self.loss, y)
        if kind == "ce_labels":
            if y.dtype.kind not in "iu" or y.ndim != 1:
                raise TypeError(f"CrossEntropyLoss needs {yname} as integer class labels (n,) or float "
                                f"probabilities (n, {width}); got dtype {y.dtype} shape {y.shape}")
            i = first_label_out_of_range(y, width)
            if i is not None:
                raise ValueError(f"{yname}[{i}] = {int(y[i])} is outside the model's {width} outputs "
                                 f"(labels must be in [0, {width}))")
            return X, np.ascontiguousarray(y, dtype=np.int64), width
        if y.dtype.kind not in "fiub":
            raise TypeError(f"{yname} must hold numbers, got dtype {y.dtype}")
        if kind == "ce_probs" and y.dtype.kind != "f":
            _check_one_hot(y, yname)
        y = np.ascontiguousarray(y, dtype=X.dtype)
        if not kernels().all_finite([y]):                 # (found now, not by the loss mid-epoch)
            raise ValueError(f"{yname} contains NaN or infinity (shape {y.shape})")
        if y.ndim == 1 and width == 1:
            y = y.reshape(-1, 1)
        if y.shape != (len(X), width):
            raise ValueError(f"{yname} has shape {y.shape} but the model outputs shape ({len(X)}, {width})")
        return X, y, width

    def _output_width(self, X):
        """Output features, from an eval-mode forward of two rows (changes no state)."""
        was_training = self.model.training
        self.model.eval()
        try:
            out = self.model.forward(X[:2])
        finally:
            self.model.train(was_training)
        return out.shape[1]

    def _split(self, n, validation_split, seed):
        """(training rows, validation rows): a seeded random split, or all rows and None."""
        if validation_split == 0.0:
            return np.arange(n), None
        n_val = int(round(validation_split * n))
        if n_val == 0 or n_val == n:
            raise ValueError(f"validation_split={validation_split} of {n} samples leaves "
                             f"{n - n_val} for training and {n_val} for validation; both must be > 0")
        perm = np.random.default_rng([seed, 0x5B11]).permutation(n)
        return np.sort(perm[n_val:]), np.sort(perm[:n_val])

    # -------------------------------------------------------------- training

    def _log_keys(self, y, validation):
        """The keys ``fit`` logs every epoch for targets like ``y`` (before any callback adds its own)."""
        names = ["loss"] + [name for name, _ in _metric_fns(self.metrics, _loss_kind(self.loss, y))]
        return names + ["samples_per_sec"] + ([f"val_{n}" for n in names] if validation else []) + ["lr", "epoch_time"]

    def fit(self, X, y, epochs, batch_size, validation_data=None, validation_split=0.0, shuffle=True, seed=0,
            callbacks=None):
        """Train for ``epochs`` more epochs; returns the trainer's History."""
        epochs = as_int(epochs, "epochs", low=0)
        batch_size = as_int(batch_size, "batch_size", low=1)
        seed = as_int(seed, "seed", low=0)
        shuffle = as_bool(shuffle, "shuffle")
        validation_split = as_float(validation_split, "validation_split", low=0.0, high=1.0, high_inclusive=False)
        if validation_data is not None and validation_split:
            raise ValueError("pass validation_data or validation_split, not both")
        y_given = y
        X, y, width = self._prepare(X, y)
        if np.may_share_memory(y, y_given):               # checked once: a callback writing into the
            y = y.copy()                                  # caller's array cannot reach the loss
        train_rows, val_rows = self._split(len(X), validation_split, seed)
        val = None
        if validation_data is not None:
            if not isinstance(validation_data, (tuple, list)) or len(validation_data) != 2:
                raise TypeError("validation_data must be a tuple (X_val, y_val)")
            val = self._prepare(*validation_data, name="X_val")[:2]
        elif val_rows is not None:
            val = (X[val_rows], y[val_rows])
        self.seed = seed
        self.stop_training = False
        cbs = self.callbacks + _check_callbacks(callbacks or ())
        for cb in cbs:
            cb.set_trainer(self)
        self._kind = _loss_kind(self.loss, y)
        self._mean_loss = getattr(self.loss, "reduction", "mean") == "mean"   # else per-batch sums
        self._metric_fns = _metric_fns(self.metrics, self._kind)
        self._checked_step = _checked_step(self.optimizer, self.model)
        self._widths = (X.shape[1], width)
        self._fast_for = None                             # (model, loss, plan) of self._fast: none yet
        self._guard = _StateGuard(self.model)
        batches = _Batches(X, y, batch_size)
        progress = _Progress(self.verbose, epochs, self.epoch)
        for cb in cbs:
            cb.on_train_begin({})
        logs = {}
        for epoch in range(self.epoch, self.epoch + epochs):
            for cb in cbs:
                cb.on_epoch_begin(epoch, {})
            t0 = time.perf_counter()
            lr = current_lr(self.optimizer)
            order = np.random.default_rng([seed, epoch]).permutation(train_rows) if shuffle else train_rows
            logs = self._train_epoch(batches, order, epoch, cbs, progress)
            logs["samples_per_sec"] = len(order) / (time.perf_counter() - t0)
            if val is not None:
                logs.update({f"val_{k}": v for k, v in self.evaluate(*val, batch_size=max(batch_size, 256)).items()})
            logs["lr"] = lr
            logs["epoch_time"] = time.perf_counter() - t0
            self.epoch = epoch + 1
            self.history.append(epoch, logs)
            progress.end(epoch, logs)
            for cb in cbs:
                cb.on_epoch_end(epoch, logs)
                self.history.update_last(logs)         # keys a callback added, seen by the next one
            if self.stop_training:
                break
        for cb in cbs:
            cb.on_train_end(logs)
        return self.history

    def _train_epoch(self, batches, order, epoch, cbs, progress):
        self.model.train()
        progress.begin(epoch, len(order))
        loss_sum, seen = 0.0, 0
        metric_sums = [0.0] * len(self._metric_fns)
        start = time.perf_counter()
        for step, (xb, yb) in enumerate(batches(order)):
            value, out = self._step(xb, yb, epoch, step)
            k = len(xb)
            seen += k
            loss_sum += value * k if self._mean_loss else value
            for i, (_, fn) in enumerate(self._metric_fns):
                metric_sums[i] += fn(out, yb)
            running = {"loss": loss_sum / seen, **{n: s / seen for (n, _), s in zip(self._metric_fns, metric_sums)}}
            progress.step(k, seen, start, running)
            for cb in cbs:
                cb.on_batch_end(step, running)
        return running

    def _step(self, xb, yb, epoch, step):
        """One optimizer step on a batch → (loss incl. penalty, model output)."""
        model, loss = self.model, self.loss
        self._guard.save()
        self.optimizer.zero_grad()
        fast = self._fast_step()
        ran = None if fast is None else fast.forward(xb, yb)
        if ran is None:
            out = model.forward(xb)
            value = loss.forward(out, yb)
        else:
            value, out = ran
        if not math.isfinite(value):
            self._diverged(epoch, step, xb, f"the loss is {value}")
        if ran is None:
            model.backward(loss.backward(), **self._backward_kwargs)
        else:
            fast.backward()
        if self.l1 or self.l2:
            value += self._penalty()
        if self.grad_clip_value is not None:
            regularization.clip_grad_value_(model.parameters(), self.grad_clip_value)
        if self.grad_clip_norm is not None:
            regularization.clip_grad_norm_(model.parameters(), self.grad_clip_norm)
        if not self._checked_step():
            self._diverged(epoch, step, xb, "a gradient is not finite")
        return value, out

    def _fast_step(self):
        """The TrainStep for the current model, loss and children, or None (the modules run):
        built again whenever a callback has replaced one of them, also back to a covered form."""
        model, loss, plan = self.model, self.loss, getattr(self.model, "_plan", None)
        built = self._fast_for
        if built is None or built[0] is not model or built[1] is not loss or built[2] is not plan:
            self._fast = TrainStep.build(model, loss, self._widths)
            self._fast_for = (model, loss, getattr(model, "_plan", None))   # (build may have made the plan)
        return self._fast

    def _penalty(self):
        """Add the L1/L2 gradients of the weight matrices to .grad; return the penalty value."""
        value = 0.0
        if self.l1:
            value += regularization.l1_penalty(self.model, self.l1, include=_is_matrix)
        if self.l2:
            value += regularization.l2_penalty(self.model, self.l2, include=_is_matrix)
        return value

    def _diverged(self, epoch, step, xb, what):
        """Find the first non-finite layer, restore the pre-step state, raise."""
        model = self.model
        layer = _first_nonfinite_layer(model, xb)
        self._guard.restore()
        where = (f"the first layer with a non-finite output is {layer}" if layer else
                 "every layer's output is finite (the non-finite values arose in the loss or the backward pass)")
        raise TrainingDivergedError(
            f"training diverged at epoch {epoch + 1}, step {step + 1}: {what}; {where}. The model holds the "
            f"weights from before this step. Try a lower learning rate, gradient clipping "
            f"(grad_clip_norm) or input scaling.")

    # -------------------------------------------------------------- inference

    def _batched_outputs(self, X, batch_size, fn):
        """fn(slice of X) for contiguous slices, eval mode; restores the previous mode."""
        was_training = self.model.training
        self.model.eval()
        try:
            for i in range(0, len(X), batch_size):
                fn(i, self.model.forward(X[i:i + batch_size]))
        finally:
            self.model.train(was_training)

    def evaluate(self, X, y, batch_size=256):
        """{"loss": mean loss, metric: value} over (X, y) in eval mode (no penalty terms)."""
        batch_size = as_int(batch_size, "batch_size", low=1)
        X, y, _ = self._prepare(X, y)
        fns = _metric_fns(self.metrics, _loss_kind(self.loss, y))
        sums = [0.0] * (len(fns) + 1)

        def accumulate(i, out):
            yb = y[i:i + len(out)]
            value = self.loss.forward(out, yb)
            sums[0] += value * len(out) if getattr(self.loss, "reduction", "mean") == "mean" else value
            for j, (_, fn) in enumerate(fns):
                sums[j + 1] += fn(out, yb)

        self._batched_outputs(X, batch_size, accumulate)
        return {name: s / len(X) for name, s in zip(["loss"] + [n for n, _ in fns], sums)}

    def predict(self, X, batch_size=256):
        """Model outputs (logits for classification losses) for X, in eval mode, as a new array."""
        batch_size = as_int(batch_size, "batch_size", low=1)
        X = self._prepare_X(X)
        result = []

        def keep(i, out):                              # outputs live in reused workspaces: copy
            if not result:
                result.append(np.empty((len(X),) + out.shape[1:], out.dtype))
            result[0][i:i + len(out)] = out

        self._batched_outputs(X, batch_size, keep)
        return result[0]

    def predict_proba(self, X, batch_size=256):
        """softmax of the logits for CrossEntropyLoss, sigmoid for BCEWithLogitsLoss (float64 math)."""
        logits = self.predict(X, batch_size)
        if isinstance(self.loss, CrossEntropyLoss):
            z = logits.astype(np.float64)
            z -= z.max(axis=1, keepdims=True)
            e = np.exp(z)
            return (e / e.sum(axis=1, keepdims=True)).astype(logits.dtype)
        if isinstance(self.loss, BCEWithLogitsLoss):
            z = logits.astype(np.float64)
            return (0.5 * (1.0 + np.tanh(0.5 * z))).astype(logits.dtype)
        raise TypeError(f"predict_proba needs a CrossEntropyLoss or BCEWithLogitsLoss trainer, "
                        f"this one uses {type(self.loss).__name__}; use predict")
