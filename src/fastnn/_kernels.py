"""Native kernel set: the same functions as fastnn.reference (docs/kernel_api.md), each
allocating ``out`` when needed and making one call into the C++ extension."""
from __future__ import annotations

import math

import numpy as np

from . import _native

# Codes of cpp/activation.h (enum Act), in order.
ACT_NAMES = (
    "identity", "relu", "leaky_relu", "sigmoid", "tanh", "gelu", "gelu_tanh", "elu", "selu",
    "celu", "softplus", "softsign", "hardtanh", "hardsigmoid", "hardsigmoid_linear", "silu",
    "mish", "maxexp",
)
ACT_CODES = {name: code for code, name in enumerate(ACT_NAMES)}


def _by_dtype(fused):
    """{dtype: specialisation} of a Cython fused-type function.

    Calling a fused def function matches its signature on every call (~1 µs); calling the
    specialisation picked once here skips that. Kernel calls dispatch on the dtype.
    """
    return {np.dtype(np.float32): fused["float"], np.dtype(np.float64): fused["double"]}


_GEMM = _by_dtype(_native.gemm)
_BIAS_GRAD = _by_dtype(_native.bias_grad)


def _params(params):
    if not params:
        return 0.0, 0.0
    p = tuple(params) + (0.0, 0.0)
    return float(p[0]), float(p[1])


def gemm(a, b, out, *, trans_a=False, trans_b=False, alpha=1.0, beta=0.0, bias=None, act=None, params=()):
    """out = act(alpha·op(a)·op(b) + beta·out + bias)."""
    p0, p1 = _params(params) if params else (0.0, 0.0)
    _GEMM[out.dtype](a, b, out, trans_a, trans_b, alpha, beta, bias, ACT_CODES[act or "identity"], p0, p1)
    return out


def bias_grad(grad_y, grad_bias):
    """grad_bias (F,) += Σ_b grad_y[b, :]."""
    _BIAS_GRAD[grad_bias.dtype](grad_y, grad_bias)
    return grad_bias


# ---------------------------------------------------------------- activations (cpp/activation.cpp)

_ACT_FORWARD = _by_dtype(_native.act_forward)
_ACT_BACKWARD = _by_dtype(_native.act_backward)


def act_forward(x, act, params=(), out=None):
    """y = act(x) element-wise, in x's dtype; ``out`` may be x (in place)."""
    if out is None:
        out = np.empty_like(x)
    p0, p1 = _params(params)
    _ACT_FORWARD[x.dtype](x.reshape(-1), out.reshape(-1), ACT_CODES[act], p0, p1)
    return out


def act_backward(grad_y, x, y, act, params=(), out=None):
    """grad_x = grad_y · act'(x), from y or x as ``reference.backward_uses_output`` says."""
    if out is None:
        out = np.empty_like(grad_y)
    p0, p1 = _params(params)
    _ACT_BACKWARD[grad_y.dtype](grad_y.reshape(-1), x.reshape(-1), y.reshape(-1), out.reshape(-1),
                                ACT_CODES[act], p0, p1)
    return out


# ---------------------------------------------------------------- dropout (cpp/dropout.cpp, cpp/rng.h)

_U64 = (1 << 64) - 1
_DROPOUT = _by_dtype(_native.dropout)
_RRELU_SLOPES = _by_dtype(_native.rrelu_slopes)


def _keep32(p):
    """⌊(1 − p)·2^32⌋: keep element i when its 32 dropout bits are below it (reference/dropout.py)."""
    return int((1.0 - float(p)) * 2.0 ** 32)


def dropout_forward(x, p, scale, seed, stream, out=None):
    """y = x·scale where kept, 0 where dropped (mask from (seed, stream, flat index))."""
    if out is None:
        out = np.empty_like(x)
    _DROPOUT[x.dtype](x.reshape(-1), out.reshape(-1), int(seed) & _U64, int(stream) & _U64, _keep32(p),
                      float(scale), False)
    return out


def dropout_backward(grad_y, p, scale, seed, stream, out=None):
    """grad_x = grad_y·scale where kept, 0 elsewhere: the forward mask, regenerated."""
    if out is None:
        out = np.empty_like(grad_y)
    _DROPOUT[grad_y.dtype](grad_y.reshape(-1), out.reshape(-1), int(seed) & _U64, int(stream) & _U64,
                           _keep32(p), float(scale), True)
    return out


