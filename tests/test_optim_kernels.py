"""cpp/optim.cpp against fastnn.reference.optim: each fused update and utility kernel on
odd sizes (SIMD body and tail), both dtypes, and bitwise-identical results for 1, 2 and
3 threads on buffers large enough to be split."""
import math

import numpy as np
import pytest

import fastnn
from fastnn import _kernels as native
from fastnn import reference

SIZES = [0, 1, 7, 63, 64, 1029]
DTYPES = [np.float32, np.float64]
LARGE = (1 << 18) + 13


def _rtol(dtype):
    return 2e-6 if dtype == np.float32 else 1e-13


# Each update: (kernel name, state buffer names, state initialiser, hyper-parameters).
UPDATES = {
    "sgd": ("sgd_step", ["momentum_buffer"], dict(lr=0.1, momentum=0.9, dampening=0.2, nesterov=False,
                                                  weight_decay=0.01, init_buffer=False)),
    "sgd_first": ("sgd_step", ["momentum_buffer"], dict(lr=0.1, momentum=0.9, dampening=0.2, nesterov=False,
                                                        weight_decay=0.0, init_buffer=True)),
    "sgd_nesterov": ("sgd_step", ["momentum_buffer"], dict(lr=0.1, momentum=0.9, dampening=0.0, nesterov=True,
                                                           weight_decay=0.01, init_buffer=False)),
    "sgd_plain": ("sgd_step", [None], dict(lr=0.1, momentum=0.0, dampening=0.0, nesterov=False,
                                           weight_decay=0.0, init_buffer=False)),
    "adagrad": ("adagrad_step", ["state_sum"], dict(clr=0.05, weight_decay=0.01, eps=1e-10)),
    "adadelta": ("adadelta_step", ["square_avg", "acc_delta"], dict(lr=1.0, rho=0.9, eps=1e-6, weight_decay=0.01)),
    "rmsprop": ("rmsprop_step", ["square_avg", None, None], dict(lr=0.01, alpha=0.99, eps=1e-8, weight_decay=0.0,
                                                                 momentum=0.0)),
    "rmsprop_centered_momentum": ("rmsprop_step", ["square_avg", "grad_avg", "momentum_buffer"],
                                  dict(lr=0.01, alpha=0.9, eps=1e-8, weight_decay=0.01, momentum=0.9)),
    "adam": ("adam_step", ["exp_avg", "exp_avg_sq", None], dict(lr=1e-3, beta1=0.9, beta2=0.999, eps=1e-8,
                                                                weight_decay=0.01, decoupled=False,
                                                                bias_correction1=1 - 0.9 ** 3,
                                                                bias_correction2=1 - 0.999 ** 3)),
    "adamw_amsgrad": ("adam_step", ["exp_avg", "exp_avg_sq", "max_exp_avg_sq"],
                      dict(lr=1e-3, beta1=0.9, beta2=0.999, eps=1e-8, weight_decay=0.1, decoupled=True,
                           bias_correction1=1 - 0.9 ** 7, bias_correction2=1 - 0.999 ** 7)),
}


def _buffers(kind, n, dtype, seed=0):
    """param, grad and the state buffers (positive where they hold squares)."""
    rng = np.random.default_rng(seed)
    _, names, _ = UPDATES[kind]
    param = rng.standard_normal(n).astype(dtype)
    grad = rng.standard_normal(n).astype(dtype)
    state = []
    for name in names:
        if name is None:
            state.append(None)
        elif name in ("state_sum", "square_avg", "acc_delta", "exp_avg_sq", "max_exp_avg_sq"):
            state.append(rng.uniform(0.5, 2.0, n).astype(dtype))
        else:
            state.append((0.3 * rng.standard_normal(n)).astype(dtype))
    if "grad_avg" in names:   # keep v − ḡ² positive, as it is in a real run
        state[1] *= dtype(0.5)
    return param, grad, state


def _apply(module, kind, param, grad, state):
    name, _, hyper = UPDATES[kind]
    getattr(module, name)(param, grad, *state, **hyper)


