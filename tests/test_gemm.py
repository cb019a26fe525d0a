"""fastnn.ops.gemm against a float64 NumPy oracle.

Tolerance: the kernel sums K products in a fixed order, so |err| <= (K + 2)·u·(|op(a)|·|op(b)|
+ |beta·c| + |bias|) elementwise (u = unit roundoff of the dtype): loose enough for any
summation order, tight enough that one wrong element fails.
"""
import itertools
import os
import subprocess
import sys

import numpy as np
import pytest

import fastnn
from fastnn import _native, ops

SIZES = [0, 1, 2, 5, 7, 15, 16, 17, 63, 64, 65, 127, 255, 257, 1000]
DTYPES = [np.float32, np.float64]
TRANS = list(itertools.product([False, True], repeat=2))


def _shapes():
    """Every size in every dimension (others moderate) plus a seeded sample of triples."""
    out = set()
    for s in SIZES:
        out.update({(s, 17, 33), (19, s, 31), (23, 29, s)})
    rng = np.random.default_rng(1234)
    small = [s for s in SIZES if s <= 257]
    for _ in range(40):
        out.add(tuple(int(rng.choice(small)) for _ in range(3)))
    out.update({(257, 255, 1000), (1000, 65, 127), (64, 1000, 64)})
    return sorted(out)


def _operands(rng, m, n, k, ta, tb, dtype):
    a = rng.standard_normal((k, m) if ta else (m, k)).astype(dtype)
    b = rng.standard_normal((n, k) if tb else (k, n)).astype(dtype)
    return a, b


def _oracle(a, b, ta, tb, alpha=1.0, beta=0.0, c=None, bias=None, relu=False):
    """float64 result and its elementwise error scale."""
    A = (a.T if ta else a).astype(np.float64)
    B = (b.T if tb else b).astype(np.float64)
    ref = alpha * (A @ B)
    scale = abs(alpha) * (np.abs(A) @ np.abs(B))
    if beta != 0.0:
        ref += beta * c.astype(np.float64)
        scale += abs(beta) * np.abs(c)
    if bias is not None:
        ref += bias
        scale += np.abs(bias)
    if relu:
        ref = np.maximum(ref, 0)
    return ref, scale


def _assert_close(got, ref, scale, k, dtype):
    u = np.finfo(dtype).eps / 2
    tol = (k + 2) * u * scale + np.finfo(dtype).tiny
    bad = np.abs(got.astype(np.float64) - ref) > tol
    assert not bad.any(), (
        f"{bad.sum()} elements out of tolerance; worst at {np.unravel_index(np.argmax(np.abs(got - ref) - tol), ref.shape)}"
    )


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("ta,tb", TRANS)
def test_plain_product_all_shapes(dtype, ta, tb):
    rng = np.random.default_rng(0)
    for m, n, k in _shapes():
        a, b = _operands(rng, m, n, k, ta, tb, dtype)
        got = ops.gemm(a, b, trans_a=ta, trans_b=tb)
        assert got.shape == (m, n) and got.dtype == dtype
        ref, scale = _oracle(a, b, ta, tb)
        _assert_close(got, ref, scale, k, dtype)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("ta,tb", TRANS)
@pytest.mark.parametrize("alpha,beta", [(1.0, 0.0), (0.5, 1.0), (-2.0, 0.25), (0.0, 1.0), (1.0, -1.0)])
@pytest.mark.parametrize("use_bias,activation", [(False, None), (True, None), (True, "relu"), (False, "relu")])
def test_epilogue_combinations(dtype, ta, tb, alpha, beta, use_bias, activation):
    rng = np.random.default_rng(1)
    for m, n, k in [(1, 1, 1), (7, 17, 5), (63, 65, 257), (130, 33, 600), (13, 40, 0)]:
        a, b = _operands(rng, m, n, k, ta, tb, dtype)
        c = rng.standard_normal((m, n)).astype(dtype)
        bias = rng.standard_normal(n).astype(dtype) if use_bias else None
        out = c.copy()
        got = ops.gemm(a, b, trans_a=ta, trans_b=tb, alpha=alpha, beta=beta, out=out, bias=bias, activation=activation)
        assert got is out
        ref, scale = _oracle(a, b, ta, tb, alpha, beta, c, bias, relu=activation == "relu")
        _assert_close(got, ref, scale, k, dtype)


