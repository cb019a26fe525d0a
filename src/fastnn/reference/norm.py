"""NumPy normalisation kernels: BatchNorm (statistics over the batch, per feature) and
LayerNorm (statistics over the features, per row), forward and backward.

Design. Two-pass statistics (mean, then the mean of squared deviations: no cancellation),
in the input dtype. The forward returns (y, mean, invstd) with invstd = 1/√(σ²_biased + eps);
the backward recomputes x̂ = (x − μ)·invstd from them instead of storing it. γ/β may be
None (no affine); grad_gamma/grad_beta are accumulated when not None, grad_x overwritten.

Huge finite values, as in cpp/norm.cpp: a row (LayerNorm) or column (BatchNorm) of finite
values whose σ² overflows (float32 beyond ~1e19, float64 beyond ~1e154; x − μ or the sum
overflowing shows there too) is redone on x·c, c = 2^−⌊log2 max|x|⌋ (exact). Normalising
is scale-invariant but for eps, (xc − μc)/√(σ²c² + eps·c²) = (x − μ)/√(σ² + eps), so eps is
scaled too; where eps·c² underflows, σ² is 0 (equal values: x̂ = 0, invstd = 1/√eps) or at
least an ulp² of the values, ≫ eps. Rows or columns holding inf or NaN still give NaN. The
backward and the inference form x − μ as x/2 − μ/2 where it could overflow.
"""
from __future__ import annotations

import numpy as np

from .dropout import dropout_forward

__all__ = ["batchnorm_forward", "batchnorm_inference", "batchnorm_backward",
           "layernorm_forward", "layernorm_backward"]


def _finish(r, out):
    if out is None:
        return r
    out[...] = r
    return out


def _affine(xhat, gamma, beta):
    if gamma is not None:
        xhat *= gamma
    if beta is not None:
        xhat += beta
    return xhat


def _huge(var, x, axis):
    """Rows (axis=1) or columns (axis=0) of finite values whose variance overflowed."""
    bad = ~np.isfinite(var)
    if bad.any():
        bad &= np.isfinite(x).all(axis=axis)
    return bad


def _scaled_rows(x, eps):
    """(μ, invstd, x̂, unbiased σ² in float64) of each row of finite x (k, n), formed on x·c.

    The mean gets one correction pass, so equal values give x̂ = 0 exactly and Σ(xc − μc)² = 0
    (then invstd = 1/√eps); otherwise Σ(xc − μc)² ≥ 2^−50 (max|xc| ∈ [1, 2)), ≫ eps·c²."""
    t = x.dtype.type
    _, e = np.frexp(np.abs(x).max(axis=1, keepdims=True))
    c = np.ldexp(t(1), 1 - e)                       # x·c ∈ (−2, 2); exact
    xs = x * c
    m = xs.mean(axis=1, keepdims=True)
    m = m + (xs - m).mean(axis=1, keepdims=True)
    d = xs - m
    ss = (d * d).sum(axis=1, keepdims=True)
    equal = ss == 0
    invstd_c = np.where(equal, t(0), 1 / np.sqrt(np.where(equal, t(1), ss / t(x.shape[1]) + t(eps) * c * c)))
    invstd = np.where(equal, 1 / np.sqrt(t(eps)), invstd_c * c)
    fi = np.finfo(x.dtype)
    c64 = c.astype(np.float64)
    with np.errstate(over="ignore"):                # σ² may not fit float64 (then inf)
        var64 = ss.astype(np.float64) / max(x.shape[1] - 1, 1) / c64 / c64
        mean = np.clip(m / c, fi.min, fi.max)       # the rounded mean may pass max|x|
    return mean[:, 0], invstd[:, 0], d * invstd_c, var64[:, 0]


def _xhat(x, mean, invstd, n):
    """(x − μ)·invstd; as ((x/2 − μ/2)·invstd)·2 when some |x − μ| ≤ √n/invstd could overflow
    (the same values wherever x − μ neither overflows nor is subnormal)."""
    if (invstd < 4 * np.sqrt(n) / np.finfo(x.dtype).max).any():
        h = x.dtype.type(0.5)
        return ((x * h - mean * h) * invstd) * 2
    return (x - mean) * invstd