@pytest.mark.parametrize("kind", sorted(UPDATES))
@pytest.mark.parametrize("n", SIZES)
@pytest.mark.parametrize("dtype", DTYPES)
def test_update_matches_reference(kind, n, dtype):
    p1, g, s1 = _buffers(kind, n, dtype)
    p2, _, s2 = _buffers(kind, n, dtype)
    p0, g0 = p1.copy(), g.copy()
    _apply(native, kind, p1, g, s1)
    _apply(reference, kind, p2, g, s2)
    np.testing.assert_array_equal(g, g0)                   # the gradient is only read
    np.testing.assert_allclose(p1, p2, rtol=_rtol(dtype), atol=_rtol(dtype))
    for a, b in zip(s1, s2):
        if a is not None:
            np.testing.assert_allclose(a, b, rtol=_rtol(dtype), atol=_rtol(dtype))
    if n:
        assert not np.array_equal(p1, p0)


@pytest.mark.parametrize("kind", sorted(UPDATES))
def test_update_accepts_any_shape(kind):
    p1, g, s1 = _buffers(kind, 63, np.float64)
    p2, _, s2 = _buffers(kind, 63, np.float64)
    _apply(native, kind, p2.reshape(7, 9), g.reshape(7, 9), [None if s is None else s.reshape(7, 9) for s in s2])
    _apply(native, kind, p1, g, s1)
    np.testing.assert_array_equal(p2, p1)
    for a, b in zip(s1, s2):
        if a is not None:
            np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("kind", sorted(UPDATES))
def test_update_bitwise_equal_for_1_2_3_threads(kind):
    results = []
    before = fastnn.get_num_threads()
    try:
        for threads in (1, 2, 3):
            fastnn.set_num_threads(threads)
            p, g, s = _buffers(kind, LARGE, np.float32, seed=5)
            _apply(native, kind, p, g, s)
            results.append([p] + [x for x in s if x is not None])
    finally:
        fastnn.set_num_threads(before)
    for other in results[1:]:
        for a, b in zip(results[0], other):
            assert a.tobytes() == b.tobytes()


def test_update_propagates_nan():
    p, g, s = _buffers("adam", 9, np.float32)
    g[4] = np.nan
    _apply(native, "adam", p, g, s)
    assert np.isnan(p[4]) and np.isfinite(np.delete(p, 4)).all()


# ------------------------------------------------------------------------------ utilities

def _bufs(dtype, sizes, seed=2):
    rng = np.random.default_rng(seed)
    return [rng.standard_normal(n).astype(dtype) for n in sizes]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("sizes", [[], [0], [1], [7, 63], [64, 1029, 0, 5], [3 * 8192 + 17, 1]])
def test_sum_squares_and_max_abs(dtype, sizes):
    bufs = _bufs(dtype, sizes)
    exact = sum(float(np.sum(b.astype(np.float64) ** 2)) for b in bufs)
    assert native.sum_squares(bufs) == pytest.approx(exact, rel=1e-13, abs=0)
    assert reference.sum_squares(bufs) == pytest.approx(exact, rel=1e-13, abs=0)
    top = max((float(np.abs(b).max()) for b in bufs if b.size), default=0.0)
    assert native.max_abs(bufs) == top == reference.max_abs(bufs)


def test_sum_squares_accumulates_in_float64():
    x = np.full(1 << 20, 1.0 + 2.0 ** -12, np.float32)    # float32 accumulation would drift visibly
    assert native.sum_squares([x]) == (1 << 20) * float(np.float64(x[0]) ** 2)


def test_max_abs_and_sum_squares_propagate_nan():
    bufs = _bufs(np.float32, [100, 20000])
    bufs[1][12345] = np.nan
    assert math.isnan(native.max_abs(bufs)) and math.isnan(reference.max_abs(bufs))
    assert math.isnan(native.sum_squares(bufs))


