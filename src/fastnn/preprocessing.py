"""Input preprocessing: scikit-learn style transformers (fit / transform / inverse_transform).

Each transformer learns float64 statistics in ``fit`` and applies them in float64, then
returns the result in the input's dtype (float32 and float64 are preserved; integer and
bool input, e.g. uint8 images, is converted to float64). Input must be a finite, non-empty
ndarray, 2-D (n_samples, n_features) unless a class says otherwise; a feature count that
differs from the fitted one is a ``ValueError`` naming X and both shapes, and using a
transformer before ``fit`` raises ``NotFittedError`` (a ``ValueError``, as in sklearn).
Variances and covariances use n − 1 (sklearn's PCA convention) except in StandardScaler,
which uses n as sklearn does. PCA and Whitening add ``eps`` to eigenvalues before the
inverse square root so that rank-deficient data (constant features, n_samples <
n_features) gives finite output and an exact inverse.

Finite data of any magnitude is handled: squaring 1e300 overflows and squaring 1e-300
underflows, so means and (co)variances are computed on data rescaled by a power of two
into (−1, 1) (``ldexp``: exact, only the exponent changes), and the exponent is put back
into standard deviations, never into variances. ``scale_``, the whitening gains and the
transforms are therefore right wherever they are representable, while ``var_``,
``explained_variance_`` and ``eigenvalues_`` overflow to inf for a std above ~1e154 and
lose precision, down to 0, below ~1e-154: those are reported, not used. StandardScaler
scales each feature by its own power of two; PCA and Whitening use one for the whole
matrix, since per-feature factors would change the principal directions (so, as ever in
float64, directions with variance below ~1e-16 of the largest are not resolved). Centring,
x − mean, is done in halves where it would pass the float64 maximum (|x| near 1.8e308).
``eps`` is absolute, in the data's squared units: on data of magnitude 1e-300 the default
1e-5 outweighs every eigenvalue, and eps=0 (or one scaled to the data) whitens it.
"""
from __future__ import annotations

import numbers

import numpy as np

from ._validate import as_bool, as_choice, as_float, as_int, check_array

__all__ = ["NotFittedError", "StandardScaler", "MeanImageSubtractor", "ChannelMeanSubtractor",
           "PCA", "Whitening"]


class NotFittedError(ValueError, AttributeError):
    """A transformer was used before ``fit``."""


def _check_data(X, name="X", *, ndim=2):
    """X as a finite, non-empty float32/float64 ndarray of ``ndim`` dims (or ≥ 2 if ndim is None)."""
    if isinstance(X, (np.matrix, np.ma.MaskedArray)):
        # Their operators differ from ndarray's (matrix products, masks the statistics would ignore).
        raise TypeError(f"{name} must be a plain numpy.ndarray, got {type(X).__name__}; convert it with "
                        f"numpy.asarray (a masked array's mask would be ignored)")
    if isinstance(X, np.ndarray) and type(X) is not np.ndarray:
        X = np.asarray(X)                               # memmap and other subclasses: the plain array
    if isinstance(X, np.ndarray) and X.dtype.kind in "biu":
        X = X.astype(np.float64)
    check_array(X, name, contiguous=False)
    if ndim is not None and X.ndim != ndim:
        raise ValueError(f"{name} must be {ndim}-D (n_samples, n_features), got shape {X.shape}")
    if ndim is None and X.ndim < 2:
        raise ValueError(f"{name} must be at least 2-D (n_samples, ...), got shape {X.shape}")
    if X.size == 0:
        raise ValueError(f"{name} must not be empty, got shape {X.shape}")
    if not np.isfinite(X).all():
        raise ValueError(f"{name} contains NaN or infinity (shape {X.shape})")
    return X