@pytest.mark.parametrize("dtype", DTYPES)
def test_beta_zero_never_reads_out(dtype):
    rng = np.random.default_rng(2)
    a, b = _operands(rng, 33, 47, 20, False, False, dtype)
    out = np.full((33, 47), np.nan, dtype=dtype)
    ops.gemm(a, b, out=out)
    assert np.isfinite(out).all()


@pytest.mark.parametrize("dtype", DTYPES)
def test_empty_dimensions(dtype):
    rng = np.random.default_rng(3)
    # K = 0: beta·out + bias, then the activation.
    a = np.empty((4, 0), dtype)
    b = np.empty((0, 5), dtype)
    c = rng.standard_normal((4, 5)).astype(dtype)
    bias = rng.standard_normal(5).astype(dtype)
    got = ops.gemm(a, b, beta=0.5, out=c.copy(), bias=bias, activation="relu")
    np.testing.assert_allclose(got, np.maximum(0.5 * c + bias, 0), rtol=1e-6)
    assert ops.gemm(a, b).tolist() == np.zeros((4, 5)).tolist()
    # M = 0 or N = 0: empty result.
    assert ops.gemm(np.empty((0, 3), dtype), np.ones((3, 4), dtype)).shape == (0, 4)
    assert ops.gemm(np.ones((2, 3), dtype), np.empty((3, 0), dtype)).shape == (2, 0)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("tb", [False, True], ids=["NN", "NT"])  # NT, 9 rows: the dot-product path
def test_nonfinite_propagation(dtype, tb):
    a = np.ones((9, 20), dtype)
    b = np.ones((18, 20) if tb else (20, 18), dtype)
    a[3, 7] = np.nan
    a[5, 2] = np.inf
    a[6, 1] = -np.inf
    got = ops.gemm(a, b, trans_b=tb, activation="relu")
    assert np.isnan(got[3]).all()                      # ReLU keeps NaN, in the epilogue of either path
    assert np.isposinf(got[5]).all()
    assert (got[6] == 0).all()
    mask = np.ones(9, bool)
    mask[[3, 5, 6]] = False
    assert (got[mask] == 20).all()
    huge = np.full((2, 3), np.finfo(dtype).max / 2, dtype)
    assert np.isposinf(ops.gemm(huge, np.ones((3, 2), dtype))).all()


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("ta,tb", TRANS)
def test_threads_bitwise_equal(dtype, ta, tb):
    rng = np.random.default_rng(4)
    before = fastnn.get_num_threads()
    try:
        for m, n, k in [(301, 517, 389), (32, 256, 784), (45, 131, 700), (700, 257, 10), (512, 784, 256),
                        (1200, 40, 300)]:
            a, b = _operands(rng, m, n, k, ta, tb, dtype)
            bias = rng.standard_normal(n).astype(dtype)
            results = []
            for nt in (1, 2, 3, 16):
                fastnn.set_num_threads(nt)
                results.append(ops.gemm(a, b, trans_a=ta, trans_b=tb, bias=bias, activation="relu").tobytes())
            assert all(r == results[0] for r in results)
    finally:
        fastnn.set_num_threads(before)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("ta,tb", [(False, False), (True, False), (True, True)])
@pytest.mark.parametrize("n", [257, 512])
def test_rows_do_not_depend_on_m(dtype, ta, tb, n):
    """The blocked driver reads A and B in place or packs them depending on M and the strides
    (direct A up to 512 rows, direct B up to 48); the arithmetic, and so every bit of a row of
    C, must not change with that choice. (NT with few rows takes the dot-product path, a
    different summation order, so it is not in this list.)"""
    rng = np.random.default_rng(6)
    k, m_full = 300, 600
    a, b = _operands(rng, m_full, n, k, ta, tb, dtype)
    bias = rng.standard_normal(n).astype(dtype)
    full = ops.gemm(a, b, trans_a=ta, trans_b=tb, bias=bias)
    for m in (2, 5, 17, 32, 48, 49, 64, 300, 513):
        part = np.ascontiguousarray(a[:, :m] if ta else a[:m])
        got = ops.gemm(part, b, trans_a=ta, trans_b=tb, bias=bias)
        assert got.tobytes() == full[:m].tobytes(), f"rows of C differ at M={m}"


