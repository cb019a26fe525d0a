"""fastnn.init: formulas checked statistically on large matrices, against torch.nn.init when installed."""
import math

import numpy as np
import pytest

from fastnn import init

SHAPE = (2000, 1000)            # (out, in): fan_in = 1000, fan_out = 2000; 2M samples → std to ~0.1 %
FAN_IN, FAN_OUT = 1000, 2000
DTYPES = [np.float32, np.float64]


class Param:
    """Stand-in for fastnn.nn.Parameter: an object holding .data and .grad."""

    def __init__(self, shape, dtype=np.float32):
        self.data = np.zeros(shape, dtype)
        self.grad = np.zeros(shape, dtype)


def _std(fn, dtype=np.float64, shape=SHAPE, **kw):
    w = np.empty(shape, dtype)
    out = fn(w, rng=0, **kw)
    assert out is w and w.dtype == dtype
    return float(w.astype(np.float64).std()), w


# ------------------------------------------------------------------------------ gains

@pytest.mark.parametrize("name,param,expected", [
    ("linear", None, 1.0), ("identity", None, 1.0), ("conv2d", None, 1.0),
    ("conv_transpose3d", None, 1.0), ("sigmoid", None, 1.0), ("tanh", None, 5 / 3),
    ("relu", None, math.sqrt(2)), ("leaky_relu", None, math.sqrt(2 / (1 + 0.01 ** 2))),
    ("leaky_relu", 0.2, math.sqrt(2 / 1.04)), ("leaky_relu", 0, math.sqrt(2)), ("selu", None, 0.75),
])
def test_gain_table(name, param, expected):
    assert init.calculate_gain(name, param) == pytest.approx(expected, rel=1e-15)


def test_gain_errors():
    with pytest.raises(ValueError, match="nonlinearity"):
        init.calculate_gain("swishy")
    with pytest.raises(TypeError, match="param"):
        init.calculate_gain("leaky_relu", "0.1")
    with pytest.raises(TypeError, match="nonlinearity"):
        init.calculate_gain(None)


def test_gain_matches_torch():
    torch = pytest.importorskip("torch")
    for name in ("linear", "conv1d", "sigmoid", "tanh", "relu", "selu"):
        assert init.calculate_gain(name) == pytest.approx(torch.nn.init.calculate_gain(name), rel=1e-12)
    for s in (None, 0.0, 0.2, 3.0):
        assert init.calculate_gain("leaky_relu", s) == pytest.approx(
            torch.nn.init.calculate_gain("leaky_relu", s), rel=1e-12)


# ----------------------------------------------------------------------- fan / shapes

def test_fan_in_fan_out():
    assert init._calculate_fan_in_and_fan_out(np.empty((30, 20))) == (20, 30)
    assert init._calculate_fan_in_and_fan_out(np.empty((16, 8, 3, 3))) == (72, 144)
    assert init._calculate_fan_in_and_fan_out(Param((4, 5))) == (5, 4)
    with pytest.raises(ValueError, match="fewer than 2 dimensions"):
        init._calculate_fan_in_and_fan_out(np.empty(5))


@pytest.mark.parametrize("fn", [init.xavier_uniform_, init.xavier_normal_, init.kaiming_uniform_,
                                init.kaiming_normal_, init.lecun_uniform_, init.lecun_normal_,
                                init.orthogonal_])
def test_fan_based_reject_1d(fn):
    with pytest.raises(ValueError, match="dimensions"):
        fn(np.zeros(10), rng=0)


def test_conv_shaped_fan_uses_receptive_field():
    std, _ = _std(init.kaiming_normal_, shape=(64, 32, 5, 5))
    assert std == pytest.approx(math.sqrt(2 / (32 * 25)), rel=0.02)


# ------------------------------------------------------------------------ statistics