def _mean(X, axis=0):
    """X.mean(axis) without overflow: each slice is summed in units of its own power of two, and
    the rounded mean is kept within the slice's [min, max], so a constant slice's mean is exact."""
    lo, hi = X.min(axis=axis, keepdims=True), X.max(axis=axis, keepdims=True)
    e = np.frexp(np.maximum(-lo, hi))[1]                # max|X| from the bounds the clip needs anyway
    mean = np.ldexp(np.ldexp(X, -e).mean(axis=axis, keepdims=True), e)
    return np.clip(mean, lo, hi).squeeze(axis)


def _exponent(X, axis=None):
    """frexp exponents e of max|X| (over ``axis``): ldexp(X, −e) lies in (−1, 1), exactly."""
    return np.frexp(np.abs(X).max(axis=axis))[1]


def _centred(X, mean):
    """(float64 (X − mean)·2^−h, h): h = 0, or 1 where some x − mean passes the float64 maximum."""
    with np.errstate(over="ignore", invalid="ignore"):
        Xc = np.subtract(X, mean, dtype=np.float64)
    if np.isfinite(Xc).all():
        return Xc, 0
    return np.ldexp(X.astype(np.float64), -1) - np.ldexp(mean, -1), 1


def _forward(X, mean, linear):
    """linear(X − mean), for a linear map that may work in place on its (fresh) argument."""
    Xc, h = _centred(X, mean)
    Z = linear(Xc)
    return np.ldexp(Z, h) if h else Z


def _backward(Z, mean, linear):
    """linear(Z) + mean (float64 Z, linear leaves Z unchanged), in halves where linear(Z) passes
    the float64 maximum on the way to a representable sum."""
    with np.errstate(over="ignore", invalid="ignore"):
        X = linear(Z) + mean
    if np.isfinite(X).all():
        return X
    X = linear(np.ldexp(Z, -1)) + np.ldexp(mean, -1)
    return np.ldexp(X, 1)


def _same(Z):
    """The identity map, for the transformers that only subtract a mean."""
    return Z


def _sign_flip(V):
    """Rows of V (k, p) negated so each row's largest-|·| entry is positive (sklearn's svd_flip)."""
    idx = np.argmax(np.abs(V), axis=1)
    signs = np.sign(V[np.arange(V.shape[0]), idx])
    signs[signs == 0] = 1.0
    return V * signs[:, None]


class _Transformer:
    """fit_transform and the fitted / feature-count checks shared by the 2-D transformers."""

    def fit_transform(self, X):
        return self.fit(X).transform(X)

    def _fitted(self, X, name="X", n_features=None):
        """Validated 2-D X whose width equals the fitted width (or ``n_features``)."""
        if not hasattr(self, "n_features_in_"):
            raise NotFittedError(f"this {type(self).__name__} is not fitted yet; call fit(X) first")
        X = _check_data(X, name)
        expected = self.n_features_in_ if n_features is None else n_features
        if X.shape[1] != expected:
            raise ValueError(f"{name} has shape {X.shape} ({X.shape[1]} features) but "
                             f"{type(self).__name__} expects {expected} features")
        return X


class StandardScaler(_Transformer):
    """z = (x − mean_) / scale_, scale_ = √var_ (population variance), 1 for constant features."""

    def __init__(self, with_mean=True, with_std=True, eps=0.0):
        self.with_mean = as_bool(with_mean, "with_mean")
        self.with_std = as_bool(with_std, "with_std")
        self.eps = as_float(eps, "eps", low=0.0)

    def fit(self, X):
        X = _check_data(X)
        n = X.shape[0]
        self.mean_ = _mean(X.astype(np.float64, copy=False))
        Xc, h = _centred(X, self.mean_)
        e = _exponent(Xc, axis=0)
        var = (np.ldexp(Xc, -e) ** 2).mean(axis=0)     # feature j in units of 4^(e_j + h)
        e += h
        # Constant: variance within float64 rounding of zero (sklearn's _is_constant_feature
        # bound, which is scale-free), or std ≤ eps; scaling those by 1 avoids 0/0.
        eps = np.finfo(np.float64).eps
        with np.errstate(over="ignore"):
            bound = n * eps * var + (n * np.abs(np.ldexp(self.mean_, -e)) * eps) ** 2
            self.var_ = np.ldexp(var, 2 * e)
        scale = np.ldexp(np.sqrt(var), e)
        scale[(var <= bound) | (scale <= self.eps)] = 1.0
        self.scale_ = scale if self.with_std else None
        self.n_samples_seen_ = n
        self.n_features_in_ = X.shape[1]
        return self

    def transform(self, X):
        X = self._fitted(X)
        scale = self.scale_ if self.with_std else 1.0
        Z = _forward(X, self.mean_ if self.with_mean else 0.0, lambda Xc: np.divide(Xc, scale, out=Xc))
        return Z.astype(X.dtype, copy=False)

    def inverse_transform(self, X):
        X = self._fitted(X)
        scale = self.scale_ if self.with_std else 1.0
        Z = _backward(X.astype(np.float64), self.mean_ if self.with_mean else 0.0, lambda Z: Z * scale)
        return Z.astype(X.dtype, copy=False)


