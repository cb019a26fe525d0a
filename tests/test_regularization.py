"""fastnn.regularization on both backends (the ``backend`` fixture of conftest.py): L1/L2
gradients against finite differences and their parameter selection, clipping and the
max-norm constraint against torch."""
import math

import numpy as np
import pytest

import fastnn
from fastnn import regularization as reg


class Param:
    def __init__(self, data):
        self.data = np.array(data, order="C")
        self.grad = np.zeros_like(self.data)


class FakeModel:
    def __init__(self, **params):
        self.params = params

    def named_parameters(self):
        return iter(self.params.items())


def _params(dtype=np.float64, seed=0, shapes=((6, 5), (6,), (3, 1029))):
    rng = np.random.default_rng(seed)
    return [Param(rng.standard_normal(s).astype(dtype)) for s in shapes]


# ------------------------------------------------------------------------------ penalties

@pytest.mark.parametrize("fn", ["l1_penalty", "l2_penalty"])
def test_penalty_gradient_matches_finite_differences(fn, backend):
    penalty = getattr(reg, fn)
    ps = _params(shapes=((4, 5), (3, 7)))
    value = penalty(ps, 0.3)
    grads = [p.grad.copy() for p in ps]
    h = 1e-6
    for p, g in zip(ps, grads):
        for idx in np.ndindex(p.data.shape):
            scratch = [Param(q.data) for q in ps]
            own = scratch[ps.index(p)]
            own.data[idx] += h
            up = penalty(scratch, 0.3)
            own.data[idx] -= 2 * h
            down = penalty(scratch, 0.3)
            assert g[idx] == pytest.approx((up - down) / (2 * h), rel=1e-6, abs=1e-8)
    w = np.concatenate([p.data.ravel() for p in ps])
    expected = 0.3 * np.abs(w).sum() if fn == "l1_penalty" else 0.5 * 0.3 * (w ** 2).sum()
    assert value == pytest.approx(expected, rel=1e-13)


def test_penalty_accumulates_into_existing_gradient(backend):
    p = Param(np.array([[1.0, -2.0], [0.0, 3.0]]))
    p.grad[...] = 10.0
    assert reg.l1_penalty([p], 0.5) == pytest.approx(3.0)
    np.testing.assert_array_equal(p.grad, [[10.5, 9.5], [10.0, 10.5]])
    assert reg.l2_penalty([p], 0.5) == pytest.approx(0.25 * 14)
    np.testing.assert_array_equal(p.grad, [[11.0, 8.5], [10.0, 12.0]])


def test_penalty_selects_weights_not_biases():
    w, b, bn = Param(np.ones((2, 3))), Param(np.ones(2)), Param(np.ones(2))
    model = FakeModel(**{"0.weight": w, "0.bias": b, "1.weight": bn})
    assert reg.l2_penalty(model, 2.0) == pytest.approx(0.5 * 2.0 * 8)       # weights of both, no bias
    assert not b.grad.any() and (w.grad == 2.0).all() and (bn.grad == 2.0).all()
    for p in (w, b, bn):
        p.grad[...] = 0
    assert reg.l1_penalty([w, b], 1.0) == 6.0                                 # unnamed: ndim >= 2
    assert not b.grad.any()
    assert reg.l1_penalty({"fc.bias": b}, 1.0) == 0.0
    assert reg.l1_penalty([("fc.bias", b)], 1.0, include=lambda name, p: True) == 2.0
    assert (b.grad == 1.0).all()


def test_penalty_errors():
    p = Param(np.ones((2, 2)))
    with pytest.raises(ValueError, match="strength"):
        reg.l1_penalty([p], -1.0)
    p.grad = None
    with pytest.raises(ValueError, match="no gradient"):
        reg.l2_penalty([p], 1.0)
    p.grad = np.ones((2, 2), np.float32)
    with pytest.raises(ValueError, match="grad"):
        reg.l2_penalty([p], 1.0)
    with pytest.raises(TypeError, match="must map names .str. to parameters, got the key 3"):
        reg.l1_penalty({"weight": p, 3: p}, 1.0)


def test_decay_weights(backend):
    w, b = Param(np.full((2, 2), 2.0)), Param(np.full(2, 2.0))
    reg.decay_weights_([w, b], lr=0.1, weight_decay=0.5)
    np.testing.assert_allclose(w.data, 2.0 * 0.95, rtol=1e-15)
    np.testing.assert_array_equal(b.data, 2.0)


