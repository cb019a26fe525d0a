"""Sequential (with Linear + activation fusion) and Residual.

Design. Sequential runs its children in order and backward in reverse. A plain Linear
(no activation of its own) directly followed by an element-wise activation module is run
as one Linear with that activation in its GEMM epilogue; the activation module is then
skipped in both passes. The result equals the unfused chain, and names, parameters and
state dicts keep the unfused (PyTorch) layout. The plan is rebuilt when children change.
"""
from __future__ import annotations

import numpy as np

from .activation import Elementwise
from .linear import Linear
from .module import Module, check_grad, check_input

__all__ = ["Sequential", "Residual"]


class Sequential(Module):
    """y = m_n(…m_1(x)); children named "0", "1", …"""

    def __init__(self, *modules):
        super().__init__()
        self._plan = None
        for m in modules:
            self.append(m)

    def append(self, module):
        if not isinstance(module, Module):
            raise TypeError(f"Sequential takes Modules, got {type(module).__name__}")
        setattr(self, str(len(self._modules)), module)
        self._plan = None
        return self

    def __len__(self):
        return len(self._modules)

    def __iter__(self):
        return iter(self._modules.values())

    def __getitem__(self, index):
        mods = list(self._modules.values())
        return Sequential(*mods[index]) if isinstance(index, slice) else mods[index]

    def _build_plan(self):
        """[(module, fused activation module or None)] in forward order."""
        mods, plan, i = list(self._modules.values()), [], 0
        while i < len(mods):
            m = mods[i]
            nxt = mods[i + 1] if i + 1 < len(mods) else None
            if type(m) is Linear and m._act is None and isinstance(nxt, Elementwise):
                plan.append((m, nxt))
                i += 2
            else:
                plan.append((m, None))
                i += 1
        return plan

    def forward(self, x):
        if self._plan is None:
            self._plan = self._build_plan()
        for m, act in self._plan:
            x = m.forward(x) if act is None else m._forward(x, act.fused_act())
        self._ctx = True
        return x

    def backward(self, grad_output, need_input_grad=True):
        """grad of the input; need_input_grad=False (the input is data, e.g. in the trainer)
        lets a leading Linear skip its input-gradient GEMM and returns None."""
        self._saved()
        first = self._plan[0][0] if self._plan else None
        for m, _ in reversed(self._plan):
            if m is first and not need_input_grad and isinstance(m, (Linear, Sequential)):
                return m.backward(grad_output, need_input_grad=False)
            grad_output = m.backward(grad_output)
        return grad_output

    def _config(self):
        return {"modules": list(self._modules.values())}

    @classmethod
    def _from_config(cls, args):
        return cls(*args["modules"])


class Residual(Module):
    """y = x + block(x), or projection(x) + block(x) when the widths differ."""

    def __init__(self, block, projection=None):
        super().__init__()
        for name, m in (("block", block), ("projection", projection)):
            if m is not None and not isinstance(m, Module):
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
