"""Babysitting the learning process: activation statistics, gradient statistics, plots.

Design. ``activation_stats`` runs a batch through a Sequential one layer at a time
(nested Sequentials are descended into) and summarises each layer's output: mean, std,
fraction of exact zeros (dead ReLUs) and, for tanh and sigmoid outputs (a Tanh/Sigmoid
module or a Linear with that fused activation), the saturated fraction (|y| > 0.99 for
tanh; y < 0.01 or y > 0.99 for sigmoid). The statistics are computed in float64 from
the layer's output before the next layer runs. By default the batch runs in training
mode, as training sees it (batch statistics in BatchNorm, dropout on); running
statistics and random-step counters are restored afterwards, so diagnosing changes
nothing. ``GradientStats`` (a Trainer callback, defined in fastnn.callbacks) records
gradient norms and update/weight ratios. Plots need matplotlib (``pip install
"fastnn[plot]"``), imported only when a plot is drawn; figures are written with the Agg
canvas, without pyplot, so no display is needed. Means and standard deviations are taken in
units of a power of two near the largest |value| (exact), so they are finite wherever the
answer is; values past ~1e300, whose axis range matplotlib cannot compute, are plotted in
units of a power of ten named on the axis.
"""
from __future__ import annotations

import io
import math
import numbers
import os
import reprlib

import numpy as np

from ._safetensors import _check_path as _check_file_name
from ._validate import as_bool, as_choice, as_int
from .callbacks import GradientStats
from .nn import Linear, Module, Sequential, Sigmoid, Tanh
from .trainer import History, _StateGuard

__all__ = ["activation_stats", "format_table", "GradientStats", "plot_history", "plot_activation_histograms"]


def _leaves(model, prefix=""):
    """(name, layer) in forward order, descending into nested Sequentials."""
    if not isinstance(model, Sequential):
        yield prefix or type(model).__name__, model
        return
    for name, child in model.named_children():
        yield from _leaves(child, f"{prefix}.{name}" if prefix else name)


def _saturating(layer):
    """"tanh", "sigmoid" or None: which saturation test applies to the layer's output."""
    if isinstance(layer, Tanh):
        return "tanh"
    if isinstance(layer, Sigmoid):
        return "sigmoid"
    if isinstance(layer, Linear) and layer._act is not None and layer._act[0] in ("tanh", "sigmoid"):
        return layer._act[0]
    return None


def _run_layers(model, X, training, visit):
    """visit(name, layer, output) per layer; model mode and state restored afterwards."""
    if not isinstance(model, Module):
        raise TypeError(f"model must be a fastnn.nn.Module, got {type(model).__name__}")
    if not isinstance(X, np.ndarray) or X.ndim != 2 or len(X) == 0:
        raise ValueError(f"X must be a non-empty 2-D ndarray (batch, features), got "
                         f"{getattr(X, 'shape', type(X).__name__)}")
    if X.dtype.kind not in "biuf":                      # complex would lose its imaginary part
        raise TypeError(f"X must hold real numbers (float, int or bool), got dtype {X.dtype} with shape {X.shape}")
    training = as_bool(training, "training")
    dtype = next((p.data.dtype for p in model.parameters()), np.dtype(np.float32))
    x = np.ascontiguousarray(X, dtype=dtype)
    guard = _StateGuard(model)
    guard.save()
    was_training = model.training
    model.train(training)
    try:
        with np.errstate(all="ignore"):
            for name, layer in _leaves(model):
                x = layer.forward(x)
                visit(name, layer, x)
    finally:
        model.train(was_training)
        guard.restore()


def _mean_std(y):
    """(mean, std) of a float64 array, summed in units of 2^e ≥ max|y| (exact scaling): y.std()
    squares first, so it overflowed past ~1e154 and y.mean() past ~1e308 / n."""
    e = int(np.frexp(np.abs(y).max(initial=0.0))[1])   # (frexp gives 0 for inf and NaN: no scaling)
    z = np.ldexp(y, -e)
    return float(np.ldexp(z.mean(), e)), float(np.ldexp(z.std(), e))


