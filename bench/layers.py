"""Layer kernels: forward + backward time per element, fastnn vs NumPy baseline vs PyTorch.

    python bench/layers.py [--threads N] [--repeats R] [--quick]

Each activation, BatchNorm1d and Dropout run as modules (forward then backward, what a
training step calls) at 128x256 and 512x1024 float32: fastnn on its C++ kernels, the
same fastnn module on the NumPy backend (the baseline), and torch.nn with autograd.
The memory-bandwidth floor is measured in the same run: a forward + backward pass moves
at least 20 bytes per float32 element (read x, write y; read dy and x or y, write dx),
timed against np.copyto's bandwidth on the same size, in the same interleaved rounds as
the kernel it is compared with. Then Linear + activation as one
fused GEMM epilogue vs Linear followed by a separate activation module.
Writes bench/results/layers.{json,md}.
"""
from __future__ import annotations

import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from common import markdown_table, start, time_interleaved, write_results  # noqa: E402

import fastnn  # noqa: E402
from fastnn import nn  # noqa: E402

# (label, fastnn factory, torch factory name + kwargs, transcendental?)
ACTIVATIONS = [
    ("ReLU", lambda: nn.ReLU(), ("ReLU", {}), False),
    ("LeakyReLU", lambda: nn.LeakyReLU(0.01), ("LeakyReLU", {"negative_slope": 0.01}), False),
    ("Hardtanh", lambda: nn.Hardtanh(), ("Hardtanh", {}), False),
    ("Hardsigmoid", lambda: nn.Hardsigmoid(), ("Hardsigmoid", {}), False),
    ("Softsign", lambda: nn.Softsign(), ("Softsign", {}), False),
    ("Sigmoid", lambda: nn.Sigmoid(), ("Sigmoid", {}), True),
    ("Tanh", lambda: nn.Tanh(), ("Tanh", {}), True),
    ("ELU", lambda: nn.ELU(), ("ELU", {}), True),
    ("SELU", lambda: nn.SELU(), ("SELU", {}), True),
    ("CELU", lambda: nn.CELU(), ("CELU", {}), True),
    ("Softplus", lambda: nn.Softplus(), ("Softplus", {}), True),
    ("SiLU", lambda: nn.SiLU(), ("SiLU", {}), True),
    ("GELU", lambda: nn.GELU(), ("GELU", {}), True),
    ("GELU(tanh)", lambda: nn.GELU(approximate="tanh"), ("GELU", {"approximate": "tanh"}), True),
    ("Mish", lambda: nn.Mish(), ("Mish", {}), True),
]


def copy_step(n_elems):
    """np.copyto of n float32 elements: 8 bytes per element moved (read + write)."""
    src = np.random.default_rng(0).standard_normal(n_elems).astype(np.float32)
    dst = np.empty_like(src)
    return lambda: np.copyto(dst, src)


def module_step(module, x, g):
    def run():
        module.forward(x)
        module.backward(g)
    return run


def torch_step(torch, module, x, g):
    xt = torch.from_numpy(x.copy()).requires_grad_(True)
    gt = torch.from_numpy(g)

    def run():
        xt.grad = None
        module(xt).backward(gt)
    return run


def compare(fastnn_factory, torch_factory, x, g, repeats, torch):
    """Median seconds of forward+backward for native, numpy backend, torch."""
    native_mod, numpy_mod = fastnn_factory(), fastnn_factory()
    fns = {"native": module_step(native_mod, x, g)}

    def numpy_run(step=module_step(numpy_mod, x, g)):
        fastnn.set_backend("numpy")
        try:
            step()
        finally:
            fastnn.set_backend("native")

    fns["numpy"] = numpy_run
    # The bandwidth floor's copy runs in the same rounds, so machine noise that drifts
    # during the run (2 shared vCPUs) hits the kernel and its floor alike.
    fns["copy"] = copy_step(x.size)
    if torch is not None and torch_factory is not None:
        fns["torch"] = torch_step(torch, torch_factory(), x, g)
    # Validate before timing: native and NumPy backends agree on the output.
    y_native = native_mod.forward(x).copy()
    fastnn.set_backend("numpy")
    try:
        y_numpy = numpy_mod.forward(x).copy()
    finally:
        fastnn.set_backend("native")
    np.testing.assert_allclose(y_native, y_numpy, rtol=2e-5, atol=2e-6)
    return time_interleaved(fns, repeats)