def batchnorm_forward(x, gamma, beta, eps, out=None, running_mean=None, running_var=None, momentum=0.1, relu=False,
                      dropout=None):
    """y = (x − μ_B)·(σ²_B + eps)^(−½)·γ + β over the batch axis (biased σ²); returns (y, μ, invstd).

    running_mean/running_var (when given) ← (1 − momentum)·running + momentum·(μ, σ²·n/(n − 1)),
    formed in float64 from the batch statistics (running_var untouched for a batch of one). relu: y = max(0, y); dropout
    (p, scale, seed, stream), only with relu: then dropout_forward(y, p, scale, seed, stream)."""
    if dropout is not None and not relu:
        raise ValueError("batchnorm_forward: dropout is fused only after relu")
    with np.errstate(over="ignore", invalid="ignore"):   # huge columns: redone below
        mean = x.mean(axis=0)                         # (F,)
        xc = x - mean
        var = np.mean(xc * xc, axis=0)
        invstd = 1 / np.sqrt(var + x.dtype.type(eps))
        xhat = xc * invstd
    n, m = x.shape[0], float(momentum)
    var_u = var.astype(np.float64) * (n / (n - 1)) if n > 1 else None
    huge = _huge(var, x, axis=0)
    if huge.any():
        mean[huge], invstd[huge], xh, v = _scaled_rows(x[:, huge].T, eps)
        xhat[:, huge] = xh.T
        if var_u is not None:
            var_u[huge] = v
    if running_mean is not None:
        running_mean[...] = (1 - m) * running_mean.astype(np.float64) + m * mean.astype(np.float64)
    if running_var is not None and n > 1:
        with np.errstate(over="ignore"):
            running_var[...] = (1 - m) * running_var.astype(np.float64) + m * var_u
    y = _affine(xhat, gamma, beta)
    if relu:
        y = np.maximum(y, 0)
    if dropout is not None:
        y = dropout_forward(y, *dropout)
    return _finish(y, out), mean, invstd


def batchnorm_inference(x, mean, var, gamma, beta, eps, out=None):
    """y = x·a + c with a = γ/√(var + eps), c = β − mean·a (running statistics)."""
    a = 1 / np.sqrt(var + x.dtype.type(eps))
    if gamma is not None:
        a = a * gamma
    with np.errstate(over="ignore", invalid="ignore"):
        c = -mean * a if beta is None else beta - mean * a
        y = x * a + c
        bad = ~np.isfinite(y)
        if bad.any():                                 # x·a or μ·a overflowed (or y does)
            h = x.dtype.type(0.5)
            b = 0 if beta is None else beta
            y = np.where(bad, ((x * h - mean * h) * a) * 2 + b, y)
    return _finish(y, out)


def batchnorm_backward(grad_y, x, mean, invstd, gamma, grad_gamma, grad_beta, out=None, y=None, scale=1.0):
    """grad_x = γ·invstd·(g − mean_B(g) − x̂·mean_B(g·x̂)); grad_γ += Σ_B g·x̂, grad_β += Σ_B g.
    y (output of a forward with relu and dropout of ``scale``): g = grad_y·scale where y > 0, else 0."""
    if y is not None:
        grad_y = np.where(y > 0, grad_y * grad_y.dtype.type(scale), grad_y.dtype.type(0))
    n = x.shape[0]
    xhat = _xhat(x, mean, invstd, n)
    dbeta = grad_y.sum(axis=0)                        # (F,)
    dgamma = (grad_y * xhat).sum(axis=0)
    if grad_gamma is not None:
        grad_gamma += dgamma
    if grad_beta is not None:
        grad_beta += dbeta
    scale = invstd if gamma is None else gamma * invstd
    return _finish((grad_y - (dbeta + xhat * dgamma) / n) * scale, out)


def layernorm_forward(x, gamma, beta, eps, out=None):
    """y = (x − μ_row)·(σ²_row + eps)^(−½)·γ + β (biased σ²); returns (y, μ (B,), invstd (B,))."""
    with np.errstate(over="ignore", invalid="ignore"):   # huge rows: redone below
        mean = x.mean(axis=1)
        xc = x - mean[:, None]
        var = np.mean(xc * xc, axis=1)
        invstd = 1 / np.sqrt(var + x.dtype.type(eps))
        xhat = xc * invstd[:, None]
    huge = _huge(var, x, axis=1)
    if huge.any():
        mean[huge], invstd[huge], xhat[huge] = _scaled_rows(x[huge], eps)[:3]
    return _finish(_affine(xhat, gamma, beta), out), mean, invstd


def layernorm_backward(grad_y, x, mean, invstd, gamma, grad_gamma, grad_beta, out=None):
    """ĝ = g·γ; grad_x = invstd·(ĝ − mean_F(ĝ) − x̂·mean_F(ĝx̂)); grad_γ += Σ_B g·x̂, grad_β += Σ_B g."""
    xhat = _xhat(x, mean[:, None], invstd[:, None], x.shape[1])
    if grad_gamma is not None:
        grad_gamma += (grad_y * xhat).sum(axis=0)
    if grad_beta is not None:
        grad_beta += grad_y.sum(axis=0)
    gh = grad_y if gamma is None else grad_y * gamma
    gx = gh - gh.mean(axis=1, keepdims=True) - xhat * (gh * xhat).mean(axis=1, keepdims=True)
    return _finish(gx * invstd[:, None], out)