def activation_stats(model, X, training=True):
    """One dict per layer: name, layer, shape, mean, std, zero_frac, saturated (NaN if not tanh/sigmoid)."""
    rows = []

    def visit(name, layer, y):
        y64 = y.astype(np.float64)
        kind = _saturating(layer)
        if kind == "tanh":
            sat = float(np.mean(np.abs(y64) > 0.99))
        elif kind == "sigmoid":
            sat = float(np.mean((y64 < 0.01) | (y64 > 0.99)))
        else:
            sat = math.nan
        label = type(layer).__name__ + (f"({layer._act[0]})" if isinstance(layer, Linear) and layer._act else "")
        mean, std = _mean_std(y64)
        rows.append({"name": name, "layer": label, "shape": y.shape, "mean": mean, "std": std,
                     "zero_frac": float(np.mean(y64 == 0.0)), "saturated": sat})

    _run_layers(model, X, training, visit)
    return rows


def format_table(rows, columns=None):
    """Aligned text table of a list of dicts (e.g. activation_stats output); floats as %.4g."""
    if isinstance(rows, (str, bytes, dict)) or not hasattr(rows, "__iter__"):
        raise TypeError(f"format_table: rows must be a list of dicts (column -> value), got {type(rows).__name__}")
    if columns is not None and (isinstance(columns, (str, bytes)) or not hasattr(columns, "__iter__")):
        raise TypeError(f"format_table: columns must be None or a list of column names, got {type(columns).__name__}")
    rows = list(rows)
    if not rows:
        return "(no rows)"
    bad = next((r for r in rows if not isinstance(r, dict)), None)
    if bad is not None:
        raise TypeError(f"format_table: rows must be dicts (column -> value), got a {type(bad).__name__}")
    columns = list(columns or rows[0].keys())
    for c in columns:
        try:
            hash(c)
        except TypeError:
            raise TypeError(f"format_table: columns must be hashable column names, got {reprlib.repr(c)}") from None

    def cell(v):
        if isinstance(v, (float, np.floating)):
            return "-" if math.isnan(v) else f"{v:.4g}"
        if isinstance(v, tuple):
            return "x".join(map(str, v))
        return str(v)

    cells = [[cell(r.get(c, "")) for c in columns] for r in rows]
    columns = [str(c) for c in columns]
    widths = [max(len(c), *(len(r[i]) for r in cells)) for i, c in enumerate(columns)]
    line = lambda vals: "  ".join(v.rjust(w) if i else v.ljust(w) for i, (v, w) in enumerate(zip(vals, widths)))
    return "\n".join([line(columns), line(["-" * w for w in widths])] + [line(r) for r in cells])


# ------------------------------------------------------------------------------ plots

def _check_path(path):
    """A file name (str, bytes, os.PathLike) or a binary file object to write the PNG to."""
    if not isinstance(path, (str, bytes, os.PathLike)) and not callable(getattr(path, "write", None)):
        raise TypeError(f"path must be a file name or a writable binary file object, got {type(path).__name__}")
    if isinstance(path, io.TextIOBase):
        raise TypeError(f"path must be a binary file object (a PNG is bytes), got the text file {type(path).__name__}")
    if isinstance(path, (str, bytes, os.PathLike)):
        _check_file_name(path)                          # not empty, no NUL: the checkpoint writer's rule
    return path


# The largest |value| plotted as is: past it, axis limits with matplotlib's margins (and bin
# widths) can overflow float64 ("arange: cannot compute length" at ±8e307).
_PLOT_MAX = 1e300


def _power_of_ten(*arrays):
    """k such that values / 10^k stay within _PLOT_MAX: 0, or the decade of the largest finite |value|."""
    top = max((float(np.abs(a[np.isfinite(a)]).max(initial=0.0)) for a in arrays), default=0.0)
    return int(math.floor(math.log10(top))) if top > _PLOT_MAX else 0


def _units(k):
    return f" (×1e{k})" if k else ""


_BIN_RULES = ("auto", "fd", "doane", "scott", "stone", "rice", "sturges", "sqrt")
_MAX_BINS = 10_000                  # a 300-pixel panel shows no more; 1e9 bins exhausted memory


def _check_bins(bins):
    """bins as numpy.histogram takes it: an int in [1, _MAX_BINS], a rule name, or increasing finite edges."""
    if isinstance(bins, numbers.Integral):
        return as_int(bins, "bins", low=1, high=_MAX_BINS)
    if isinstance(bins, str):
        return as_choice(bins, "bins", _BIN_RULES)
    try:
        edges = np.asarray(bins, dtype=np.float64)
    except (TypeError, ValueError):
        edges = None
    if edges is None or edges.ndim != 1:
        raise TypeError(f"bins must be an int, a rule name such as 'auto', or a list of bin edges, "
                        f"got {reprlib.repr(bins)}")
    if not 2 <= len(edges) <= _MAX_BINS + 1 or not np.isfinite(edges).all() or np.any(np.diff(edges) <= 0):
        raise ValueError(f"bins as edges must be 2 to {_MAX_BINS + 1} finite, increasing numbers, "
                         f"got {reprlib.repr(bins)}")
    return edges


