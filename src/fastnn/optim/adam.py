"""Adam and AdamW (torch.optim.Adam / AdamW): one rule, the weight-decay coupling its only variant.

eps is added after the bias correction of √v, as in PyTorch (Keras and scikit-learn add it
before, an effectively larger eps in early steps; PEERS.md B3). Bias corrections 1−βᵗ are
computed here in double and passed to the kernel.
"""
from __future__ import annotations

from .optimizer import Optimizer, _count_steps, _next_step, check_bool, check_real, real_value, state_buffer

__all__ = ["Adam", "AdamW"]


class Adam(Optimizer):
    """m = m + (1−β₁)(g'−m); v = β₂v + (1−β₂)g'²;
    θ −= (lr/(1−β₁ᵗ))·m/(√v̂/√(1−β₂ᵗ) + eps), v̂ = v, or its running maximum with amsgrad;
    g' = g + λθ (coupled L2)."""

    decoupled = False  # AdamW: θ ← θ(1 − lr·λ) before the moments, and g' = g

    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0, amsgrad=False):
        super().__init__(params, dict(lr=lr, betas=betas, eps=eps, weight_decay=weight_decay, amsgrad=amsgrad))

    def _check(self, group):
        check_real(group, "lr", "learning rate", low=0.0)
        check_real(group, "eps", "epsilon value", low=0.0)
        betas = group["betas"]
        if isinstance(betas, (str, bytes)) or not hasattr(betas, "__len__") or len(betas) != 2:
            raise TypeError(f"betas must be a pair (beta1, beta2), got {betas!r}")
        group["betas"] = tuple(real_value(b, f"betas[{i}]", f"beta parameter at index {i}", low=0.0, high=1.0,
                                          high_inclusive=False) for i, b in enumerate(betas))
        check_real(group, "weight_decay", "weight_decay value", low=0.0)
        check_bool(group, "amsgrad")

    def _state_keys(self, group):
        return ("exp_avg", "exp_avg_sq", "max_exp_avg_sq" if group["amsgrad"] else None)

    _multi_tensor = True

    def _apply_rows(self, k, group, tensors, states, fresh, check_finite):
        """All parameters of the group in one multi-tensor kernel call (same formula as _update)."""
        beta1, beta2 = group["betas"]

        def update(steps):
            bc1, bc2, last = [], [], None
            for t in steps:
                if t != last:                         # parameters usually share the step count
                    last, c1, c2 = t, 1.0 - beta1 ** t, 1.0 - beta2 ** t
                bc1.append(c1)
                bc2.append(c2)
            return k.adam_step_multi(tensors, lr=group["lr"], beta1=beta1, beta2=beta2, eps=group["eps"],
                                     weight_decay=group["weight_decay"], decoupled=self.decoupled,
                                     bias_corrections1=bc1, bias_corrections2=bc2, check_finite=check_finite)
        return _count_steps(states, update)

    def _update(self, k, param, grad, state, group):
        bufs = (state_buffer(state, "exp_avg", param), state_buffer(state, "exp_avg_sq", param),
                state_buffer(state, "max_exp_avg_sq", param) if group["amsgrad"] else None)
        t = _next_step(state)                                 # after the buffers' checks
        beta1, beta2 = group["betas"]
        k.adam_step(param, grad, *bufs, lr=group["lr"], beta1=beta1, beta2=beta2, eps=group["eps"],
                    weight_decay=group["weight_decay"], decoupled=self.decoupled,
                    bias_correction1=1.0 - beta1 ** t, bias_correction2=1.0 - beta2 ** t)


class AdamW(Adam):
    """Adam with decoupled weight decay (Loshchilov & Hutter): θ ← θ(1 − lr·λ), then the Adam step."""

    decoupled = True

    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=1e-2, amsgrad=False):
        super().__init__(params, lr=lr, betas=betas, eps=eps, weight_decay=weight_decay, amsgrad=amsgrad)
