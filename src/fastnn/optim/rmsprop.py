"""RMSprop (torch.optim.RMSprop), optionally centred and with momentum; eps outside the square root."""
from __future__ import annotations

from .optimizer import Optimizer, _count_steps, _next_step, check_bool, check_real, state_buffer

__all__ = ["RMSprop"]


class RMSprop(Optimizer):
    """v = αv + (1−α)g'²; r = √(v − ḡ²) + eps (centred, ḡ the running mean of g') or √v + eps;
    b = μb + g'/r and θ −= lr·b with momentum, else θ −= lr·g'/r."""

    def __init__(self, params, lr=1e-2, alpha=0.99, eps=1e-8, weight_decay=0.0, momentum=0.0, centered=False):
        super().__init__(params, dict(lr=lr, alpha=alpha, eps=eps, weight_decay=weight_decay, momentum=momentum,
                                      centered=centered))

    def _check(self, group):
        check_real(group, "lr", "learning rate", low=0.0)
        check_real(group, "alpha", "alpha value", low=0.0)
        check_real(group, "eps", "epsilon value", low=0.0)
        check_real(group, "weight_decay", "weight_decay value", low=0.0)
        check_real(group, "momentum", "momentum value", low=0.0)
        check_bool(group, "centered")

    _multi_tensor = True

    def _state_keys(self, group):
        return ("square_avg", "grad_avg" if group["centered"] else None,
                "momentum_buffer" if group["momentum"] > 0 else None)

    def _apply_rows(self, k, group, tensors, states, fresh, check_finite):
        return _count_steps(states, lambda steps: k.rmsprop_step_multi(
            tensors, lr=group["lr"], alpha=group["alpha"], eps=group["eps"], weight_decay=group["weight_decay"],
            momentum=group["momentum"], check_finite=check_finite))

    def _update(self, k, param, grad, state, group):
        bufs = (state_buffer(state, "square_avg", param),
                state_buffer(state, "grad_avg", param) if group["centered"] else None,
                state_buffer(state, "momentum_buffer", param) if group["momentum"] > 0 else None)
        _next_step(state)                                     # after the buffers' checks
        k.rmsprop_step(param, grad, *bufs, lr=group["lr"], alpha=group["alpha"], eps=group["eps"],
                       weight_decay=group["weight_decay"], momentum=group["momentum"])
