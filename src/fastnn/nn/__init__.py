"""fastnn.nn: modules (layers, activations, containers) and losses with PyTorch's names."""
from .activation import (CELU, ELU, GELU, SELU, Hardsigmoid, Hardtanh, Identity, LeakyReLU, MaxExp, Mish,
                         PReLU, ReLU, RReLU, Sigmoid, SiLU, Softplus, Softsign, Swish, Tanh)
from .container import Residual, Sequential
from .dropout import DropConnect, Dropout
from .linear import Linear
from .loss import BCEWithLogitsLoss, CrossEntropyLoss, HuberLoss, MSELoss
from .maxout import GLU, Maxout
from .module import Module, Parameter, from_config
from .normalization import BatchNorm1d, LayerNorm

__all__ = [
    "Module", "Parameter", "from_config",
    "Linear", "Sequential", "Residual", "BatchNorm1d", "LayerNorm", "Dropout", "DropConnect", "Maxout", "GLU",
    "Identity", "Sigmoid", "Tanh", "ReLU", "LeakyReLU", "PReLU", "RReLU", "ELU", "SELU", "CELU", "Softplus",
    "Softsign", "Hardtanh", "Hardsigmoid", "SiLU", "Swish", "GELU", "Mish", "MaxExp",
    "MSELoss", "CrossEntropyLoss", "BCEWithLogitsLoss", "HuberLoss",
]