@pytest.mark.parametrize("dtype", DTYPES)
def test_microkernel_matches_reference_microkernel(dtype):
    """The SIMD micro-kernel and the plain-loop reference micro-kernel, same driver and panels."""
    rng = np.random.default_rng(5)
    mr, nr = _native.gemm_tile(np.dtype(dtype).name)
    for m, n, k in [(mr, nr, 1), (mr, nr, 300), (mr - 1, nr - 1, 7), (3 * mr + 1, 2 * nr + 3, 513)]:
        a, b = _operands(rng, m, n, k, False, True, dtype)
        c = rng.standard_normal((m, n)).astype(dtype)
        bias = rng.standard_normal(n).astype(dtype)
        fast, ref = c.copy(), c.copy()
        _native.gemm(a, b, fast, False, True, 0.75, 0.5, bias, 1, 0.0, 0.0, False)
        _native.gemm(a, b, ref, False, True, 0.75, 0.5, bias, 1, 0.0, 0.0, True)
        r64, scale = _oracle(a, b, False, True, 0.75, 0.5, c, bias, relu=True)
        _assert_close(fast, r64, scale, k, dtype)
        _assert_close(ref, r64, scale, k, dtype)


def test_reference_backend_agrees():
    rng = np.random.default_rng(6)
    a, b = _operands(rng, 40, 30, 50, False, True, np.float64)
    bias = rng.standard_normal(30)
    native = ops.gemm(a, b, trans_b=True, bias=bias, activation="relu")
    fastnn.set_backend("numpy")
    try:
        numpy_result = ops.gemm(a, b, trans_b=True, bias=bias, activation="relu")
    finally:
        fastnn.set_backend("native")
    np.testing.assert_allclose(native, numpy_result, rtol=1e-12, atol=1e-12)


# ---------------------------------------------------------------- bad input


def _err(exc, match, **kwargs):
    base = dict(a=np.ones((3, 4), np.float32), b=np.ones((4, 5), np.float32))
    base.update(kwargs)
    a, b = base.pop("a"), base.pop("b")
    with pytest.raises(exc, match=match):
        ops.gemm(a, b, **base)


