"""The trainer's pre-checked step (fastnn._train_step) against the modules it stands in for.

    python bench/train_step.py [--threads N] [--repeats R] [--quick]

Times ``Trainer._step`` (zero_grad, forward, loss, backward, Adam step: everything of a
training step but gathering the batch and the metrics) on one fixed batch, for MLPs with
BatchNorm1d → ReLU → Dropout(0.1) blocks: an 8-8-8-2 network at batch 4, where only the
per-step overhead is left, the demo's 64-128-128-10 and the benchmark's 784-256-256-10
workload (b). Two trainers of identical models, one with the fast step and one with it
switched off, are timed in interleaved rounds; the table gives the medians and the median
of the per-round ratios (the VM's slow and fast periods hit both alike within a round).
Both trainers' weights are compared bit for bit after the timing.
Writes bench/results/train_step.{json,md}.
"""
from __future__ import annotations

import os
import sys
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from common import markdown_table, start, write_results  # noqa: E402

from fastnn import nn, optim  # noqa: E402
from fastnn.trainer import Trainer  # noqa: E402

CASES = [((8, 8, 8, 2), 4), ((64, 128, 128, 10), 32), ((784, 256, 256, 10), 32), ((784, 256, 256, 10), 128)]


def mlp(sizes):
    layers = []
    for i, (a, b) in enumerate(zip(sizes, sizes[1:])):
        layers.append(nn.Linear(a, b, rng=i))
        if i < len(sizes) - 2:
            layers += [nn.BatchNorm1d(b), nn.ReLU(), nn.Dropout(0.1, seed=10 + i)]
    return nn.Sequential(*layers)


def trainers(sizes, batch):
    """(fast, modules): two trainers of the same model, warmed up on a few batches."""
    rng = np.random.default_rng(0)
    X = rng.standard_normal((4 * batch, sizes[0])).astype(np.float32)
    y = rng.integers(0, sizes[-1], len(X))
    pair = []
    for fast in (True, False):
        model = mlp(sizes)
        t = Trainer(model, nn.CrossEntropyLoss(), optim.Adam(model.parameters(), lr=1e-4), verbose=0)
        t.fit(X, y, 1, batch)
        if not fast:
            t._fast = None                               # the modules, as for any other model
        elif t._fast is None:
            raise RuntimeError("the fast step does not cover this model")
        pair.append(t)
    return pair, X[:batch].copy(), y[:batch].copy()


def main():
    args, _, meta = start(__doc__)
    repeats = 5 if args.quick else max(args.repeats, 20)
    rows, table = [], []
    for sizes, batch in CASES[:2] if args.quick else CASES:
        pair, xb, yb = trainers(sizes, batch)
        once = []
        for t in pair:                                   # both take the same steps: weights stay comparable
            t0 = time.perf_counter()
            t._step(xb, yb, 0, 0)
            once.append(time.perf_counter() - t0)
        steps = max(3, int(0.1 / min(once)))              # ~0.1 s per trainer and round
        samples = [[], []]
        for _ in range(repeats):
            for i, t in enumerate(pair):
                t._step(xb, yb, 0, 0)
                t0 = time.perf_counter()
                for s in range(steps):
                    t._step(xb, yb, 0, s)
                samples[i].append((time.perf_counter() - t0) / steps)
        fast, slow = (np.array(s) for s in samples)
        same = all(np.array_equal(a, b) for a, b in zip(pair[0].model.state_dict().values(),
                                                         pair[1].model.state_dict().values()))
        if not same:
            raise RuntimeError(f"{sizes} batch {batch}: the two trainers' weights differ")
        ratio = float(np.median(fast / slow))
        name = "-".join(map(str, sizes))
        rows.append({"model": name, "batch": batch, "fast_us": float(np.median(fast)) * 1e6,
                     "modules_us": float(np.median(slow)) * 1e6, "ratio": ratio})
        table.append([name, batch, f"{np.median(slow) * 1e6:,.1f}", f"{np.median(fast) * 1e6:,.1f}", f"{ratio:.3f}"])
        print(f"  {name} batch {batch}: modules {np.median(slow) * 1e6:,.1f} us, fast step "
              f"{np.median(fast) * 1e6:,.1f} us per step, ratio {ratio:.3f}")
    md = markdown_table(["model (BatchNorm, Dropout)", "batch", "modules µs/step", "fast step µs/step",
                         "median ratio of rounds"], table)
    md += (f"\n\nTrainer._step on one batch (zero_grad, forward, loss, backward, Adam), {repeats} interleaved "
           f"rounds, {meta['threads']} threads; weights of both trainers equal bit for bit afterwards.")
    print("\n" + md)
    write_results("train_step", rows, md, meta)


if __name__ == "__main__":
    main()
