"""GEMM throughput: fastnn vs NumPy (OpenBLAS) vs PyTorch, same run, same threads.

    python bench/gemm.py [--threads N] [--repeats R] [--quick] [--only TEXT]

Square products 64..2048 and the products of training a 784-256-256-10 MLP at batch
32/128/512 in all three orientations (forward X·Wᵀ, input gradient dY·W, weight gradient
dYᵀ·X), plus the forward with bias + ReLU: fastnn's fused epilogue against matmul followed
by the separate bias and ReLU passes NumPy and PyTorch users write. Every result is
validated against NumPy before timing. Writes bench/results/gemm.{json,md}.
"""
from __future__ import annotations

import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from common import markdown_table, start, time_interleaved, write_results  # noqa: E402

from fastnn import ops  # noqa: E402


def cases(quick: bool):
    squares = [64, 256, 1024] if quick else [64, 128, 256, 512, 1024, 2048]
    for s in squares:
        yield f"square {s}", s, s, s, False, False, False
    layers = [(784, 256), (256, 256), (256, 10)]
    for batch in ([128] if quick else [32, 128, 512]):
        for fin, fout in layers:
            tag = f"B{batch} {fin}->{fout}"
            yield f"{tag} fwd X.W^T", batch, fout, fin, False, True, False
            yield f"{tag} fwd +bias+relu", batch, fout, fin, False, True, True
            yield f"{tag} dX = dY.W", batch, fin, fout, False, False, False
            yield f"{tag} dW = dY^T.X", fout, fin, batch, True, False, False


def main():
    def extra(ap):
        ap.add_argument("--dtypes", default="float32,float64")
        ap.add_argument("--only", default="", help="only the cases whose name contains TEXT (e.g. '->10'); "
                                                     "results are then printed, not written")
    args, torch, meta = start(__doc__, extra)
    rng = np.random.default_rng(0)
    rows, table = [], []
    for dtype in [np.dtype(d) for d in args.dtypes.split(",")]:
        for name, m, n, k, ta, tb, fused in cases(args.quick):
            if args.only not in name:
                continue
            a = rng.standard_normal((k, m) if ta else (m, k)).astype(dtype)
            b = rng.standard_normal((n, k) if tb else (k, n)).astype(dtype)
            bias = rng.standard_normal(n).astype(dtype) if fused else None
            act = "relu" if fused else None
            A, B = (a.T if ta else a), (b.T if tb else b)
            out_f, out_n = np.empty((m, n), dtype), np.empty((m, n), dtype)

            def run_fastnn():
                ops.gemm(a, b, trans_a=ta, trans_b=tb, out=out_f, bias=bias, activation=act)

            def run_numpy():
                np.matmul(A, B, out=out_n)
                if fused:
                    np.add(out_n, bias, out=out_n)
                    np.maximum(out_n, 0, out=out_n)

            fns = {"fastnn": run_fastnn, "numpy": run_numpy}
            if torch is not None:
                ta_, tb_ = torch.from_numpy(A), torch.from_numpy(B)
                out_t = torch.empty((m, n), dtype=ta_.dtype)
                bias_t = torch.from_numpy(bias) if fused else None

                def run_torch():
                    if fused:
                        torch.addmm(bias_t, ta_, tb_, out=out_t)
                        torch.relu_(out_t)
                    else:
                        torch.mm(ta_, tb_, out=out_t)

                fns["torch"] = run_torch
            for fn in fns.values():
                fn()
            tol = 2e-4 if dtype == np.float32 else 1e-10
            scale = np.abs(out_n).max() + 1.0
            assert np.abs(out_f - out_n).max() <= tol * scale * max(1, k) ** 0.5, f"{name}: fastnn result differs"
            t = time_interleaved(fns, args.repeats)
            flops = 2.0 * m * n * k
            g = {lib: flops / sec / 1e9 for lib, sec in t.items()}
            row = {"dtype": dtype.name, "case": name, "m": m, "n": n, "k": k,
                   **{f"gflops_{lib}": v for lib, v in g.items()},
                   "vs_numpy": t["numpy"] / t["fastnn"]}
            if "torch" in t:
                row["vs_torch"] = t["torch"] / t["fastnn"]
            rows.append(row)
            cells = [dtype.name, name, f"{m}x{k}x{n}", f"{g['fastnn']:.1f}", f"{g['numpy']:.1f}",
                     f"{g['torch']:.1f}" if "torch" in g else "-", f"{row['vs_numpy']:.2f}x",
                     f"{row['vs_torch']:.2f}x" if "vs_torch" in row else "-"]
            table.append(cells)
            print(" | ".join(cells), flush=True)
    headers = ["dtype", "case", "MxKxN", "fastnn GF/s", "NumPy GF/s", "PyTorch GF/s", "vs NumPy", "vs PyTorch"]
    md = markdown_table(headers, table)
    print()
    print(md)
    if not args.only:
        write_results("gemm", rows, md, meta)


if __name__ == "__main__":
    main()
