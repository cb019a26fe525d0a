"""Layers, activations and losses: gradcheck in float64 (input and parameter gradients),
BatchNorm running statistics, dropout statistics and reproducibility, Sequential fusion,
Maxout/GLU/Residual semantics, loss formulas, float32 against float64, bad-input errors."""
import math
import warnings

import numpy as np
import pytest

import fastnn
from fastnn import nn, ops
from fastnn.gradcheck import GradcheckError, gradcheck
from fastnn.nn.module import frozen_randomness
from fastnn.reference import activation as A
from fastnn.reference import dropout as D

F32, F64 = np.float32, np.float64
DTYPES = [F32, F64]
ACT_MODULES = [
    nn.Identity(), nn.Sigmoid(), nn.Tanh(), nn.ReLU(), nn.LeakyReLU(0.2), nn.ELU(0.7), nn.SELU(), nn.CELU(1.5),
    nn.Softplus(2.0, 5.0), nn.Softsign(), nn.Hardtanh(-0.5, 2.0), nn.Hardsigmoid(), nn.Hardsigmoid("linear"),
    nn.SiLU(), nn.GELU(), nn.GELU("tanh"), nn.Mish(), nn.MaxExp(),
]
TIGHT = {"atol": 1e-7, "rtol": 1e-6}              # float64 central differences reach ~1e-9
KINKS = {"relu": [0], "leaky_relu": [0], "elu": [0], "selu": [0], "celu": [0], "hardtanh": [-0.5, 2.0],
         "hardsigmoid": [-3, 3], "hardsigmoid_linear": [-2.5, 2.5], "maxexp": [0]}


def _x(b=6, f=5, dtype=F64, seed=0, scale=1.0):
    return (np.random.default_rng(seed).standard_normal((b, f)) * scale).astype(dtype)


def _off_kinks(x, act, gap=1e-2):
    """Move elements within ``gap`` of a kink of ``act`` away from it."""
    for k in KINKS.get(act, []):
        near = np.abs(x - k) < gap
        x[near] = k + np.where(x[near] >= k, gap, -gap) * 2
    return x


# ------------------------------------------------------------------------------ gradcheck: modules

@pytest.mark.parametrize("act", ACT_MODULES, ids=lambda m: repr(m))
def test_gradcheck_activation_modules(backend, act):
    act = nn.from_config(act.get_config())           # a fresh instance per test
    x = _off_kinks(_x(scale=2.0), act.act)
    report = gradcheck(act, x, **TIGHT)
    assert report.passed and list(report) == ["input"]


@pytest.mark.parametrize("activation", [None] + sorted(A.ACTIVATIONS))
def test_gradcheck_linear_with_fused_activation(backend, activation):
    lin = nn.Linear(5, 4, activation=activation, dtype=F64, rng=1)
    x = _x()
    z = x @ lin.weight.data.T + lin.bias.data
    if activation in KINKS and np.min(np.abs(z[..., None] - np.array(KINKS[activation]))) < 1e-3:
        pytest.skip("a pre-activation sits on a kink")
    report = gradcheck(lin, x, **TIGHT)
    assert set(report) == {"input", "weight", "bias"} and report.passed


@pytest.mark.parametrize("factory", [
    lambda: nn.PReLU(dtype=F64), lambda: nn.PReLU(5, init=0.1, dtype=F64),
    lambda: nn.RReLU(seed=3), lambda: nn.RReLU(seed=3).eval(),
    lambda: nn.BatchNorm1d(5, dtype=F64), lambda: nn.BatchNorm1d(5, affine=False, dtype=F64),
    lambda: nn.BatchNorm1d(5, momentum=None, track_running_stats=False, dtype=F64),
    lambda: _trained_bn().eval(),
    lambda: nn.LayerNorm(5, dtype=F64), lambda: nn.LayerNorm(5, elementwise_affine=False, dtype=F64),
    lambda: nn.LayerNorm(5, bias=False, dtype=F64),
    lambda: nn.Dropout(0.3, seed=1), lambda: nn.Dropout(0.3, mode="classic", seed=1),
    lambda: nn.Dropout(0.3, mode="classic").eval(),
    lambda: nn.DropConnect(nn.Linear(5, 3, activation="tanh", dtype=F64), p=0.4, seed=2),
    lambda: nn.DropConnect(nn.Linear(5, 3, dtype=F64), p=0.4).eval(),
    lambda: nn.Maxout(5, 3, 4, dtype=F64, rng=0), lambda: nn.GLU(), lambda: nn.GLU(dim=0),
    lambda: nn.Sequential(nn.Linear(5, 8, dtype=F64), nn.Tanh(), nn.Linear(8, 8, dtype=F64), nn.GELU(),
                          nn.BatchNorm1d(8, dtype=F64), nn.Linear(8, 2, dtype=F64)),
    lambda: nn.Residual(nn.Sequential(nn.Linear(5, 5, dtype=F64), nn.SiLU())),
    lambda: nn.Residual(nn.Linear(5, 3, dtype=F64), projection=nn.Linear(5, 3, bias=False, dtype=F64)),
], ids=lambda f: "factory")
def test_gradcheck_layers_including_parameters(backend, factory):
    m = factory()
    x = _x(6, 6 if isinstance(m, nn.GLU) else 5)
    report = gradcheck(m, x, **TIGHT)
    assert report.passed
    assert set(report) == {"input"} | {n for n, _ in m.named_parameters()}


def _trained_bn():
    bn = nn.BatchNorm1d(5, dtype=F64)
    for s in range(3):
        bn(_x(8, seed=s, scale=2.0) + 1)
    return bn


# ------------------------------------------------------------------------------ gradcheck: losses

@pytest.mark.parametrize("reduction", ["mean", "sum"])
@pytest.mark.parametrize("case", ["mse", "bce", "huber", "ce_labels", "ce_probs", "ce_smooth", "ce_probs_smooth"])
def test_gradcheck_losses(backend, case, reduction):
    rng = np.random.default_rng(0)
    pred = rng.standard_normal((6, 4)) * 2
    target = rng.standard_normal((6, 4))
    loss = {
        "mse": lambda: nn.MSELoss(reduction=reduction),
        "bce": lambda: nn.BCEWithLogitsLoss(reduction=reduction),
        "huber": lambda: nn.HuberLoss(reduction=reduction, delta=0.8),
        "ce_labels": lambda: nn.CrossEntropyLoss(reduction=reduction),
        "ce_probs": lambda: nn.CrossEntropyLoss(reduction=reduction),
        "ce_smooth": lambda: nn.CrossEntropyLoss(reduction=reduction, label_smoothing=0.2),
        "ce_probs_smooth": lambda: nn.CrossEntropyLoss(reduction=reduction, label_smoothing=0.2),
    }[case]()
    if case == "bce":
        target = rng.uniform(size=(6, 4))
    elif case == "huber":
        d = pred - target
        pred[np.abs(np.abs(d) - 0.8) < 1e-3] += 0.01
    elif case in ("ce_labels", "ce_smooth"):
        target = rng.integers(0, 4, 6)
    elif case.startswith("ce_probs"):
        target = rng.dirichlet(np.ones(4), 6)
    assert gradcheck(loss, pred, target=target, **TIGHT).passed


# ------------------------------------------------------------------------------ gradcheck itself

class _WrongGrad(nn.Module):
    """y = x·w, with a backward off by 1 % in the weight gradient."""

    def __init__(self):
        super().__init__()
        self.w = nn.Parameter(np.linspace(0.5, 1.5, 5))

    def forward(self, x):
        self._ctx = x
        return x * self.w.data

    def backward(self, g):
        self.w.grad += 1.01 * (g * self._ctx).sum(axis=0)
        return g * self.w.data


