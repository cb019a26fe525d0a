"""Weight initializers with PyTorch's names and semantics (``torch.nn.init``).

Every initializer fills its target IN PLACE and returns it. The target is a float32 or
float64 ndarray, or anything whose ``.data`` is one (a ``fastnn.nn.Parameter``).
Randomness comes from ``rng``: None (a fresh ``numpy.random.default_rng()``), an int
seed, or a ``numpy.random.Generator``; the same seed gives the same bits. Samples are
drawn in float64 and rounded once into the target's dtype; uniform draws are then
clamped to the representable values inside [a, b], so bounds hold exactly after
rounding. Fans follow PyTorch: a weight is (out, in, *receptive field), fan_in =
shape[1]·rf and fan_out = shape[0]·rf; fewer than 2 dims is an error. Zero-size
targets are left untouched (nothing to draw), after the arguments are checked.
``zeros_``/``constant_`` on a weight matrix is allowed, but every unit of the layer then
computes the same function and receives the same gradient, so the symmetry is never
broken; that failure is the user's to see, not ours to forbid. ``lecun_*`` and
``kaiming_*`` normals are untruncated, as in PyTorch (Keras truncates).
"""
from __future__ import annotations

import math
import numbers

import numpy as np

from ._validate import as_float, as_int, check_array

__all__ = [
    "as_generator", "calculate_gain", "uniform_", "normal_", "trunc_normal_", "constant_",
    "zeros_", "ones_", "eye_", "xavier_uniform_", "xavier_normal_", "kaiming_uniform_",
    "kaiming_normal_", "he_uniform_", "he_normal_", "lecun_uniform_", "lecun_normal_",
    "orthogonal_", "get_initializer",
]

_LINEAR_FNS = ("linear", "identity", "conv1d", "conv2d", "conv3d",
               "conv_transpose1d", "conv_transpose2d", "conv_transpose3d", "sigmoid")


# ---------------------------------------------------------------------------- helpers

def as_generator(rng=None) -> np.random.Generator:
    """None → fresh default generator; int seed → ``default_rng(seed)``; Generator → itself."""
    if rng is None:
        return np.random.default_rng()
    if isinstance(rng, np.random.Generator):
        return rng
    if isinstance(rng, numbers.Integral) and not isinstance(rng, bool):
        return np.random.default_rng(as_int(rng, "rng", low=0))
    raise TypeError(f"rng must be None, a non-negative int seed or a numpy.random.Generator, "
                    f"got {type(rng).__name__}")


def _target(tensor, name="tensor"):
    """The writable float ndarray behind ``tensor`` (an ndarray or an object with ``.data``)."""
    arr = tensor
    if not isinstance(arr, np.ndarray) and isinstance(getattr(arr, "data", None), np.ndarray):
        arr = arr.data
    if not isinstance(arr, np.ndarray):
        raise TypeError(f"{name} must be a numpy.ndarray or have a .data ndarray (a Parameter), "
                        f"got {type(tensor).__name__}")
    check_array(arr, name, contiguous=False)
    if not arr.flags.writeable:
        raise ValueError(f"{name} is read-only (shape {arr.shape})")
    return arr


def _calculate_fan_in_and_fan_out(tensor):
    """(fan_in, fan_out) = (shape[1]·rf, shape[0]·rf), rf = prod(shape[2:])."""
    shape = tensor.shape if isinstance(tensor, np.ndarray) else _target(tensor).shape
    if len(shape) < 2:
        raise ValueError(f"tensor: fan in and fan out can not be computed for a tensor with fewer "
                         f"than 2 dimensions, got shape {shape}")
    rf = math.prod(shape[2:])
    return shape[1] * rf, shape[0] * rf


def _fan(arr, mode):
    if not isinstance(mode, str) or mode.lower() not in ("fan_in", "fan_out"):
        raise ValueError(f"mode must be 'fan_in' or 'fan_out', got {mode!r}")
    fan_in, fan_out = _calculate_fan_in_and_fan_out(arr)
    return fan_in if mode.lower() == "fan_in" else fan_out