class MeanImageSubtractor(_Transformer):
    """z = x − mean_, the mean image over samples of (n, ...) arrays; mean_ has shape X.shape[1:]."""

    def fit(self, X):
        X = _check_data(X, ndim=None)
        self.mean_ = _mean(X.astype(np.float64, copy=False))
        self.n_features_in_ = int(np.prod(X.shape[1:]))
        return self

    def _fitted(self, X, name="X", n_features=None):
        if not hasattr(self, "mean_"):
            raise NotFittedError("this MeanImageSubtractor is not fitted yet; call fit(X) first")
        X = _check_data(X, name, ndim=None)
        if X.shape[1:] != self.mean_.shape:
            raise ValueError(f"{name} has shape {X.shape} but the fitted mean image has shape "
                             f"{self.mean_.shape}; expected (n, *{self.mean_.shape})")
        return X

    def transform(self, X):
        X = self._fitted(X)
        return _forward(X, self.mean_, _same).astype(X.dtype, copy=False)

    def inverse_transform(self, X):
        X = self._fitted(X)
        return _backward(X.astype(np.float64), self.mean_, _same).astype(X.dtype, copy=False)


class ChannelMeanSubtractor(_Transformer):
    """z = x − mean_[c], mean over every axis except ``channel_axis`` (NHWC: −1, NCHW: 1)."""

    def __init__(self, channel_axis=-1):
        self.channel_axis = as_int(channel_axis, "channel_axis")

    def _axis(self, X, name):
        ax = self.channel_axis
        if not -X.ndim <= ax < X.ndim or ax % X.ndim == 0:
            raise ValueError(f"channel_axis={ax} is not a non-sample axis of {name} with shape {X.shape}")
        return ax % X.ndim

    def fit(self, X):
        X = _check_data(X, ndim=None)
        ax = self._axis(X, "X")
        self.mean_ = _mean(X.astype(np.float64, copy=False), axis=tuple(i for i in range(X.ndim) if i != ax))
        self.ndim_ = X.ndim
        self.n_features_in_ = X.shape[ax]
        return self

    def _fitted(self, X, name="X", n_features=None):
        if not hasattr(self, "mean_"):
            raise NotFittedError("this ChannelMeanSubtractor is not fitted yet; call fit(X) first")
        X = _check_data(X, name, ndim=None)
        if X.ndim != self.ndim_:
            raise ValueError(f"{name} has shape {X.shape} but {self.ndim_}-D input was fitted")
        ax = self._axis(X, name)
        if X.shape[ax] != self.mean_.shape[0]:
            raise ValueError(f"{name} has shape {X.shape} with {X.shape[ax]} channels on axis {ax} "
                             f"but {self.mean_.shape[0]} channels were fitted")
        return X

    def _channel_mean(self, X):
        """mean_ reshaped to broadcast along the channel axis of X: (1, .., C, .., 1)."""
        shape = [1] * X.ndim
        shape[self._axis(X, "X")] = -1
        return self.mean_.reshape(shape)

    def transform(self, X):
        X = self._fitted(X)
        return _forward(X, self._channel_mean(X), _same).astype(X.dtype, copy=False)

    def inverse_transform(self, X):
        X = self._fitted(X)
        return _backward(X.astype(np.float64), self._channel_mean(X), _same).astype(X.dtype, copy=False)


