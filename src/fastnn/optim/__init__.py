"""fastnn.optim: PyTorch's optimizers as fused native updates, and learning-rate schedules.

Each rule is a small class over a per-parameter state record (optimizer.py); ``step()``
makes one fused kernel call per parameter buffer through ``fastnn._backend.kernels()``.
Names, defaults and formulas are torch.optim's (reference/PEERS.md B3).
"""
from . import lr_scheduler
from .adadelta import Adadelta
from .adagrad import Adagrad
from .adam import Adam, AdamW
from .optimizer import Optimizer
from .rmsprop import RMSprop
from .sgd import SGD

__all__ = ["Optimizer", "SGD", "Adagrad", "Adadelta", "RMSprop", "Adam", "AdamW", "lr_scheduler"]