@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("gain", [1.0, 5 / 3])
def test_xavier(dtype, gain):
    std_exp = gain * math.sqrt(2 / (FAN_IN + FAN_OUT))
    std, _ = _std(init.xavier_normal_, dtype, gain=gain)
    assert std == pytest.approx(std_exp, rel=0.01)
    std, w = _std(init.xavier_uniform_, dtype, gain=gain)
    assert std == pytest.approx(std_exp, rel=0.01)
    bound = math.sqrt(3) * std_exp
    assert np.abs(w.astype(np.float64)).max() <= bound          # exact, after rounding
    assert np.abs(w.astype(np.float64)).max() > 0.999 * bound


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("mode,fan", [("fan_in", FAN_IN), ("fan_out", FAN_OUT), ("FAN_OUT", FAN_OUT)])
@pytest.mark.parametrize("a,nl", [(0.0, "leaky_relu"), (math.sqrt(5), "leaky_relu"), (0.0, "relu"),
                                  (0.0, "tanh"), (0.0, "linear")])
def test_kaiming(dtype, mode, fan, a, nl):
    std_exp = init.calculate_gain(nl, a) / math.sqrt(fan)
    for fn, alias in ((init.kaiming_normal_, init.he_normal_), (init.kaiming_uniform_, init.he_uniform_)):
        std, w = _std(fn, dtype, a=a, mode=mode, nonlinearity=nl)
        assert std == pytest.approx(std_exp, rel=0.01)
        assert np.array_equal(alias(np.empty(SHAPE, dtype), a=a, mode=mode, nonlinearity=nl, rng=0), w)
    bound = math.sqrt(3) * std_exp
    assert np.abs(w.astype(np.float64)).max() <= bound


def test_kaiming_default_is_he_fan_in():
    std, _ = _std(init.kaiming_normal_)
    assert std == pytest.approx(math.sqrt(2 / FAN_IN), rel=0.01)


def test_linear_default_init_bound():
    # nn.Linear's default: kaiming_uniform_(a=√5) → U(±1/√fan_in).
    w = init.kaiming_uniform_(np.empty(SHAPE), a=math.sqrt(5), rng=3)
    assert np.abs(w).max() <= 1 / math.sqrt(FAN_IN)
    assert np.abs(w).max() > 0.999 / math.sqrt(FAN_IN)


@pytest.mark.parametrize("dtype", DTYPES)
def test_lecun(dtype):
    std, _ = _std(init.lecun_normal_, dtype)
    assert std == pytest.approx(math.sqrt(1 / FAN_IN), rel=0.01)
    std, w = _std(init.lecun_uniform_, dtype)
    assert std == pytest.approx(math.sqrt(1 / FAN_IN), rel=0.01)
    assert np.abs(w.astype(np.float64)).max() <= math.sqrt(3 / FAN_IN)


@pytest.mark.parametrize("dtype", DTYPES)
def test_normal_uniform_constant(dtype):
    w = init.normal_(np.empty(SHAPE, dtype), mean=3.0, std=0.5, rng=1)
    assert w.astype(np.float64).mean() == pytest.approx(3.0, abs=0.002)
    assert w.astype(np.float64).std() == pytest.approx(0.5, rel=0.01)
    w = init.uniform_(np.empty(SHAPE, dtype), a=-0.3, b=0.7, rng=1)
    w64 = w.astype(np.float64)
    assert w64.min() >= -0.3 and w64.max() <= 0.7                    # -0.3, 0.7 not float32-exact
    assert w64.std() == pytest.approx(1.0 / math.sqrt(12), rel=0.01)
    assert w64.mean() == pytest.approx(0.2, abs=0.002)
    assert np.all(init.constant_(np.empty((3, 4), dtype), 2.5) == 2.5)
    assert np.all(init.zeros_(np.ones((3, 4), dtype)) == 0)
    assert np.all(init.ones_(np.zeros((3, 4), dtype)) == 1)
    assert np.all(init.normal_(np.empty(5, dtype), mean=1.5, std=0.0, rng=0) == 1.5)
    big = float(np.finfo(dtype).max)
    assert np.all(init.constant_(np.empty(3, dtype), -big) == -big)
    with pytest.raises(ValueError, match="val must be"):            # not stored as -inf (PyTorch raises too)
        init.constant_(np.empty(3, dtype), -big * 2 if dtype == np.float32 else -math.inf)


