"""Adadelta (torch.optim.Adadelta): steps scaled by the ratio of running RMS of updates and gradients."""
from __future__ import annotations

from .optimizer import Optimizer, _count_steps, _next_step, check_real, state_buffer

__all__ = ["Adadelta"]


class Adadelta(Optimizer):
    """v = ρv + (1−ρ)g'²; δ = √(u+ε)/√(v+ε)·g'; u = ρu + (1−ρ)δ²; θ −= lr·δ."""

    def __init__(self, params, lr=1.0, rho=0.9, eps=1e-6, weight_decay=0.0):
        super().__init__(params, dict(lr=lr, rho=rho, eps=eps, weight_decay=weight_decay))

    def _check(self, group):
        check_real(group, "lr", "learning rate", low=0.0)
        check_real(group, "rho", "rho value", low=0.0, high=1.0)
        check_real(group, "eps", "epsilon value", low=0.0)
        check_real(group, "weight_decay", "weight_decay value", low=0.0)

    _multi_tensor = True

    def _state_keys(self, group):
        return ("square_avg", "acc_delta")

    def _apply_rows(self, k, group, tensors, states, fresh, check_finite):
        return _count_steps(states, lambda steps: k.adadelta_step_multi(
            tensors, lr=group["lr"], rho=group["rho"], eps=group["eps"], weight_decay=group["weight_decay"],
            check_finite=check_finite))

    def _update(self, k, param, grad, state, group):
        bufs = state_buffer(state, "square_avg", param), state_buffer(state, "acc_delta", param)
        _next_step(state)                                     # after the buffers' checks
        k.adadelta_step(param, grad, *bufs, lr=group["lr"], rho=group["rho"], eps=group["eps"],
                        weight_decay=group["weight_decay"])