def test_bad_inputs():
    f32 = np.float32
    _err(ValueError, "a must be 2-D", a=np.ones(3, f32))
    _err(ValueError, "b must be 2-D", b=np.ones((4, 5, 1), f32))
    _err(TypeError, "a must have dtype", a=np.ones((3, 4), np.int64))
    _err(TypeError, "dtypes may not be mixed", b=np.ones((4, 5), np.float64))
    _err(TypeError, "a must be a numpy.ndarray", a=[[1.0]])
    _err(ValueError, "inner dimensions", b=np.ones((5, 5), f32))
    _err(ValueError, "a must be C-contiguous", a=np.ones((4, 3), f32).T)
    _err(ValueError, "out has shape", out=np.ones((3, 4), f32))
    _err(TypeError, "out has dtype", out=np.ones((3, 5), np.float64))
    _err(ValueError, "bias has shape", bias=np.ones(4, f32))
    _err(TypeError, "bias has dtype", bias=np.ones(5, np.float64))
    _err(ValueError, "unknown activation", activation="relu6")
    _err(TypeError, "activation must be", activation=3)
    # The validated-activation cache must not let a bool through once the equal int is cached.
    ops.gemm(np.ones((3, 4), f32), np.ones((4, 5), f32), activation="elu", activation_params=(1,))
    for flag in (True, np.True_):
        _err(TypeError, "activation 'elu': alpha must be a real number", activation="elu", activation_params=(flag,))
    # The ranges the activation modules enforce hold for ops.gemm's epilogue too.
    _err(ValueError, "softplus.: beta must be > 0", activation="softplus", activation_params=(0.0, 20.0))
    _err(ValueError, "hardtanh.: max_val must be greater", activation="hardtanh", activation_params=(1.0, -1.0))
    _err(ValueError, "celu.: alpha and 1/alpha must be within float32", activation="celu", activation_params=(0.0,))
    for flag in (np.array([1, 0]), 1, "yes", None):      # a flag, never truth-tested
        _err(TypeError, "trans_a must be a bool", trans_a=flag)
        _err(TypeError, "trans_b must be a bool", trans_b=flag, out=np.empty((3, 5), f32))
    assert ops.gemm(np.ones((4, 3), f32), np.ones((4, 5), f32), trans_a=np.True_).shape == (3, 5)
    _err(ValueError, "beta != 0 requires out", beta=1.0)
    _err(ValueError, "alpha must be finite", alpha=float("nan"))
    _err(ValueError, "alpha must be finite, got inf", alpha=10 ** 400)    # not an OverflowError from float()
    a = np.ones((4, 4), f32)
    with pytest.raises(ValueError, match="out must not share memory with a"):
        ops.gemm(a, np.ones((4, 4), f32), out=a)
    block = np.ones((8, 4), f32)                          # views: the bounds test decides
    with pytest.raises(ValueError, match="out must not share memory with b"):
        ops.gemm(a, block[:4], out=block[3:7])
    assert (ops.gemm(a, block[:4], out=block[4:]) == 4).all()   # adjacent, not overlapping
    ro = np.ones((3, 5), f32)
    ro.flags.writeable = False
    _err(ValueError, "out is read-only", out=ro)


def test_activation_params_and_backend_names_of_the_wrong_type(backend):
    """Refused by type with the argument's name, not as "not iterable" or "unhashable type"."""
    for params in (5, np.float64(1.0), np.array(1.0)):
        _err(TypeError, "activation_params must be a sequence of numbers or None, got", activation="elu",
             activation_params=params)
    _err(ValueError, r"activation 'relu': takes 0 parameters \(\), got \(1.0,\)", activation="relu",
         activation_params=(1.0,))
    for name in (["numpy"], {}, np.array("numpy"), None):
        with pytest.raises(TypeError, match=f"backend must be 'native' or 'numpy', got {type(name).__name__}"):
            fastnn.set_backend(name)
    with pytest.raises(ValueError, match="backend must be 'native' or 'numpy', got 'cuda'"):
        fastnn.set_backend("cuda")
    assert fastnn.get_backend() == backend


@pytest.mark.parametrize("backend", ["native", "numpy"])
@pytest.mark.parametrize("swapped", ["a", "b", "out", "bias"])
def test_non_native_byte_order_is_refused(backend, swapped):
    """A byte-swapped float array ('>f4' on x86) is a TypeError naming the argument on both
    backends (the native binding would find no kernel for it), with and without out."""
    f32 = np.dtype(np.float32)
    kw = dict(out=np.zeros((3, 5), f32), bias=np.ones(5, f32))
    ab = dict(a=np.ones((3, 4), f32), b=np.ones((4, 5), f32))
    for d in (kw, ab):
        if swapped in d:
            d[swapped] = d[swapped].astype(f32.newbyteorder())
    fastnn.set_backend(backend)
    try:
        with pytest.raises(TypeError, match=f"{swapped} has dtype .f4, not in the native byte order"):
            ops.gemm(ab["a"], ab["b"], **kw)
        if swapped != "out":
            with pytest.raises(TypeError, match=f"{swapped} has dtype .f4, not in the native byte order"):
                ops.gemm(ab["a"], ab["b"], bias=kw["bias"])
    finally:
        fastnn.set_backend("native")


