"""NumPy normalisation kernels: BatchNorm (statistics over the batch, per feature) and
LayerNorm (statistics over the features, per row), forward and backward.

Design. Two-pass statistics (mean, then the mean of squared deviations: no cancellation),
in the input dtype. The forward returns (y, mean, invstd) with invstd = 1/√(σ²_biased + eps);
the backward recomputes x̂ = (x − μ)·invstd from them instead of storing it. γ/β may be
None (no affine); grad_gamma/grad_beta are accumulated when not None, grad_x overwritten.
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


def batchnorm_forward(x, gamma, beta, eps, out=None, running_mean=None, running_var=None, momentum=0.1, relu=False,
                      dropout=None):
    """y = (x − μ_B)·(σ²_B + eps)^(−½)·γ + β over the batch axis (biased σ²); returns (y, μ, invstd).

    running_mean/running_var (when given) ← (1 − momentum)·running + momentum·(μ, σ²·n/(n − 1)),
    formed in float64 from the batch statistics (running_var untouched for a batch of one). relu: y = max(0, y); dropout
    (p, scale, seed, stream), only with relu: then dropout_forward(y, p, scale, seed, stream)."""
    if dropout is not None and not relu:
        raise ValueError("batchnorm_forward: dropout is fused only after relu")
    mean = x.mean(axis=0)                             # (F,)
    xc = x - mean
    var = np.mean(xc * xc, axis=0)
    invstd = 1 / np.sqrt(var + x.dtype.type(eps))
    n, m = x.shape[0], float(momentum)
    if running_mean is not None:
        running_mean[...] = (1 - m) * running_mean.astype(np.float64) + m * mean.astype(np.float64)
    if running_var is not None and n > 1:
        running_var[...] = (1 - m) * running_var.astype(np.float64) + m * (var.astype(np.float64) * (n / (n - 1)))
    y = _affine(xc * invstd, gamma, beta)
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
    c = -mean * a if beta is None else beta - mean * a
    return _finish(x * a + c, out)


def batchnorm_backward(grad_y, x, mean, invstd, gamma, grad_gamma, grad_beta, out=None, y=None, scale=1.0):
    """grad_x = γ·invstd·(g − mean_B(g) − x̂·mean_B(g·x̂)); grad_γ += Σ_B g·x̂, grad_β += Σ_B g.
    y (output of a forward with relu and dropout of ``scale``): g = grad_y·scale where y > 0, else 0."""
    if y is not None:
        grad_y = np.where(y > 0, grad_y * grad_y.dtype.type(scale), grad_y.dtype.type(0))
    n = x.shape[0]
    xhat = (x - mean) * invstd
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
    mean = x.mean(axis=1)
    xc = x - mean[:, None]
    invstd = 1 / np.sqrt(np.mean(xc * xc, axis=1) + x.dtype.type(eps))
    return _finish(_affine(xc * invstd[:, None], gamma, beta), out), mean, invstd


def layernorm_backward(grad_y, x, mean, invstd, gamma, grad_gamma, grad_beta, out=None):
    """ĝ = g·γ; grad_x = invstd·(ĝ − mean_F(ĝ) − x̂·mean_F(ĝx̂)); grad_γ += Σ_B g·x̂, grad_β += Σ_B g."""
    xhat = (x - mean[:, None]) * invstd[:, None]
    if grad_gamma is not None:
        grad_gamma += (grad_y * xhat).sum(axis=0)
    if grad_beta is not None:
        grad_beta += grad_y.sum(axis=0)
    gh = grad_y if gamma is None else grad_y * gamma
    gx = gh - gh.mean(axis=1, keepdims=True) - xhat * (gh * xhat).mean(axis=1, keepdims=True)
    return _finish(gx * invstd[:, None], out)
