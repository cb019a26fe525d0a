"""Sequential (with Linear + activation and BatchNorm + ReLU + Dropout fusion) and Residual.

Design. Sequential runs its children in order and backward in reverse. A plain Linear
(no activation of its own) directly followed by an element-wise activation module is run
as one Linear with that activation in its GEMM epilogue; the activation module is then
skipped in both passes. A BatchNorm1d followed by a ReLU (and optionally a Dropout) is run,
while the BatchNorm uses batch statistics, as one BatchNorm kernel that also applies the
ReLU and the dropout mask (the Dropout's step counter advances as if it ran), and one
backward kernel from the fused output; in eval mode the three run one by one. Results
equal the unfused chain bit for bit, and names, parameters and state dicts keep the
unfused (PyTorch) layout. The plan is rebuilt when children change.
"""
from __future__ import annotations

import numbers

import numpy as np

from .activation import Elementwise
from .dropout import Dropout
from .linear import Linear
from .module import Module, check_grad, check_input
from .normalization import BatchNorm1d

__all__ = ["Sequential", "Residual"]


class Sequential(Module):
    """y = m_n(…m_1(x)); children named "0", "1", …"""

    def __init__(self, *modules):
        super().__init__()
        self._plan = None
        for m in modules:
            self.append(m)

    def append(self, module):
        setattr(self, str(len(self._modules)), self._checked(module))   # (_check_assignment drops the plan)
        return self

    # PyTorch's list-like editing: children are renamed "0", "1", … in their new order (so
    # state_dict keys follow the positions) and the fusion plan is rebuilt. Every module is
    # checked before anything changes.

    def extend(self, modules):
        mods = list(self._modules.values()) + [self._checked(m) for m in modules]
        self._renumber(mods)
        return self

    def insert(self, index, module):
        mods = list(self._modules.values())
        mods.insert(self._position(index, "Sequential.insert index", end=True), self._checked(module))
        self._renumber(mods)
        return self

    def pop(self, index=-1):
        module = self[index]
        del self[index]
        return module

    def __setitem__(self, index, module):
        mods = list(self._modules.values())
        mods[self._position(index)] = self._checked(module)
        self._renumber(mods)

    def __delitem__(self, index):
        mods = list(self._modules.values())
        del mods[index if isinstance(index, slice) else self._position(index)]
        self._renumber(mods)

    def _checked(self, module):
        """module, refused unless it is a Module that does not contain this Sequential."""
        if not isinstance(module, Module):
            raise TypeError(f"Sequential takes Modules, got {type(module).__name__}")
        Module._check_assignment(self, "", module)
        return module

    def _position(self, index, what="Sequential index", end=False):
        """index (an int, negative from the end) as a position in [0, len), or [0, len] with
        ``end`` (insert may add after the last)."""
        n = len(self._modules)
        if isinstance(index, bool) or not isinstance(index, numbers.Integral):
            kinds = "an integer" if end else "integers or slices"
            raise TypeError(f"{what} must be {kinds}, got {type(index).__name__}")
        if not -n <= index < n + end:
            raise IndexError(f"{what} {index} is out of range for {n} modules")
        return int(index) + n if index < 0 else int(index)

    def _renumber(self, mods):
        """Children ← mods (checked), named "0", "1", …"""
        d = self.__dict__
        for name in d["_modules"]:
            d.pop(name, None)
        d["_modules"] = {}
        for i, m in enumerate(mods):
            d["_modules"][str(i)] = d[str(i)] = m
        d["_plan"] = None

    def __len__(self):
        return len(self._modules)

    def __iter__(self):
        return iter(self._modules.values())

    def _check_assignment(self, name, value):
        """Module's checks; a child replaced by attribute assignment invalidates the fusion plan."""
        super()._check_assignment(name, value)
        self.__dict__["_plan"] = None

    def __getitem__(self, index):
        mods = list(self._modules.values())
        if isinstance(index, slice):
            return Sequential(*mods[index])
        return mods[self._position(index)]

    def _build_plan(self):
        """[(module, fused)] in forward order: fused is None, the activation module fused
        into a Linear, or the (ReLU, Dropout or None) modules fused into a BatchNorm1d."""
        mods, plan, i = list(self._modules.values()), [], 0
        while i < len(mods):
            m = mods[i]
            nxt = mods[i + 1] if i + 1 < len(mods) else None
            if type(m) is Linear and m._act is None and isinstance(nxt, Elementwise):
                plan.append((m, nxt))
                i += 2
            elif type(m) is BatchNorm1d and isinstance(nxt, Elementwise) and nxt.fused_act() == ("relu", ()):
                drop = mods[i + 2] if i + 2 < len(mods) and type(mods[i + 2]) is Dropout else None
                plan.append((m, (nxt, drop)))
                i += 2 if drop is None else 3
            else:
                plan.append((m, None))
                i += 1
        return plan

    def forward(self, x):
        if self._plan is None:
            self._plan = self._build_plan()
        ran_fused = []
        for m, fused in self._plan:
            if fused is None:
                x = m.forward(x)
            elif not isinstance(fused, tuple):
                x = m._forward(x, fused.fused_act())
            else:
                x, used = self._bn_relu_dropout(m, fused[0], fused[1], x)
                ran_fused.append(used)
        self._ctx = (self._plan, ran_fused)             # the plan that ran, even if a module is appended
        return x

    @staticmethod
    def _bn_relu_dropout(bn, relu, drop, x):
        """(output, fused?) of BatchNorm1d → ReLU [→ Dropout]: one kernel while the BatchNorm
        uses batch statistics, else the modules one by one."""
        if not (bn.training or not bn.track_running_stats):
            x = relu.forward(bn.forward(x))
            return (x if drop is None else drop.forward(x)), False
        dropout = None
        if drop is not None:
            plan = drop._plan()
            if plan is not None:
                if plan[1] <= 0.0:                     # scale 0 (classic p = 1): keep the chain's NaN semantics
                    x = drop.forward(relu.forward(bn.forward(x)))
                    return x, False
                dropout = (plan[0], plan[1], drop.seed, drop._next_stream() if drop.training else 0)
        return bn._forward(x, relu=True, dropout=dropout), True

    def backward(self, grad_output, need_input_grad=True):
        """grad of the input; need_input_grad=False (the input is data, e.g. in the trainer)
        lets a leading Linear skip its input-gradient GEMM and returns None."""
        plan, ran_fused = self._saved()
        ran_fused = list(ran_fused)
        first = plan[0][0] if plan else None
        for m, fused in reversed(plan):
            if isinstance(fused, tuple) and not ran_fused.pop():
                relu, drop = fused
                if drop is not None:
                    grad_output = drop.backward(grad_output)
                grad_output = relu.backward(grad_output)
            if m is first and not need_input_grad and isinstance(m, (Linear, Sequential)):
                return m.backward(grad_output, need_input_grad=False)
            grad_output = m.backward(grad_output)
        return grad_output

    def _config(self):
        return {"modules": list(self._modules.values())}

    @classmethod
    def _from_config(cls, args):
        if "modules" not in args:
            raise TypeError("a Sequential config is {'modules': [module configs]}: entry 'modules' is missing")
        modules = args["modules"]
        if set(args) != {"modules"} or not isinstance(modules, list):
            raise TypeError(f"a Sequential config is {{'modules': [module configs]}}, got {args!r}"[:300])
        return cls(*modules)


