"""Random hyper-parameter search: sample configurations, train each for an epoch budget, rank them.

Design. A search space is a dict name → distribution (``LogUniform`` for learning rates
and regularisation strengths, ``Uniform``, ``IntUniform``, ``Choice``) or a constant.
All configurations are drawn up front from ``default_rng(seed)`` in key order, so a
seed fixes them whatever happens during training. ``build_fn(config)`` returns a fresh
(model, loss, optimizer); it should seed its layers (e.g. ``Linear(..., rng=...)``) for
the whole search to be reproducible. Every trial trains with a silent ``Trainer`` on the
same data, epochs, batch size and shuffling seed, so trials differ only by their
configuration. A trial's score is the best value of ``metric`` over its epochs
(``mode`` "max" or "min"); a trial whose training diverges scores NaN and ranks last.
"""
from __future__ import annotations

import math
import numbers
import time

import numpy as np

from ._validate import as_choice, as_float, as_int
from .trainer import Trainer, TrainingDivergedError

__all__ = ["LogUniform", "Uniform", "IntUniform", "Choice", "RandomSearch"]


class Distribution:
    """Something ``sample(rng)`` draws a value from."""

    def sample(self, rng):
        raise NotImplementedError


class LogUniform(Distribution):
    """exp(U(log low, log high)): equal odds for each decade, for lr and penalty strengths."""

    def __init__(self, low, high):
        self.low = as_float(low, "low", low=0.0, low_inclusive=False)
        self.high = as_float(high, "high", low=self.low)

    def sample(self, rng):
        v = math.exp(rng.uniform(math.log(self.low), math.log(self.high)))
        return min(max(v, self.low), self.high)        # exp(log(b)) may round just past b

    def __repr__(self):
        return f"LogUniform({self.low:g}, {self.high:g})"


class Uniform(Distribution):
    """U(low, high)."""

    def __init__(self, low, high):
        self.low = as_float(low, "low")
        self.high = as_float(high, "high", low=self.low)

    def sample(self, rng):
        # low + (high − low)·u is what Generator.uniform draws (the same bits); it refuses a
        # range wider than the largest float, which the weighted form below still spans.
        u, width = rng.random(), self.high - self.low
        return self.low + width * u if math.isfinite(width) else self.low * (1.0 - u) + self.high * u

    def __repr__(self):
        return f"Uniform({self.low:g}, {self.high:g})"


class IntUniform(Distribution):
    """An integer in [low, high], both ends included, equally likely."""

    def __init__(self, low, high):
        self.low = as_int(low, "low", low=-2**63)        # (the int64 range the generator draws from)
        self.high = as_int(high, "high", low=self.low, high=2**63 - 1)

    def sample(self, rng):
        return int(rng.integers(self.low, self.high + 1))

    def __repr__(self):
        return f"IntUniform({self.low}, {self.high})"


class Choice(Distribution):
    """One of ``options``, equally likely."""

    def __init__(self, options):
        if isinstance(options, (str, bytes)) or not hasattr(options, "__iter__"):
            raise TypeError(f"Choice: options must be a sequence of values, got {type(options).__name__}")
        self.options = list(options)
        if not self.options:
            raise ValueError("Choice needs at least one option")

    def sample(self, rng):
        return self.options[int(rng.integers(len(self.options)))]

    def __repr__(self):
        return f"Choice({self.options!r})"


def _short(v):
    if isinstance(v, float):
        return float(f"{v:.4g}")
    return v if isinstance(v, (numbers.Number, str, bool, type(None))) else repr(v)


