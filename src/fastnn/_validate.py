"""Argument checking shared by the public API.

Every public entry point validates here, then makes exactly one kernel call; kernels
never see an unchecked array. Errors name the argument and the shapes involved.
"""
from __future__ import annotations

import math
import numbers

import numpy as np

FLOAT_DTYPES = (np.dtype(np.float32), np.dtype(np.float64))
F32_MAX = float(np.finfo(np.float32).max)             # float32's largest finite value, 3.4e38
F32_TINY = float(np.finfo(np.float32).tiny)           # and its smallest normal one, 1.2e-38


def check_array(x, name, *, ndim=None, dtype=None, contiguous=True, allow_empty=True):
    """Return ``x`` as a float32/float64 ndarray, or raise naming ``name``.

    ``dtype``: required dtype (an np.dtype), or None for "float32 or float64".
    Non-contiguous input is rejected when ``contiguous`` (kernels take C order only), and so
    is a non-native byte order (a kernel reads the bytes as native floats).
    """
    if not isinstance(x, np.ndarray):
        raise TypeError(f"{name} must be a numpy.ndarray, got {type(x).__name__}")
    if x.dtype.char not in "fd":
        raise TypeError(f"{name} must have dtype float32 or float64, got {x.dtype} with shape {x.shape}")
    if contiguous and not x.dtype.isnative:
        raise TypeError(f"{name} has dtype {x.dtype.str}, not in the native byte order; convert it with "
                        f"{name}.astype(numpy.{x.dtype.name})")
    if dtype is not None and x.dtype != dtype:
        raise TypeError(f"{name} has dtype {x.dtype} but {np.dtype(dtype)} is required (dtypes may not be mixed)")
    if ndim is not None and x.ndim != ndim:
        raise ValueError(f"{name} must be {ndim}-D, got shape {x.shape}")
    if contiguous and not x.flags.c_contiguous:
        raise ValueError(f"{name} must be C-contiguous (shape {x.shape}, strides {x.strides}); use numpy.ascontiguousarray")
    if not allow_empty and x.size == 0:
        raise ValueError(f"{name} must not be empty, got shape {x.shape}")
    return x


def check_out(out, name, shape, dtype, *, inputs=()):
    """Validate a caller-supplied output buffer: shape, dtype, contiguity, writability, no aliasing."""
    check_array(out, name, dtype=dtype)
    if out.shape != tuple(shape):
        raise ValueError(f"{name} has shape {out.shape}, expected {tuple(shape)}")
    if not out.flags.writeable:
        raise ValueError(f"{name} is read-only")
    owns = out.base is None
    for other_name, other in inputs:
        if other is None or (owns and other.base is None and other is not out):
            continue                                   # two arrays that own their data never overlap
        # may_share_memory is a bounds test (~0.5 µs); the exact test only runs when it says yes.
        if np.may_share_memory(out, other) and np.shares_memory(out, other):
            raise ValueError(f"{name} must not share memory with {other_name}")
    return out


def as_float(value, name, *, low=None, high=None, low_inclusive=True, high_inclusive=True, finite=True):
    """A real scalar hyper-parameter, range-checked; raises naming ``name``."""
    if type(value) is not float and (isinstance(value, bool) or not isinstance(value, numbers.Real)):
        raise TypeError(f"{name} must be a real number, got {type(value).__name__}")
    try:
        v = float(value)
    except OverflowError:                              # an int past the float range (10**400)
        v = math.inf if value > 0 else -math.inf
    if finite and not math.isfinite(v):
        raise ValueError(f"{name} must be finite, got {v}")
    if low is not None and (v < low or (v == low and not low_inclusive)):
        raise ValueError(f"{name} must be {'>=' if low_inclusive else '>'} {low}, got {v}")
    if high is not None and (v > high or (v == high and not high_inclusive)):
        raise ValueError(f"{name} must be {'<=' if high_inclusive else '<'} {high}, got {v}")
    return v


def as_int(value, name, *, low=None, high=None):
    """An integer argument (bools and floats rejected), range-checked."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{name} must be an integer, got {type(value).__name__}")
    v = int(value)
    if low is not None and v < low:
        raise ValueError(f"{name} must be >= {low}, got {v}")
    if high is not None and v > high:
        raise ValueError(f"{name} must be <= {high}, got {v}")
    return v


def as_bool(value, name):
    """A flag: bool or numpy.bool_ (an array or other object is refused, not truth-tested)."""
    if not isinstance(value, (bool, np.bool_)):
        raise TypeError(f"{name} must be a bool, got {type(value).__name__}")
    return bool(value)


def as_choice(value, name, choices):
    """One of the strings ``choices`` (a sequence or dict keys). Anything else is refused by type
    before it is compared: unhashable values (lists, arrays) never reach ``in``."""
    if isinstance(value, str) and value in choices:
        return value
    *head, last = map(repr, choices)
    options = f"{', '.join(head)} or {last}" if head else last
    if not isinstance(value, str):
        raise TypeError(f"{name} must be {options}, got {type(value).__name__}")
    raise ValueError(f"{name} must be {options}, got {value!r}")


def same_dtype(name_a, a, name_b, b):
    if a.dtype != b.dtype:
        raise TypeError(f"{name_a} has dtype {a.dtype} but {name_b} has dtype {b.dtype}; dtypes may not be mixed")