def _fill_uniform(arr, low, high, g):
    """arr ← U[low, high) drawn in float64, rounded to arr.dtype, clamped inside [low, high]."""
    if math.isfinite(high - low):
        v = g.uniform(low, high, size=arr.shape).astype(arr.dtype)
    else:                                              # a range wider than the largest float (±1e308)
        u = g.random(arr.shape)
        v = (low * (1.0 - u) + high * u).astype(arr.dtype)
    np.clip(v, *_inside(low, high, arr.dtype), out=v)
    arr[...] = v


def _inside(low, high, dtype):
    """Smallest and largest values of ``dtype`` inside [low, high] (rounded midpoint if none)."""
    t = dtype.type
    lo, hi = t(low), t(high)
    # Rounding to float32 may step just outside a non-representable bound: pull it in.
    if float(lo) < low:
        lo = np.nextafter(lo, t(np.inf))
    if float(hi) > high:
        hi = np.nextafter(hi, t(-np.inf))
    if lo > hi:
        lo = hi = t(0.5 * (low + high))
    return lo, hi


def _fill_normal(arr, mean, std, g):
    """arr ← N(mean, std²) drawn in float64, rounded to arr.dtype."""
    arr[...] = g.normal(mean, std, size=arr.shape)


# Acklam's rational approximation of the standard normal quantile (relative error < 1.2e-9).
_A = (-3.969683028665376e+01, 2.209460984245205e+02, -2.759285104469687e+02,
      1.383577518672690e+02, -3.066479806614716e+01, 2.506628277459239e+00)
_B = (-5.447609879822406e+01, 1.615858368580409e+02, -1.556989798598866e+02,
      6.680131188771972e+01, -1.328068155288572e+01, 1.0)
_C = (-7.784894002430293e-03, -3.223964580411365e-01, -2.400758277161838e+00,
      -2.549732539343734e+00, 4.374664141464968e+00, 2.938163982698783e+00)
_D = (7.784695709041462e-03, 3.224671290700398e-01, 2.445134137142996e+00,
      3.754408661907416e+00, 1.0)


def _ndtri(p):
    """Φ⁻¹(p) for p in (0, 1), elementwise (float64)."""
    p = np.asarray(p, dtype=np.float64)
    x = np.empty_like(p)
    low, high = p < 0.02425, p > 1 - 0.02425
    mid = ~(low | high)
    q = p[mid] - 0.5
    r = q * q
    x[mid] = q * np.polyval(_A, r) / np.polyval(_B, r)
    q = np.sqrt(-2.0 * np.log(p[low]))
    x[low] = np.polyval(_C, q) / np.polyval(_D, q)
    q = np.sqrt(-2.0 * np.log1p(-p[high]))
    x[high] = -np.polyval(_C, q) / np.polyval(_D, q)
    return x


def _phi(z):
    """Φ(z), accurate in the lower tail (erfc, no cancellation)."""
    return 0.5 * math.erfc(-z / math.sqrt(2.0))


# ------------------------------------------------------------------------------ gains

def calculate_gain(nonlinearity, param=None):
    """Recommended gain: 1 linear/conv/sigmoid, 5/3 tanh, √2 relu, √(2/(1+s²)) leaky_relu, 3/4 selu."""
    if not isinstance(nonlinearity, str):
        raise TypeError(f"nonlinearity must be a str, got {type(nonlinearity).__name__}")
    if nonlinearity in _LINEAR_FNS:
        return 1.0
    if nonlinearity == "tanh":
        return 5.0 / 3.0
    if nonlinearity == "relu":
        return math.sqrt(2.0)
    if nonlinearity == "leaky_relu":
        s = 0.01 if param is None else as_float(param, "param")
        if abs(s) > 1e150:                            # s² would overflow: the same value, unsquared
            return math.sqrt(2.0) / math.hypot(1.0, s)
        return math.sqrt(2.0 / (1.0 + s * s))
    if nonlinearity == "selu":
        return 3.0 / 4.0
    raise ValueError(f"nonlinearity {nonlinearity!r} is not supported; use one of "
                     f"{list(_LINEAR_FNS) + ['tanh', 'relu', 'leaky_relu', 'selu']}")


