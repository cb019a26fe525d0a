"""Shared fixtures. ``backend`` runs a test on the NumPy reference kernels and on the native
ones; "native" is skipped while the extension is not built or lacks a reference kernel."""
import inspect

import pytest

import fastnn
from fastnn import reference


def _native_unavailable():
    """Why the native backend cannot run the reference kernel set, or None."""
    try:
        from fastnn import _kernels
    except (ImportError, AttributeError) as exc:     # not built, or built before a kernel family landed
        return f"the native kernels are not available: {exc!r}"
    names = [n for n, f in vars(reference).items()
             if inspect.isfunction(f) and not n.startswith("_")
             and n not in ("random_u64", "dropout_bits")]   # these two document the bits
    missing = sorted(n for n in names if not hasattr(_kernels, n))
    return f"fastnn._kernels lacks {missing}" if missing else None


@pytest.fixture
def numpy_backend():
    """Run the test on the NumPy reference kernels; restores the previous backend."""
    previous = fastnn.get_backend()
    fastnn.set_backend("numpy")
    yield
    fastnn.set_backend(previous)


@pytest.fixture
def threads():
    """Run the body under 1, 2 and 3 kernel threads: ``for n in threads(): ...``; restores the count."""
    previous = fastnn.get_num_threads()

    def counts():
        for n in (1, 2, 3):
            fastnn.set_num_threads(n)
            yield n
        fastnn.set_num_threads(previous)

    yield counts
    fastnn.set_num_threads(previous)


@pytest.fixture(params=["numpy", "native"])
def backend(request):
    """Select a kernel set for the test and restore the previous one afterwards."""
    if request.param == "native":
        # fastnn cannot be imported without its extension, so a missing native twin of a
        # reference kernel is a build or registration bug: fail, never skip silently.
        why = _native_unavailable()
        if why:
            pytest.fail(why)
    previous = fastnn.get_backend()
    fastnn.set_backend(request.param)
    yield request.param
    fastnn.set_backend(previous)