def test_gradcheck_fails_naming_tensor_and_worst_element():
    with pytest.raises(GradcheckError, match=r"w: worst element \(\d\,\): analytic .*, numeric") as exc:
        gradcheck(_WrongGrad(), _x())
    assert "input" not in str(exc.value)
    assert isinstance(exc.value, AssertionError)


def test_gradcheck_warns_on_float32_and_needs_target_for_losses(backend):
    with pytest.warns(UserWarning, match="float64"):
        with pytest.raises(GradcheckError):
            gradcheck(nn.Linear(3, 2), _x(4, 3, F32))
    with pytest.raises(ValueError, match="target"):
        gradcheck(nn.MSELoss(), _x())
    with pytest.raises(TypeError):
        gradcheck(lambda x: x, _x())


def test_gradcheck_restores_state(backend):
    bn = _trained_bn()
    m = nn.Sequential(bn, nn.Dropout(0.5, seed=0))
    m[0].weight.grad[...] = 3.0
    before = m.state_dict()
    step = m[1]._step
    gradcheck(m, _x())
    for k, v in m.state_dict().items():
        np.testing.assert_array_equal(v, before[k])
    assert (m[0].weight.grad == 3.0).all() and m[1]._step == step


def test_gradcheck_skips_frozen_parameters(backend):
    """Parameters with requires_grad False get no gradient: not checked (torch.autograd.gradcheck)."""
    m = nn.Linear(3, 2, dtype=F64)
    m.weight.requires_grad = False
    report = gradcheck(m, _x(4, 3), **TIGHT)
    assert set(report) == {"input", "bias"} and report.passed


class _NoInputGrad(nn.Module):
    def forward(self, x):
        return 2 * x

    def backward(self, g):
        return None


def test_gradcheck_refuses_a_backward_returning_no_array():
    with pytest.raises(GradcheckError, match="_NoInputGrad.backward returned NoneType"):
        gradcheck(_NoInputGrad(), _x())


# ------------------------------------------------------------------------------ BatchNorm

@pytest.mark.parametrize("momentum", [0.1, 0.3, None])
@pytest.mark.parametrize("dtype", DTYPES)
def test_batchnorm_running_stats_follow_the_formula(backend, momentum, dtype):
    bn = nn.BatchNorm1d(4, momentum=momentum, dtype=dtype)
    rm, rv = np.zeros(4), np.ones(4)
    for k in range(1, 6):
        x = _x(10, 4, dtype, seed=k, scale=k) + k
        bn(x)
        x64 = x.astype(F64)
        f = 1.0 / k if momentum is None else momentum
        rm = (1 - f) * rm + f * x64.mean(axis=0)
        rv = (1 - f) * rv + f * x64.var(axis=0, ddof=1)          # unbiased for the running estimate
    tol = 1e-12 if dtype == F64 else 2e-5
    np.testing.assert_allclose(bn.running_mean, rm, rtol=tol, atol=tol)
    np.testing.assert_allclose(bn.running_var, rv, rtol=tol, atol=tol)
    assert int(bn.num_batches_tracked) == 5


@pytest.mark.parametrize("dtype", DTYPES)
def test_batchnorm_train_normalises_with_biased_variance_eval_uses_running(backend, dtype):
    bn = nn.BatchNorm1d(3, eps=1e-3, dtype=dtype)
    bn.weight.data[...] = [1.0, 2.0, 0.5]
    bn.bias.data[...] = [0.0, -1.0, 3.0]
    x = _x(8, 3, dtype, scale=3.0)
    x64 = x.astype(F64)
    want = (x64 - x64.mean(0)) / np.sqrt(x64.var(0) + 1e-3) * [1, 2, 0.5] + [0, -1, 3]
    tol = 1e-12 if dtype == F64 else 1e-5
    np.testing.assert_allclose(bn(x), want, rtol=tol, atol=tol)
    bn.eval()
    xe = _x(1, 3, dtype, seed=5)                      # a batch of one is fine in eval
    rm, rv = bn.running_mean.astype(F64), bn.running_var.astype(F64)
    want = (xe.astype(F64) - rm) / np.sqrt(rv + 1e-3) * [1, 2, 0.5] + [0, -1, 3]
    np.testing.assert_allclose(bn(xe), want, rtol=tol, atol=tol)


def test_batchnorm_batch_of_one_raises_in_training(backend):
    bn = nn.BatchNorm1d(3)
    with pytest.raises(ValueError, match="Expected more than 1 value per channel when training"):
        bn(_x(1, 3, F32))
    assert int(bn.num_batches_tracked) == 0
    # Without running statistics eval uses batch statistics too: PyTorch raises the same there.
    bn = nn.BatchNorm1d(3, track_running_stats=False).eval()
    with pytest.raises(ValueError, match="Expected more than 1 value per channel"):
        bn(_x(1, 3, F32))


def test_batchnorm_options_shape_the_state(backend):
    assert [n for n, _ in nn.BatchNorm1d(3, affine=False).named_parameters()] == []
    bn = nn.BatchNorm1d(3, track_running_stats=False, dtype=F64)
    assert list(bn.state_dict()) == ["weight", "bias"]
    x = _x(7, 3)
    y_train = bn(x).copy()
    np.testing.assert_array_equal(bn.eval()(x), y_train)   # no running stats: batch statistics in eval


def test_layernorm_normalises_rows(backend):
    ln = nn.LayerNorm(5, eps=1e-6, dtype=F64)
    ln.weight.data[...] = np.arange(1, 6)
    ln.bias.data[...] = 0.5
    x = _x(4, 5, scale=3.0) + 2
    want = (x - x.mean(1, keepdims=True)) / np.sqrt(x.var(1, keepdims=True) + 1e-6) * np.arange(1, 6) + 0.5
    np.testing.assert_allclose(ln(x), want, rtol=1e-12, atol=1e-12)
    with pytest.raises(ValueError, match="last dimension"):
        nn.LayerNorm((2, 3))


# ------------------------------------------------------------------------------ dropout

def _splitmix_u64(seed, stream, index):
    """The module docstring's definition, in Python integers."""
    m = (1 << 64) - 1

    def mix(z):
        z ^= z >> 30
        z = (z * 0xBF58476D1CE4E5B9) & m
        z ^= z >> 27
        z = (z * 0x94D049BB133111EB) & m
        return z ^ (z >> 31)

    key = mix((seed * 0x9E3779B97F4A7C15 + stream * 0xD1B54A32D192ED03) & m)
    return mix((key + index * 0x9E3779B97F4A7C15) & m)


def test_random_u64_matches_its_definition():
    for seed, stream, idx in [(0, 0, 0), (1, 2, 3), (2 ** 63 - 1, 10 ** 6, 2 ** 40), (12345, 0, 999)]:
        got = D.random_u64(seed, stream, np.array([idx, idx + 1]))
        assert [int(v) for v in got] == [_splitmix_u64(seed, stream, idx), _splitmix_u64(seed, stream, idx + 1)]
    assert D.random_u64(1, 2, 5).shape == ()


def test_dropout_bits_are_the_halves_of_one_word_per_two_elements():
    bits = D.dropout_bits(3, 8, 7)
    assert bits.dtype == np.uint32 and bits.shape == (7,)
    for i, b in enumerate(bits):
        w = _splitmix_u64(3, 8, i >> 1)
        assert int(b) == (w >> 32 if i & 1 else w & 0xFFFFFFFF)
    x = np.ones(7)
    keep32 = int(0.75 * 2 ** 32)
    np.testing.assert_array_equal(D.dropout_forward(x, 0.25, 2.0, 3, 8) != 0, bits < keep32)