# ----------------------------------------------------------------- basic distributions

def uniform_(tensor, a=0.0, b=1.0, rng=None):
    """tensor ~ U(a, b)."""
    arr = _target(tensor)
    a, b = as_float(a, "a"), as_float(b, "b")
    if a > b:
        raise ValueError(f"a must be <= b, got a={a}, b={b}")
    _fill_uniform(arr, a, b, as_generator(rng))
    return tensor


def normal_(tensor, mean=0.0, std=1.0, rng=None):
    """tensor ~ N(mean, std²)."""
    arr = _target(tensor)
    mean, std = as_float(mean, "mean"), as_float(std, "std", low=0.0)
    _fill_normal(arr, mean, std, as_generator(rng))
    return tensor


def trunc_normal_(tensor, mean=0.0, std=1.0, a=-2.0, b=2.0, rng=None):
    """tensor ~ N(mean, std²) conditioned on a ≤ x ≤ b (absolute bounds), by inverse CDF."""
    arr = _target(tensor)
    mean, std = as_float(mean, "mean"), as_float(std, "std", low=0.0, low_inclusive=False)
    a, b = as_float(a, "a"), as_float(b, "b")
    if not a < b:
        raise ValueError(f"a must be < b, got a={a}, b={b}")
    g = as_generator(rng)
    alpha, beta = (a - mean) / std, (b - mean) / std
    # Sample on the lower side of the mean, where Φ is accurate in float64, then mirror.
    flip = alpha > -beta
    if flip:
        alpha, beta = -beta, -alpha
    lo, hi = _phi(alpha), _phi(beta)
    u = g.uniform(lo, hi, size=arr.shape)
    # u == 0 only when Φ(beta) underflows (beyond ~37σ): _ndtri gives NaN and the sample is
    # put on beta, the bound nearest the mean, where nearly all of that mass lies.
    with np.errstate(divide="ignore", invalid="ignore"):
        z = np.clip(np.nan_to_num(_ndtri(u), nan=beta, neginf=alpha, posinf=beta), alpha, beta)
    if flip:
        z = -z
    v = (mean + std * z).astype(arr.dtype)
    arr[...] = np.clip(v, *_inside(a, b, arr.dtype))
    return tensor


def constant_(tensor, val):
    """tensor ← val; a val past the dtype's range is refused (PyTorch's "cannot be converted without
    overflow"), not stored as ±inf."""
    arr = _target(tensor)
    big = float(np.finfo(arr.dtype).max)
    arr[...] = as_float(val, "val", low=-big, high=big)
    return tensor


def zeros_(tensor):
    """tensor ← 0 (biases; on weights it leaves all units identical, see module docstring)."""
    return constant_(tensor, 0.0)


def ones_(tensor):
    """tensor ← 1."""
    return constant_(tensor, 1.0)


def eye_(tensor):
    """tensor ← I (2-D only; rectangular: ones on the main diagonal)."""
    arr = _target(tensor)
    if arr.ndim != 2:
        raise ValueError(f"tensor must be 2-D for eye_, got shape {arr.shape}")
    arr[...] = np.eye(*arr.shape, dtype=arr.dtype)
    return tensor


# ------------------------------------------------------------------- fan-scaled inits

def _fill_fan_scaled(tensor, arr, std, rng, uniform):
    """arr ~ U(±√3·std) (same variance) or N(0, std²); the generator is checked even when empty."""
    g = as_generator(rng)
    if arr.size:
        if uniform:
            bound = math.sqrt(3.0) * std
            _fill_uniform(arr, -bound, bound, g)
        else:
            _fill_normal(arr, 0.0, std, g)
    return tensor


# A fan is 0 only for a tensor with no elements (nothing is drawn): its std is then moot, 0.0.

def _xavier_std(arr, gain):
    fan_in, fan_out = _calculate_fan_in_and_fan_out(arr)
    gain = as_float(gain, "gain", low=0.0)
    return gain * math.sqrt(2.0 / (fan_in + fan_out)) if fan_in + fan_out else 0.0


