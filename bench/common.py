"""Shared benchmark plumbing: equal thread counts, interleaved timing, result files.

Timing: the libraries are run in interleaved rounds (a, b, c, a, b, c, ...) so that noise
from a shared machine hits all of them alike; each reports the median of its rounds.
Thread pools of the previous library (fastnn's libgomp, PyTorch's own libgomp copy,
OpenBLAS's workers, which busy-wait ~0.1 s after a call) would steal cores from the next
one, so each library's turn starts after a short pause (`settle`) and one untimed call
that also absorbs waking its own sleeping threads.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import time
from pathlib import Path

import numpy as np

RESULTS = Path(__file__).resolve().parent / "results"


def start(doc: str, extra=None, repeats=True):
    """Parse --threads/--quick (and --repeats, unless ``repeats`` is False; plus what
    ``extra(parser)`` adds), pin the thread counts, print the machine; returns
    (args, torch or None, machine info)."""
    ap = argparse.ArgumentParser(description=doc, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--threads", type=int, default=os.cpu_count())
    if repeats:
        ap.add_argument("--repeats", type=int, default=7)
    ap.add_argument("--quick", action="store_true", help="fewer cases (smoke test)")
    if extra is not None:
        extra(ap)
    args = ap.parse_args()
    torch = set_threads(args.threads)
    meta = machine_info()
    print("machine:", meta)
    return args, torch, meta


def set_threads(n: int):
    """Give fastnn, NumPy's BLAS and PyTorch the same thread count; returns torch or None."""
    import fastnn

    fastnn.set_num_threads(n)
    try:
        from threadpoolctl import threadpool_limits

        threadpool_limits(n, user_api="blas")
    except ImportError:
        print("warning: threadpoolctl missing, NumPy's BLAS thread count not pinned")
    try:
        import torch

        torch.set_num_threads(n)
    except ImportError:
        torch = None
    return torch


def time_interleaved(fns: dict, repeats: int, min_time: float = 0.05, settle: float = 0.12) -> dict:
    """Median seconds per call of each function, measured in interleaved rounds.

    Each round calls a function `inner` times (chosen so a round lasts >= min_time) and
    records the mean; returns {name: median over rounds}.
    """
    inner = {}
    for name, fn in fns.items():
        fn()  # warm-up (allocations, packing buffers, thread pools)
        t0 = time.perf_counter()
        fn()
        once = time.perf_counter() - t0
        inner[name] = max(1, int(min_time / max(once, 1e-7)))
    samples = {name: [] for name in fns}
    for _ in range(repeats):
        for name, fn in fns.items():
            time.sleep(settle)
            fn()
            t0 = time.perf_counter()
            for _ in range(inner[name]):
                fn()
            samples[name].append((time.perf_counter() - t0) / inner[name])
    return {name: float(np.median(s)) for name, s in samples.items()}


def machine_info() -> dict:
    import fastnn

    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    info = {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "isa": fastnn.get_isa(),
        "threads": fastnn.get_num_threads(),
        "numpy": np.__version__,
        "python": platform.python_version(),
        "fastnn": fastnn.__version__,
    }
    try:
        import torch

        info["torch"] = torch.__version__
    except ImportError:
        pass
    return info


def write_results(name: str, rows: list[dict], markdown: str, meta: dict) -> None:
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / f"{name}.json").write_text(json.dumps({"machine": meta, "rows": rows}, indent=1))
    header = ", ".join(f"{k} {v}" for k, v in meta.items())
    (RESULTS / f"{name}.md").write_text(f"Machine: {header}\n\n{markdown}\n")
    print(f"\nwrote {RESULTS / (name + '.json')} and {name}.md")


def markdown_table(headers: list[str], rows: list[list]) -> str:
    lines = ["| " + " | ".join(headers) + " |", "|" + "---|" * len(headers)]
    lines += ["| " + " | ".join(str(c) for c in r) + " |" for r in rows]
    return "\n".join(lines)
