"""Which kernel set runs the library: the C++ kernels ("native") or NumPy ("numpy").

Both kernel sets expose the same functions with the same signatures
(docs/kernel_api.md); layers, losses and optimizers fetch them with ``kernels()`` at
call time, so ``set_backend`` switches a whole model between the two.
"""
from __future__ import annotations

_BACKENDS = ("native", "numpy")
_current = "native"


def set_backend(name: str) -> None:
    """Run everything on ``"native"`` (C++) or ``"numpy"`` (the reference / baseline) kernels."""
    global _current
    if name not in _BACKENDS:
        raise ValueError(f"backend must be one of {_BACKENDS}, got {name!r}")
    _current = name


def get_backend() -> str:
    return _current


def kernels():
    """The module holding the current backend's kernel functions."""
    if _current == "native":
        from . import _kernels
        return _kernels
    from . import reference
    return reference
