"""SGD with momentum, dampening, Nesterov and coupled weight decay (torch.optim.SGD).

Batch, mini-batch and stochastic gradient descent are this rule at batch sizes N, b and 1.
The momentum buffer starts as the first gradient (PyTorch: b₁ = g, no dampening on step 1).
"""
from __future__ import annotations

from .optimizer import Optimizer, check_bool, check_real, state_buffer

__all__ = ["SGD"]


class SGD(Optimizer):
    """b ← g' (first step) or μb + (1−τ)g'; θ −= lr·(g' + μb if nesterov else b); g' = g + λθ."""

    def __init__(self, params, lr=1e-3, momentum=0.0, dampening=0.0, nesterov=False, weight_decay=0.0):
        super().__init__(params, dict(lr=lr, momentum=momentum, dampening=dampening, nesterov=nesterov,
                                      weight_decay=weight_decay))

    def _check(self, group):
        check_real(group, "lr", "learning rate", low=0.0)
        momentum = check_real(group, "momentum", "momentum value", low=0.0)
        dampening = check_real(group, "dampening", "dampening value")
        check_real(group, "weight_decay", "weight_decay value", low=0.0)
        if check_bool(group, "nesterov") and (momentum <= 0 or dampening != 0):
            raise ValueError("Nesterov momentum requires a momentum and zero dampening")

    _multi_tensor = True

    def _state_keys(self, group):
        return ("momentum_buffer" if group["momentum"] != 0 else None,)

    def _apply_rows(self, k, group, tensors, states, fresh, check_finite):
        return k.sgd_step_multi(tensors, lr=group["lr"], momentum=group["momentum"], dampening=group["dampening"],
                                nesterov=group["nesterov"], weight_decay=group["weight_decay"], init_buffers=fresh,
                                check_finite=check_finite)

    def _update(self, k, param, grad, state, group):
        buf, first = None, False
        if group["momentum"] != 0:
            first = state.get("momentum_buffer") is None     # as PyTorch: a None buffer starts anew
            buf = state_buffer(state, "momentum_buffer", param)
        k.sgd_step(param, grad, buf, lr=group["lr"], momentum=group["momentum"], dampening=group["dampening"],
                   nesterov=group["nesterov"], weight_decay=group["weight_decay"], init_buffer=first)