def _eig_cov(Xc):
    """Eigenpairs of the covariance Xcᵀ·Xc/(n−1), eigenvalues descending and ≥ 0; vectors as rows."""
    n = Xc.shape[0]
    lam, U = np.linalg.eigh(Xc.T @ Xc / (n - 1))       # ascending; U (p, p) columns
    lam, U = np.maximum(lam[::-1], 0.0), U[:, ::-1]       # rounding can give tiny negative λ
    return lam, _sign_flip(U.T)


def _check_whitenable(std, eps, X):
    """Refuse gains 1/√(λ + eps) that float64 cannot hold: a principal std past its maximum (|x|
    near 1.8e308 in several features) or, with eps = 0, one whose inverse overflows (subnormal X)."""
    with np.errstate(divide="ignore", over="ignore"):
        if not np.isfinite(std).all() or (eps == 0.0 and not np.isfinite(1.0 / std).all()):
            raise ValueError(f"X (shape {X.shape}) has principal standard deviations from {std.min():.3g} to "
                             f"{std.max():.3g}, which float64 cannot whiten" + (" with eps=0; use eps > 0"
                             if np.isfinite(std).all() else "; rescale X"))


def _need_two_samples(X, cls):
    if X.shape[0] < 2:
        raise ValueError(f"X has shape {X.shape}: {cls} needs at least 2 samples (variance uses n − 1)")


class PCA(_Transformer):
    """z = (x − mean_) · components_ᵀ [/ √(explained_variance_ + eps) when whiten], via SVD."""

    def __init__(self, n_components=None, whiten=False, eps=1e-5):
        if n_components is not None:
            if isinstance(n_components, numbers.Integral) and not isinstance(n_components, bool):
                n_components = as_int(n_components, "n_components", low=1)
            else:
                n_components = as_float(n_components, "n_components", low=0.0, high=1.0,
                                        low_inclusive=False, high_inclusive=False)
        self.n_components = n_components
        self.whiten = as_bool(whiten, "whiten")
        self.eps = as_float(eps, "eps", low=0.0)

    def fit(self, X):
        X = _check_data(X)
        _need_two_samples(X, "PCA")
        n, p = X.shape
        self.mean_ = _mean(X.astype(np.float64, copy=False))
        Xc, h = _centred(X, self.mean_)
        e = _exponent(Xc)
        # Thin SVD of the centred data in units of 2^(e + h): Xc (n, p) = U S Vt, Vt (min(n,p), p);
        # works for n < p.
        _, S, Vt = np.linalg.svd(np.ldexp(Xc, -e), full_matrices=False)
        e += h
        Vt = _sign_flip(Vt)
        ev = S ** 2 / (n - 1)                           # units of 4^e: ratios and rank tests are scale-free
        total = ev.sum()
        ratio = ev / total if total > 0 else np.zeros_like(ev)
        k = self.n_components
        if k is None:
            k = len(S)
        elif isinstance(k, float):
            # Smallest k whose cumulative ratio reaches the fraction (sklearn's rule).
            k = min(int(np.searchsorted(np.cumsum(ratio), k, side="right")) + 1, len(S))
        elif k > len(S):
            raise ValueError(f"n_components={k} must be <= min(n_samples, n_features)={len(S)} "
                             f"for X with shape {X.shape}")
        with np.errstate(over="ignore"):
            std = np.ldexp(np.sqrt(ev[:k]), e)          # √explained_variance_, without squaring
        if self.whiten:
            if self.eps == 0.0 and np.any(ev[:k] <= ev[0] * max(n, p) * np.finfo(np.float64).eps):
                raise ValueError(f"X (shape {X.shape}) has a kept zero-variance component and whiten with "
                                 f"eps=0 would divide by zero; use eps > 0 or fewer n_components")
            _check_whitenable(std, self.eps, X)
        self.n_components_ = k
        self.components_ = Vt[:k]                       # (k, p)
        with np.errstate(over="ignore"):
            self.explained_variance_ = np.ldexp(ev[:k], 2 * e)
            self.singular_values_ = np.ldexp(S[:k], e)
        self.explained_variance_ratio_ = ratio[:k]
        self._std = std
        self.n_features_in_ = p
        return self

    def _whitening_sd(self):
        """√(explained_variance_ + eps), from the std so that it is right where the variance is not."""
        return np.hypot(self._std, np.sqrt(self.eps))

    def transform(self, X):
        X = self._fitted(X)

        def project(Xc):
            Z = Xc @ self.components_.T
            if self.whiten:
                Z /= self._whitening_sd()
            return Z
        return _forward(X, self.mean_, project).astype(X.dtype, copy=False)

    def inverse_transform(self, X):
        X = self._fitted(X, n_features=getattr(self, "n_components_", None))
        sd = self._whitening_sd() if self.whiten else 1.0
        Z = _backward(X.astype(np.float64), self.mean_, lambda Z: (Z * sd) @ self.components_)
        return Z.astype(X.dtype, copy=False)


