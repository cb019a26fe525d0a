"""fastnn: dense neural networks trained on the CPU with fused C++ kernels."""
from __future__ import annotations

__version__ = "0.1.0"

from . import _config

_config._select_isa_from_env()

from . import ops  # noqa: E402
from ._backend import get_backend, set_backend  # noqa: E402
from ._config import get_isa, get_num_threads, set_num_threads, show_config  # noqa: E402
from . import init, nn, optim, preprocessing, regularization  # noqa: E402
from .gradcheck import GradcheckError, gradcheck  # noqa: E402
from .serialization import load, load_checkpoint, save, save_checkpoint  # noqa: E402
from .trainer import History, Trainer, TrainingDivergedError  # noqa: E402

__all__ = [
    "__version__", "show_config", "get_isa", "get_num_threads", "set_num_threads", "get_backend", "set_backend",
    "ops", "init", "nn", "optim", "preprocessing", "regularization", "gradcheck", "GradcheckError",
    "Trainer", "History", "TrainingDivergedError", "save", "load", "save_checkpoint", "load_checkpoint",
]
