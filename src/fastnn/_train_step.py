"""The trainer's fast path for the common MLP: a Sequential of Linear layers (each with an
optional element-wise activation) and BatchNorm1d → ReLU [→ Dropout] blocks, starting and
ending with a Linear, trained with one of fastnn's losses, on the native backend.

Design. The modules check their arguments on every call and reach the kernels through the
backend's wrappers: ~100 µs of Python per training step of a 784-256-256-10 network with
BatchNorm and Dropout, next to ~500 µs of kernels at batch 32. Inside ``Trainer.fit`` most of
those checks cannot fail: the input is the trainer's validated batch, every layer's input the
previous layer's output, and fit checked the targets once (shape, dtype, label range,
finite) and holds its own copy. Here they are made once, when the step is built from the model's
fusion plan for fit's data widths; what a callback can change between steps (a parameter or
gradient array, a mode, a Dropout rate, eps, a bias removed) is re-read or tested by
identity each step, and the trainer builds a new step when the loss or a child is replaced.
``forward`` returns None, before anything changed, for whatever it does not cover (eval-mode
BatchNorm, a Dropout with p = 1, another backend, a layer used twice), and the trainer then
runs the modules. The kernel calls, their arguments (into the modules' own workspaces and
the loss's gradient buffer) and their order are the modules' own, and so are the errors
raised on the way (shared helpers, in the modules' order), so the weights, gradients,
running statistics, random streams and saved contexts after a step, or after an error,
equal the modular step's bit for bit (tests/test_train_step.py; bench/train_step.py times
the two).
"""
from __future__ import annotations

import numpy as np

from . import _kernels
from ._backend import kernels
from ._kernels import ACT_CODES, _U64, _keep32, _params
from .nn import BatchNorm1d, BCEWithLogitsLoss, CrossEntropyLoss, HuberLoss, Linear, MSELoss, Sequential
from .nn.normalization import _check_eps, _data, _grads
from .reference.activation import backward_uses_output

__all__ = ["TrainStep"]

_LOSSES = (CrossEntropyLoss, MSELoss, HuberLoss, BCEWithLogitsLoss)   # exact types: _compute is theirs


def _supported(model, loss, widths):
    """(model's fusion plan, dtype) when the fast path covers the model and loss for data of
    ``widths`` (input features, output features) as fit checked them, else None."""
    if type(model) is not Sequential or type(loss) not in _LOSSES:
        return None
    if model._plan is None:
        model._plan = model._build_plan()                 # as Sequential.forward does
    plan = model._plan
    if not plan or type(plan[0][0]) is not Linear or type(plan[-1][0]) is not Linear:
        return None
    if len({id(m) for m, _ in plan}) != len(plan):      # a layer used twice shares one workspace
        return None                                       # and context in the modules: theirs
    dtype, width = plan[0][0]._dtype, plan[0][0].in_features
    if (width, plan[-1][0].out_features) != tuple(widths):
        return None                                       # the modules' own shape errors
    for m, fused in plan:
        if m._dtype != dtype:
            return None
        if type(m) is Linear:
            if isinstance(fused, tuple) or m.in_features != width:
                return None
            width = m.out_features
        elif type(m) is BatchNorm1d and isinstance(fused, tuple):
            if m.num_features != width:
                return None
        else:
            return None
    return plan, np.dtype(dtype)


