"""fastnn: dense neural networks trained on the CPU with fused C++ kernels."""
from __future__ import annotations

__version__ = "0.1.0"

from . import _config

_config._select_isa_from_env()

from . import ops  # noqa: E402
from ._backend import get_backend, set_backend  # noqa: E402
from ._config import get_isa, get_num_threads, set_num_threads, show_config  # noqa: E402

__all__ = [
    "__version__", "get_backend", "set_backend", "get_isa", "get_num_threads", "set_num_threads",
    "show_config", "ops",
]
