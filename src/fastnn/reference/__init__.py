"""NumPy reference kernels: the test oracle (float64) and the NumPy baseline (float32).

Same functions and signatures as the native wrappers in ``fastnn._kernels``
(docs/kernel_api.md). Each family lives in its own module and is re-exported here.
"""
from .gemm import bias_grad, gemm  # noqa: F401
from .optim import *  # noqa: F401,F403
from .activation import *  # noqa: F401,F403
from .norm import *  # noqa: F401,F403
from .dropout import *  # noqa: F401,F403
from .loss import *  # noqa: F401,F403
from .data import *  # noqa: F401,F403