@pytest.mark.parametrize("dtype", DTYPES)
def test_backend_dropout_kernels_match_reference_bitwise(backend, threads, dtype):
    K = fastnn._backend.kernels()
    x = _x(512, 1029, dtype)                          # large enough to be split across threads
    want = D.dropout_forward(x, 0.3, 1 / 0.7, 5, 11)
    for _ in threads():
        np.testing.assert_array_equal(K.dropout_forward(x, 0.3, 1 / 0.7, 5, 11), want)
        np.testing.assert_array_equal(K.rrelu_slopes(x.size, 0.1, 0.4, 5, 11, dtype),
                                      D.rrelu_slopes(x.size, 0.1, 0.4, 5, 11, dtype))
    x = _x(3, 32771, dtype)                           # odd: thread ranges start at odd indices
    for _ in threads():
        np.testing.assert_array_equal(K.dropout_backward(x, 0.5, 2.0, 1, 2), D.dropout_forward(x, 0.5, 2.0, 1, 2))
    for n in [0, 1, 7, 63, 64, 1029]:
        x = _x(3, n, dtype)
        for p, scale in [(0.0, 1.0), (1e-9, 1.0), (0.3, 1 / 0.7), (0.9, 1.0), (1.0, 0.0)]:
            want = D.dropout_forward(x, p, scale, 42, 7)
            np.testing.assert_array_equal(K.dropout_forward(x, p, scale, 42, 7), want)
            np.testing.assert_array_equal(K.dropout_backward(x, p, scale, 42, 7), want)
        np.testing.assert_array_equal(K.rrelu_slopes(n, 0.1, 0.4, 9, 3, dtype),
                                      D.rrelu_slopes(n, 0.1, 0.4, 9, 3, dtype))
    s = D.rrelu_slopes(10 ** 5, 0.125, 1 / 3, 1, 0, F64)
    assert s.min() >= 0.125 and s.max() < 1 / 3 and abs(s.mean() - (0.125 + 1 / 3) / 2) < 1e-3


@pytest.mark.parametrize("p", [0.1, 0.5, 0.9])
def test_dropout_keep_rate_and_expectation_within_4_sigma(backend, p):
    n = 10 ** 6
    d = nn.Dropout(p, seed=123)
    y = d(np.ones((1000, 1000), F64))
    kept = np.count_nonzero(y)
    assert abs(kept / n - (1 - p)) <= 4 * math.sqrt(p * (1 - p) / n)
    np.testing.assert_allclose(y[y != 0], 1 / (1 - p), rtol=1e-15)
    assert abs(y.mean() - 1) <= 4 * math.sqrt(p / (1 - p) / n)           # E[y] = x


def test_dropout_masks_reproducible_and_regenerated_in_backward(backend):
    x = _x(50, 40, F32)
    a, b = nn.Dropout(0.4, seed=7), nn.Dropout(0.4, seed=7)
    ya, yb = a(x).copy(), b(x).copy()
    np.testing.assert_array_equal(ya, yb)                                    # same seed, same mask
    g = a.backward(np.ones_like(x))
    np.testing.assert_array_equal(g != 0, ya != 0)                          # backward reuses the mask
    np.testing.assert_allclose(g[g != 0], 1 / 0.6, rtol=1e-7)
    assert not np.array_equal(a(x) != 0, ya != 0)                            # next step, new mask
    assert not np.array_equal(nn.Dropout(0.4, seed=8)(x) != 0, ya != 0)


def test_dropout_modes_limits_and_eval(backend):
    x = _x(20, 30, F64)
    d = nn.Dropout(0.0, seed=1)
    np.testing.assert_array_equal(d(x), x)                                   # p = 0: exact identity
    d.p = 1.0
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert not d(x).any() and not d.backward(np.ones_like(x)).any()      # p = 1: zeros, no 1/0
    d.p = 0.5
    assert d.eval().forward(x) is x and d.backward(x) is x                 # inverted eval: identity
    c = nn.Dropout(0.25, mode="classic", seed=2)
    y = c(x)
    assert np.all((y == 0) | (y == x))                                       # classic training: mask only
    np.testing.assert_allclose(c.eval()(x), 0.75 * x, rtol=1e-15)           # classic eval: × (1 − p)
    for bad in (-0.1, 1.5, float("nan")):
        with pytest.raises(ValueError):
            d.p = bad
    with pytest.raises(ValueError):
        nn.Dropout(mode="gaussian")


def test_dropconnect_drops_weights_not_units(backend):
    lin = nn.Linear(50, 40, bias=False, dtype=F64, rng=0)
    dc = nn.DropConnect(lin, p=0.5, seed=3)
    x = np.eye(50)
    y = dc(x)                                       # row i = W[:, i] masked and scaled
    kept = y != 0
    assert 0.4 < kept.mean() < 0.6
    np.testing.assert_allclose(y[kept], 2 * lin.weight.data.T[kept], rtol=1e-15)
    dc.backward(np.ones((50, 40)))
    np.testing.assert_array_equal(lin.weight.grad != 0, kept.T)             # gradient only to kept weights
    np.testing.assert_array_equal(dc.eval()(x), x @ lin.weight.data.T)


def test_rrelu_train_slopes_in_range_eval_mean(backend):
    r = nn.RReLU(0.1, 0.3, seed=5)
    x = -np.ones((100, 100))
    y = r(x)
    assert np.all((-y >= 0.1) & (-y < 0.3)) and len(np.unique(y)) > 1000
    np.testing.assert_array_equal(r.backward(np.ones_like(x)), -y)
    np.testing.assert_allclose(r.eval()(x), -0.2, rtol=1e-15)
    np.testing.assert_array_equal(r.train()(np.ones((3, 3))), np.ones((3, 3)))


# ------------------------------------------------------------------------------ Sequential fusion

@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("act", ACT_MODULES, ids=lambda m: repr(m))
def test_sequential_fusion_equals_unfused_chain(backend, act, dtype):
    act = nn.from_config(act.get_config())
    lin = nn.Linear(7, 9, dtype=dtype, rng=0)
    seq = nn.Sequential(lin, act)
    x = _x(5, 7, dtype, scale=2.0)
    g = _x(5, 9, dtype, seed=1)
    y = seq(x).copy()
    gx = seq.backward(g).copy()
    gw = lin.weight.grad.copy()
    assert seq._plan == [(lin, act)] and act._ctx is None                 # fused: act never ran alone
    lin.zero_grad()
    y_ref = act.forward(lin.forward(x)).copy()
    gx_ref = lin.backward(act.backward(g)).copy()
    if fastnn.get_backend() == "numpy":
        np.testing.assert_array_equal(y, y_ref)
        np.testing.assert_array_equal(gx, gx_ref)
        np.testing.assert_array_equal(gw, lin.weight.grad)
    else:
        tol = 1e-12 if dtype == F64 else 1e-5
        np.testing.assert_allclose(y, y_ref, rtol=tol, atol=tol)
        np.testing.assert_allclose(gx, gx_ref, rtol=tol, atol=tol)
        np.testing.assert_allclose(gw, lin.weight.grad, rtol=tol, atol=tol)


