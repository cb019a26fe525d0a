"""NumPy data kernels: mini-batch gathering (the native twin is cpp/gather.cpp) and the label
range check."""
from __future__ import annotations

import numpy as np

__all__ = ["take_rows", "first_out_of_range"]


def take_rows(x, index, out):
    """out[r] = x[index[r]] along the first axis; IndexError for an index outside [0, len(x))."""
    if x.dtype != out.dtype or x.shape[1:] != out.shape[1:]:
        raise ValueError(f"take_rows: out has dtype {out.dtype} and rows of shape {out.shape[1:]}, x has "
                         f"{x.dtype} and {x.shape[1:]}")
    if len(index) and (index.min() < 0 or index.max() >= len(x)):
        bad = int(np.flatnonzero((index < 0) | (index >= len(x)))[0])
        raise IndexError(f"take_rows: index {index[bad]} at position {bad} is out of bounds for {len(x)} rows")
    np.take(x, index, axis=0, out=out)
    return out


def first_out_of_range(labels, n):
    """Position of the first int64 label outside [0, n), or None."""
    if labels.size == 0 or (labels.min() >= 0 and labels.max() < n):    # the common case: two reductions
        return None
    return int(np.flatnonzero((labels < 0) | (labels >= n))[0])