def test_uniform_float32_rounding_clamped_inside():
    # [f, f + 0.7 ulp): draws above f + 0.5 ulp round up to f + 1 ulp > b unless clamped.
    f = np.float32(0.1)
    ulp = float(np.nextafter(f, np.float32(1)) - f)
    a, b = float(f), float(f) + 0.7 * ulp
    w = init.uniform_(np.empty(1000, np.float32), a=a, b=b, rng=0)
    assert np.all(w == f)
    w = init.uniform_(np.empty(1000, np.float32), a=-b, b=-a, rng=0)
    assert np.all(w == -f)


def test_uniform_degenerate_interval():
    assert np.all(init.uniform_(np.empty(100), a=0.1, b=0.1, rng=0) == 0.1)
    # No float32 lies in [0.1, 0.1]: the nearest one is used.
    assert np.all(init.uniform_(np.empty(100, np.float32), a=0.1, b=0.1, rng=0) == np.float32(0.1))


def test_zeros_on_weights_allowed_but_symmetric():
    w = init.zeros_(np.ones((4, 3)))
    assert np.all(w == w[0])                       # every unit identical: symmetry never broken


def test_eye():
    assert np.array_equal(init.eye_(np.full((3, 5), 7.0)), np.eye(3, 5))
    assert np.array_equal(init.eye_(np.full((5, 3), 7.0, np.float32)), np.eye(5, 3, dtype=np.float32))
    with pytest.raises(ValueError, match="2-D"):
        init.eye_(np.zeros((2, 2, 2)))


@pytest.mark.parametrize("dtype", DTYPES)
def test_trunc_normal(dtype):
    w = init.trunc_normal_(np.empty(SHAPE, dtype), rng=2).astype(np.float64)
    assert w.min() >= -2 and w.max() <= 2
    assert w.min() < -1.99 and w.max() > 1.99
    assert w.std() == pytest.approx(0.87962566103423978, rel=0.01)   # N(0,1) cut at ±2σ
    assert w.mean() == pytest.approx(0.0, abs=0.003)
    # Absolute bounds, shifted mean: N(1, 0.5²) on [0.5, 3] has mean 1 + 0.5·φ(-1)/(1-Φ(-1)) - 0.5·φ(4)/...
    w = init.trunc_normal_(np.empty(SHAPE, dtype), mean=1.0, std=0.5, a=0.5, b=3.0, rng=2).astype(np.float64)
    assert w.min() >= 0.5 and w.max() <= 3.0
    phi = lambda z: math.exp(-z * z / 2) / math.sqrt(2 * math.pi)
    big_phi = lambda z: 0.5 * math.erfc(-z / math.sqrt(2))
    al, be = -1.0, 4.0
    z = big_phi(be) - big_phi(al)
    mean_exp = 1.0 + 0.5 * (phi(al) - phi(be)) / z
    var_exp = 0.25 * (1 + (al * phi(al) - be * phi(be)) / z - ((phi(al) - phi(be)) / z) ** 2)
    assert w.mean() == pytest.approx(mean_exp, abs=0.002)
    assert w.std() == pytest.approx(math.sqrt(var_exp), rel=0.01)


def test_trunc_normal_tails_finite_and_inside():
    for a, b in ((5.0, 6.0), (-6.0, -5.0), (40.0, 41.0), (-41.0, -40.0), (3.0, 3.001)):
        w = init.trunc_normal_(np.empty(10000), a=a, b=b, rng=0)
        assert np.all(np.isfinite(w)) and w.min() >= a and w.max() <= b
    # Mass of N(0,1) on [5, 6] sits near 5: mean ≈ 5.19.
    assert init.trunc_normal_(np.empty(200000), a=5.0, b=6.0, rng=0).mean() == pytest.approx(5.187, abs=0.01)


