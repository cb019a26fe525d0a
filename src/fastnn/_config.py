"""Library configuration: instruction set, threads, and the report of both."""
from __future__ import annotations

import os

from . import _native


def _select_isa_from_env() -> None:
    """Honour FASTNN_ISA=avx512|avx2|generic|auto at import; an unusable choice is an error."""
    name = os.environ.get("FASTNN_ISA", "").strip().lower()
    rc = _native.select_isa(name)
    if rc == -1:
        raise ImportError(f"FASTNN_ISA={name!r} is not one of 'avx512', 'avx2', 'generic', 'auto'")
    if rc == -2:
        raise ImportError(
            f"FASTNN_ISA={name!r} is not supported by this CPU (supported: {_native.supported_isas()})"
        )


def max_num_threads() -> int:
    """The most threads set_num_threads accepts: twice the CPUs, and at least 256. More only
    slow the kernels down, and an OpenMP team the system cannot create ends the process
    (libgomp exits when thread creation fails), so such a count is refused up front."""
    return max(256, 2 * (os.cpu_count() or 1))


def set_num_threads(n: int) -> None:
    """Threads used by every fastnn kernel (results are bitwise identical for any n);
    1 <= n <= max_num_threads()."""
    from ._validate import as_int

    _native.set_num_threads(as_int(n, "n", low=1, high=max_num_threads()))


def get_num_threads() -> int:
    """Current thread count; defaults to OMP_NUM_THREADS or the number of CPUs."""
    return _native.get_num_threads()


def get_isa() -> str:
    return _native.current_isa()


def supported_isas() -> list[str]:
    return _native.supported_isas().split(",")


def show_config() -> str:
    """Print (and return) version, instruction set, threads and OpenMP runtime."""
    from . import __version__
    from ._backend import get_backend

    lines = [
        f"fastnn {__version__}",
        f"  instruction set : {get_isa()} (supported: {', '.join(supported_isas())}; FASTNN_ISA to force)",
        f"  threads         : {get_num_threads()} (OMP_NUM_THREADS={os.environ.get('OMP_NUM_THREADS', 'unset')})",
        f"  OpenMP runtime  : {_native.openmp_runtime()}",
        f"  backend         : {get_backend()}",
    ]
    if _native.avx512_emulated():
        lines += [
            "  note            : developer check build, the avx512 kernels run over SIMDe's emulation",
            "                    (FASTNN_AVX512_EMULATION): correct results, not AVX-512 speed",
        ]
    text = "\n".join(lines)
    print(text)
    return text