class Whitening(_Transformer):
    """z = (x − mean_) · Wᵀ, PCA: W = diag(1/√(λ+eps)) Uᵀ; ZCA: W = U diag(1/√(λ+eps)) Uᵀ."""

    def __init__(self, method="pca", eps=1e-5):
        self.method = as_choice(method, "method", ("pca", "zca"))
        self.eps = as_float(eps, "eps", low=0.0)

    def fit(self, X):
        X = _check_data(X)
        _need_two_samples(X, "Whitening")
        self.mean_ = _mean(X.astype(np.float64, copy=False))
        Xc, h = _centred(X, self.mean_)
        e = _exponent(Xc)
        lam, Ut = _eig_cov(np.ldexp(Xc, -e))           # all p components kept; λ in units of 4^(e + h)
        e += h
        with np.errstate(over="ignore"):
            std = np.ldexp(np.sqrt(lam), e)
        # With eps = 0, a λ at rounding level (rank-deficient X) would blow up to ~1e8 gains.
        if self.eps == 0.0 and np.any(lam <= lam[0] * len(lam) * np.finfo(np.float64).eps):
            raise ValueError(f"X (shape {X.shape}) has a zero-variance direction and eps=0; use eps > 0")
        _check_whitenable(std, self.eps, X)
        sd = np.hypot(std, np.sqrt(self.eps))          # √(λ + eps), without forming λ
        W = Ut / sd[:, None]                           # (p, p) PCA whitening: rows scaled
        Winv = Ut.T * sd                               # (p, p) with Winv @ W = I
        if self.method == "zca":
            W = Ut.T @ W                               # U diag(d^-½) Uᵀ, symmetric
            Winv = Winv @ Ut                           # U diag(d^½) Uᵀ
        with np.errstate(over="ignore"):
            self.eigenvalues_ = np.ldexp(lam, 2 * e)
        self.eigenvectors_ = Ut                        # (p, p), rows are eigenvectors
        self.whitening_matrix_ = W
        self.dewhitening_matrix_ = Winv
        self.n_features_in_ = X.shape[1]
        return self

    def transform(self, X):
        X = self._fitted(X)
        return _forward(X, self.mean_, lambda Xc: Xc @ self.whitening_matrix_.T).astype(X.dtype, copy=False)

    def inverse_transform(self, X):
        X = self._fitted(X)
        Z = _backward(X.astype(np.float64), self.mean_, lambda Z: Z @ self.dewhitening_matrix_.T)
        return Z.astype(X.dtype, copy=False)