# ------------------------------------------------------------------------------ clipping

@pytest.mark.parametrize("norm_type", [2.0, math.inf, 1.0, 3.0, 0.5])
@pytest.mark.parametrize("max_norm", [0.5, 1e6])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_clip_grad_norm_matches_torch(norm_type, max_norm, dtype, backend):
    torch = pytest.importorskip("torch")
    ps = _params(dtype)
    rng = np.random.default_rng(1)
    for p in ps:
        p.grad[...] = rng.standard_normal(p.data.shape)
    tps = [torch.nn.Parameter(torch.from_numpy(p.data.copy())) for p in ps]
    for p, tp in zip(ps, tps):
        tp.grad = torch.from_numpy(p.grad.copy())
    g64 = np.concatenate([p.grad.ravel() for p in ps]).astype(np.float64)
    exact = np.abs(g64).max() if norm_type == math.inf else (np.abs(g64) ** norm_type).sum() ** (1 / norm_type)
    total = reg.clip_grad_norm_(ps, max_norm, norm_type=norm_type)
    ttotal = torch.nn.utils.clip_grad_norm_(tps, max_norm, norm_type=norm_type)
    assert isinstance(total, float) and total == pytest.approx(exact, rel=1e-12)     # float64 accumulation
    tol = 1e-5 if dtype == np.float32 else 1e-13     # torch sums float32 in float32
    assert total == pytest.approx(float(ttotal), rel=tol)
    for p, tp in zip(ps, tps):
        np.testing.assert_allclose(p.grad, tp.grad.numpy(), rtol=tol * 10, atol=tol)
    if max_norm < total:
        after = reg.clip_grad_norm_(ps, max_norm, norm_type=norm_type)
        assert after == pytest.approx(max_norm, rel=1e-5)


@pytest.mark.parametrize("grads,p,want", [
    ([np.ones(1000)], 0.005, math.inf),                      # 1000^200: the norm itself overflows
    ([np.full(10, 10.0)], 400.0, 10.0 * 10 ** (1 / 400)),   # 10^400 per term, finite norm
    ([np.array([3.0, 4.0]), np.array([1e-300])], 3.0, (27 + 64) ** (1 / 3)),
    ([np.array([np.nan, 1.0])], 3.0, math.nan),
    ([np.array([np.inf, 1.0])], 0.5, math.inf),
    ([np.zeros(3)], 3.0, 0.0),
])
def test_clip_grad_norm_general_p_without_overflow(grads, p, want):
    """Orders other than 2 and inf: no OverflowError from the powers or the root."""
    ps = _params(np.float64, shapes=tuple(g.shape for g in grads))
    for q, g in zip(ps, grads):
        q.grad[...] = g
    total = reg.clip_grad_norm_(ps, 1e300, norm_type=p)
    if math.isnan(want):
        assert math.isnan(total)
    else:
        assert total == pytest.approx(want, rel=1e-12)


def test_clip_grad_norm_bitwise_same_for_any_thread_count():
    ps = _params(np.float32, shapes=((300, 1000), (17,), (1 << 18,)))
    results = []
    before = fastnn.get_num_threads()
    try:
        for threads in (1, 2, 3):
            fastnn.set_num_threads(threads)
            rng = np.random.default_rng(3)
            for p in ps:
                p.grad[...] = rng.standard_normal(p.data.shape)
            total = reg.clip_grad_norm_(ps, 1.0)
            results.append((total, b"".join(p.grad.tobytes() for p in ps)))
    finally:
        fastnn.set_num_threads(before)
    assert results[0] == results[1] == results[2]


def test_clip_grad_norm_non_finite():
    p = Param(np.ones(4))
    p.grad[...] = [1.0, np.inf, 2.0, 3.0]
    with pytest.raises(RuntimeError, match="non-finite"):
        reg.clip_grad_norm_([p], 1.0, error_if_nonfinite=True)
    assert reg.clip_grad_norm_([p], 1.0) == math.inf
    p.grad[...] = 1.0
    assert reg.clip_grad_norm_([Param(np.ones(0))], 1.0) == 0.0
    q = Param(np.ones(3, np.float32))
    with pytest.raises(TypeError, match="mixed dtypes"):
        reg.clip_grad_norm_([p, q], 1.0)
    for bad in (-2, 0):
        with pytest.raises(ValueError, match="norm_type"):
            reg.clip_grad_norm_([p], 1.0, norm_type=bad)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_clip_grad_value_matches_torch(dtype, backend):
    torch = pytest.importorskip("torch")
    ps = _params(dtype)
    for p in ps:
        p.grad[...] = 3 * p.data
    tps = [torch.nn.Parameter(torch.from_numpy(p.data.copy())) for p in ps]
    for p, tp in zip(ps, tps):
        tp.grad = torch.from_numpy(p.grad.copy())
    reg.clip_grad_value_(ps, 0.7)
    torch.nn.utils.clip_grad_value_(tps, 0.7)
    for p, tp in zip(ps, tps):
        np.testing.assert_array_equal(p.grad, tp.grad.numpy())
    assert max(np.abs(p.grad).max() for p in ps) == pytest.approx(0.7)


