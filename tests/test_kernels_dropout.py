"""Native dropout and RReLU slopes (cpp/dropout.cpp, cpp/rng.h) against the NumPy reference
generator: masks and slopes identical bit for bit, for any thread count and ISA."""
import numpy as np
import pytest

from fastnn import _kernels, reference
from _kernel_util import SIZES, bitwise_same_for_threads, isa  # noqa: F401

DTYPES = [np.float32, np.float64]
SEEDS = [0, 1, 12345, 2**63 + 7, -3]          # negative / ≥ 2^63 seeds wrap to uint64 on both sides


@pytest.mark.parametrize("dtype", DTYPES, ids=["f32", "f64"])
@pytest.mark.parametrize("n", SIZES)
@pytest.mark.parametrize("p", [0.0, 0.1, 0.5, 0.9, 1.0])
def test_forward_backward_bitwise_equal_reference(isa, n, p, dtype):  # noqa: F811
    rng = np.random.default_rng(n)
    x = rng.normal(size=n).astype(dtype)
    scale = 1.0 / (1.0 - p) if p < 1 else 0.0
    for seed in SEEDS:
        for stream in (0, 5):
            y = _kernels.dropout_forward(x, p, scale, seed, stream)
            ref = reference.dropout_forward(x, p, scale, seed, stream)
            assert y.dtype == dtype and y.tobytes() == ref.tobytes(), (seed, stream)
            gx = _kernels.dropout_backward(x, p, scale, seed, stream)
            assert gx.tobytes() == reference.dropout_backward(x, p, scale, seed, stream).tobytes()


def test_exact_p0_p1_and_2d_in_place():
    x = np.arange(1, 61, dtype=np.float32).reshape(6, 10)
    assert np.array_equal(_kernels.dropout_forward(x, 0.0, 1.0, 3, 4), x)
    assert not _kernels.dropout_forward(x, 1.0, 0.0, 3, 4).any()
    xi = x.copy()
    assert _kernels.dropout_forward(xi, 0.5, 2.0, 3, 4, out=xi) is xi
    assert xi.tobytes() == reference.dropout_forward(x, 0.5, 2.0, 3, 4).tobytes()


def test_mask_depends_on_seed_and_stream():
    x = np.ones(4096, dtype=np.float32)
    a = _kernels.dropout_forward(x, 0.5, 2.0, 1, 0)
    assert a.tobytes() != _kernels.dropout_forward(x, 0.5, 2.0, 2, 0).tobytes()
    assert a.tobytes() != _kernels.dropout_forward(x, 0.5, 2.0, 1, 1).tobytes()


@pytest.mark.parametrize("p", [0.1, 0.5, 0.8])
def test_keep_rate_within_4_sigma_and_mean_preserved(p):
    n = 10**6
    x = np.ones(n, dtype=np.float64)
    y = _kernels.dropout_forward(x, p, 1.0 / (1.0 - p), 2024, 3)
    kept = np.count_nonzero(y)
    sigma = np.sqrt(n * p * (1 - p))
    assert abs(kept - n * (1 - p)) < 4 * sigma, (kept, n * (1 - p), sigma)
    assert abs(y.mean() - 1.0) < 4 * sigma / (n * (1 - p))


@pytest.mark.parametrize("dtype", DTYPES, ids=["f32", "f64"])
def test_threads_bitwise_equal(dtype):
    x = np.random.default_rng(0).normal(size=10**6 + 3).astype(dtype)
    y, = bitwise_same_for_threads(lambda: _kernels.dropout_forward(x, 0.3, 1 / 0.7, 99, 12))
    assert y.tobytes() == reference.dropout_forward(x, 0.3, 1 / 0.7, 99, 12).tobytes()
    s, = bitwise_same_for_threads(lambda: _kernels.rrelu_slopes(10**6 + 3, 0.125, 1 / 3, 99, 12, dtype))
    assert s.tobytes() == reference.rrelu_slopes(10**6 + 3, 0.125, 1 / 3, 99, 12, dtype).tobytes()


@pytest.mark.parametrize("dtype", DTYPES, ids=["f32", "f64"])
@pytest.mark.parametrize("n", SIZES)
def test_rrelu_slopes_bitwise_equal_reference(isa, n, dtype):  # noqa: F811
    for lower, upper in [(0.125, 1 / 3), (0.0, 1.0), (0.3, 0.3)]:
        s = _kernels.rrelu_slopes(n, lower, upper, 7, 1, dtype)
        ref = reference.rrelu_slopes(n, lower, upper, 7, 1, dtype)
        assert s.dtype == dtype and s.tobytes() == ref.tobytes()
        assert ((s >= dtype(lower)) & (s <= dtype(upper))).all()