def _curve(logs, key):
    """logs[key] as a 1-D float array, or a ValueError naming the key."""
    v = logs[key]
    if isinstance(v, (str, bytes)) or not hasattr(v, "__len__"):
        raise TypeError(f"history[{key!r}] must be a list of numbers (one per epoch), got {type(v).__name__}")
    try:
        a = np.asarray(v, dtype=np.float64)
    except (TypeError, ValueError):
        raise TypeError(f"history[{key!r}] must be a list of numbers (one per epoch)") from None
    if a.ndim != 1:
        raise ValueError(f"history[{key!r}] must be a list of numbers (one per epoch), got shape {a.shape}")
    return a


def _figure(nrows, ncols, size):
    try:
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure
    except ImportError:
        raise ImportError('plotting needs matplotlib, which is not installed; '
                          'run: pip install "fastnn[plot]"') from None
    fig = Figure(figsize=size)
    FigureCanvasAgg(fig)
    return fig, fig.subplots(nrows, ncols, squeeze=False)


def plot_history(history, path):
    """Loss and accuracy curves (train and validation, per epoch) from a History, saved as PNG."""
    logs = history.history if isinstance(history, History) else history
    if not isinstance(logs, dict) or "loss" not in logs:
        raise ValueError("history must be a History (or its .history dict) with a 'loss' entry")
    _check_path(path)
    panels = [k for k in ("loss", "accuracy") if k in logs]
    curves = {}
    for key in panels:
        curves[key] = _curve(logs, key)
        if f"val_{key}" in logs:
            val = curves[f"val_{key}"] = _curve(logs, f"val_{key}")
            if len(val) != len(curves[key]):
                raise ValueError(f"history['val_{key}'] has {len(val)} epochs but history[{key!r}] has "
                                 f"{len(curves[key])}; they must match")
    fig, axes = _figure(1, len(panels), (5 * len(panels), 3.6))
    for ax, key in zip(axes[0], panels):
        epochs = np.arange(1, len(curves[key]) + 1)
        k = _power_of_ten(curves[key], curves.get(f"val_{key}", curves[key]))
        ax.plot(epochs, curves[key] / 10.0 ** k, marker="o", ms=3, label=f"train {key}")
        if f"val_{key}" in curves:
            ax.plot(epochs, curves[f"val_{key}"] / 10.0 ** k, marker="o", ms=3, label=f"validation {key}")
        ax.set_xlabel("epoch")
        ax.set_ylabel(key + _units(k))
        ax.grid(alpha=0.3)
        ax.legend()
    fig.tight_layout()
    fig.savefig(path, format="png", dpi=100)
    return path


def plot_activation_histograms(model, X, path, training=True, bins=50):
    """One histogram per layer of its outputs on X (the classic saturation picture), saved as PNG."""
    _check_path(path)
    bins = _check_bins(bins)
    outputs = []
    _run_layers(model, X, training, lambda name, layer, y: outputs.append((name, type(layer).__name__,
                                                                              y.astype(np.float64).ravel())))
    if not outputs:
        raise ValueError(f"model is an empty {type(model).__name__}: it has no layers to plot")
    ncols = min(5, len(outputs))
    nrows = -(-len(outputs) // ncols)
    fig, axes = _figure(nrows, ncols, (3 * ncols, 2.4 * nrows))
    for ax in axes.ravel()[len(outputs):]:
        ax.set_visible(False)
    for ax, (name, cls, y) in zip(axes.ravel(), outputs):
        finite = y[np.isfinite(y)]
        if finite.size:
            k = _power_of_ten(finite, bins if isinstance(bins, np.ndarray) else finite)
            ax.hist(finite / 10.0 ** k, bins=bins / 10.0 ** k if isinstance(bins, np.ndarray) else bins,
                    color="tab:blue")
            mean, std = _mean_std(finite)
            ax.set_title(f"{name} {cls}{_units(k)}\nmean {mean:.3g} std {std:.3g}", fontsize=8)
        else:
            ax.set_title(f"{name} {cls}\nno finite values", fontsize=8)
        ax.tick_params(labelsize=7)
    fig.tight_layout()
    fig.savefig(path, format="png", dpi=100)
    return path
