"""NumPy optimizer updates and parameter-buffer utilities: PyTorch's formulas, in place.

Same functions and signatures as the native wrappers in ``fastnn._kernels`` (the
"Optimizers" section of docs/kernel_api.md, formulas in cpp/optim.h). Arrays share one
shape and dtype and are updated in place; the arithmetic runs in that dtype, with each
scalar coefficient formed in Python floats (double) and rounded once, as the native
kernels do. g' is g + λθ when weight_decay λ ≠ 0 (PyTorch's coupled L2), else g.
Reductions accumulate in float64.
"""
from __future__ import annotations

import math

import numpy as np

__all__ = [
    "sgd_step", "adagrad_step", "adadelta_step", "rmsprop_step", "adam_step", "tensor_list", "sgd_step_multi",
    "adagrad_step_multi", "adadelta_step_multi", "rmsprop_step_multi", "adam_step_multi",
    "sum_squares", "all_finite", "all_finite_rows", "max_abs", "scale_inplace", "clamp_inplace", "renorm_rows",
    "l1_penalty_grad", "l2_penalty_grad",
]


def _decayed(param, grad, weight_decay):
    return grad + param.dtype.type(weight_decay) * param if weight_decay != 0 else grad


def sgd_step(param, grad, momentum_buffer, *, lr, momentum, dampening, nesterov, weight_decay, init_buffer):
    """SGD (PyTorch): b ← g' or μb + (1−τ)g'; θ −= lr·(g' + μb if nesterov else b)."""
    t = param.dtype.type
    d = _decayed(param, grad, weight_decay)
    if momentum_buffer is not None:
        if init_buffer:
            momentum_buffer[...] = d
        else:
            momentum_buffer *= t(momentum)
            momentum_buffer += t(1.0 - dampening) * d
        d = d + t(momentum) * momentum_buffer if nesterov else momentum_buffer
    param -= t(lr) * d
    return param


def adagrad_step(param, grad, state_sum, *, clr, weight_decay, eps):
    """Adagrad: s += g'²; θ −= clr·g'/(√s + eps)."""
    t = param.dtype.type
    d = _decayed(param, grad, weight_decay)
    state_sum += d * d
    param -= t(clr) * (d / (np.sqrt(state_sum) + t(eps)))
    return param


def adadelta_step(param, grad, square_avg, acc_delta, *, lr, rho, eps, weight_decay):
    """Adadelta: v = ρv + (1−ρ)g'²; δ = √(u+ε)/√(v+ε)·g'; u = ρu + (1−ρ)δ²; θ −= lr·δ."""
    t = param.dtype.type
    d = _decayed(param, grad, weight_decay)
    square_avg *= t(rho)
    square_avg += t(1.0 - rho) * d * d
    delta = np.sqrt(acc_delta + t(eps)) / np.sqrt(square_avg + t(eps)) * d
    acc_delta *= t(rho)
    acc_delta += t(1.0 - rho) * delta * delta
    param -= t(lr) * delta
    return param


def rmsprop_step(param, grad, square_avg, grad_avg, momentum_buffer, *, lr, alpha, eps, weight_decay, momentum):
    """RMSprop; grad_avg None: not centred; momentum_buffer None: no momentum."""
    t = param.dtype.type
    d = _decayed(param, grad, weight_decay)
    square_avg *= t(alpha)
    square_avg += t(1.0 - alpha) * d * d
    if grad_avg is not None:
        grad_avg += t(1.0 - alpha) * (d - grad_avg)
        r = np.sqrt(square_avg - grad_avg * grad_avg) + t(eps)
    else:
        r = np.sqrt(square_avg) + t(eps)
    if momentum_buffer is not None:
        momentum_buffer *= t(momentum)
        momentum_buffer += d / r
        param -= t(lr) * momentum_buffer
    else:
        param -= t(lr) * (d / r)
    return param


def adam_step(param, grad, exp_avg, exp_avg_sq, max_exp_avg_sq, *, lr, beta1, beta2, eps, weight_decay,
              decoupled, bias_correction1, bias_correction2):
    """Adam/AdamW: θ −= (lr/bc1)·m/(√v/√bc2 + eps); max_exp_avg_sq None: no AMSGrad."""
    t = param.dtype.type
    d = grad
    if weight_decay != 0:
        if decoupled:
            param *= t(1.0 - lr * weight_decay)
        else:
            d = grad + t(weight_decay) * param
    exp_avg += t(1.0 - beta1) * (d - exp_avg)
    exp_avg_sq *= t(beta2)
    exp_avg_sq += t(1.0 - beta2) * d * d
    v = exp_avg_sq
    if max_exp_avg_sq is not None:
        np.maximum(max_exp_avg_sq, exp_avg_sq, out=max_exp_avg_sq)
        v = max_exp_avg_sq
    denom = np.sqrt(v) * t(1.0 / math.sqrt(bias_correction2)) + t(eps)   # as the kernel: × 1/√bc2
    param -= t(lr / bias_correction1) * (exp_avg / denom)
    return param


def tensor_list(rows):
    """The rows (tuples of same-length 1-D arrays, None where absent) as the multi-tensor updates take them."""
    return [tuple(r) for r in rows]


def _per_row(rule, tensors, width, check_finite, **per_row):
    """Rows of ``tensors`` checked as the native tensor list checks them, zipped with the
    per-row values; no rows at all when check_finite and a gradient is not finite."""
    for i, row in enumerate(tensors):
        if len(row) != width:
            raise ValueError(f"{rule} needs rows of {width} arrays, row {i} has {len(row)}")
    for name, values in per_row.items():
        if len(values) != len(tensors):
            raise ValueError(f"{rule}: {len(tensors)} rows but {len(values)} {name}")
    if check_finite and not all_finite([row[1] for row in tensors]):
        return None
    return zip(tensors, *per_row.values())