class TrainStep:
    """forward(x, labels) → (loss, logits) or None; then backward(). See the module docstring."""

    def __init__(self, model, loss, plan, dtype):
        self.model, self.loss, self.plan, self.dtype = model, loss, plan, dtype
        self._gemm = _kernels._GEMM[dtype]
        self._bias_grad = _kernels._BIAS_GRAD[dtype]
        self._norm_forward = _kernels._NORM_FORWARD[dtype]
        self._norm_backward = _kernels._NORM_BACKWARD[dtype]
        self._shapes = [(m.out_features, m.in_features) if type(m) is Linear else None for m, _ in plan]
        self._has_bn = any(type(m) is BatchNorm1d for m, _ in plan)
        self._saved = None

    @classmethod
    def build(cls, model, loss, widths):
        """A TrainStep for (model, loss) on data of ``widths`` (features in, out), or None if
        it is not covered."""
        found = _supported(model, loss, widths)
        return None if found is None else cls(model, loss, *found)

    def _linear_act(self, m, fused):
        """The activation a Linear runs in its epilogue, as Linear._forward normalises it."""
        act = fused.fused_act() if fused is not None else m._act
        return None if act is None or act[0] == "identity" else act

    def forward(self, x, target):
        """(loss value, output) of one training forward, or None (nothing changed) when the
        modules must run this step. x, target: the trainer's batch, as ``fit`` checked and
        converted them (C-contiguous, the model's dtype; int64 labels in range)."""
        model = self.model
        if model._plan is not self.plan or kernels() is not _kernels or x.dtype != self.dtype:
            return None
        batch = x.shape[0]
        if (self._has_bn and batch < 2) or x.shape[1] != self._shapes[0][1]:
            return None                                 # the modules' own errors
        runs = []                                       # per entry: the activation, or (Dropout, its plan)
        for (m, fused), shape in zip(self.plan, self._shapes):
            if m._dtype != self.dtype:
                return None
            if type(m) is Linear:
                if m.weight is None or m.weight.data.shape != shape:
                    return None
                runs.append(self._linear_act(m, fused))
            else:
                drop = fused[1]
                if not (m.training or not m.track_running_stats):
                    return None                         # eval-mode statistics: the modules, unfused
                plan = None if drop is None else drop._plan()
                if plan is not None and plan[1] <= 0.0:
                    return None                         # Dropout(p=1): the modules, unfused
                runs.append((drop, plan))
        saved, ran_fused = [], []
        for (m, _), run in zip(self.plan, runs):
            if type(m) is Linear:
                x = self._linear_forward(m, run, x, saved)
            else:
                x = self._bn_forward(m, run, x, saved)
                ran_fused.append(True)
        model.__dict__["_ctx"] = (self.plan, ran_fused)
        self._saved = saved
        return self.loss._run(_kernels, x, target), x

    def _linear_forward(self, m, act, x, saved):
        """Linear._forward's kernel calls, workspaces and context."""
        y = m._workspace("y", (x.shape[0], m.out_features), self.dtype)
        w = m.weight.data
        b = None if m.bias is None else m.bias.data
        if act is None or backward_uses_output(*act):
            name, params = act or ("identity", ())
            self._gemm(x, w, y, False, True, 1.0, 0.0, b, ACT_CODES[name], *_params(params))
            z = y
        else:
            z = m._workspace("z", y.shape, self.dtype)
            self._gemm(x, w, z, False, True, 1.0, 0.0, b, 0, 0.0, 0.0)
            _kernels.act_forward(z, act[0], act[1], out=y)
        m.__dict__["_ctx"] = ctx = (x, w, z, y, act)
        saved.append(ctx)
        return y

    def _bn_forward(self, m, drop, x, saved):
        """BatchNorm1d._forward(relu=True, dropout=...) as Sequential runs it while the
        BatchNorm uses batch statistics, side effects in its order: the Dropout's stream
        advances, eps is checked, the batch counted, then the dropout arguments converted."""
        module, plan = drop
        stream = module._next_stream() if plan is not None and module.training else 0
        _check_eps(m)
        y = m._workspace("y", x.shape, self.dtype)
        running = m.training and m.track_running_stats
        eps, momentum = float(m.eps), float(m._count_batch() if running else 0.0)
        args = () if plan is None else (True, int(module.seed) & _U64, int(stream) & _U64, _keep32(plan[0]),
                                        float(plan[1]))
        mean, invstd = np.empty(x.shape[1], self.dtype), np.empty(x.shape[1], self.dtype)
        self._norm_forward(x, y, mean, invstd, _data(m.weight), _data(m.bias), eps, False,
                           m.running_mean if running else None, m.running_var if running else None,
                           momentum, True, *args)
        m.__dict__["_ctx"] = ctx = (x, y, mean, invstd, plan[1] if plan is not None else 1.0)
        saved.append(ctx)
        return y

    def backward(self):
        """The modules' backward from the loss gradient of the last forward; no input gradient
        (the first Linear skips its dX product, as Sequential.backward(need_input_grad=False))."""
        saved, self._saved = self._saved, None
        g = self.loss._grad
        for i in range(len(self.plan) - 1, -1, -1):
            m, ctx = self.plan[i][0], saved[i]
            if type(m) is Linear:
                g = self._linear_backward(m, ctx, g, first=i == 0)
            else:
                x, y, mean, invstd, scale = ctx
                gx = m._workspace("gx", x.shape, self.dtype)
                self._norm_backward(g, x, mean, invstd, _data(m.weight), _grads(m.weight, "BatchNorm1d.weight"),
                                    _grads(m.bias, "BatchNorm1d.bias"), gx, False, y, scale)
                g = gx

    def _linear_backward(self, m, ctx, g, first):
        """Linear._backward's kernel calls; the input gradient (None for the first layer)."""
        x, w, z, y, act = ctx
        if act is not None:
            g = _kernels.act_backward(g, z, y, act[0], act[1], out=m._workspace("gz", y.shape, self.dtype))
        if m.weight.requires_grad:
            gw, beta = m.weight._grad_to_accumulate("Linear.weight")
            self._gemm(g, x, gw, True, False, 1.0, beta, None, 0, 0.0, 0.0)
        if m.bias is not None and m.bias.requires_grad:
            self._bias_grad(g, m.bias._checked_grad("Linear.bias"))
        if first:
            return None
        gx = m._workspace("gx", x.shape, self.dtype)
        self._gemm(g, w, gx, False, False, 1.0, 0.0, None, 0, 0.0, 0.0)
        return gx