def main():
    args, torch, meta = start(__doc__)
    shapes = [(128, 256)] if args.quick else [(128, 256), (512, 1024)]
    rng = np.random.default_rng(0)
    rows, table = [], []
    for b, f in shapes:
        n = b * f
        x = rng.standard_normal((b, f)).astype(np.float32)
        g = rng.standard_normal((b, f)).astype(np.float32)
        cases = [(label, fac, (lambda name=tn, kw=tkw: getattr(torch.nn, name)(**kw)) if torch else None, tr)
                 for label, fac, (tn, tkw), tr in ACTIVATIONS]
        cases.append(("BatchNorm1d", lambda: nn.BatchNorm1d(f),
                      (lambda: torch.nn.BatchNorm1d(f)) if torch else None, False))
        cases.append(("Dropout(0.1)", lambda: nn.Dropout(0.1, seed=0),
                      (lambda: torch.nn.Dropout(0.1)) if torch else None, False))
        for label, fac, tfac, transcendental in cases:
            t = compare(fac, tfac, x, g, args.repeats, torch)
            floor = 2.5 * t.pop("copy")  # a forward+backward moves 20 bytes per element, a copy 8
            row = {"layer": label, "shape": [b, f], "ns_per_elem": {k: v / n * 1e9 for k, v in t.items()},
                   "vs_numpy": t["numpy"] / t["native"], "bandwidth_floor_ns": floor / n * 1e9,
                   "vs_floor": t["native"] / floor, "transcendental": transcendental}
            if "torch" in t:
                row["vs_torch"] = t["torch"] / t["native"]
            rows.append(row)
            cells = [label, f"{b}x{f}", f"{t['native'] / n * 1e9:.2f}", f"{t['numpy'] / n * 1e9:.2f}",
                     f"{t['torch'] / n * 1e9:.2f}" if "torch" in t else "-", f"{row['vs_numpy']:.1f}x",
                     f"{row['vs_torch']:.1f}x" if "vs_torch" in row else "-", f"{row['vs_floor']:.1f}x"]
            table.append(cells)
            print(" | ".join(cells), flush=True)
    # Linear + activation: fused epilogue vs separate modules (both on fastnn's kernels).
    fused_rows = []
    for batch in ([128] if args.quick else [128, 512]):
        for act in ("relu", "tanh", "gelu"):
            x = rng.standard_normal((batch, 784)).astype(np.float32)
            g = rng.standard_normal((batch, 256)).astype(np.float32)
            fused = nn.Linear(784, 256, activation=act, rng=1)
            unfused_lin = nn.Linear(784, 256, rng=1)
            unfused_act = {"relu": nn.ReLU, "tanh": nn.Tanh, "gelu": nn.GELU}[act]()

            def run_fused():
                fused.forward(x)
                fused.backward(g)

            def run_unfused():
                unfused_act.forward(unfused_lin.forward(x))
                unfused_lin.backward(unfused_act.backward(g))

            np.testing.assert_allclose(fused.forward(x), unfused_act.forward(unfused_lin.forward(x)),
                                       rtol=1e-5, atol=1e-5)
            t = time_interleaved({"fused": run_fused, "unfused": run_unfused}, args.repeats)
            fused_rows.append([f"Linear(784,256)+{act}", batch, f"{t['fused'] * 1e6:.0f}",
                               f"{t['unfused'] * 1e6:.0f}", f"{t['unfused'] / t['fused']:.2f}x"])
            rows.append({"layer": f"Linear+{act} fused", "batch": batch, "fused_s": t["fused"],
                         "unfused_s": t["unfused"]})
            print(" | ".join(str(c) for c in fused_rows[-1]), flush=True)
    md = markdown_table(["layer (fwd+bwd)", "shape", "fastnn ns/elem", "NumPy ns/elem", "PyTorch ns/elem",
                         "vs NumPy", "vs PyTorch", "fastnn / bandwidth floor"], table)
    md += "\n\n" + markdown_table(["fwd+bwd", "batch", "fused µs", "Linear then activation µs", "fused speed-up"],
                                  fused_rows)
    print()
    print(md)
    write_results("layers", rows, md, meta)


if __name__ == "__main__":
    main()