# ------------------------------------------------------------------------- orthogonal

@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", [(50, 50), (30, 80), (80, 30), (1, 7), (7, 1)])
def test_orthogonal(dtype, shape):
    q = init.orthogonal_(np.empty(shape, dtype), rng=5).astype(np.float64)
    tol = 1e-5 if dtype == np.float32 else 1e-12
    rows, cols = shape
    if rows <= cols:
        np.testing.assert_allclose(q @ q.T, np.eye(rows), atol=tol)
    if rows >= cols:
        np.testing.assert_allclose(q.T @ q, np.eye(cols), atol=tol)


def test_orthogonal_gain_nd_and_std():
    q = init.orthogonal_(np.empty((8, 4, 3)), gain=2.0, rng=1).reshape(8, 12)
    np.testing.assert_allclose(q @ q.T, 4.0 * np.eye(8), atol=1e-12)
    std, _ = _std(init.orthogonal_)                       # Σ q² = cols → E[q²] = 1/rows
    assert std == pytest.approx(math.sqrt(1 / SHAPE[0]), rel=0.01)


def test_orthogonal_is_haar_sign_corrected():
    # With the sign correction Q is Haar-distributed, so E[Q_ii] = 0; without it Q_11 > 0 always.
    first = [init.orthogonal_(np.empty((6, 6)), rng=s)[0, 0] for s in range(400)]
    assert (np.array(first) < 0).mean() == pytest.approx(0.5, abs=0.1)


# ------------------------------------------------------------ rng, dtypes, Parameters

@pytest.mark.parametrize("name", ["xavier_uniform", "xavier_normal", "kaiming_uniform", "kaiming_normal",
                                  "lecun_uniform", "lecun_normal", "orthogonal", "normal", "uniform"])
def test_seed_reproducible(name):
    fn = init.get_initializer(name)
    a = fn(np.empty((64, 32), np.float32), rng=123)
    b = fn(np.empty((64, 32), np.float32), rng=123)
    c = fn(np.empty((64, 32), np.float32), rng=124)
    assert a.tobytes() == b.tobytes()
    assert not np.array_equal(a, c)
    g1, g2 = np.random.default_rng(9), np.random.default_rng(9)
    assert np.array_equal(fn(np.empty((64, 32)), rng=g1), fn(np.empty((64, 32)), rng=g2))
    assert not np.array_equal(fn(np.empty((64, 32)), rng=g1), fn(np.empty((64, 32)), rng=np.random.default_rng(9)))
    assert not np.array_equal(fn(np.empty((64, 32)), rng=None), fn(np.empty((64, 32)), rng=None))


def test_float32_is_rounded_float64_draw():
    w32 = init.normal_(np.empty((10, 10), np.float32), rng=7)
    w64 = init.normal_(np.empty((10, 10), np.float64), rng=7)
    assert np.array_equal(w32, w64.astype(np.float32))


def test_as_generator():
    g = np.random.default_rng(0)
    assert init.as_generator(g) is g
    assert isinstance(init.as_generator(None), np.random.Generator)
    assert init.as_generator(np.int64(4)).integers(1 << 30) == np.random.default_rng(4).integers(1 << 30)
    with pytest.raises(TypeError, match="rng"):
        init.as_generator(1.5)
    with pytest.raises(TypeError, match="rng"):
        init.as_generator(True)
    with pytest.raises(ValueError, match="rng"):
        init.as_generator(-1)


@pytest.mark.parametrize("name", ["xavier_uniform", "kaiming_normal", "orthogonal", "zeros", "ones"])
def test_parameter_like(name):
    p = Param((6, 4), np.float64)
    buf = p.data
    out = init.get_initializer(name)(p) if name in ("zeros", "ones") else init.get_initializer(name)(p, rng=0)
    assert out is p and p.data is buf and p.data.dtype == np.float64
    ref = np.empty((6, 4))
    ref = init.get_initializer(name)(ref) if name in ("zeros", "ones") else init.get_initializer(name)(ref, rng=0)
    assert np.array_equal(p.data, ref)
    assert np.all(p.grad == 0)