# The *_step_multi updates: one call for every row of a tensor_list. check_finite: update
# only when every gradient is finite (nothing changes otherwise); returns whether it did.

def sgd_step_multi(tensors, *, lr, momentum, dampening, nesterov, weight_decay, init_buffers, check_finite=False):
    """sgd_step on every row (param, grad, momentum_buffer or None), init_buffer per row."""
    rows = _per_row("sgd", tensors, 3, check_finite, init_buffers=init_buffers)
    for (p, g, buf), init in rows or ():
        sgd_step(p, g, buf, lr=lr, momentum=momentum, dampening=dampening, nesterov=nesterov,
                 weight_decay=weight_decay, init_buffer=init)
    return rows is not None


def adagrad_step_multi(tensors, *, clrs, weight_decay, eps, check_finite=False):
    """adagrad_step on every row (param, grad, state_sum), clr per row."""
    rows = _per_row("adagrad", tensors, 3, check_finite, clrs=clrs)
    for (p, g, s), clr in rows or ():
        adagrad_step(p, g, s, clr=clr, weight_decay=weight_decay, eps=eps)
    return rows is not None


def adadelta_step_multi(tensors, *, lr, rho, eps, weight_decay, check_finite=False):
    """adadelta_step on every row (param, grad, square_avg, acc_delta)."""
    rows = _per_row("adadelta", tensors, 4, check_finite)
    for (p, g, v, u), in rows or ():
        adadelta_step(p, g, v, u, lr=lr, rho=rho, eps=eps, weight_decay=weight_decay)
    return rows is not None


def rmsprop_step_multi(tensors, *, lr, alpha, eps, weight_decay, momentum, check_finite=False):
    """rmsprop_step on every row (param, grad, square_avg, grad_avg or None, momentum_buffer or None)."""
    rows = _per_row("rmsprop", tensors, 5, check_finite)
    for (p, g, v, a, b), in rows or ():
        rmsprop_step(p, g, v, a, b, lr=lr, alpha=alpha, eps=eps, weight_decay=weight_decay, momentum=momentum)
    return rows is not None


def adam_step_multi(tensors, *, lr, beta1, beta2, eps, weight_decay, decoupled, bias_corrections1,
                    bias_corrections2, check_finite=False):
    """adam_step on every row (param, grad, exp_avg, exp_avg_sq, max_exp_avg_sq or None), each with
    its own bias corrections."""
    rows = _per_row("adam", tensors, 5, check_finite, bias_corrections1=bias_corrections1,
                    bias_corrections2=bias_corrections2)
    for (p, g, m, v, vmax), bc1, bc2 in rows or ():
        adam_step(p, g, m, v, vmax, lr=lr, beta1=beta1, beta2=beta2, eps=eps, weight_decay=weight_decay,
                  decoupled=decoupled, bias_correction1=bc1, bias_correction2=bc2)
    return rows is not None


def sum_squares(buffers):
    """Σ x² over every element of every buffer, in float64."""
    total = 0.0
    for b in buffers:
        x = b.reshape(-1).astype(np.float64, copy=False)
        total += float(np.dot(x, x))
    return total


def all_finite(buffers):
    """True when every element of every buffer is finite."""
    return all(bool(np.isfinite(b).all()) for b in buffers)


def all_finite_rows(tensors):
    """all_finite over every array of a tensor_list."""
    return all_finite([a for row in tensors for a in row if a is not None])


def max_abs(buffers):
    """max |x| over every element of every buffer (NaN if any is NaN; 0.0 when empty)."""
    m = 0.0
    for b in buffers:
        if b.size:
            v = float(np.max(np.abs(b)))
            if v > m or math.isnan(v):  # once NaN, m stays NaN
                m = v
    return m


def scale_inplace(x, alpha):
    """x *= alpha."""
    x *= x.dtype.type(alpha)
    return x


def clamp_inplace(x, min, max):
    """x = clamp(x, min, max); NaN stays NaN."""
    np.clip(x, x.dtype.type(min), x.dtype.type(max), out=x)
    return x


def renorm_rows(weight, max_norm):
    """Rows of weight (O, I) with ‖row‖₂ > max_norm scaled by max_norm/(‖row‖₂ + 1e-7); a
    finite row whose Σx² overflows has its norm taken as m·‖row/m‖₂, m = max|x|."""
    w64 = weight.astype(np.float64, copy=False)
    with np.errstate(over="ignore"):
        norms = np.sqrt(np.einsum("ij,ij->i", w64, w64))
    big = np.isinf(norms) & np.isfinite(w64).all(axis=1)
    if big.any():
        m = np.abs(w64[big]).max(axis=1, keepdims=True)
        norms[big] = m[:, 0] * np.linalg.norm(w64[big] / m, axis=1)
    over = norms > max_norm
    factor = (max_norm / (norms[over] + 1e-7)).astype(weight.dtype)
    with np.errstate(invalid="ignore"):             # a row holding inf: inf·0 = NaN, as natively
        weight[over] *= factor[:, None]
    return weight


def l1_penalty_grad(grad, weight, strength):
    """grad += strength·sign(weight); returns Σ|weight| (float64)."""
    grad += grad.dtype.type(strength) * np.sign(weight)
    return float(np.abs(weight).sum(dtype=np.float64))


def l2_penalty_grad(grad, weight, strength):
    """grad += strength·weight; returns Σweight² (float64)."""
    grad += grad.dtype.type(strength) * weight
    x = weight.reshape(-1).astype(np.float64, copy=False)
    return float(np.dot(x, x))
