"""gradcheck: central finite differences against backward, for a module or a loss.

Design. For a Module the scalar is L = Σ forward(x) ⊙ R with a fixed random R, so
backward(R) is the analytic dL/dx and every learnable parameter's accumulated .grad is dL/dθ
(parameters with requires_grad False are not checked, as in torch.autograd.gradcheck); the
numeric side perturbs one element at a time by ±eps (2 forwards per element). For a loss,
L = loss(pred, target) and backward() is dL/dpred. An element passes when
|analytic − numeric| ≤ atol + rtol·|numeric| (torch.autograd.gradcheck's rule). The module
runs in its current mode (modules start in training mode) with its random streams frozen,
so dropout masks repeat across evaluations; parameters, gradients, buffers (running
statistics) and random steps are restored afterwards. Use float64: float32 warns.
"""
from __future__ import annotations

import warnings

import numpy as np

from ._validate import as_float, as_int
from .nn.loss import _Loss
from .nn.module import Module, frozen_randomness

__all__ = ["gradcheck", "GradcheckError", "GradcheckReport"]

_SALT = 0x67726164                                     # "grad"


class GradcheckError(AssertionError):
    """An analytic gradient disagrees with finite differences."""


class GradcheckReport(dict):
    """tensor name → {"max_abs_error", "max_rel_error", "passed", "index", "analytic", "numeric"}.

    max_rel_error is |analytic − numeric| / max(|numeric|, atol); index/analytic/numeric
    describe the worst element (largest |diff| / (atol + rtol·|numeric|)).
    """

    @property
    def passed(self):
        return all(r["passed"] for r in self.values())

    def __str__(self):
        rows = [f"{name}: max abs {r['max_abs_error']:.3g}, max rel {r['max_rel_error']:.3g}, "
                f"{'ok' if r['passed'] else 'FAILED'}" for name, r in self.items()]
        return "\n".join(rows)


def _compare(analytic, numeric, atol, rtol):
    diff = np.abs(analytic - numeric)
    tol = atol + rtol * np.abs(numeric)
    bad = ~(diff <= tol)                               # NaN counts as a failure
    score = np.where(np.isnan(diff), np.inf, diff / tol)
    worst = int(np.argmax(score)) if score.size else 0
    idx = np.unravel_index(worst, analytic.shape) if analytic.size else ()
    return {
        "max_abs_error": float(np.max(diff, initial=0.0)),
        "max_rel_error": float(np.max(diff / np.maximum(np.abs(numeric), atol), initial=0.0)),
        "passed": not bad.any(),
        "index": tuple(int(i) for i in idx),
        "analytic": float(analytic.flat[worst]) if analytic.size else 0.0,
        "numeric": float(numeric.flat[worst]) if numeric.size else 0.0,
    }


def _numeric(f, arr, eps):
    """dF/darr by central differences, perturbing ``arr`` in place and restoring each element."""
    out = np.zeros(arr.shape, np.float64)
    flat = arr.reshape(-1)                             # a view: arr is contiguous
    for i in range(flat.size):
        old = flat[i]
        flat[i] = old + eps
        fp = f()
        flat[i] = old - eps
        fm = f()
        flat[i] = old
        out.flat[i] = (fp - fm) / (2 * eps)
    return out


def _raise_on_failure(report):
    failed = [(n, r) for n, r in report.items() if not r["passed"]]
    if failed:
        lines = [f"{n}: worst element {r['index']}: analytic {r['analytic']:.8g}, numeric {r['numeric']:.8g} "
                 f"(max abs error {r['max_abs_error']:.3g})" for n, r in failed]
        raise GradcheckError("gradcheck failed for " + "; ".join(lines))


def gradcheck(module_or_loss, inputs, eps=1e-6, atol=1e-5, rtol=1e-3, target=None, seed=0):
    """Compare backward with finite differences; returns a GradcheckReport or raises GradcheckError."""
    x = inputs[0] if isinstance(inputs, (tuple, list)) and len(inputs) == 1 else inputs
    if not isinstance(x, np.ndarray):
        raise TypeError(f"inputs must be a numpy.ndarray (or a 1-tuple of one), got {type(inputs).__name__}")
    x = np.array(x, order="C")                         # our copy, perturbed in place
    eps = as_float(eps, "eps", low=0.0, low_inclusive=False)
    atol, rtol = as_float(atol, "atol", low=0.0), as_float(rtol, "rtol", low=0.0)
    seed = as_int(seed, "seed", low=0)
    if isinstance(module_or_loss, _Loss):
        report = _check_loss(module_or_loss, x, target, eps, atol, rtol)
    elif isinstance(module_or_loss, Module):
        report = _check_module(module_or_loss, x, eps, atol, rtol, seed)
    else:
        raise TypeError(f"gradcheck takes a fastnn.nn Module or loss, got {type(module_or_loss).__name__}")
    _raise_on_failure(report)
    return report


def _warn_precision(arrays):
    if any(a.dtype != np.float64 for a in arrays):
        warnings.warn("gradcheck is designed for float64 inputs and parameters; float32 will likely fail",
                      UserWarning, stacklevel=3)


def _check_loss(loss, pred, target, eps, atol, rtol):
    if target is None:
        raise ValueError("gradcheck of a loss needs target=")
    _warn_precision([pred])
    loss.forward(pred, target)
    analytic = loss.backward().astype(np.float64)
    numeric = _numeric(lambda: loss.forward(pred, target), pred, eps)
    return GradcheckReport(input=_compare(analytic, numeric, atol, rtol))


def _check_module(module, x, eps, atol, rtol, seed):
    params = [(name, p) for name, p in module.named_parameters() if p.requires_grad]   # (frozen: no gradient)
    _warn_precision([x] + [p.data for _, p in params])
    saved_grads = [(p, p.grad, None if p.grad is None else p.grad.copy()) for _, p in params]
    saved_buffers = [(b, b.copy()) for _, b in module.named_buffers()]
    try:
        with frozen_randomness(module):
            out = module.forward(x)
            # Salted so that R never equals an input drawn from default_rng(seed) (R = x can cancel).
            r = np.random.default_rng([_SALT, seed]).standard_normal(out.shape).astype(out.dtype)
            for _, p in params:
                if p.grad is None:                    # restored to None afterwards
                    p.grad = np.zeros_like(p.data)
                else:
                    p.grad.fill(0)
            gx = module.backward(r)
            if not isinstance(gx, np.ndarray):
                raise GradcheckError(f"{type(module).__name__}.backward returned {type(gx).__name__}, "
                                     f"not the input gradient (an ndarray of shape {x.shape})")
            if gx.shape != x.shape or gx.dtype != x.dtype:
                raise GradcheckError(f"grad_input has shape {gx.shape} and dtype {gx.dtype}; "
                                     f"the input has {x.shape} and {x.dtype}")
            analytic = {"input": gx.astype(np.float64)}
            analytic.update((name, p.grad.astype(np.float64)) for name, p in params)
            r64 = r.astype(np.float64)

            def scalar():
                return float(np.sum(module.forward(x).astype(np.float64) * r64))

            report = GradcheckReport(input=_compare(analytic["input"], _numeric(scalar, x, eps), atol, rtol))
            for name, p in params:
                report[name] = _compare(analytic[name], _numeric(scalar, p.data, eps), atol, rtol)
    finally:
        for p, grad, values in saved_grads:
            p.grad = grad
            if grad is not None:
                grad[...] = values
        for b, v in saved_buffers:
            b[...] = v
    return report
