"""Helpers shared by the native-kernel tests (tests/test_vmath.py, test_kernels_*.py).

- ``isa``: a fixture running the test once per instruction set this CPU supports, switching
  the kernel table in-process (fastnn._native.select_isa) and restoring it afterwards.
- ``bitwise_same_for_threads(fn)``: fn() under 1, 2 and 3 kernel threads; asserts the
  returned arrays (or tuples of arrays / floats) are identical bit for bit.
- ``SIZES`` (the SIMD body and tail cases) and ``EDGE`` values of issue 3.
"""
import numpy as np
import pytest

import fastnn
from fastnn import _native

SIZES = (0, 1, 7, 63, 64, 1029)
EDGE = (0.0, -0.0, 1e-3, -1e-3, 1.0, -1.0, 20.0, -20.0, 88.7, -88.7, 1e4, -1e4, np.inf, -np.inf, np.nan)
SUPPORTED_ISAS = tuple(_native.supported_isas().split(","))


@pytest.fixture(params=SUPPORTED_ISAS)
def isa(request):
    previous = _native.current_isa()
    assert _native.select_isa(request.param) == 0
    yield request.param
    _native.select_isa(previous)


def _as_tuple(r):
    return r if isinstance(r, tuple) else (r,)


def bitwise_same_for_threads(fn):
    """Results of fn() for 1, 2, 3 threads, asserted bitwise equal; returns the 1-thread result."""
    previous = fastnn.get_num_threads()
    try:
        results = []
        for n in (1, 2, 3):
            fastnn.set_num_threads(n)
            results.append(_as_tuple(fn()))
    finally:
        fastnn.set_num_threads(previous)
    for n, r in zip((2, 3), results[1:]):
        for a, b in zip(results[0], r):
            if isinstance(a, np.ndarray):
                assert a.dtype == b.dtype and a.tobytes() == b.tobytes(), f"{n} threads differ from 1 thread"
            else:
                assert np.array(a).tobytes() == np.array(b).tobytes(), f"{n} threads: {b!r} != {a!r}"
    return results[0]


def assert_close(got, ref, rtol, atol, what=""):
    """|got − ref| ≤ atol + rtol·|ref| elementwise; NaN where ref is NaN; equal infinities."""
    got = np.asarray(got, dtype=np.float64)
    ref = np.asarray(ref, dtype=np.float64)
    assert got.shape == ref.shape, (what, got.shape, ref.shape)
    nan_ref = np.isnan(ref)
    assert np.array_equal(np.isnan(got), nan_ref), f"{what}: NaN mismatch at {np.flatnonzero(np.isnan(got) != nan_ref)[:5]}"
    inf = np.isinf(ref)
    assert np.array_equal(got[inf], ref[inf]), f"{what}: infinities differ"
    ok = ~(nan_ref | inf)
    err = np.abs(got[ok] - ref[ok])
    bound = atol + rtol * np.abs(ref[ok])
    if err.size and not (err <= bound).all():
        i = int(np.argmax(err - bound))
        raise AssertionError(f"{what}: |err| {err[i]:.3g} > {bound[i]:.3g} (got {got[ok][i]!r}, ref {ref[ok][i]!r}, "
                             f"index {np.flatnonzero(ok)[i]})")