def test_bad_inputs_with_out():
    """The same errors, worded the same, when out is given (the unchecked fast path tries
    the binding first and re-runs the full checks on whatever it rejects)."""
    f32 = np.float32
    out = np.empty((3, 5), f32)
    _err(ValueError, "b must be 2-D", b=np.ones((4, 5, 1), f32), out=out)
    _err(TypeError, "a must have dtype", a=np.ones((3, 4), np.int64), out=out)
    _err(TypeError, "dtypes may not be mixed", b=np.ones((4, 5), np.float64), out=out)
    _err(ValueError, "inner dimensions", b=np.ones((5, 5), f32), out=out)
    _err(ValueError, "a must be C-contiguous", a=np.ones((3, 4), f32, order="F"), out=out)   # owns its memory
    _err(ValueError, "out has shape", out=np.ones((5, 3), f32))
    _err(ValueError, "out must be C-contiguous", out=np.ones((3, 5), f32, order="F"))
    _err(TypeError, "out has dtype", out=np.ones((3, 5), np.float64))
    _err(TypeError, "out must be a numpy.ndarray", out=[[0.0] * 5] * 3)
    _err(ValueError, "bias has shape", bias=np.ones(4, f32), out=out)
    _err(ValueError, "bias must be 1-D", bias=np.ones((1, 5), f32), out=out)
    _err(TypeError, "bias has dtype", bias=np.ones(5, np.float64), out=out)
    _err(ValueError, "alpha must be finite", alpha=float("inf"), out=out)
    _err(ValueError, "beta must be finite", beta=float("nan"), out=out)
    _err(TypeError, "beta must be a real number", beta="1", out=out)
    _err(ValueError, "unknown activation", activation="relu6", out=out)
    bias = np.ones(5, f32)
    with pytest.raises(ValueError, match="out must not share memory with bias"):
        ops.gemm(np.ones((1, 4), f32), np.ones((4, 5), f32), out=bias.reshape(1, 5), bias=bias)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_fast_path_matches_checked_path(dtype, monkeypatch):
    """ops.gemm's unchecked fast path (plain arrays that own their memory) and its fully
    checked path give the same bits, for every epilogue; and the fast path is the one the
    common call takes (with the checks made to fail, it still succeeds)."""
    rng = np.random.default_rng(11)
    cases = [dict(), dict(trans_b=True, bias=rng.standard_normal(9).astype(dtype), activation="relu"),
             dict(trans_a=True, alpha=0.5, beta=2.0), dict(activation="leaky_relu", activation_params=(0.2,)),
             dict(activation="gelu", bias=rng.standard_normal(9).astype(dtype))]
    for kw in cases:
        a = rng.standard_normal((13, 7)).astype(dtype) if kw.get("trans_a") else rng.standard_normal((7, 13)).astype(dtype)
        b = rng.standard_normal((9, 13)).astype(dtype) if kw.get("trans_b") else rng.standard_normal((13, 9)).astype(dtype)
        c0 = rng.standard_normal((7, 9)).astype(dtype)
        fast_out = c0.copy()
        fast = ops.gemm(a, b, out=fast_out, **kw)
        assert fast is fast_out
        with monkeypatch.context() as mp:
            mp.setattr(ops, "_native_kernels", None)          # full checks only
            checked = ops.gemm(a, b, out=c0.copy(), **kw)
        np.testing.assert_array_equal(fast, checked)
        with monkeypatch.context() as mp:
            def fail(*args, **kwargs):
                raise AssertionError("the full checks ran")
            mp.setattr(ops, "check_array", fail)
            mp.setattr(ops, "check_out", fail)
            np.testing.assert_array_equal(ops.gemm(a, b, out=c0.copy(), **kw), checked)
            if kw.get("beta", 0.0) == 0.0:
                np.testing.assert_array_equal(ops.gemm(a, b, **kw), checked)


# ---------------------------------------------------------------- every ISA