def _kaiming_std(arr, a, mode, nonlinearity):
    fan = _fan(arr, mode)
    gain = calculate_gain(nonlinearity, as_float(a, "a"))
    return gain / math.sqrt(fan) if fan else 0.0


def xavier_uniform_(tensor, gain=1.0, rng=None):
    """tensor ~ U(±gain·√(6/(fan_in+fan_out)))."""
    arr = _target(tensor)
    return _fill_fan_scaled(tensor, arr, _xavier_std(arr, gain), rng, uniform=True)


def xavier_normal_(tensor, gain=1.0, rng=None):
    """tensor ~ N(0, gain²·2/(fan_in+fan_out))."""
    arr = _target(tensor)
    return _fill_fan_scaled(tensor, arr, _xavier_std(arr, gain), rng, uniform=False)


def kaiming_uniform_(tensor, a=0.0, mode="fan_in", nonlinearity="leaky_relu", rng=None):
    """tensor ~ U(±√3·gain/√fan), gain = calculate_gain(nonlinearity, a)."""
    arr = _target(tensor)
    return _fill_fan_scaled(tensor, arr, _kaiming_std(arr, a, mode, nonlinearity), rng, uniform=True)


def kaiming_normal_(tensor, a=0.0, mode="fan_in", nonlinearity="leaky_relu", rng=None):
    """tensor ~ N(0, gain²/fan), gain = calculate_gain(nonlinearity, a)."""
    arr = _target(tensor)
    return _fill_fan_scaled(tensor, arr, _kaiming_std(arr, a, mode, nonlinearity), rng, uniform=False)


he_uniform_ = kaiming_uniform_
he_normal_ = kaiming_normal_


def lecun_uniform_(tensor, rng=None):
    """tensor ~ U(±√(3/fan_in)), i.e. Var = 1/fan_in."""
    return kaiming_uniform_(tensor, mode="fan_in", nonlinearity="linear", rng=rng)


def lecun_normal_(tensor, rng=None):
    """tensor ~ N(0, 1/fan_in) (untruncated)."""
    return kaiming_normal_(tensor, mode="fan_in", nonlinearity="linear", rng=rng)


def orthogonal_(tensor, gain=1.0, rng=None):
    """tensor ← gain·Q, Q from QR of a Gaussian (rows, numel/rows) with Q·sign(diag R)."""
    arr = _target(tensor)
    gain = as_float(gain, "gain")
    if arr.ndim < 2:
        raise ValueError(f"tensor must have 2 or more dimensions for orthogonal_, got shape {arr.shape}")
    g = as_generator(rng)
    if arr.size == 0:
        return tensor
    rows = arr.shape[0]
    cols = arr.size // rows
    flat = g.standard_normal((rows, cols))
    if rows < cols:
        flat = flat.T                       # QR of the tall (cols, rows) matrix → orthonormal rows
    q, r = np.linalg.qr(flat)               # q: (max, min) with orthonormal columns
    q *= np.where(np.diag(r) < 0, -1.0, 1.0)  # unique Q: make diag(R) positive
    if rows < cols:
        q = q.T
    arr[...] = (gain * q).reshape(arr.shape)
    return tensor


# --------------------------------------------------------------------------- registry

_REGISTRY = {
    "xavier_uniform": xavier_uniform_, "glorot_uniform": xavier_uniform_,
    "xavier_normal": xavier_normal_, "glorot_normal": xavier_normal_,
    "kaiming_uniform": kaiming_uniform_, "he_uniform": he_uniform_,
    "kaiming_normal": kaiming_normal_, "he_normal": he_normal_,
    "lecun_uniform": lecun_uniform_, "lecun_normal": lecun_normal_,
    "orthogonal": orthogonal_, "normal": normal_, "uniform": uniform_,
    "zeros": zeros_, "ones": ones_,
}


def get_initializer(name):
    """The in-place initializer registered under ``name`` (e.g. "glorot_uniform")."""
    if not isinstance(name, str):
        raise TypeError(f"name must be a str, got {type(name).__name__}")
    try:
        return _REGISTRY[name.lower()]
    except KeyError:
        raise ValueError(f"unknown initializer name {name!r}; known: {sorted(_REGISTRY)}") from None