# ------------------------------------------------------------------------------ max-norm

@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_max_norm_matches_torch_renorm(dtype, backend):
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(4)
    w = (rng.standard_normal((40, 130)) * rng.uniform(0.2, 2.0, (40, 1))).astype(dtype)
    p = Param(w)
    out = reg.max_norm_(p, 10.0)
    assert out is p
    expected = torch.renorm(torch.from_numpy(w), p=2, dim=0, maxnorm=10.0).numpy()
    np.testing.assert_allclose(p.data, expected, rtol=1e-6 if dtype == np.float32 else 1e-14)
    norms = np.linalg.norm(w, axis=1)
    assert (norms > 10).any() and (norms < 10).any()
    assert (np.linalg.norm(p.data.astype(np.float64), axis=1) <= 10.0 * (1 + 1e-6)).all()


def test_max_norm_on_array_and_errors(backend):
    w = np.array([[3.0, 4.0], [0.3, 0.4]])
    assert reg.max_norm_(w, 1.0) is w
    np.testing.assert_allclose(w, [[0.6, 0.8], [0.3, 0.4]], rtol=1e-6)
    with pytest.raises(ValueError, match="2-D"):
        reg.max_norm_(np.ones(3), 1.0)
    with pytest.raises(ValueError, match="max_value"):
        reg.max_norm_(w, -1.0)
    with pytest.raises(TypeError, match="float32/float64"):
        reg.max_norm_(np.ones((2, 2), np.int32), 1.0)


def test_params_and_flags_of_the_wrong_kind_are_refused_by_name(backend):
    from fastnn import nn
    m = nn.Linear(2, 3)
    for params, match in [([1, 2], "got int"), (None, "params must be"), ([np.ones((2, 2))], "got ndarray")]:
        with pytest.raises(TypeError, match=match):
            reg.l2_penalty(params, 0.1)
    with pytest.raises(TypeError, match="include must be None or a callable"):
        reg.l1_penalty(m, 0.1, include="weight")
    with pytest.raises(TypeError, match="error_if_nonfinite must be a bool"):
        reg.clip_grad_norm_(m.parameters(), 1.0, error_if_nonfinite="yes")


@pytest.mark.filterwarnings("ignore:overflow encountered:RuntimeWarning",     # the NumPy kernels' Σg², and
                            "ignore:invalid value encountered:RuntimeWarning")  # inf·0 scaling the inf grad
def test_clip_grad_norm_2_does_not_overflow_for_finite_grads(backend):
    """Σg² overflows at |g| ~ 1e154 but the norm √2·1e308 is finite: gradients are scaled, not zeroed."""
    p = Param(np.ones(2))
    p.grad[...] = 1e308
    assert reg.clip_grad_norm_([p], 1.0) == pytest.approx(math.sqrt(2) * 1e308, rel=1e-12)
    np.testing.assert_allclose(p.grad, [math.sqrt(0.5)] * 2, rtol=1e-12)
    p.grad[...] = [1e308, np.inf]
    assert reg.clip_grad_norm_([p], 1.0) == math.inf


def test_read_only_arrays_refused_naming_the_parameter():
    p = Param(np.ones((2, 2)))
    p.grad.setflags(write=False)
    for call in (lambda: reg.clip_grad_norm_([p], 1.0), lambda: reg.clip_grad_value_([p], 1.0),
                 lambda: reg.l1_penalty([p], 0.1), lambda: reg.l2_penalty({"w.weight": p}, 0.1)):
        with pytest.raises(ValueError, match=r"\.grad is read-only"):
            call()
    q = Param(np.ones((2, 2)))
    q.data.setflags(write=False)
    with pytest.raises(ValueError, match=r"\.data is read-only"):
        reg.decay_weights_([q], 0.1, 0.1)