def test_sequential_fuses_only_plain_linear_and_stateless_activations(backend):
    a, b = nn.Linear(3, 3), nn.Linear(3, 3, activation="relu")
    seq = nn.Sequential(a, nn.PReLU(), b, nn.Tanh(), nn.Linear(3, 3), nn.RReLU(), nn.Linear(3, 3), nn.ReLU())
    seq(_x(2, 3, F32))
    assert [act is not None for _, act in seq._plan] == [False, False, False, False, False, False, True]
    assert len(seq) == 8 and isinstance(seq[-1], nn.ReLU) and len(seq[2:4]) == 2
    assert seq.append(nn.Sigmoid()) is seq and len(seq) == 9
    with pytest.raises(TypeError):
        seq.append(np.tanh)


def _bn_chain(f, dtype, p, mode, affine):
    bn = nn.BatchNorm1d(f, affine=affine, dtype=dtype)
    if affine:
        bn.weight.data[...] = np.linspace(-1.5, 2.0, f)
        bn.bias.data[...] = np.linspace(0.5, -0.5, f)
    mods = [bn, nn.ReLU()] + ([] if p is None else [nn.Dropout(p, mode=mode, seed=11)])
    return mods


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("p,mode", [(None, None), (0.3, "inverted"), (0.0, "inverted"), (1.0, "inverted"),
                                    (0.5, "classic")])
@pytest.mark.parametrize("shape", [(7, 5), (6, 67), (33, 1029)])  # odd widths: rows start at odd indices
def test_sequential_batchnorm_relu_dropout_fusion_equals_unfused_chain(backend, threads, shape, p, mode, dtype):
    b, f = shape
    fused = _bn_chain(f, dtype, p, mode, affine=True)
    plain = _bn_chain(f, dtype, p, mode, affine=True)
    seq = nn.Sequential(*fused)
    assert len(seq._build_plan()) == 1                                    # one fused entry
    for step in range(3):
        x = _x(b, f, dtype, seed=step, scale=2.0) + 0.3
        g = _x(b, f, dtype, seed=10 + step)
        for train in (True, False):
            seq.train(train)
            for m in plain:
                m.train(train)
            for _ in threads():
                y = seq.forward(x).copy()
                assert seq._ctx[1] == [train and (p is None or p < 1.0)]          # the fused kernel ran
                gx = seq.backward(g).copy()
                h = x
                for m in plain:
                    h = m.forward(h)
                y_ref = h.copy()
                gh = g
                for m in reversed(plain):
                    gh = m.backward(gh)
                np.testing.assert_array_equal(y, y_ref)
                np.testing.assert_array_equal(gx, gh)
            for a, r in zip(fused[0].parameters(), plain[0].parameters()):
                np.testing.assert_array_equal(a.grad, r.grad)
            for (name, a), (_, r) in zip(fused[0].named_buffers(), plain[0].named_buffers()):
                np.testing.assert_array_equal(a, r, err_msg=name)
            if p is not None:
                assert fused[2]._step == plain[2]._step                  # the dropout stream advanced alike


def test_batchnorm_relu_dropout_fusion_only_in_the_right_pattern(backend):
    relu_lin = nn.Sequential(nn.BatchNorm1d(3), nn.LeakyReLU(), nn.Dropout(0.2))
    assert [f is None for _, f in relu_lin._build_plan()] == [True, True, True]
    drop_first = nn.Sequential(nn.BatchNorm1d(3), nn.Dropout(0.2), nn.ReLU())
    assert [f is None for _, f in drop_first._build_plan()] == [True, True, True]
    seq = nn.Sequential(nn.Linear(4, 3), nn.BatchNorm1d(3), nn.ReLU(), nn.Linear(3, 2), nn.ReLU())
    plan = seq._build_plan()
    assert len(plan) == 3 and plan[1][1][1] is None and isinstance(plan[2][1], nn.ReLU)
    bn = nn.BatchNorm1d(3)
    with pytest.raises(ValueError, match="training"):
        bn.eval()._forward(_x(2, 3, F32), relu=True)


@pytest.mark.parametrize("dropout", [False, True])
def test_gradcheck_fused_batchnorm_relu_dropout(backend, dropout):
    seq = nn.Sequential(nn.BatchNorm1d(4, dtype=F64), nn.ReLU(), *([nn.Dropout(0.3, seed=2)] if dropout else []))
    seq[0].weight.data[...] = [1.0, -0.5, 2.0, 0.7]
    x = _x(6, 4, F64, scale=2.0) + 0.1
    seq.forward(x)
    assert seq._ctx[1] == [True]                                              # the fused kernels are checked
    gradcheck(seq, x)


# ------------------------------------------------------------------------------ Linear, Maxout, GLU, Residual

def test_linear_default_init_and_rng(backend):
    lin = nn.Linear(400, 300, rng=0)
    bound = 1 / math.sqrt(400)
    assert lin.weight.data.dtype == F32 and lin.weight.data.shape == (300, 400) and lin.bias.data.shape == (300,)
    assert np.abs(lin.weight.data).max() <= bound and np.abs(lin.bias.data).max() <= bound
    assert abs(lin.weight.data.std() - bound / math.sqrt(3)) < 1e-3 * 5
    np.testing.assert_array_equal(nn.Linear(400, 300, rng=0).weight.data, lin.weight.data)
    assert not np.array_equal(nn.Linear(400, 300, rng=1).weight.data, lin.weight.data)
    assert nn.Linear(3, 2, bias=False).bias is None
    with pytest.raises(ValueError, match="rng must be >= 0"):
        nn.Linear(2, 2, rng=-1)


def test_linear_init_by_name_and_callable():
    lin = nn.Linear(300, 200, init="xavier_uniform", dtype=F64, rng=0)
    assert np.abs(lin.weight.data).max() <= math.sqrt(6 / 500) and not lin.bias.data.any()
    assert abs(lin.weight.data.std() - math.sqrt(2 / 500)) < 2e-3
    lin = nn.Linear(3, 2, init=lambda w: w.fill(0.5))
    assert (lin.weight.data == 0.5).all()
    with pytest.raises(ValueError, match="unknown"):
        nn.Linear(3, 2, init="bogus")
    with pytest.raises(ValueError, match="unknown activation"):
        nn.Linear(3, 2, activation="swishy")
    with pytest.raises(TypeError, match="element-wise"):
        nn.Linear(3, 2, activation=nn.PReLU())


@pytest.mark.parametrize("dtype", DTYPES)
def test_linear_forward_backward_formulas(backend, dtype):
    lin = nn.Linear(6, 4, activation="tanh", dtype=dtype, rng=2)
    x, g = _x(5, 6, dtype), _x(5, 4, dtype, seed=1)
    w, b = lin.weight.data.astype(F64), lin.bias.data.astype(F64)
    y64 = np.tanh(x.astype(F64) @ w.T + b)
    gz = g.astype(F64) * (1 - y64 ** 2)
    tol = 1e-12 if dtype == F64 else 2e-5
    np.testing.assert_allclose(lin(x), y64, rtol=tol, atol=tol)
    np.testing.assert_allclose(lin.backward(g), gz @ w, rtol=tol, atol=tol)
    np.testing.assert_allclose(lin.weight.grad, gz.T @ x.astype(F64), rtol=tol, atol=tol)
    np.testing.assert_allclose(lin.bias.grad, gz.sum(0), rtol=tol, atol=tol)


