"""Optimizer steps: time per step, fastnn vs NumPy baseline vs torch.optim.

    python bench/optim.py [--threads N] [--repeats R] [--quick]

Each rule steps the same float32 parameters with fixed gradients: those of the
784-256-256-10 MLP (6 tensors, 269,322 values: the update's memory traffic dominates) and
of a 32-layer 64-wide MLP (64 tensors, 133,120 values: the per-tensor cost shows). fastnn
runs its fused native update (one multi-tensor call per parameter group), the same
optimizer on the NumPy backend is the baseline, PyTorch runs torch.optim with its CPU
default (a loop over the tensors). The memory floor is the time fastnn's own in-place
scaling kernel (same threads and split) takes to move as many bytes as the step does (a
rule reads and writes its count in RULES per value, the scaling 8), over one buffer of
that size, so from the same cache level; timed in the same interleaved rounds.
Writes bench/results/optim.{json,md}.
"""
from __future__ import annotations

import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from common import markdown_table, start, time_interleaved, write_results  # noqa: E402

import fastnn  # noqa: E402
from fastnn import nn, optim  # noqa: E402

# (label, class name, options, float32 bytes read + written per value in one step)
RULES = [
    ("SGD", "SGD", {"lr": 1e-3}, 12),
    ("SGD momentum, Nesterov", "SGD", {"lr": 1e-3, "momentum": 0.9, "nesterov": True}, 20),
    ("RMSprop centred, momentum", "RMSprop", {"lr": 1e-4, "centered": True, "momentum": 0.9}, 36),
    ("Adagrad", "Adagrad", {"lr": 1e-3}, 20),
    ("Adadelta", "Adadelta", {}, 28),
    ("Adam", "Adam", {"lr": 1e-4}, 28),
    ("AdamW amsgrad", "AdamW", {"lr": 1e-4, "amsgrad": True}, 36),
]

MODELS = {
    "784-256-256-10": [784, 256, 256, 10],
    "32 x Linear(64, 64)": [64] * 33,
}


def parameters(widths, seed=0):
    """(data, grad) float32 pairs of an MLP with these widths, the gradients fixed."""
    model = nn.Sequential(*[nn.Linear(a, b, rng=seed + i) for i, (a, b) in enumerate(zip(widths, widths[1:]))])
    rng = np.random.default_rng(seed)
    return [(p.data.copy(), (rng.standard_normal(p.data.shape) * 1e-2).astype(np.float32))
            for p in model.parameters()]


class _Param:
    """A bare parameter: .data and .grad arrays (what fastnn's optimizers step)."""

    def __init__(self, data, grad):
        self.data, self.grad = data.copy(), grad.copy()


def fastnn_step(name, options, pairs, backend):
    params = [_Param(d, g) for d, g in pairs]
    opt = getattr(optim, name)(params, **options)

    def run():
        fastnn.set_backend(backend)
        try:
            opt.step()
        finally:
            fastnn.set_backend("native")
    return run, params


def torch_step(torch, name, options, pairs):
    params = []
    for d, g in pairs:
        t = torch.from_numpy(d.copy()).requires_grad_(True)
        t.grad = torch.from_numpy(g.copy())
        params.append(t)
    opt = getattr(torch.optim, name)(params, **options)
    return opt.step, params


def stream_step(n_bytes):
    """x *= 1 on fastnn's threads over a float32 buffer in which that moves n_bytes (8 a value)."""
    from fastnn import _kernels
    x = np.random.default_rng(0).standard_normal(n_bytes // 8).astype(np.float32)
    return lambda: _kernels.scale_inplace(x, 1.0)


def main():
    args, torch, meta = start(__doc__)
    rows, table = [], []
    for model_name, widths in MODELS.items():
        pairs = parameters(widths)
        n = sum(d.size for d, _ in pairs)
        for label, name, options, nbytes in RULES[:3] if args.quick else RULES:
            native, got = fastnn_step(name, options, pairs, "native")
            numpy_run, want = fastnn_step(name, options, pairs, "numpy")
            for _ in range(5):                         # the two backends agree before they are timed
                native()
                numpy_run()
            for a, b in zip(got, want):
                np.testing.assert_allclose(a.data, b.data, rtol=1e-5, atol=1e-6)
            fns = {"native": native, "numpy": numpy_run, "stream": stream_step(n * nbytes)}
            if torch is not None:
                fns["torch"] = torch_step(torch, name, options, pairs)[0]
            t = time_interleaved(fns, args.repeats)
            floor = t.pop("stream")
            row = {"rule": label, "model": model_name, "tensors": len(pairs), "values": n,
                   "us_per_step": {k: v * 1e6 for k, v in t.items()}, "vs_numpy": t["numpy"] / t["native"],
                   "memory_floor_us": floor * 1e6, "vs_floor": t["native"] / floor}
            if "torch" in t:
                row["vs_torch"] = t["torch"] / t["native"]
            rows.append(row)
            cells = [label, f"{model_name} ({len(pairs)} tensors)", f"{t['native'] * 1e6:.0f}",
                     f"{t['numpy'] * 1e6:.0f}", f"{t['torch'] * 1e6:.0f}" if "torch" in t else "-",
                     f"{row['vs_numpy']:.1f}x", f"{row['vs_torch']:.1f}x" if "vs_torch" in row else "-",
                     f"{row['vs_floor']:.1f}x"]
            table.append(cells)
            print(" | ".join(cells), flush=True)
    md = markdown_table(["rule", "parameters", "fastnn µs/step", "NumPy µs/step", "PyTorch µs/step", "vs NumPy",
                         "vs PyTorch", "fastnn / memory floor"], table)
    print()
    print(md)
    write_results("optim", rows, md, meta)


if __name__ == "__main__":
    main()
