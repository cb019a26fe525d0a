"""NumPy dropout kernels and the counter-based generator both backends share bit for bit.

Definition (the C++ kernels reproduce it exactly; all arithmetic is on uint64 with
wraparound modulo 2^64):

    mix(z):  z ^= z >> 30; z *= 0xBF58476D1CE4E5B9;
             z ^= z >> 27; z *= 0x94D049BB133111EB;
             z ^= z >> 31                                  (the SplitMix64 finaliser)
    key(seed, stream)   = mix(seed·0x9E3779B97F4A7C15 + stream·0xD1B54A32D192ED03)
    random_u64(seed, stream, j) = mix(key + j·0x9E3779B97F4A7C15)
                          (SplitMix64's output sequence, started at a hashed position)

``stream`` is the caller's step counter; ``j`` an int64 read as uint64. Derived quantities,
for the flat (row-major) element index i:

    dropout bits of i  =  32-bit half of random_u64(seed, stream, i >> 1): the low half
                          for even i, the high half for odd i (one hash per two elements)
    keep element i     ⇔  bits < keep32,   keep32 = floor((1 − p)·2^32)
                          ((1 − p) rounded to float64 first; p = 0 keeps all, p = 1 none)
    uniform of i       =  (random_u64(seed, stream, i) >> 11)·2^−53   (exact in float64)
    rrelu slope        =  lower + (upper − lower)·uniform, in float64 without FMA
                          contraction, then rounded once to the output dtype.

A mask therefore depends only on (seed, stream, index): not on thread count or blocking.
The keep probability is keep32/2^32, within 2^−32 of 1 − p.
"""
from __future__ import annotations

import numpy as np

__all__ = ["random_u64", "dropout_bits", "dropout_forward", "dropout_backward", "rrelu_slopes"]

_MASK64 = (1 << 64) - 1
_GOLDEN = 0x9E3779B97F4A7C15
_STREAM = 0xD1B54A32D192ED03


def _mix_int(z):
    """SplitMix64 finaliser of one Python int (mod 2^64)."""
    z ^= z >> 30
    z = (z * 0xBF58476D1CE4E5B9) & _MASK64
    z ^= z >> 27
    z = (z * 0x94D049BB133111EB) & _MASK64
    return z ^ (z >> 31)


def _mix(z, t):
    """SplitMix64 finaliser, in place on the uint64 array z (t: scratch of z's shape)."""
    for shift, mul in ((30, 0xBF58476D1CE4E5B9), (27, 0x94D049BB133111EB)):
        np.bitwise_xor(z, np.right_shift(z, np.uint64(shift), out=t), out=z)
        np.multiply(z, np.uint64(mul), out=z)
    np.bitwise_xor(z, np.right_shift(z, np.uint64(31), out=t), out=z)
    return z


def random_u64(seed, stream, index):
    """mix(key(seed, stream) + index·G) as uint64, shaped like ``index``."""
    key = _mix_int((int(seed) * _GOLDEN + int(stream) * _STREAM) & _MASK64)
    z = np.array(index, dtype=np.int64, ndmin=1).astype(np.uint64)
    z *= np.uint64(_GOLDEN)
    z += np.uint64(key)
    return _mix(z, np.empty_like(z)).reshape(np.shape(index))


def dropout_bits(seed, stream, n):
    """(n,) uint32: the bits that decide dropout elements 0..n−1."""
    words = random_u64(seed, stream, np.arange((int(n) + 1) // 2, dtype=np.int64))
    halves = np.stack([words & np.uint64(0xFFFFFFFF), words >> np.uint64(32)], axis=1)
    return halves.reshape(-1)[:n].astype(np.uint32)


def _keep(shape, p, seed, stream):
    """Boolean keep mask of ``shape`` for drop probability p."""
    keep32 = int((1.0 - float(p)) * 2.0 ** 32)
    return (dropout_bits(seed, stream, int(np.prod(shape))).astype(np.uint64) < np.uint64(keep32)).reshape(shape)


def dropout_forward(x, p, scale, seed, stream, out=None):
    """y = x·scale where kept, 0 where dropped (scale rounded to x's dtype)."""
    y = np.where(_keep(x.shape, p, seed, stream), x * x.dtype.type(scale), x.dtype.type(0))
    if out is None:
        return y
    out[...] = y
    return out


def dropout_backward(grad_y, p, scale, seed, stream, out=None):
    """grad_x = grad_y·scale where kept, 0 elsewhere: the forward mask, regenerated."""
    return dropout_forward(grad_y, p, scale, seed, stream, out)


def rrelu_slopes(n, lower, upper, seed, stream, dtype):
    """(n,) slopes lower + (upper − lower)·U[0, 1) in ``dtype``."""
    u = (random_u64(seed, stream, np.arange(n, dtype=np.int64)) >> np.uint64(11)).astype(np.float64)
    u *= 2.0 ** -53
    return (float(lower) + (float(upper) - float(lower)) * u).astype(dtype)