def test_real_parameter():
    nn = pytest.importorskip("fastnn.nn")
    Parameter = getattr(nn, "Parameter", None) or pytest.importorskip("fastnn.nn.module").Parameter
    p = Parameter(np.zeros((30, 20), np.float32))
    assert init.xavier_uniform_(p, rng=0) is p
    assert p.data.dtype == np.float32 and np.abs(p.data).max() <= math.sqrt(6 / 50) and p.data.std() > 0
    assert np.array_equal(p.data, init.xavier_uniform_(np.empty((30, 20), np.float32), rng=0))
    assert np.all(p.grad == 0)


def test_non_contiguous_view_filled_in_place():
    base = np.zeros((10, 8))
    view = base[:, ::2]
    init.constant_(view, 1.0)
    assert base.sum() == 40 and np.all(base[:, 1::2] == 0)
    init.orthogonal_(base[::2], rng=0)
    np.testing.assert_allclose(base[::2] @ base[::2].T, np.eye(5), atol=1e-12)


def test_empty_tensor_is_noop():
    for fn in (init.xavier_uniform_, init.kaiming_normal_, init.orthogonal_, init.normal_):
        w = fn(np.empty((0, 5)), rng=0)
        assert w.shape == (0, 5)


def test_registry():
    assert init.get_initializer("glorot_uniform") is init.xavier_uniform_
    assert init.get_initializer("glorot_normal") is init.xavier_normal_
    assert init.get_initializer("he_uniform") is init.kaiming_uniform_
    assert init.get_initializer("he_normal") is init.kaiming_normal_
    assert init.get_initializer("Lecun_Normal") is init.lecun_normal_
    assert init.get_initializer("zeros") is init.zeros_
    with pytest.raises(ValueError, match="glorot_uniform"):
        init.get_initializer("glorot")
    with pytest.raises(TypeError, match="name"):
        init.get_initializer(3)


# ----------------------------------------------------------------------------- errors

@pytest.mark.parametrize("shape", [(0, 0), (4, 0), (0, 4), (3, 0, 2)])
@pytest.mark.parametrize("name", ["xavier_uniform_", "xavier_normal_", "kaiming_uniform_", "kaiming_normal_",
                                  "lecun_uniform_", "lecun_normal_"])
def test_fan_scaled_initializers_on_empty_tensors(name, shape):
    """A zero fan only comes with no elements: nothing to draw, no ZeroDivisionError; the
    arguments are still checked."""
    w = np.empty(shape, np.float32)
    assert getattr(init, name)(w, rng=0) is w
    if name.startswith("xavier"):
        with pytest.raises(ValueError, match="gain"):
            getattr(init, name)(w, gain=-1.0)


def test_errors_name_argument():
    w = np.empty((4, 3))
    with pytest.raises(ValueError, match="std"):
        init.normal_(w, std=-1.0)
    with pytest.raises(ValueError, match="std"):
        init.trunc_normal_(w, std=0.0)
    with pytest.raises(ValueError, match="a must be <"):
        init.trunc_normal_(w, a=1.0, b=1.0)
    with pytest.raises(ValueError, match="a must be <="):
        init.uniform_(w, a=1.0, b=0.0)
    with pytest.raises(ValueError, match="mode"):
        init.kaiming_uniform_(w, mode="fan_avg")
    with pytest.raises(ValueError, match="nonlinearity"):
        init.kaiming_normal_(w, nonlinearity="softmax")
    with pytest.raises(ValueError, match="gain"):
        init.xavier_uniform_(w, gain=-1.0)
    with pytest.raises(TypeError, match="tensor"):
        init.xavier_uniform_([[1.0, 2.0]])
    with pytest.raises(TypeError, match="tensor"):
        init.normal_(np.zeros((3, 3), np.int32))
    with pytest.raises(TypeError, match="val"):
        init.constant_(w, "1")
    with pytest.raises(ValueError, match="val"):
        init.constant_(w, float("nan"))
    with pytest.raises(TypeError, match="rng"):
        init.normal_(w, rng="seed")
    ro = np.zeros((3, 3))
    ro.flags.writeable = False
    with pytest.raises(ValueError, match="read-only"):
        init.ones_(ro)