class RandomSearch:
    """Random search over ``space``; after ``fit``: ``results_``, ``best_config_``, ``best_score_``."""

    def __init__(self, build_fn, space, n_trials, epochs, batch_size, seed=0, metric="val_accuracy", mode="max",
                 verbose=1):
        if not callable(build_fn):
            raise TypeError(f"build_fn must be a callable config -> (model, loss, optimizer), "
                            f"got {type(build_fn).__name__}")
        if not isinstance(space, dict) or not space:
            raise TypeError("space must be a non-empty dict name -> distribution or constant")
        bad = next((k for k in space if not isinstance(k, str)), None)
        if bad is not None:
            raise TypeError(f"space keys must be str (hyper-parameter names), got {type(bad).__name__} {bad!r}")
        if not isinstance(metric, str):
            raise TypeError(f"metric must be the name of a logged value (e.g. 'val_accuracy'), "
                            f"got {type(metric).__name__}")
        mode = as_choice(mode, "mode", ("max", "min"))
        self.build_fn, self.space = build_fn, dict(space)
        self.n_trials = as_int(n_trials, "n_trials", low=1)
        self.epochs = as_int(epochs, "epochs", low=1)
        self.batch_size = as_int(batch_size, "batch_size", low=1)
        self.seed = as_int(seed, "seed", low=0)
        self.metric, self.mode = metric, mode
        self.verbose = as_int(verbose, "verbose", low=0)

    def sample_configs(self):
        """The n_trials configurations this seed gives (drawn in sorted key order)."""
        rng = np.random.default_rng(self.seed)
        return [{k: (v.sample(rng) if isinstance(v, Distribution) else v) for k, v in sorted(self.space.items())}
                for _ in range(self.n_trials)]

    def fit(self, X, y, validation_data=None, validation_split=0.0):
        """Train every trial; returns the results sorted best first (also in ``results_``)."""
        validation_split = as_float(validation_split, "validation_split", low=0.0, high=1.0, high_inclusive=False)
        if self.metric.startswith("val_") and validation_data is None and not validation_split:
            raise ValueError(f"metric {self.metric!r} needs validation_data or validation_split")
        results = []
        for trial, config in enumerate(self.sample_configs()):
            results.append(self._run(trial, config, X, y, validation_data, validation_split))
            if self.verbose:
                r = results[-1]
                print(f"trial {trial + 1}/{self.n_trials}: {self.metric} {r['score']:.4f} ({r['status']}, "
                      f"{r['time']:.1f}s) {', '.join(f'{k}={_short(v)}' for k, v in config.items())}", flush=True)
        sign = -1.0 if self.mode == "max" else 1.0
        results.sort(key=lambda r: (math.isnan(r["score"]), sign * r["score"] if not math.isnan(r["score"]) else 0.0,
                                    r["trial"]))
        self.results_ = results
        self.best_config_ = dict(results[0]["config"])
        self.best_score_ = results[0]["score"]
        return results

    def _run(self, trial, config, X, y, validation_data, validation_split):
        built = self.build_fn(dict(config))
        if not isinstance(built, tuple) or len(built) != 3:
            raise TypeError("build_fn must return a tuple (model, loss, optimizer)")
        trainer = Trainer(*built, verbose=0)
        logged = trainer._log_keys(y, validation_data is not None or validation_split > 0)
        if self.metric not in logged:                  # refused before the first trial trains
            raise ValueError(f"metric {self.metric!r} is not logged; available: {sorted(logged)}")
        t0 = time.perf_counter()
        status = "ok"
        try:
            history = trainer.fit(X, y, self.epochs, self.batch_size, validation_data=validation_data,
                                  validation_split=validation_split, seed=self.seed)
        except TrainingDivergedError:
            status, history = "diverged", trainer.history
        values = [v for v in history.history.get(self.metric, []) if not math.isnan(v)]
        if status == "diverged" or not values:
            score, best_epoch = math.nan, None
        else:
            best_epoch = int(np.argmax(values) if self.mode == "max" else np.argmin(values))
            score = float(values[best_epoch])
        return {"trial": trial, "config": config, "score": score, "best_epoch": best_epoch,
                "epochs": len(history.epoch), "status": status, "time": time.perf_counter() - t0}

    def results_table(self):
        """The results as an aligned text table, best first."""
        from .diagnostics import format_table
        if not hasattr(self, "results_"):
            raise RuntimeError("call fit first")
        rows = [{"rank": i + 1, "trial": r["trial"], self.metric: r["score"],
                 **{k: _short(v) for k, v in r["config"].items()},
                 "best epoch": "-" if r["best_epoch"] is None else r["best_epoch"] + 1,
                 "status": r["status"], "time s": round(r["time"], 2)} for i, r in enumerate(self.results_)]
        return format_table(rows)