_ISA_SCRIPT = r"""
import numpy as np, fastnn, sys
from fastnn import ops
assert fastnn.get_isa() == sys.argv[1], fastnn.get_isa()
rng = np.random.default_rng(7)
worst = 0.0
for dtype in (np.float32, np.float64):
    u = np.finfo(dtype).eps / 2
    for (m, n, k) in [(1, 1, 1), (7, 5, 3), (17, 33, 65), (64, 257, 127), (255, 16, 1000), (130, 47, 300)]:
        for ta in (False, True):
            for tb in (False, True):
                a = rng.standard_normal((k, m) if ta else (m, k)).astype(dtype)
                b = rng.standard_normal((n, k) if tb else (k, n)).astype(dtype)
                c = rng.standard_normal((m, n)).astype(dtype)
                bias = rng.standard_normal(n).astype(dtype)
                got = ops.gemm(a, b, trans_a=ta, trans_b=tb, alpha=0.5, beta=0.5, out=c.copy(), bias=bias, activation="relu")
                A = (a.T if ta else a).astype(np.float64); B = (b.T if tb else b).astype(np.float64)
                ref = np.maximum(0.5 * (A @ B) + 0.5 * c + bias, 0)
                scale = 0.5 * (np.abs(A) @ np.abs(B)) + 0.5 * np.abs(c) + np.abs(bias)
                worst = max(worst, float((np.abs(got - ref) / ((k + 2) * u * scale + 1e-300)).max()))
print(worst)
assert worst <= 1.0, worst
"""


@pytest.mark.parametrize("isa", ["generic", "avx2", "avx512"])
def test_every_supported_isa(isa):
    if isa not in fastnn._config.supported_isas():
        pytest.skip(f"this CPU does not support {isa}")
    env = dict(os.environ, FASTNN_ISA=isa)
    r = subprocess.run([sys.executable, "-c", _ISA_SCRIPT, isa], env=env, capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr[-2000:]


def test_unsupported_or_unknown_isa_is_a_clear_error():
    env = dict(os.environ, FASTNN_ISA="sse9")
    r = subprocess.run([sys.executable, "-c", "import fastnn"], env=env, capture_output=True, text=True, timeout=120)
    assert r.returncode != 0 and "FASTNN_ISA='sse9' is not one of" in r.stderr
    missing = [isa for isa in ("avx512", "avx2") if isa not in fastnn._config.supported_isas()]
    if missing:
        env = dict(os.environ, FASTNN_ISA=missing[0])
        r = subprocess.run([sys.executable, "-c", "import fastnn"], env=env, capture_output=True, text=True, timeout=120)
        assert r.returncode != 0 and "not supported by this CPU" in r.stderr


def test_config_and_threads():
    text = fastnn.show_config()
    assert fastnn.get_isa() in text and "libgomp" in text
    before = fastnn.get_num_threads()
    fastnn.set_num_threads(3)
    assert fastnn.get_num_threads() == 3
    fastnn.set_num_threads(before)
    with pytest.raises(ValueError, match="n must be >= 1"):
        fastnn.set_num_threads(0)
    with pytest.raises(TypeError, match="n must be an integer"):
        fastnn.set_num_threads(1.5)
    # Past the cap libgomp could fail to create the team, which exits the process: refused,
    # as is a count the binding's C int cannot hold; the setting stays as it was.
    limit = max(256, 2 * (os.cpu_count() or 1))
    for n in (limit + 1, 2 ** 31, 10 ** 30):
        with pytest.raises(ValueError, match=f"n must be <= {limit}"):
            fastnn.set_num_threads(n)
    assert fastnn.get_num_threads() == before
    fastnn.set_num_threads(limit)
    assert fastnn.get_num_threads() == limit
    fastnn.set_num_threads(before)


def test_omp_num_threads_is_honoured_and_threadpoolctl_sees_runtime():
    env = dict(os.environ, OMP_NUM_THREADS="3")
    code = "import fastnn; print(fastnn.get_num_threads())"
    r = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120)
    assert r.stdout.strip() == "3", r.stderr
    threadpoolctl = pytest.importorskip("threadpoolctl")
    fastnn.ops.gemm(np.ones((300, 300), np.float32), np.ones((300, 300), np.float32))
    libs = {info["internal_api"] for info in threadpoolctl.threadpool_info()}
    assert "openmp" in libs
