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
"""
from __future__ import annotations

import numbers

import numpy as np

from ._validate import as_float, as_int, check_array

__all__ = ["NotFittedError", "StandardScaler", "MeanImageSubtractor", "ChannelMeanSubtractor",
           "PCA", "Whitening"]


class NotFittedError(ValueError, AttributeError):
    """A transformer was used before ``fit``."""


def _check_data(X, name="X", *, ndim=2):
    """X as a finite, non-empty float32/float64 ndarray of ``ndim`` dims (or ≥ 2 if ndim is None)."""
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
        self.with_mean = bool(with_mean)
        self.with_std = bool(with_std)
        self.eps = as_float(eps, "eps", low=0.0)

    def fit(self, X):
        X = _check_data(X)
        X64 = X.astype(np.float64)
        n = X.shape[0]
        self.mean_ = X64.mean(axis=0)
        self.var_ = ((X64 - self.mean_) ** 2).mean(axis=0)
        # Constant: variance within float64 rounding of zero (sklearn's _is_constant_feature
        # bound), or std ≤ eps; scaling those by 1 avoids 0/0.
        e = np.finfo(np.float64).eps
        bound = n * e * self.var_ + (n * np.abs(self.mean_) * e) ** 2
        scale = np.sqrt(self.var_)
        scale[(self.var_ <= bound) | (scale <= self.eps)] = 1.0
        self.scale_ = scale if self.with_std else None
        self.n_samples_seen_ = n
        self.n_features_in_ = X.shape[1]
        return self

    def transform(self, X):
        X = self._fitted(X)
        Z = X.astype(np.float64)
        if self.with_mean:
            Z -= self.mean_
        if self.with_std:
            Z /= self.scale_
        return Z.astype(X.dtype, copy=False)

    def inverse_transform(self, X):
        X = self._fitted(X)
        Z = X.astype(np.float64)
        if self.with_std:
            Z *= self.scale_
        if self.with_mean:
            Z += self.mean_
        return Z.astype(X.dtype, copy=False)


class MeanImageSubtractor(_Transformer):
    """z = x − mean_, the mean image over samples of (n, ...) arrays; mean_ has shape X.shape[1:]."""

    def fit(self, X):
        X = _check_data(X, ndim=None)
        self.mean_ = X.astype(np.float64).mean(axis=0)
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
        return (X.astype(np.float64) - self.mean_).astype(X.dtype, copy=False)

    def inverse_transform(self, X):
        X = self._fitted(X)
        return (X.astype(np.float64) + self.mean_).astype(X.dtype, copy=False)


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
        self.mean_ = X.astype(np.float64).mean(axis=tuple(i for i in range(X.ndim) if i != ax))
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
        return (X.astype(np.float64) - self._channel_mean(X)).astype(X.dtype, copy=False)

    def inverse_transform(self, X):
        X = self._fitted(X)
        return (X.astype(np.float64) + self._channel_mean(X)).astype(X.dtype, copy=False)


def _eig_cov(Xc):
    """Eigenpairs of the covariance Xcᵀ·Xc/(n−1), eigenvalues descending and ≥ 0; vectors as rows."""
    n = Xc.shape[0]
    lam, U = np.linalg.eigh(Xc.T @ Xc / (n - 1))       # ascending; U (p, p) columns
    lam, U = np.maximum(lam[::-1], 0.0), U[:, ::-1]       # rounding can give tiny negative λ
    return lam, _sign_flip(U.T)


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
        self.whiten = bool(whiten)
        self.eps = as_float(eps, "eps", low=0.0)

    def fit(self, X):
        X = _check_data(X)
        _need_two_samples(X, "PCA")
        n, p = X.shape
        self.mean_ = X.astype(np.float64).mean(axis=0)
        # Thin SVD of the centred data: Xc (n, p) = U S Vt, Vt (min(n,p), p); works for n < p.
        _, S, Vt = np.linalg.svd(X.astype(np.float64) - self.mean_, full_matrices=False)
        Vt = _sign_flip(Vt)
        ev = S ** 2 / (n - 1)
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
        if self.whiten and self.eps == 0.0 and np.any(ev[:k] <= ev[0] * max(n, p) * np.finfo(np.float64).eps):
            raise ValueError(f"X (shape {X.shape}) has a kept zero-variance component and whiten with "
                             f"eps=0 would divide by zero; use eps > 0 or fewer n_components")
        self.n_components_ = k
        self.components_ = Vt[:k]                       # (k, p)
        self.explained_variance_ = ev[:k]
        self.explained_variance_ratio_ = ratio[:k]
        self.singular_values_ = S[:k]
        self.n_features_in_ = p
        return self

    def transform(self, X):
        X = self._fitted(X)
        Z = (X.astype(np.float64) - self.mean_) @ self.components_.T
        if self.whiten:
            Z /= np.sqrt(self.explained_variance_ + self.eps)
        return Z.astype(X.dtype, copy=False)

    def inverse_transform(self, X):
        X = self._fitted(X, n_features=getattr(self, "n_components_", None))
        Z = X.astype(np.float64)
        if self.whiten:
            Z = Z * np.sqrt(self.explained_variance_ + self.eps)
        return (Z @ self.components_ + self.mean_).astype(X.dtype, copy=False)


class Whitening(_Transformer):
    """z = (x − mean_) · Wᵀ, PCA: W = diag(1/√(λ+eps)) Uᵀ; ZCA: W = U diag(1/√(λ+eps)) Uᵀ."""

    def __init__(self, method="pca", eps=1e-5):
        if method not in ("pca", "zca"):
            raise ValueError(f"method must be 'pca' or 'zca', got {method!r}")
        self.method = method
        self.eps = as_float(eps, "eps", low=0.0)

    def fit(self, X):
        X = _check_data(X)
        _need_two_samples(X, "Whitening")
        self.mean_ = X.astype(np.float64).mean(axis=0)
        lam, Ut = _eig_cov(X.astype(np.float64) - self.mean_)   # all p components kept
        # With eps = 0, a λ at rounding level (rank-deficient X) would blow up to ~1e8 gains.
        if self.eps == 0.0 and np.any(lam <= lam[0] * len(lam) * np.finfo(np.float64).eps):
            raise ValueError(f"X (shape {X.shape}) has a zero-variance direction and eps=0; use eps > 0")
        d = lam + self.eps
        W = Ut / np.sqrt(d)[:, None]                  # (p, p) PCA whitening: rows scaled
        Winv = Ut.T * np.sqrt(d)                       # (p, p) with Winv @ W = I
        if self.method == "zca":
            W = Ut.T @ W                               # U diag(d^-½) Uᵀ, symmetric
            Winv = Winv @ Ut                           # U diag(d^½) Uᵀ
        self.eigenvalues_ = lam
        self.eigenvectors_ = Ut                        # (p, p), rows are eigenvectors
        self.whitening_matrix_ = W
        self.dewhitening_matrix_ = Winv
        self.n_features_in_ = X.shape[1]
        return self

    def transform(self, X):
        X = self._fitted(X)
        return ((X.astype(np.float64) - self.mean_) @ self.whitening_matrix_.T).astype(X.dtype, copy=False)

    def inverse_transform(self, X):
        X = self._fitted(X)
        Z = X.astype(np.float64) @ self.dewhitening_matrix_.T + self.mean_
        return Z.astype(X.dtype, copy=False)