def test_maxout_forward_and_argmax_routing(backend):
    m = nn.Maxout(5, 3, 4, dtype=F64, rng=0)
    x = _x(6, 5)
    # The pieces as the module's own Linear computes them (the max must pick exactly one).
    z = m.linear.forward(x).copy().reshape(6, 3, 4)
    np.testing.assert_allclose(z.reshape(6, 12), x @ m.linear.weight.data.T + m.linear.bias.data, rtol=1e-12)
    np.testing.assert_array_equal(m(x), z.max(axis=2))
    m.backward(np.ones((6, 3)))
    hits = np.zeros((6, 3, 4))
    np.put_along_axis(hits, z.argmax(2)[..., None], 1.0, axis=2)
    np.testing.assert_allclose(m.linear.bias.grad, hits.sum(0).reshape(-1))
    m.linear.weight.data[...] = 0                     # every piece ties: the first one wins
    m.linear.bias.data[...] = 0
    m.zero_grad()
    m(x)
    m.backward(np.ones((6, 3)))
    np.testing.assert_array_equal(m.linear.bias.grad.reshape(3, 4), [[6, 0, 0, 0]] * 3)


@pytest.mark.parametrize("dim", [-1, 0])
def test_glu_halves(backend, dim):
    x = _x(6, 4)
    a, b = (x[:, :2], x[:, 2:]) if dim == -1 else (x[:3], x[3:])
    np.testing.assert_allclose(nn.GLU(dim)(x), a / (1 + np.exp(-b)), rtol=1e-14)
    with pytest.raises(ValueError, match="even"):
        nn.GLU(dim)(_x(5, 5))


def test_residual_adds_and_checks_widths(backend):
    block = nn.Linear(4, 4, dtype=F64)
    x = _x(3, 4)
    y_block = block(x).copy()
    np.testing.assert_allclose(nn.Residual(block)(x), x + y_block, rtol=1e-15)
    with pytest.raises(ValueError, match=r"\(3, 2\).*projection"):
        nn.Residual(nn.Linear(4, 2, dtype=F64))(x)
    proj = nn.Linear(4, 2, dtype=F64)
    r = nn.Residual(nn.Linear(4, 2, dtype=F64), projection=proj)
    assert r(x).shape == (3, 2)
    r.projection = None                               # optional; the block is not
    with pytest.raises(TypeError, match="block must be a Module, got NoneType"):
        nn.Residual(None)
    with pytest.raises(TypeError, match="Residual.block cannot be None"):
        r.block = None


# ------------------------------------------------------------------------------ losses

@pytest.mark.parametrize("dtype", DTYPES)
def test_loss_values_match_formulas(backend, dtype):
    rng = np.random.default_rng(0)
    p, t = rng.standard_normal((8, 5)).astype(dtype), rng.standard_normal((8, 5)).astype(dtype)
    p64, t64 = p.astype(F64), t.astype(F64)
    tol = 1e-12 if dtype == F64 else 1e-5
    d = p64 - t64
    assert nn.MSELoss()(p, t) == pytest.approx(np.mean(d ** 2), rel=tol)
    assert nn.MSELoss(reduction="sum")(p, t) == pytest.approx(np.sum(d ** 2), rel=tol)
    hub = np.where(np.abs(d) < 0.5, 0.5 * d ** 2, 0.5 * (np.abs(d) - 0.25))
    assert nn.HuberLoss(delta=0.5)(p, t) == pytest.approx(hub.mean(), rel=tol)
    y = rng.uniform(size=(8, 5)).astype(dtype)
    bce = -(y * np.log(1 / (1 + np.exp(-p64))) + (1 - y) * np.log(1 - 1 / (1 + np.exp(-p64))))
    assert nn.BCEWithLogitsLoss()(p, y) == pytest.approx(bce.mean(), rel=tol)
    labels = rng.integers(0, 5, 8)
    logp = p64 - np.log(np.exp(p64).sum(1, keepdims=True))
    ce = nn.CrossEntropyLoss(label_smoothing=0.1)
    target = 0.9 * np.eye(5)[labels] + 0.02
    assert ce(p, labels) == pytest.approx(-(target * logp).sum(1).mean(), rel=tol)
    np.testing.assert_allclose(ce.backward(), (np.exp(logp) - target) / 8, rtol=tol, atol=tol)
    assert ce.backward().dtype == dtype


def test_cross_entropy_extreme_logits_like_aten(backend):
    inf = np.inf
    x = np.array([[1e4, -1e4, 0.0], [0.0, -inf, 1.0], [-inf, -inf, -inf], [inf, 0.0, 1.0]])
    ce = nn.CrossEntropyLoss(reduction="sum")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert ce(x[:2], np.array([0, 2])) == pytest.approx(math.log1p(math.exp(-1.0)), rel=1e-12)
        g = ce.backward()
        assert np.isfinite(g).all()
        assert math.isnan(ce(x, np.array([0, 2, 1, 0])))
        assert np.isnan(ce.backward()[2:]).all() and np.isfinite(ce.backward()[:2]).all()


def test_loss_errors(backend):
    x = _x(4, 3)
    for loss in (nn.MSELoss(), nn.CrossEntropyLoss(), nn.HuberLoss(), nn.BCEWithLogitsLoss()):
        with pytest.raises(RuntimeError, match="backward called before forward"):
            loss.backward()
    with pytest.raises(ValueError, match=r"target has shape \(4, 1\) but pred has shape \(4, 3\)"):
        nn.MSELoss()(x, x[:, :1].copy())
    with pytest.raises(TypeError, match="dtype"):
        nn.MSELoss()(x, x.astype(F32))
    t = x.copy()
    t[1, 1] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        nn.HuberLoss()(x, t)
    with pytest.raises(ValueError, match=r"label 3 at index 2 is out of range \[0, 3\) for 3 classes"):
        nn.CrossEntropyLoss()(x, np.array([0, 1, 3, 2]))
    with pytest.raises(ValueError, match="label -1"):
        nn.CrossEntropyLoss()(x, np.array([0, -1, 1, 2]))
    with pytest.raises(ValueError, match=f"label {2 ** 63 + 5} at index 1"):     # no wrap to int64
        nn.CrossEntropyLoss()(x, np.array([0, 2 ** 63 + 5, 1, 2], np.uint64))
    with pytest.raises(ValueError, match="label 200 at index 3"):
        nn.CrossEntropyLoss()(x, np.array([0, 1, 2, 200], np.uint8))
    with pytest.raises(TypeError, match="integer class labels"):
        nn.CrossEntropyLoss()(x, np.array([0.0, 1.0, 2.0, 1.0]))
    with pytest.raises(ValueError, match=r"shape \(4,\)"):
        nn.CrossEntropyLoss()(x, np.array([0, 1]))
    with pytest.raises(ValueError, match="probabilities must be a float array"):     # as torch: no int one-hot
        nn.CrossEntropyLoss()(x, np.eye(3, dtype=int)[[0, 1, 2, 0]])
    with pytest.raises(ValueError, match="empty"):
        nn.MSELoss()(np.zeros((0, 3)), np.zeros((0, 3)))
    with pytest.raises(ValueError):
        nn.MSELoss(reduction="none")
    with pytest.raises(ValueError):
        nn.CrossEntropyLoss(label_smoothing=1.5)
    with pytest.raises(ValueError):
        nn.HuberLoss(delta=0.0)


# ------------------------------------------------------------------------------ float32 vs float64