@pytest.mark.parametrize("dtype", DTYPES)
def test_all_finite_finds_every_non_finite_value(dtype, threads):
    info = np.finfo(dtype)
    sizes = [0, 1, 7, 63, 1029, LARGE]
    assert native.all_finite([]) and reference.all_finite([])
    for _ in threads():
        clean = _bufs(dtype, sizes)
        clean[3][:4] = [info.max, -info.max, info.tiny, 0.0]    # huge and tiny finite values stay finite
        assert native.all_finite(clean) and reference.all_finite(clean)
        for k, n in enumerate(sizes):
            for i in sorted({0, n // 2, n - 1}) if n else []:
                for bad in (np.nan, np.inf, -np.inf):
                    bufs = [b.copy() for b in clean]
                    bufs[k][i] = bad
                    assert not native.all_finite(bufs), (n, i, bad)
                    assert not reference.all_finite(bufs)
    mixed = [np.ones(5, np.float32), np.array([1.0, np.inf])]           # dtypes may mix
    assert not native.all_finite(mixed) and native.all_finite(mixed[:1])


@pytest.mark.parametrize("n", SIZES)
@pytest.mark.parametrize("dtype", DTYPES)
def test_scale_and_clamp(n, dtype):
    x = _bufs(dtype, [n])[0]
    a, b = x.copy(), x.copy()
    native.scale_inplace(a, 0.37)
    reference.scale_inplace(b, 0.37)
    np.testing.assert_array_equal(a, b)
    a, b = x.copy(), x.copy()
    if n:
        a[0] = b[0] = np.nan
    native.clamp_inplace(a, -0.5, 0.25)
    reference.clamp_inplace(b, -0.5, 0.25)
    np.testing.assert_array_equal(a, b)
    if n:
        assert np.isnan(a[0]) and (a[1:] <= 0.25).all() and (a[1:] >= -0.5).all()


@pytest.mark.parametrize("shape", [(0, 4), (1, 1), (3, 7), (17, 64), (5, 1029)])
@pytest.mark.parametrize("dtype", DTYPES)
def test_renorm_rows(shape, dtype):
    rng = np.random.default_rng(3)
    w = (rng.standard_normal(shape) * rng.uniform(0.1, 3.0, (shape[0], 1))).astype(dtype)
    c = 1.5 * math.sqrt(shape[1]) / 2
    a, b = w.copy(), w.copy()
    native.renorm_rows(a, c)
    reference.renorm_rows(b, c)
    np.testing.assert_allclose(a, b, rtol=_rtol(dtype), atol=0)
    norms = np.linalg.norm(w.astype(np.float64), axis=1)
    assert (np.linalg.norm(a.astype(np.float64), axis=1) <= c * (1 + 1e-6)).all()
    np.testing.assert_array_equal(a[norms <= c], w[norms <= c])    # rows within the bound are untouched


@pytest.mark.parametrize("n", SIZES)
@pytest.mark.parametrize("dtype", DTYPES)
def test_penalty_grads(n, dtype):
    w = _bufs(dtype, [n], seed=4)[0]
    if n > 2:
        w[2] = 0.0
    g = _bufs(dtype, [n], seed=5)[0]
    for fn, expect_grad, expect_sum in [
        ("l1_penalty_grad", g + dtype(0.3) * np.sign(w), np.abs(w.astype(np.float64)).sum()),
        ("l2_penalty_grad", g + dtype(0.3) * w, (w.astype(np.float64) ** 2).sum()),
    ]:
        for module in (native, reference):
            gg = g.copy()
            total = getattr(module, fn)(gg, w, 0.3)
            np.testing.assert_allclose(gg, expect_grad, rtol=_rtol(dtype), atol=_rtol(dtype))  # FMA vs not
            assert total == pytest.approx(expect_sum, rel=1e-13, abs=0)


def test_reductions_bitwise_equal_for_1_2_3_threads():
    bufs = _bufs(np.float32, [LARGE, 1000, 3 * LARGE + 1])
    w = _bufs(np.float32, [512 * 700])[0].reshape(512, 700) * np.float32(3)
    out = []
    before = fastnn.get_num_threads()
    try:
        for threads in (1, 2, 3):
            fastnn.set_num_threads(threads)
            g1, g2 = bufs[0].copy(), bufs[0].copy()
            ww = w.copy()
            native.renorm_rows(ww, 20.0)
            out.append((native.sum_squares(bufs), native.max_abs(bufs),
                        native.l1_penalty_grad(g1, bufs[2][:LARGE], 0.1), g1.tobytes(),
                        native.l2_penalty_grad(g2, bufs[2][:LARGE], 0.1), g2.tobytes(), ww.tobytes()))
    finally:
        fastnn.set_num_threads(before)
    assert out[0] == out[1] == out[2]


# ------------------------------------------------------------------------------ multi-tensor updates

# rule -> (one-row kernel, state columns: 'r' required, 'o' optional, hyper-parameters,
#          per-row argument of the multi call -> of the one-row call, with 5 per-row values)
MULTI = {
    "sgd": ("sgd_step", "o", dict(lr=0.1, momentum=0.9, dampening=0.2, nesterov=False, weight_decay=0.05),
            ("init_buffers", "init_buffer", [True, False, True, False, True])),
    "adagrad": ("adagrad_step", "r", dict(weight_decay=0.05, eps=1e-10),
                ("clrs", "clr", [0.1, 0.05, 0.02, 0.01, 0.3])),
    "adadelta": ("adadelta_step", "rr", dict(lr=1.0, rho=0.9, eps=1e-6, weight_decay=0.05), None),
    "rmsprop": ("rmsprop_step", "roo", dict(lr=1e-2, alpha=0.99, eps=1e-8, weight_decay=0.05, momentum=0.9), None),
    "adam": ("adam_step", "rro", dict(lr=1e-2, beta1=0.8, beta2=0.99, eps=1e-8, weight_decay=0.05, decoupled=True),
             (("bias_corrections1", "bias_correction1", [1 - 0.8 ** t for t in range(1, 6)]),
              ("bias_corrections2", "bias_correction2", [1 - 0.99 ** t for t in range(1, 6)]))),
}


def _per_row_args(rule):
    per_row = MULTI[rule][3]
    return () if per_row is None else (per_row,) if isinstance(per_row[0], str) else per_row


def _rows(seed, rule, dtypes, sizes, optional):
    """Rows (param, grad, *state), optional columns None unless asked; state in [1, 2) in the first
    column (square sums), in [0, 0.5) after it (RMSprop's centred v − ḡ² stays positive)."""
    rng = np.random.default_rng(seed)
    return [[rng.normal(size=n).astype(dtype), rng.normal(size=n).astype(dtype)]
            + [(rng.random(n) * (0.5 if j else 1.0) + (0.0 if j else 1.0)).astype(dtype)
               if kind == "r" or optional else None for j, kind in enumerate(MULTI[rule][1])]
            for dtype, n in zip(dtypes, sizes)]


@pytest.mark.parametrize("optional", [False, True])
@pytest.mark.parametrize("rule", sorted(MULTI))
def test_step_multi_equals_one_call_per_row(rule, optional):
    """The rows are cut over the threads as one flat range (pieces of rows, many rows to a
    thread): the same bits as one whole-row call per row, for 1, 2 and 3 threads."""
    one, _, hyper, _ = MULTI[rule]
    dtypes = [np.float32, np.float64, np.float32, np.float32, np.float64]
    sizes = [7, 1029, 0, LARGE, 40_003]                # mixed dtypes, an empty row, rows across the cuts
    per_row = _per_row_args(rule)
    want = _rows(1, rule, dtypes, sizes, optional)
    for i, row in enumerate(want):
        getattr(native, one)(*row, **hyper, **{single: values[i] for _, single, values in per_row})
    before = fastnn.get_num_threads()
    for kernels, threads in [(native, 1), (native, 2), (native, 3), (reference, 2)]:
        got = _rows(1, rule, dtypes, sizes, optional)
        fastnn.set_num_threads(threads)
        try:
            getattr(kernels, f"{one}_multi")(kernels.tensor_list(got), **hyper,
                                             **{multi: values for multi, _, values in per_row})
        finally:
            fastnn.set_num_threads(before)
        for g_row, w_row in zip(got, want):
            for g, w in zip(g_row, w_row):
                if g is None:
                    continue
                if kernels is native:
                    np.testing.assert_array_equal(g, w)              # the same per-row kernel, bit for bit
                else:
                    np.testing.assert_allclose(g, w, rtol=_rtol(g.dtype), atol=_rtol(g.dtype))


@pytest.mark.parametrize("rule", sorted(MULTI))
def test_step_multi_check_finite_updates_nothing_when_a_gradient_is_not(rule):
    """check_finite: one inf or NaN anywhere in the gradients (first row, a row split
    between threads, the last element) and no array changes, for 1, 2 and 3 threads; all
    finite: the same bits as without the check."""
    one, _, hyper, _ = MULTI[rule]
    multi_name = f"{one}_multi"
    dtypes = [np.float32, np.float64, np.float32, np.float64]
    sizes = [5, LARGE, 0, 40_003]
    args = {m: values[:4] for m, _, values in _per_row_args(rule)}
    want = _rows(2, rule, dtypes, sizes, True)
    assert getattr(native, multi_name)(native.tensor_list(want), **hyper, **args) is True
    before = fastnn.get_num_threads()
    for kernels, threads in [(native, 1), (native, 2), (native, 3), (reference, 2)]:
        fastnn.set_num_threads(threads)
        try:
            got = _rows(2, rule, dtypes, sizes, True)
            assert getattr(kernels, multi_name)(kernels.tensor_list(got), **hyper, **args, check_finite=True)
            for g_row, w_row in zip(got, want):
                for g, w in zip(g_row, w_row):
                    if kernels is native:
                        np.testing.assert_array_equal(g, w)
                    else:
                        np.testing.assert_allclose(g, w, rtol=_rtol(g.dtype), atol=_rtol(g.dtype))
            for row, at, bad in [(0, 0, np.inf), (1, LARGE // 2 + 3, np.nan), (3, 40_002, -np.inf)]:
                rows = _rows(2, rule, dtypes, sizes, True)
                rows[row][1][at] = bad
                saved = [[a.copy() for a in r] for r in rows]
                assert getattr(kernels, multi_name)(kernels.tensor_list(rows), **hyper, **args,
                                                    check_finite=True) is False
                for r, sr in zip(rows, saved):
                    for a, b in zip(r, sr):
                        np.testing.assert_array_equal(a, b)
        finally:
            fastnn.set_num_threads(before)


@pytest.mark.parametrize("rule", sorted(MULTI))
def test_step_multi_rejects_bad_rows(rule):
    """Rows of the wrong width, a per-row list of the wrong length, a required array missing
    (the kernel would read through a null pointer): ValueError, nothing updated."""
    one, columns, hyper, _ = MULTI[rule]
    per_row = _per_row_args(rule)
    multi = getattr(native, f"{one}_multi")
    args = {m: values[:1] for m, _, values in per_row}
    a = np.zeros(4, np.float32)
    with pytest.raises(ValueError, match=f"rows of {2 + len(columns)}"):
        multi(native.tensor_list([(a,) * (3 + len(columns))]), **hyper, **args)
    for m in args:
        for kernels in (native, reference):
            with pytest.raises(ValueError, match=rf"{rule}: 1 rows but 0 {m}"):
                getattr(kernels, f"{one}_multi")(kernels.tensor_list([(a,) * (2 + len(columns))]), **hyper,
                                                 **{**args, m: []})
    for j in [1] + [2 + i for i, kind in enumerate(columns) if kind == "r"]:
        row = [np.ones(4, np.float32) for _ in range(2 + len(columns))]
        row[j] = None
        with pytest.raises(ValueError, match=f"{rule}: row 0 has no array in column {j}"):
            multi(native.tensor_list([row]), **hyper, **args)
        assert all(np.all(x == 1.0) for x in row if x is not None)
    multi(native.tensor_list([(np.zeros(0, np.float32), None) + (None,) * len(columns)]), **hyper, **args)


def test_tensor_list_rejects_mixed_rows():
    a32, a64 = np.zeros(4, np.float32), np.zeros(4)
    with pytest.raises(ValueError, match="row 0"):
        native.tensor_list([(a32, a32, a32, a64, None)])                 # mixed dtypes in a row
    with pytest.raises(ValueError, match="row 1"):
        native.tensor_list([(a32,) * 5, (a32, a32, np.zeros(3, np.float32), a32, None)])   # lengths differ
    with pytest.raises(ValueError, match="row 0 has 4 arrays"):
        native._native.TensorList([(a32,) * 4], 5)


def test_all_finite_rows_over_a_tensor_list():
    rows = [(np.ones(7, np.float32), None), (np.ones(1029), np.zeros(1029)), (np.ones(0, np.float32), None)]
    for kernels in (native, reference):
        handle = kernels.tensor_list(rows)
        assert kernels.all_finite_rows(handle) and kernels.all_finite_rows(kernels.tensor_list([]))
        for r, c, i in [(0, 0, 6), (1, 0, 0), (1, 1, 1028)]:
            rows[r][c][i] = np.nan
            assert not kernels.all_finite_rows(handle)                  # the handle sees the arrays' data
            rows[r][c][i] = 1.0
        assert kernels.all_finite_rows(handle)


# ------------------------------------------------------------------------------ mini-batch gathering

@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.int64, np.uint8])
@pytest.mark.parametrize("row_shape", [(), (1,), (7,), (3, 5), (784,)])
def test_take_rows_matches_numpy_for_any_thread_count(dtype, row_shape, threads):
    rng = np.random.default_rng(0)
    x = (rng.random((1029,) + row_shape) * 100).astype(dtype)
    for n in [0, 1, 5, 1029, 3000]:                         # 3000 rows: repeats, and threaded for wide rows
        index = rng.integers(0, len(x), n)
        want = x[index]
        for _ in threads():
            for kernels in (native, reference):
                out = np.full((n,) + row_shape, 7, dtype)
                assert kernels.take_rows(x, index, out) is out
                np.testing.assert_array_equal(out, want)


def test_take_rows_rejects_bad_index_and_out():
    x = np.arange(12.0).reshape(4, 3)
    for kernels in (native, reference):
        for bad in (4, -1, 2 ** 40):
            with pytest.raises(IndexError, match=f"index {bad} at position 1"):
                kernels.take_rows(x, np.array([0, bad, 1]), np.empty((3, 3)))
        with pytest.raises(IndexError):
            kernels.take_rows(np.empty((0, 3)), np.array([0]), np.empty((1, 3)))
        with pytest.raises(ValueError, match="dtype"):
            kernels.take_rows(x, np.array([0]), np.empty((1, 3), np.float32))
        with pytest.raises(ValueError, match="rows of shape"):
            kernels.take_rows(x, np.array([0]), np.empty((1, 2)))
    with pytest.raises(ValueError, match="out has shape"):
        native.take_rows(x, np.array([0, 1]), np.empty((1, 3)))
    with pytest.raises(ValueError, match="C-contiguous"):
        native.take_rows(x, np.array([0]), np.empty((1, 6))[:, ::2])


@pytest.mark.parametrize("kind", sorted(UPDATES))
def test_update_rejects_buffers_of_another_length(kind):
    name, states, hyper = UPDATES[kind]
    p, g = np.ones(8, np.float32), np.ones(8, np.float32)
    bufs = [None if s is None else np.ones(8, np.float32) for s in states]
    for bad in range(-1, len(bufs)):                   # -1: the gradient
        args = [p, g if bad != -1 else np.ones(5, np.float32)]
        args += [None if b is None else (np.ones(5, np.float32) if i == bad else b) for i, b in enumerate(bufs)]
        if bad >= 0 and bufs[bad] is None:
            continue
        with pytest.raises(ValueError, match="has 5 elements, expected 8"):
            getattr(native, name)(*args, **hyper)


def test_first_out_of_range_matches_reference():
    rng = np.random.default_rng(1)
    for n in [0, 1, 7, 64, 1029]:
        labels = rng.integers(0, 10, n)
        for kernels in (native, reference):
            assert kernels.first_out_of_range(labels, 10) is None
        for pos, bad in [(0, -1), (n - 1, 10), (n // 2, 2 ** 62), (n // 3, -(2 ** 62))]:
            if n == 0:
                continue
            wrong = labels.copy()
            wrong[pos] = bad
            wrong[pos + 1:] = -5                             # later bad labels: the first one is reported
            assert native.first_out_of_range(wrong, 10) == reference.first_out_of_range(wrong, 10) == pos
    assert native.first_out_of_range(np.array([0, 1]), 0) == 0  # no classes: every label is out of range


def test_renorm_rows_of_float64_rows_whose_squares_overflow():
    """Σx² of a finite row past ~1e154 overflows: the norm is then taken in units of max|x|, so
    the row is scaled to max_norm (not zeroed); a row holding inf still gives inf·0 = NaN."""
    w = np.array([[1e300, -1e300], [3e200, 4e200], [1e300, np.inf], [1.0, 0.5], [1e-300, 0.0]])
    got = []
    for module in (native, reference):
        a = w.copy()
        module.renorm_rows(a, 1.0)
        np.testing.assert_allclose(a[0], [2 ** -0.5, -(2 ** -0.5)], rtol=1e-14)
        np.testing.assert_allclose(a[1], [0.6, 0.8], rtol=1e-14)
        np.testing.assert_allclose(a[3], np.array([1.0, 0.5]) / (np.sqrt(1.25) + 1e-7), rtol=1e-14)
        np.testing.assert_array_equal(a[4], w[4])
        got.append(a)
    np.testing.assert_array_equal(got[0], got[1])
    assert np.isnan(got[0][2, 1]) and got[0][2, 0] == 0.0