def rrelu_slopes(n, lower, upper, seed, stream, dtype):
    """(n,) slopes lower + (upper − lower)·U[0, 1) in ``dtype``."""
    out = np.empty(int(n), dtype=dtype)
    _RRELU_SLOPES[out.dtype](out, float(lower), float(upper), int(seed) & _U64, int(stream) & _U64)
    return out


# ---------------------------------------------------------------- normalisation (cpp/norm.cpp)

_NORM_FORWARD = _by_dtype(_native.norm_forward)
_NORM_BACKWARD = _by_dtype(_native.norm_backward)
_BN_INFERENCE = _by_dtype(_native.batchnorm_inference)


def _norm_forward(x, gamma, beta, eps, out, layer, running_mean=None, running_var=None, momentum=0.0, relu=False,
                  dropout=None):
    if out is None:
        out = np.empty_like(x)
    n = x.shape[0] if layer else x.shape[1]
    mean = np.empty(n, dtype=x.dtype)
    invstd = np.empty(n, dtype=x.dtype)
    if dropout is None:
        _NORM_FORWARD[x.dtype](x, out, mean, invstd, gamma, beta, float(eps), layer, running_mean, running_var,
                               float(momentum), relu)
    else:
        p, scale, seed, stream = dropout
        _NORM_FORWARD[x.dtype](x, out, mean, invstd, gamma, beta, float(eps), layer, running_mean, running_var,
                               float(momentum), relu, True, int(seed) & _U64, int(stream) & _U64, _keep32(p),
                               float(scale))
    return out, mean, invstd


def batchnorm_forward(x, gamma, beta, eps, out=None, running_mean=None, running_var=None, momentum=0.1, relu=False,
                      dropout=None):
    """Training BatchNorm over the batch axis (biased σ²); returns (y, mean (F,), invstd (F,)).
    running_mean/running_var (when given) ← (1 − momentum)·running + momentum·(μ, unbiased σ²).
    relu: y = max(0, y); dropout (p, scale, seed, stream), only with relu: then
    dropout_forward(y, p, scale, seed, stream). μ and invstd are the BatchNorm's."""
    if dropout is not None and not relu:
        raise ValueError("batchnorm_forward: dropout is fused only after relu")
    return _norm_forward(x, gamma, beta, eps, out, False, running_mean, running_var, momentum, relu, dropout)


def batchnorm_inference(x, mean, var, gamma, beta, eps, out=None):
    """y = (x − mean)·γ/√(var + eps) + β with given (running) statistics."""
    if out is None:
        out = np.empty_like(x)
    _BN_INFERENCE[x.dtype](x, out, mean, var, gamma, beta, float(eps))
    return out


def batchnorm_backward(grad_y, x, mean, invstd, gamma, grad_gamma, grad_beta, out=None, y=None, scale=1.0):
    """grad_x overwritten; grad_gamma += Σ_B g·x̂, grad_beta += Σ_B g (when not None).
    y (the output of a forward with relu, and dropout of ``scale``): grad_y·scale where
    y > 0, else 0, is what reaches the BatchNorm."""
    if out is None:
        out = np.empty_like(grad_y)
    _NORM_BACKWARD[x.dtype](grad_y, x, mean, invstd, gamma, grad_gamma, grad_beta, out, False, y, float(scale))
    return out


def layernorm_forward(x, gamma, beta, eps, out=None):
    """LayerNorm per row (biased σ²); returns (y, mean (B,), invstd (B,))."""
    return _norm_forward(x, gamma, beta, eps, out, True)


def layernorm_backward(grad_y, x, mean, invstd, gamma, grad_gamma, grad_beta, out=None):
    """grad_x overwritten; grad_gamma += Σ_B g·x̂, grad_beta += Σ_B g (when not None)."""
    if out is None:
        out = np.empty_like(grad_y)
    _NORM_BACKWARD[x.dtype](grad_y, x, mean, invstd, gamma, grad_gamma, grad_beta, out, True)
    return out


# ---------------------------------------------------------------- losses (cpp/loss.cpp)

_XENT_LABELS = _by_dtype(_native.softmax_cross_entropy_labels)
_XENT_PROBS = _by_dtype(_native.softmax_cross_entropy_probs)
_POINTWISE_LOSS = _by_dtype(_native.pointwise_loss)


def _mean(reduction):
    return reduction == "mean"


def softmax_cross_entropy(logits, target, label_smoothing, reduction, grad=None):
    """(loss, grad): target int64 labels (B,) or probabilities (B, C); grad (B, C) when given."""
    flat = None if grad is None else grad.reshape(-1)
    if target.ndim == 1:
        loss = _XENT_LABELS[logits.dtype](logits, target, flat, float(label_smoothing), _mean(reduction))
    else:
        loss = _XENT_PROBS[logits.dtype](logits, target, flat, float(label_smoothing), _mean(reduction))
    return float(loss), grad