@pytest.mark.parametrize("factory", [
    lambda dt: nn.Sequential(nn.Linear(6, 8, dtype=dt, rng=0), nn.GELU(), nn.BatchNorm1d(8, dtype=dt),
                             nn.Linear(8, 8, activation="softplus", dtype=dt, rng=1), nn.LayerNorm(8, dtype=dt),
                             nn.PReLU(8, dtype=dt), nn.Maxout(8, 4, 2, dtype=dt, rng=2), nn.GLU()),
    lambda dt: nn.Residual(nn.Sequential(nn.Linear(6, 6, dtype=dt, rng=3), nn.Mish(), nn.Dropout(0.3, seed=1))),
], ids=["chain", "residual"])
def test_float32_close_to_float64(backend, factory):
    m32, m64 = factory(F32), factory(F64)
    m64.load_state_dict({k: v.astype(F64) if v.dtype == F32 else v for k, v in m32.state_dict().items()})
    x = _x(7, 6)
    y64 = m64(x).copy()                               # one forward each: dropout steps stay aligned
    g = _x(7, y64.shape[1], seed=1)
    gx64 = m64.backward(g).copy()
    y32, gx32 = m32(x.astype(F32)), m32.backward(g.astype(F32))
    assert y32.dtype == F32 and gx32.dtype == F32
    np.testing.assert_allclose(y32, y64, rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(gx32, gx64, rtol=1e-3, atol=1e-4)
    for (n, p32), (_, p64) in zip(m32.named_parameters(), m64.named_parameters()):
        np.testing.assert_allclose(p32.grad, p64.grad, rtol=1e-3, atol=1e-4, err_msg=n)


# ------------------------------------------------------------------------------ bad input

BAD_INPUT_LAYERS = [
    lambda: nn.Linear(4, 3), lambda: nn.BatchNorm1d(4), lambda: nn.LayerNorm(4), lambda: nn.PReLU(4),
    lambda: nn.Maxout(4, 2, 2), lambda: nn.DropConnect(nn.Linear(4, 3)),
]


@pytest.mark.parametrize("factory", BAD_INPUT_LAYERS, ids=lambda f: "layer")
def test_bad_inputs_raise_clear_errors(backend, factory):
    m = factory()
    with pytest.raises(ValueError, match=r"\(5, 3\).*\(batch, 4\)"):
        m(np.zeros((5, 3), F32))
    with pytest.raises(TypeError, match="float64.*float32"):
        m(np.zeros((5, 4), F64))
    with pytest.raises(TypeError, match="int64"):
        m(np.zeros((5, 4), np.int64))
    for shape in [(4,), (2, 2, 4)]:
        with pytest.raises(ValueError, match="2-D"):
            m(np.zeros(shape, F32))
    with pytest.raises(TypeError, match="ndarray"):
        m([[0.0] * 4])
    y = m(np.zeros((5, 4), F32))
    with pytest.raises(ValueError, match="grad_output has shape"):
        m.backward(np.zeros((5, y.shape[1] + 1), F32))


REPLACED_GRADS = [("Linear", "weight", lambda: nn.Linear(4, 3), (3, 4)), ("Linear", "bias", lambda: nn.Linear(4, 3), (3,)),
                  ("BatchNorm1d", "weight", lambda: nn.BatchNorm1d(4), (4,))]


@pytest.mark.parametrize("zeroed", [False, True])
@pytest.mark.parametrize("bad", ["list", "int64", "strided", "shape"])
@pytest.mark.parametrize("layer,param,make,shape", REPLACED_GRADS, ids=lambda v: v if isinstance(v, str) else "")
def test_replaced_grad_is_checked_before_backward_writes_it(backend, layer, param, make, shape, bad, zeroed):
    """A .grad the user replaced is refused by name whether backward would accumulate into it
    or overwrite it (after zero_grad the stale values are never read, but still written)."""
    m = make()
    y = m.forward(np.ones((2, 4), F32) + np.arange(4, dtype=F32))
    getattr(m, param).grad = {"list": [[0.0]], "int64": np.zeros(shape, np.int64),
                              "strided": np.zeros(shape + (2,), F32)[..., 0], "shape": np.zeros((2, 2), F32)}[bad]
    if zeroed:
        m.zero_grad()
    with pytest.raises(ValueError, match=rf"{layer}\.{param}\.grad must be a C-contiguous writable array of shape"):
        m.backward(np.ones_like(y))


@pytest.mark.parametrize("layer,param,make,shape", REPLACED_GRADS, ids=lambda v: v if isinstance(v, str) else "")
def test_grad_set_to_none_is_recreated_by_backward(backend, layer, param, make, shape):
    m = make()
    x = np.ones((2, 4), F32) + np.arange(4, dtype=F32)
    y = m.forward(x)
    m.backward(np.ones_like(y))
    want = getattr(m, param).grad.copy()
    getattr(m, param).grad = None
    m.forward(x)
    m.backward(np.ones_like(y))
    np.testing.assert_array_equal(getattr(m, param).grad, want)


def test_dropconnect_recreates_a_weight_grad_set_to_none(backend):
    dc = nn.DropConnect(nn.Linear(4, 3), 0.5)
    x, g = np.ones((2, 4), F32), np.ones((2, 3), F32)
    with frozen_randomness(dc):                         # the same mask in both passes
        dc.forward(x)
        dc.backward(g)
        want = dc.linear.weight.grad.copy()
        dc.linear.weight.grad = None
        dc.forward(x)
        dc.backward(g)
    got = dc.linear.weight.grad.copy()
    dc.zero_grad()
    dc.backward(g)                                      # overwrite after zero_grad, accumulate after that
    np.testing.assert_array_equal(dc.linear.weight.grad, got)
    dc.backward(g)
    np.testing.assert_array_equal(dc.linear.weight.grad, 2 * got)
    np.testing.assert_array_equal(got, want)            # recreated as zeros, then written as before
    assert (want == 0).any() and (want != 0).any()      # the mask dropped some weights, not all


@pytest.mark.parametrize("count", [np.array(-1), np.array(np.iinfo(np.int64).max), 5, np.array(3.0)],
                         ids=["negative", "int64 max", "python int", "float"])
def test_batchnorm_refuses_a_bad_batch_count(backend, count):
    """num_batches_tracked (loaded or assigned) must be a 0-d int64 count that can grow: a
    clear error, not a ZeroDivisionError or OverflowError in the momentum=None average."""
    bn = nn.BatchNorm1d(3, momentum=None)
    if isinstance(count, np.ndarray) and count.dtype == np.int64:
        state = bn.state_dict()
        state["num_batches_tracked"] = count
        bn.load_state_dict(state)
    else:
        bn.num_batches_tracked = count
    with pytest.raises(ValueError, match="BatchNorm1d.num_batches_tracked"):
        bn.forward(np.random.default_rng(0).random((4, 3)).astype(F32))


def test_sequential_backward_after_append_uses_the_modules_that_ran(backend):
    s = nn.Sequential(nn.Linear(3, 4, rng=0), nn.BatchNorm1d(4), nn.ReLU(), nn.Dropout(0.2, seed=1))
    ref = nn.Sequential(nn.Linear(3, 4, rng=0), nn.BatchNorm1d(4), nn.ReLU(), nn.Dropout(0.2, seed=1))
    x, g = _x(6, 3, F32), np.ones((6, 4), F32)
    s.forward(x)
    s.append(nn.Linear(4, 2))                           # the plan is rebuilt at the next forward
    ref.forward(x)
    np.testing.assert_array_equal(s.backward(g), ref.backward(g))


def test_gradcheck_checks_its_arguments_and_restores_a_none_grad(backend):
    lin = nn.Linear(3, 2, dtype=F64)
    x = _x(4, 3)
    for kw, exc, match in [(dict(eps=0.0), ValueError, "eps must be > 0"), (dict(eps="a"), TypeError, "eps must be"),
                           (dict(seed=-1), ValueError, "seed must be >= 0"), (dict(atol=-1.0), ValueError, "atol")]:
        with pytest.raises(exc, match=match):
            gradcheck(lin, x, **kw)
    lin.weight.grad = None
    gradcheck(lin, x)
    assert lin.weight.grad is None


def test_maxout_backward_on_an_empty_batch(backend):
    m = nn.Maxout(6, 2, 3)
    assert m.forward(np.ones((0, 6), F32)).shape == (0, 2)
    assert m.backward(np.ones((0, 2), F32)).shape == (0, 6)


def test_non_contiguous_input_is_accepted(backend):
    lin = nn.Linear(4, 3, dtype=F64)
    x = _x(8, 8)[:, ::2]
    assert not x.flags.c_contiguous
    np.testing.assert_array_equal(lin(x).copy(), lin(np.ascontiguousarray(x)))
    tanh = nn.Tanh()
    np.testing.assert_array_equal(tanh(x.T).copy(), tanh(np.ascontiguousarray(x.T)))


def test_hyper_parameters_are_validated():
    for make in [lambda: nn.Dropout(1.5), lambda: nn.BatchNorm1d(3, momentum=2.0), lambda: nn.CELU(0.0),
                 lambda: nn.Hardtanh(1.0, -1.0), lambda: nn.RReLU(0.5, 0.1), lambda: nn.BatchNorm1d(0),
                 lambda: nn.Linear(0, 3), lambda: nn.Maxout(3, 2, 0), lambda: nn.GLU(2),
                 lambda: nn.Softplus(beta=0.0)]:
        with pytest.raises(ValueError):
            make()
    for make in [lambda: nn.GELU("fast"), lambda: nn.Hardsigmoid("keras")]:
        with pytest.raises(ValueError, match="must be"):
            make()
    with pytest.raises(TypeError):
        nn.Linear(3, 2, dtype=np.int32)
    with pytest.raises(ValueError):
        nn.Dropout(seed=-1)
    for dim in (1.0, True, np.array([1])):                # compared to -2..1 they would pass
        with pytest.raises(TypeError, match="GLU: dim must be an integer"):
            nn.GLU(dim)


def test_scales_that_float32_cannot_hold_are_refused():
    """A parameter that rounds to 0 or ±inf in float32 (or whose reciprocal does, where the
    kernel divides by it) would turn outputs into 0·inf = NaN: refused when set, in the module
    and in gemm's epilogue alike. The limits themselves still work and give finite output."""
    x = np.array([[-2.0, -1e-3, 0.0, 1.0]], F32)
    for make, match in [(lambda: nn.CELU(1e-300), "1/alpha must be within float32"),
                        (lambda: nn.CELU(-1e39), "1/alpha must be within float32"),
                        (lambda: nn.Softplus(beta=1e-39), "1/beta must be within float32"),
                        (lambda: nn.LeakyReLU(1e39), "negative_slope must be within float32"),
                        (lambda: nn.ELU(-1e39), "alpha must be within float32"),
                        (lambda: nn.RReLU(-1e39, 0.5), "lower must be >="), (lambda: nn.RReLU(0.1, 1e39), "upper")]:
        with pytest.raises(ValueError, match=match):
            make()
    celu = nn.CELU(1.0)
    with pytest.raises(ValueError, match="1/alpha"):
        celu.alpha = 1e-40
    assert celu.alpha == 1.0
    with pytest.raises(ValueError, match="1/alpha"):
        ops.gemm(np.ones((2, 3), F32), np.ones((3, 4), F32), activation="celu", activation_params=(1e-300,))
    for m in [nn.CELU(3e-39), nn.CELU(-3e38), nn.Softplus(3e-39, 1e30), nn.LeakyReLU(3e38), nn.ELU(-3e38),
              nn.Hardtanh(-1e300, 1e300), nn.RReLU(-1e38, 1e38)]:
        y = m(x)
        assert not np.isnan(y).any(), m
        assert not np.isnan(m.backward(np.ones_like(y))).any(), m


@pytest.mark.parametrize("make", [lambda **kw: nn.BatchNorm1d(3, **kw), lambda **kw: nn.LayerNorm(3, **kw)])
def test_norm_eps_below_float32_tiny_is_refused_for_float32(backend, make):
    """eps = 1e-300 rounds to 0 in float32, so a constant feature gives 1/√0 and NaN output:
    a clear error for float32 input; float64 keeps it, and eps at float32's smallest normal works."""
    x = np.ones((4, 3), F32)
    with pytest.raises(ValueError, match="eps=1e-300 is below float32's smallest normal"):
        make(eps=1e-300)(x)
    m = make(eps=1e-5)
    m.eps = 1e-300                                    # set later: refused at the next forward
    with pytest.raises(ValueError, match="eps=1e-300"):
        m(x)
    np.testing.assert_array_equal(make(eps=1e-300, dtype=F64)(x.astype(F64)), np.zeros((4, 3)))
    np.testing.assert_array_equal(make(eps=float(np.finfo(F32).tiny))(x), np.zeros((4, 3), F32))


def test_prelu_width_is_its_weight_length(backend):
    """Inputs must have as many features as PReLU has slopes (any width for one slope), and the
    slopes cannot change width afterwards: a clear error, never NumPy's broadcast error."""
    m = nn.PReLU(4)
    with pytest.raises(ValueError, match=r"PReLU: input has shape \(2, 3\) but num_parameters is 4, so inputs "
                                         r"expected: \(batch, 4\)"):
        m.forward(np.ones((2, 3), F32))
    with pytest.raises(ValueError, match=r"PReLU\.weight\.data must be .* shape \(4,\)"):
        m.weight.data = np.ones(3, F32)
    with pytest.raises(ValueError, match=r"PReLU\.weight\.data must be .* shape \(4,\)"):
        m.weight = nn.Parameter(np.ones(3, F32))
    with pytest.raises(AttributeError):
        m.num_parameters = 3                          # read from the weight
    assert m.num_parameters == 4 and m.get_config()["config"]["num_parameters"] == 4
    assert repr(m) == "PReLU(num_parameters=4)\nTotal parameters: 4"   # (PyTorch's name hides Module's count)
    one = nn.PReLU()
    with pytest.raises(ValueError, match=r"PReLU\.weight\.data must be .* shape \(1,\)"):
        one.weight = nn.Parameter(np.ones(5, F32))
    x = -np.arange(1.0, 11.0, dtype=F32).reshape(2, 5)
    y = one.forward(x)
    np.testing.assert_array_equal(y, 0.25 * x)
    one.weight.grad = np.zeros(3, F32)                # checked before backward writes it
    with pytest.raises(ValueError, match=r"PReLU\.weight\.grad must be a C-contiguous writable array of shape \(1,\)"):
        one.backward(np.ones_like(y))
    one.weight.grad = None                            # recreated
    np.testing.assert_array_equal(one.backward(np.ones_like(y)), np.full_like(x, 0.25))
    np.testing.assert_array_equal(one.weight.grad, [x.sum()])


def test_prelu_init_past_the_dtype_range_refused():
    assert nn.PReLU(init=1e300, dtype=F64).weight.data[0] == 1e300
    with pytest.raises(ValueError, match="init must be <="):      # float32 would store inf
        nn.PReLU(init=1e300)


@pytest.mark.parametrize("make,name", [(nn.Hardsigmoid, "Hardsigmoid: mode"), (nn.GELU, "GELU: approximate"),
                                       (lambda v: nn.Dropout(0.5, mode=v), "Dropout: mode")],
                         ids=["Hardsigmoid", "GELU", "Dropout"])
@pytest.mark.parametrize("value", [["x"], {}, np.array(["none", "tanh"]), np.array("none"), None, 1],
                         ids=["list", "dict", "array", "0-d array", "None", "int"])
def test_string_choices_refuse_other_types_by_name(backend, make, name, value):
    """Unhashable or array values are refused by type, not looked up ("unhashable type") or
    compared element-wise ("truth value of an array is ambiguous")."""
    with pytest.raises(TypeError, match=f"{name} must be '.*' or '.*', got {type(value).__name__}"):
        make(value)


def test_layernorm_normalized_shape_of_the_wrong_type(backend):
    for bad in (None, 4.0, np.array(4.0), "4", [[4]]):
        with pytest.raises(TypeError, match="normalized_shape must be an integer"):
            nn.LayerNorm(bad)
    for ok in (4, np.int64(4), (4,), [4], np.array([4]), np.array(4)):
        assert nn.LayerNorm(ok).normalized_shape == (4,)


PARAMETRISED = [(nn.LeakyReLU, "leaky_relu"), (nn.ELU, "elu"), (nn.CELU, "celu"), (nn.Softplus, "softplus"),
                (nn.Hardtanh, "hardtanh")]


@pytest.mark.parametrize("cls,act", PARAMETRISED, ids=lambda v: v if isinstance(v, str) else "")
def test_activation_modules_and_gemm_check_parameters_by_one_table(backend, cls, act):
    """The modules' arguments are the epilogue's parameters (same names, ops.ACTIVATIONS) and
    are checked by the same rules as ops.gemm's activation_params, at construction and when an
    attribute is set later (a refused value leaves the module as it was)."""
    import inspect

    from fastnn import ops

    names = ops.ACTIVATIONS[act]
    assert tuple(inspect.signature(cls).parameters) == names and cls.act == act
    a, b = np.ones((2, 3), F32), np.ones((3, 2), F32)
    bad = [("x",) * len(names), (float("nan"),) * len(names)] + {
        "celu": [(0.0,)], "softplus": [(0.0, 20.0), (-1.0, 20.0)], "hardtanh": [(1.0, -1.0), (1.0, 1.0)]}.get(act, [])
    for values in bad:
        with pytest.raises((TypeError, ValueError)) as ours:
            cls(*values)
        with pytest.raises(type(ours.value)) as theirs:
            ops.gemm(a, b, activation=act, activation_params=values)
        assert str(ours.value).startswith(f"{cls.__name__}: ")
        assert str(ours.value)[len(cls.__name__) + 2:] == str(theirs.value)[len(f"activation {act!r}: "):]
        m = cls()
        before = m.get_config()
        with pytest.raises(type(ours.value)):
            for name, v in zip(names, values):
                setattr(m, name, v)
        assert m.get_config() == before and m.act_params() == tuple(before["config"].values())
    m = cls()
    setattr(m, names[-1], 3.0)
    assert getattr(m, names[-1]) == 3.0 and m.act_params()[-1] == 3.0
    np.testing.assert_array_equal(m.forward(a), ops.gemm(a, np.eye(3, dtype=F32), activation=act,
                                                        activation_params=m.act_params()))


def test_maxout_linear_replacement_is_checked_when_assigned():
    m = nn.Maxout(3, 4, 2)
    with pytest.raises(ValueError, match=r"Maxout.linear must map 3 to 8.*\(5, 3\)"):
        m.linear = nn.Linear(3, 5)
    with pytest.raises(TypeError, match="Maxout.linear must be a Linear, got ReLU"):
        m.linear = nn.ReLU()
    with pytest.raises(ValueError, match="no activation"):
        m.linear = nn.Linear(3, 8, activation="relu")
    m.linear = nn.Linear(3, 8, dtype=F64)             # the right size: accepted, dtype follows
    assert m(np.ones((2, 3))).shape == (2, 4)


@pytest.mark.parametrize("make, name", [(lambda: nn.PReLU(), "weight"), (lambda: nn.Linear(2, 3), "weight"),
                                        (lambda: nn.Maxout(2, 3, 2), "linear"),
                                        (lambda: nn.DropConnect(nn.Linear(2, 3)), "linear")])
def test_required_parameters_and_children_refuse_none(make, name):
    m = make()
    before = getattr(m, name)
    with pytest.raises(TypeError, match=f"{type(m).__name__}.{name} cannot be None"):
        setattr(m, name, None)
    assert getattr(m, name) is before


def test_linear_bias_may_be_removed_and_given_back_with_its_shape(backend):
    lin = nn.Linear(2, 3)
    lin.bias = None
    assert lin(np.ones((1, 2), F32)).shape == (1, 3)
    with pytest.raises(ValueError, match=r"Linear.bias.data .*shape \(3,\).*got shape \(5,\)"):
        lin.bias = nn.Parameter(np.zeros(5, F32))
    with pytest.raises(TypeError, match="dtype float32"):
        lin.bias = nn.Parameter(np.zeros(3, F64))
    lin.bias = nn.Parameter(np.ones(3, F32))
    np.testing.assert_allclose(lin(np.zeros((1, 2), F32)), [[1, 1, 1]])
    with pytest.raises(TypeError, match="DropConnect.linear must be a Linear"):
        nn.DropConnect(lin).linear = nn.ReLU()


@pytest.mark.parametrize("make", [lambda: nn.BatchNorm1d(5), lambda: nn.LayerNorm(5)])
def test_norm_affine_parameters_given_back_keep_their_shape(make):
    """As Linear's bias: a norm layer's weight or bias set to None and given back must be
    (features,) in the layer's dtype, refused when assigned (not at the next forward)."""
    m = make()
    for name in ("weight", "bias"):
        setattr(m, name, None)
        with pytest.raises(ValueError, match=rf"{type(m).__name__}\.{name}\.data must be .* shape \(5,\)"):
            setattr(m, name, nn.Parameter(np.ones(3, F32)))
        with pytest.raises(TypeError, match="dtype float32"):
            setattr(m, name, nn.Parameter(np.ones(5, F64)))
        setattr(m, name, nn.Parameter(np.full(5, 2.0 if name == "weight" else 1.0, F32)))
    x = np.array([[0.0, 1, 2, 3, 4], [4, 3, 2, 1, 0]], F32)
    np.testing.assert_allclose(m(x), 2.0 * make()(x) + 1.0, rtol=1e-6)


def test_mode_attributes_are_checked_and_take_effect_when_set(backend):
    x = np.array([[1.0, -2.0]], F64)
    g = nn.GELU()
    seq = nn.Sequential(nn.Linear(2, 2, dtype=F64), g)    # fused into the Linear's epilogue
    seq(x)                                            # the fusion plan exists before the change
    g.approximate = "tanh"
    np.testing.assert_allclose(g(x), A.act_forward(x, "gelu_tanh"), rtol=1e-12)
    np.testing.assert_allclose(seq(x), nn.Sequential(seq[0], nn.GELU("tanh"))(x), rtol=1e-12)
    assert g.get_config()["config"] == {"approximate": "tanh"}
    h = nn.Hardsigmoid()
    h.mode = "linear"
    np.testing.assert_allclose(h(x), [[0.7, 0.1]], rtol=1e-12)
    d = nn.Dropout(0.25, seed=0).eval()
    d.mode = "classic"
    np.testing.assert_allclose(d(x), 0.75 * x)
    for m, name, bad, err in [(g, "approximate", "fast", ValueError), (g, "approximate", None, TypeError),
                              (h, "mode", "keras", ValueError), (d, "mode", ["classic"], TypeError)]:
        before = getattr(m, name)
        with pytest.raises(err, match=name):
            setattr(m, name, bad)
        assert getattr(m, name) == before