class Residual(Module):
    """y = x + block(x), or projection(x) + block(x) when the widths differ."""

    _required = ("block",)                            # projection may be None

    def __init__(self, block, projection=None):
        super().__init__()
        for name, m in (("block", block), ("projection", projection)):
            if (m is not None or name in self._required) and not isinstance(m, Module):
                raise TypeError(f"Residual: {name} must be a Module, got {type(m).__name__}")
        self.block = block
        self.projection = projection

    def forward(self, x):
        x = check_input(self, x)
        h = self.block.forward(x)
        s = x if self.projection is None else self.projection.forward(x)
        if h.shape != s.shape or h.dtype != s.dtype:
            skip = "the input" if self.projection is None else "projection(x)"
            raise ValueError(f"Residual: block(x) has shape {h.shape} ({h.dtype}) but {skip} has shape {s.shape} "
                             f"({s.dtype}); they must match" +
                             ("; pass projection=Linear(in, out)" if self.projection is None else ""))
        y = self._workspace("y", h.shape, h.dtype)
        np.add(s, h, out=y)
        self._ctx = y
        return y

    def backward(self, grad_output):
        g = check_grad(self, grad_output, self._saved())
        gb = self.block.backward(g)
        gs = g if self.projection is None else self.projection.backward(g)
        gx = self._workspace("gx", gb.shape, gb.dtype)
        np.add(gb, gs, out=gx)
        return gx

    def _config(self):
        return {"block": self.block, "projection": self.projection}
