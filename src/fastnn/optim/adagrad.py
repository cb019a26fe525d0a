"""Adagrad (torch.optim.Adagrad): per-coordinate steps shrinking with the summed squared gradients."""
from __future__ import annotations

from .optimizer import Optimizer, _count_steps, _next_step, check_real, state_buffer

__all__ = ["Adagrad"]


class Adagrad(Optimizer):
    """s += g'²; θ −= clr·g'/(√s + eps), clr = lr/(1 + (t−1)·lr_decay);
    s starts at initial_accumulator_value."""

    def __init__(self, params, lr=1e-2, lr_decay=0.0, weight_decay=0.0, initial_accumulator_value=0.0, eps=1e-10):
        super().__init__(params, dict(lr=lr, lr_decay=lr_decay, weight_decay=weight_decay,
                                      initial_accumulator_value=initial_accumulator_value, eps=eps))

    def _check(self, group):
        check_real(group, "lr", "learning rate", low=0.0)
        check_real(group, "lr_decay", "lr_decay value", low=0.0)
        check_real(group, "weight_decay", "weight_decay value", low=0.0)
        check_real(group, "initial_accumulator_value", "initial_accumulator_value value", low=0.0)
        check_real(group, "eps", "epsilon value", low=0.0)

    _multi_tensor = True

    def _state_keys(self, group):
        return ("sum",)

    def _state_fill(self, group, key):
        return group["initial_accumulator_value"]

    def _apply_rows(self, k, group, tensors, states, fresh, check_finite):
        return _count_steps(states, lambda steps: k.adagrad_step_multi(
            tensors, clrs=[group["lr"] / (1.0 + (t - 1) * group["lr_decay"]) for t in steps],
            weight_decay=group["weight_decay"], eps=group["eps"], check_finite=check_finite))

    def _update(self, k, param, grad, state, group):
        state_sum = state_buffer(state, "sum", param, self._state_fill(group, "sum"))
        t = _next_step(state)                                 # after the buffer's check
        k.adagrad_step(param, grad, state_sum, clr=group["lr"] / (1.0 + (t - 1) * group["lr_decay"]),
                       weight_decay=group["weight_decay"], eps=group["eps"])
