"""Which kernel set runs the library: the C++ kernels ("native") or NumPy ("numpy").

Both kernel sets expose the same functions with the same signatures
(docs/kernel_api.md); layers, losses and optimizers fetch them with ``kernels()`` at
call time, so ``set_backend`` switches a whole model between the two.
"""
from __future__ import annotations

import importlib

from ._validate import as_choice

_BACKENDS = {"native": "fastnn._kernels", "numpy": "fastnn.reference"}
_current = "native"
_module = None  # the current backend's module, imported on first use


def set_backend(name: str) -> None:
    """Run everything on ``"native"`` (C++) or ``"numpy"`` (the reference / baseline) kernels."""
    global _current, _module
    _current, _module = as_choice(name, "backend", _BACKENDS), None


def get_backend() -> str:
    return _current


def kernels():
    """The module holding the current backend's kernel functions (called on every kernel use)."""
    global _module
    if _module is None:
        _module = importlib.import_module(_BACKENDS[_current])
    return _module