# ---------------------------------------------------------------- torch formula parity

TORCH_CASES = [
    ("xavier_uniform_", {}), ("xavier_uniform_", {"gain": 5 / 3}), ("xavier_normal_", {"gain": 0.5}),
    ("kaiming_uniform_", {}), ("kaiming_uniform_", {"a": math.sqrt(5)}),
    ("kaiming_uniform_", {"mode": "fan_out", "nonlinearity": "relu"}),
    ("kaiming_normal_", {}), ("kaiming_normal_", {"mode": "fan_out", "nonlinearity": "tanh"}),
    ("kaiming_normal_", {"a": 0.2, "nonlinearity": "leaky_relu"}),
    ("orthogonal_", {}), ("orthogonal_", {"gain": 2.0}),
    ("uniform_", {"a": -0.5, "b": 2.0}), ("normal_", {"mean": 1.0, "std": 0.3}),
    ("trunc_normal_", {"mean": 0.5, "std": 1.0, "a": -1.0, "b": 1.5}),
]


@pytest.mark.parametrize("name,kw", TORCH_CASES)
@pytest.mark.parametrize("shape", [(1000, 500), (300, 900), (32, 16, 3, 3)])
def test_formulas_match_torch(name, kw, shape):
    torch = pytest.importorskip("torch")
    torch.manual_seed(0)
    t = getattr(torch.nn.init, name)(torch.empty(shape, dtype=torch.float64), **kw).numpy()
    w = getattr(init, name)(np.empty(shape), rng=0, **kw)
    assert w.mean() == pytest.approx(t.mean(), abs=0.03 * t.std() + 1e-12)
    assert w.std() == pytest.approx(t.std(), rel=0.03)
    if name.endswith("uniform_") or name == "trunc_normal_":
        # Bounds: the extremes of 450k+ uniform draws agree to well under 1 %.
        assert w.max() == pytest.approx(t.max(), rel=0.01)
        assert w.min() == pytest.approx(t.min(), rel=0.01)
    if name == "orthogonal_":
        rows = shape[0]
        flat = w.reshape(rows, -1)
        tflat = t.reshape(rows, -1)
        small = flat @ flat.T if flat.shape[0] <= flat.shape[1] else flat.T @ flat
        tsmall = tflat @ tflat.T if tflat.shape[0] <= tflat.shape[1] else tflat.T @ tflat
        np.testing.assert_allclose(small, tsmall, atol=1e-9)


@pytest.mark.parametrize("dtype", DTYPES)
def test_uniform_ranges_wider_than_the_largest_float(dtype):
    a = np.empty((50, 40), dtype)
    with np.errstate(over="ignore"):
        init.uniform_(a, -1e308, 1e308, rng=0)
        b = np.empty((3, 4))
        init.xavier_uniform_(b, gain=1e308, rng=0)
    assert np.isfinite(a).all() and a.min() < 0 < a.max()
    assert np.isfinite(b).all() and abs(b).max() <= 1e308


@pytest.mark.parametrize("a", [1e200, -1e300, 1.7e308])
def test_leaky_relu_gain_of_a_huge_slope_is_not_zero(a):
    """√(2/(1+a²)) is representable although a² overflows: gain and kaiming bounds stay non-zero."""
    gain = init.calculate_gain("leaky_relu", a)
    assert gain == pytest.approx(math.sqrt(2.0) / abs(a), rel=1e-15) and gain > 0
    w = np.zeros((3, 4))
    init.kaiming_uniform_(w, a=a, rng=0)
    assert (w != 0).all() and np.isfinite(w).all()