def _pointwise_loss(kind, pred, target, delta, reduction, grad):
    flat = None if grad is None else grad.reshape(-1)
    loss = _POINTWISE_LOSS[pred.dtype](pred.reshape(-1), target.reshape(-1), flat, kind, float(delta),
                                       _mean(reduction))
    return float(loss), grad


def mse_loss(pred, target, reduction, grad=None):
    """(Σ or mean of (pred − target)², grad 2·(pred − target))."""
    return _pointwise_loss(0, pred, target, 0.0, reduction, grad)


def bce_with_logits(pred, target, reduction, grad=None):
    """(Σ or mean of max(x,0) − xy + log1p(e^−|x|), grad σ(x) − y)."""
    return _pointwise_loss(1, pred, target, 0.0, reduction, grad)


def huber_loss(pred, target, delta, reduction, grad=None):
    """(Σ or mean of Huber(pred − target; δ), grad clip(pred − target, −δ, δ))."""
    return _pointwise_loss(2, pred, target, delta, reduction, grad)


# ---------------------------------------------------------------- optimizers (cpp/optim.h)
# Arrays of any shape, C-contiguous, one dtype; flattened here into 1-D views (no copy).

def _flat(a):
    return None if a is None else a.reshape(-1)


def sgd_step(param, grad, momentum_buffer, *, lr, momentum, dampening, nesterov, weight_decay, init_buffer):
    """SGD (PyTorch): b ← g' or μb + (1−τ)g'; θ −= lr·(g' + μb if nesterov else b)."""
    _native.sgd_step(param.reshape(-1), grad.reshape(-1), _flat(momentum_buffer),
                     lr, momentum, dampening, weight_decay, nesterov, init_buffer)
    return param


def adagrad_step(param, grad, state_sum, *, clr, weight_decay, eps):
    """Adagrad: s += g'²; θ −= clr·g'/(√s + eps)."""
    _native.adagrad_step(param.reshape(-1), grad.reshape(-1), state_sum.reshape(-1), clr, weight_decay, eps)
    return param


def adadelta_step(param, grad, square_avg, acc_delta, *, lr, rho, eps, weight_decay):
    """Adadelta: v = ρv + (1−ρ)g'²; δ = √(u+ε)/√(v+ε)·g'; u = ρu + (1−ρ)δ²; θ −= lr·δ."""
    _native.adadelta_step(param.reshape(-1), grad.reshape(-1), square_avg.reshape(-1), acc_delta.reshape(-1),
                          lr, rho, eps, weight_decay)
    return param


def rmsprop_step(param, grad, square_avg, grad_avg, momentum_buffer, *, lr, alpha, eps, weight_decay, momentum):
    """RMSprop; grad_avg None: not centred; momentum_buffer None: no momentum."""
    _native.rmsprop_step(param.reshape(-1), grad.reshape(-1), square_avg.reshape(-1), _flat(grad_avg),
                         _flat(momentum_buffer), lr, alpha, eps, weight_decay, momentum)
    return param


def adam_step(param, grad, exp_avg, exp_avg_sq, max_exp_avg_sq, *, lr, beta1, beta2, eps, weight_decay,
              decoupled, bias_correction1, bias_correction2):
    """Adam/AdamW: θ −= (lr/bc1)·m/(√v/√bc2 + eps); max_exp_avg_sq None: no AMSGrad."""
    _native.adam_step(param.reshape(-1), grad.reshape(-1), exp_avg.reshape(-1), exp_avg_sq.reshape(-1),
                      _flat(max_exp_avg_sq), lr, beta1, beta2, eps, weight_decay, decoupled,
                      bias_correction1, bias_correction2)
    return param


def tensor_list(rows):
    """A handle on rows of same-length 1-D arrays (None where absent) for the multi-tensor updates."""
    rows = list(rows)
    return _native.TensorList(rows, len(rows[0]) if rows else 0)


# The *_step_multi updates: one call for every row of a tensor_list. check_finite: update
# only when every gradient is finite (nothing changes otherwise); returns whether it did.

def sgd_step_multi(tensors, *, lr, momentum, dampening, nesterov, weight_decay, init_buffers, check_finite=False):
    """sgd_step on every row (param, grad, momentum_buffer or None), init_buffer per row."""
    return tensors.sgd(lr, momentum, dampening, nesterov, weight_decay, init_buffers, check_finite)


