"""Small datasets for examples, tests and benchmarks, and a seeded stratified split.

Design. ``load_digits`` wraps scikit-learn's 8×8 digits (1,797 images, 64 features in
[0, 16], 10 classes), which ship inside scikit-learn itself, so no download happens; it
is the one optional dependency here (``pip install "fastnn[demo]"``). ``make_teacher``
labels Gaussian inputs with a fixed random ReLU network, giving a learnable synthetic
task of any size. ``train_test_split`` is stratified by class and seeded. All outputs are
fresh C-contiguous arrays: X float32 (or the requested float dtype), y int64.
"""
from __future__ import annotations

import numpy as np

from ._validate import as_bool, as_float, as_int
from .nn.module import float_dtype

__all__ = ["load_digits", "make_teacher", "train_test_split"]

DEMO_EXTRA = 'pip install "fastnn[demo]"'


def load_digits(dtype=np.float32):
    """(X (1797, 64) in [0, 16], y (1797,) int64 in 0..9) from scikit-learn's bundled copy."""
    dtype = float_dtype(dtype)
    try:
        from sklearn.datasets import load_digits as sk_load_digits
    except ImportError:
        raise ImportError("the digits data ship with scikit-learn, which is not installed; "
                          f"run: {DEMO_EXTRA}") from None
    data = sk_load_digits()
    return np.ascontiguousarray(data.data, dtype=dtype), data.target.astype(np.int64)


def make_teacher(n_samples, n_features=784, n_classes=10, hidden=(256,), seed=0, dtype=np.float32):
    """X ~ N(0, 1) (n, F); y = argmax of a random ReLU "teacher" MLP F→hidden→C (He init)."""
    n = as_int(n_samples, "n_samples", low=1)
    f = as_int(n_features, "n_features", low=1)
    c = as_int(n_classes, "n_classes", low=2)
    dtype = float_dtype(dtype)
    g = np.random.default_rng(as_int(seed, "seed", low=0))
    if isinstance(hidden, (str, bytes)) or not hasattr(hidden, "__iter__"):
        raise TypeError(f"hidden must be a sequence of layer widths, got {type(hidden).__name__}")
    hidden = tuple(as_int(w, f"hidden[{i}]", low=1) for i, w in enumerate(hidden))
    X = g.standard_normal((n, f), dtype=np.float32).astype(dtype, copy=False)
    h = X.astype(np.float64)
    for width in (*hidden, c):
        w = g.standard_normal((h.shape[1], width)) * np.sqrt(2.0 / h.shape[1])
        z = h @ w
        h = np.maximum(z, 0.0) if width != c else z
    return np.ascontiguousarray(X), np.argmax(h, axis=1).astype(np.int64)


def train_test_split(X, y, test_size=0.25, seed=0, stratify=True):
    """(X_train, X_test, y_train, y_test): a seeded split, per class when ``stratify``.

    Each class contributes round(test_size·count) samples to the test part (so class
    proportions hold); the rows keep their original order within each part.
    """
    arrays = []
    for name, a in (("X", X), ("y", y)):
        try:
            a = np.asarray(a)
        except ValueError:                             # ragged nested lists
            raise ValueError(f"{name} must be an array with one entry per sample, got a {type(a).__name__} "
                             f"whose rows differ in length") from None
        if a.ndim == 0:
            raise ValueError(f"{name} must have one entry per sample, got a 0-d array")
        arrays.append(a)
    X, y = arrays
    if len(X) != len(y):
        raise ValueError(f"X and y have different lengths: X {X.shape}, y {y.shape}")
    frac = as_float(test_size, "test_size", low=0.0, high=1.0, low_inclusive=False, high_inclusive=False)
    g = np.random.default_rng(as_int(seed, "seed", low=0))
    groups = _classes(y) if as_bool(stratify, "stratify") else [np.arange(len(y))]
    test = np.zeros(len(y), bool)
    for idx in groups:
        k = int(round(frac * len(idx)))
        test[g.permutation(idx)[:k]] = True
    if test.all() or not test.any():
        raise ValueError(f"test_size={frac} leaves an empty part for {len(y)} samples")
    return X[~test], X[test], y[~test], y[test]


def _classes(y):
    """Row indices per distinct label (per distinct row of a 2-D y, e.g. one-hot labels)."""
    if len(y) == 0:
        return []
    try:
        if y.ndim == 1:
            _, inverse = np.unique(y, return_inverse=True)
        else:
            _, inverse = np.unique(y.reshape(len(y), -1), axis=0, return_inverse=True)
    except TypeError:                                  # object labels that do not sort (None, mixed types)
        raise TypeError(f"stratify needs labels y that can be sorted, got dtype {y.dtype} "
                        f"(first label {y.flat[0]!r}); pass stratify=False") from None
    inverse = inverse.reshape(-1)
    return [np.flatnonzero(inverse == k) for k in range(inverse.max() + 1)]