def adagrad_step_multi(tensors, *, clrs, weight_decay, eps, check_finite=False):
    """adagrad_step on every row (param, grad, state_sum), clr per row."""
    return tensors.adagrad(clrs, weight_decay, eps, check_finite)


def adadelta_step_multi(tensors, *, lr, rho, eps, weight_decay, check_finite=False):
    """adadelta_step on every row (param, grad, square_avg, acc_delta)."""
    return tensors.adadelta(lr, rho, eps, weight_decay, check_finite)


def rmsprop_step_multi(tensors, *, lr, alpha, eps, weight_decay, momentum, check_finite=False):
    """rmsprop_step on every row (param, grad, square_avg, grad_avg or None, momentum_buffer or None)."""
    return tensors.rmsprop(lr, alpha, eps, weight_decay, momentum, check_finite)


def adam_step_multi(tensors, *, lr, beta1, beta2, eps, weight_decay, decoupled, bias_corrections1,
                    bias_corrections2, check_finite=False):
    """adam_step on every row (param, grad, exp_avg, exp_avg_sq, max_exp_avg_sq or None), each
    with its own bias corrections."""
    return tensors.adam(lr, beta1, beta2, eps, weight_decay, decoupled, bias_corrections1, bias_corrections2,
                        check_finite)


def sum_squares(buffers):
    """Σ x² over every element of every buffer, in float64, deterministic for any thread count."""
    if not buffers:
        return 0.0
    return _native.buffers_reduce([b.reshape(-1) for b in buffers], buffers[0].dtype.name, True)


def _row_bytes(a):
    """a (C-contiguous, ndim >= 1) as a (rows, bytes per row) uint8 view."""
    return a.reshape(a.shape[0], math.prod(a.shape[1:])).view(np.uint8)


def _take_row_bytes(x, index, out):
    """take_rows on _row_bytes views (the caller made them: no checks beyond the binding's)."""
    _native.take_rows(x, index, out)


def take_rows(x, index, out):
    """out[r] = x[index[r]] along the first axis (x and out C-contiguous, same dtype); IndexError
    for an index outside [0, len(x))."""
    if x.dtype != out.dtype or x.shape[1:] != out.shape[1:]:
        raise ValueError(f"take_rows: out has dtype {out.dtype} and rows of shape {out.shape[1:]}, x has "
                         f"{x.dtype} and {x.shape[1:]}")
    if not (x.flags.c_contiguous and out.flags.c_contiguous and out.flags.writeable):
        raise ValueError("take_rows: x and out must be C-contiguous and out writeable")
    _native.take_rows(_row_bytes(x), index, _row_bytes(out))
    return out


def first_out_of_range(labels, n):
    """Position of the first int64 label outside [0, n), or None."""
    i = _native.first_out_of_range(labels, n)
    return None if i < 0 else i


def all_finite(buffers):
    """True when every element of every buffer is finite (one pass, any mix of float dtypes)."""
    groups = {}
    for b in buffers:
        groups.setdefault(b.dtype, []).append(b.reshape(-1))
    return all(_native.buffers_reduce(g, dt.name, False, True) == 0.0 for dt, g in groups.items())


def all_finite_rows(tensors):
    """all_finite over every array of a tensor_list (the pointers were taken when it was made)."""
    return tensors.all_finite()


def max_abs(buffers):
    """max |x| over every element of every buffer (NaN if any is NaN; 0.0 when empty)."""
    if not buffers:
        return 0.0
    return _native.buffers_reduce([b.reshape(-1) for b in buffers], buffers[0].dtype.name, False)


def scale_inplace(x, alpha):
    """x *= alpha."""
    _native.scale_inplace(x.reshape(-1), alpha)
    return x


def clamp_inplace(x, min, max):
    """x = clamp(x, min, max); NaN stays NaN."""
    _native.clamp_inplace(x.reshape(-1), min, max)
    return x


def renorm_rows(weight, max_norm):
    """Rows of weight (O, I) with ‖row‖₂ > max_norm scaled by max_norm/(‖row‖₂ + 1e-7)."""
    _native.renorm_rows(weight, max_norm)
    return weight


def l1_penalty_grad(grad, weight, strength):
    """grad += strength·sign(weight); returns Σ|weight| (float64)."""
    return _native.penalty_grad(grad.reshape(-1), weight.reshape(-1), strength, 1)


def l2_penalty_grad(grad, weight, strength):
    """grad += strength·weight; returns Σweight² (float64)."""
    return _native.penalty_grad(grad.reshape(-1), weight.reshape(-1), strength, 2)
