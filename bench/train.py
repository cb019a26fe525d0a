"""End-to-end training throughput: fastnn vs its NumPy backend vs PyTorch eager vs scikit-learn.

    python bench/train.py [--quick] [--threads N] [--rounds R] [--samples N] [--profile]

Data: 60,000 synthetic samples (784 Gaussian features, labels from a fixed random ReLU
teacher network, seed 0), float32. Workloads, cross-entropy and Adam (lr 1e-3):
  (a) mlp      784-256-256-10 ReLU MLP
  (b) mlp_bn   the same with BatchNorm1d before each ReLU and Dropout(0.1) after it
at batch sizes 32, 128 and 512. Each library trains one epoch per round after a warm-up;
rounds are interleaved (fastnn, NumPy, PyTorch, sklearn, fastnn, ...) and each library
reports the median samples/s of its rounds (>= 3). fastnn and its NumPy backend run
``fastnn.Trainer.fit`` (per-epoch shuffling, batching, loss and accuracy: what a user
gets); PyTorch runs the loop a PyTorch user writes (reshuffle the tensors each epoch,
slice mini-batches, model(x), loss, zero_grad, backward, step, loss.item()); scikit-
learn's MLPClassifier (workload a only: it has no BatchNorm or dropout) runs one
``partial_fit`` epoch with alpha=0 (no L2). Same thread count everywhere (common.py).

Validation first: from identical weights, fastnn (both backends) and PyTorch give the same
loss on a first batch, and again after one Adam step (dropout off for the check), so the
three run the same computation. Compute limit: issue 4 puts it at ≈125,000 samples/s on
the 2-core AVX2 machine (≈175 GFLOP/s float32 peak, ≈1.3 MFLOP per sample); the GEMMs
alone (forward, weight gradients, input gradients of all but the first layer) are 1.21
MFLOP, the rest is element-wise work. ``--peak-gflops`` scales the limit for another
machine (default 87.5 per thread). Writes bench/results/train.{json,md,png}.
"""
from __future__ import annotations

import os
import statistics
import sys
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from common import RESULTS, markdown_table, start, write_results  # noqa: E402

import fastnn  # noqa: E402
from fastnn import nn, optim  # noqa: E402
from fastnn.datasets import make_teacher  # noqa: E402
from fastnn.trainer import Trainer  # noqa: E402

SIZES = (784, 256, 256, 10)
WORKLOADS = {"mlp": "(a) 784-256-256-10 ReLU", "mlp_bn": "(b) + BatchNorm1d, Dropout(0.1)"}
LR = 1e-3
# (b)'s targets on the 2-core machine (issue 4): ratio over PyTorch per batch, and over NumPy.
TARGETS_TORCH = {32: 4.0, 128: 3.0, 512: 1.5}
TARGET_NUMPY = 5.0
LIMIT_2CORE = 125_000                                  # samples/s at PEAK_2CORE GFLOP/s (issue 4)
PEAK_2CORE = 175.0


def flops_per_sample():
    """GEMM flops of one training sample: forward + weight grads + input grads (not layer 1's)."""
    mk = [i * o for i, o in zip(SIZES, SIZES[1:])]
    return 2 * sum(mk) * 2 + 2 * sum(mk[1:])


# ------------------------------------------------------------------------------ models

def fastnn_model(workload, seed=0, dropout=0.1):
    layers = []
    for i, (fin, fout) in enumerate(zip(SIZES, SIZES[1:])):
        layers.append(nn.Linear(fin, fout, rng=seed + i))
        if i < len(SIZES) - 2:
            if workload == "mlp_bn":
                layers.append(nn.BatchNorm1d(fout))
            layers.append(nn.ReLU())
            if workload == "mlp_bn":
                layers.append(nn.Dropout(dropout, seed=seed + 10 + i))
    return nn.Sequential(*layers)


def torch_model(torch, workload, dropout=0.1):
    layers = []
    for i, (fin, fout) in enumerate(zip(SIZES, SIZES[1:])):
        layers.append(torch.nn.Linear(fin, fout))
        if i < len(SIZES) - 2:
            if workload == "mlp_bn":
                layers.append(torch.nn.BatchNorm1d(fout))
            layers.append(torch.nn.ReLU())
            if workload == "mlp_bn":
                layers.append(torch.nn.Dropout(dropout))
    return torch.nn.Sequential(*layers)


def copy_weights(torch, src, dst):
    """fastnn model → torch model with the same layout (state_dict names line up)."""
    sd = {k: torch.from_numpy(np.array(v)) for k, v in src.state_dict().items()}
    dst.load_state_dict(sd)


# ------------------------------------------------------------------------------ validation

def validate(torch, workload, X, y, batch=64):
    """Same first-batch loss, before and after one Adam step: fastnn native, NumPy backend, PyTorch."""
    xb, yb = X[:batch], y[:batch]
    losses = {}
    for backend in ("native", "numpy"):
        fastnn.set_backend(backend)
        model = fastnn_model(workload, dropout=0.0)
        loss, opt = nn.CrossEntropyLoss(), optim.Adam(model.parameters(), lr=LR)
        first = loss.forward(model.forward(xb), yb)
        model.backward(loss.backward())
        opt.step()
        losses[backend] = (first, loss.forward(model.forward(xb), yb))
    fastnn.set_backend("native")
    if torch is not None:
        tm = torch_model(torch, workload, dropout=0.0)
        copy_weights(torch, fastnn_model(workload, dropout=0.0), tm)
        topt = torch.optim.Adam(tm.parameters(), lr=LR)
        txb, tyb = torch.from_numpy(xb), torch.from_numpy(yb)
        first = torch.nn.functional.cross_entropy(tm(txb), tyb)
        topt.zero_grad()
        first.backward()
        topt.step()
        with torch.no_grad():
            second = torch.nn.functional.cross_entropy(tm(txb), tyb)
        losses["torch"] = (first.item(), second.item())
    ref = losses["native"]
    for lib, (a, b) in losses.items():
        for got, want, tol in ((a, ref[0], 1e-5), (b, ref[1], 1e-4)):
            if abs(got - want) > tol * abs(want):
                raise AssertionError(f"{workload}: {lib} loss {got:.7f} differs from fastnn's {want:.7f}")
    print(f"  validated {workload}: first-batch loss "
          + ", ".join(f"{lib} {a:.6f} -> {b:.6f}" for lib, (a, b) in losses.items()))


# ------------------------------------------------------------------------------ runners

class FastnnRunner:
    """One Trainer epoch on the given backend; rate from the Trainer's own epoch timing."""

    def __init__(self, backend, workload, X, y, batch):
        self.backend, self.X, self.y, self.batch = backend, X, y, batch
        fastnn.set_backend(backend)
        model = fastnn_model(workload)
        self.trainer = Trainer(model, nn.CrossEntropyLoss(), optim.Adam(model.parameters(), lr=LR), verbose=0)

    def warm(self):
        fastnn.set_backend(self.backend)
        n = min(len(self.X), 8 * self.batch)
        self.trainer.fit(self.X[:n], self.y[:n], 1, self.batch)

    def epoch(self):
        fastnn.set_backend(self.backend)
        h = self.trainer.fit(self.X, self.y, 1, self.batch)
        return h.history["samples_per_sec"][-1]


class TorchRunner:
    """The plain PyTorch loop: reshuffle, slice, forward, loss, zero_grad, backward, step."""

    def __init__(self, torch, workload, X, y, batch):
        self.torch, self.batch = torch, batch
        torch.manual_seed(0)
        self.model = torch_model(torch, workload)
        self.opt = torch.optim.Adam(self.model.parameters(), lr=LR)
        self.X, self.y = torch.from_numpy(X), torch.from_numpy(y)
        self.loss = torch.nn.CrossEntropyLoss()

    def _run(self, X, y):
        t0 = time.perf_counter()
        perm = self.torch.randperm(len(X))
        Xs, ys = X[perm], y[perm]
        total = 0.0
        self.model.train()
        for i in range(0, len(Xs), self.batch):
            out = self.model(Xs[i:i + self.batch])
            loss = self.loss(out, ys[i:i + self.batch])
            self.opt.zero_grad()
            loss.backward()
            self.opt.step()
            total += loss.item()
        return len(X) / (time.perf_counter() - t0)

    def warm(self):
        n = min(len(self.X), 8 * self.batch)
        self._run(self.X[:n], self.y[:n])

    def epoch(self):
        return self._run(self.X, self.y)


class SklearnRunner:
    """scikit-learn MLPClassifier, one partial_fit epoch (Adam, ReLU, no L2 penalty)."""

    def __init__(self, X, y, batch):
        from sklearn.neural_network import MLPClassifier
        self.X, self.y, self.batch = X, y, batch
        self.clf = MLPClassifier(hidden_layer_sizes=SIZES[1:-1], activation="relu", solver="adam", alpha=0.0,
                                 batch_size=batch, learning_rate_init=LR, shuffle=True, random_state=0)
        self.classes = np.arange(SIZES[-1])

    def warm(self):
        n = min(len(self.X), 8 * self.batch)
        self.clf.partial_fit(self.X[:n], self.y[:n], classes=self.classes)

    def epoch(self):
        t0 = time.perf_counter()
        self.clf.partial_fit(self.X, self.y, classes=self.classes)
        return len(self.X) / (time.perf_counter() - t0)


SETTLE = 0.3  # s: OpenBLAS workers busy-wait ~0.1 s after a call, libgomp's (fastnn's, PyTorch's) spin too


def measure(runners, rounds):
    """{name: median samples/s}: each round warms then times one epoch of every runner in turn.
    Before its turn a runner waits SETTLE seconds, so the previous library's spinning worker
    threads have gone to sleep and do not share the cores with it (as common.time_interleaved)."""
    for r in runners.values():
        r.warm()
    rates = {name: [] for name in runners}
    for _ in range(rounds):
        for name, r in runners.items():
            time.sleep(SETTLE)
            r.warm()                                  # wakes this runtime's own threads
            rates[name].append(r.epoch())
    return {name: statistics.median(v) for name, v in rates.items()}


# ------------------------------------------------------------------------------ report

def plot(rows, batches, path):
    try:
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure
    except ImportError:
        print("matplotlib missing: no plot (pip install matplotlib)")
        return
    fig = Figure(figsize=(10, 4))
    FigureCanvasAgg(fig)
    axes = fig.subplots(1, len(WORKLOADS), sharey=True)
    for ax, (workload, title) in zip(np.atleast_1d(axes), WORKLOADS.items()):
        sub = [r for r in rows if r["workload"] == workload]
        for lib in ("fastnn", "numpy", "torch", "sklearn"):
            pts = [(r["batch"], r[lib]) for r in sub if r.get(lib)]
            if pts:
                ax.plot(*zip(*pts), marker="o", label={"numpy": "fastnn NumPy backend", "torch": "PyTorch eager",
                                                       "sklearn": "scikit-learn MLP"}.get(lib, lib))
        ax.set_xscale("log", base=2)
        ax.set_yscale("log")
        ax.set_xticks(batches, [str(b) for b in batches])
        ax.set_xlabel("batch size")
        ax.set_title(title, fontsize=10)
        ax.grid(alpha=0.3, which="both")
    np.atleast_1d(axes)[0].set_ylabel("training samples/s")
    np.atleast_1d(axes)[0].legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    print(f"wrote {path}")


def profile_epoch(workload, X, y, batch):
    """cProfile of one fastnn Trainer epoch: where the time goes."""
    import cProfile
    import pstats
    fastnn.set_backend("native")
    runner = FastnnRunner("native", workload, X, y, batch)
    runner.warm()
    prof = cProfile.Profile()
    prof.enable()
    runner.epoch()
    prof.disable()
    print(f"\nprofile of one fastnn epoch, {workload}, batch {batch}:")
    pstats.Stats(prof, stream=sys.stdout).sort_stats("tottime").print_stats(15)


def main():
    def extra(ap):
        ap.add_argument("--rounds", type=int, default=None, help="timed epochs per library (median; default 3)")
        ap.add_argument("--samples", type=int, default=None, help="dataset size (default 60000, 8192 with --quick)")
        ap.add_argument("--batches", default="32,128,512")
        ap.add_argument("--peak-gflops", type=float, default=None,
                        help="float32 peak of this machine (default 87.5 per thread: the 2-core AVX2 machine)")
        ap.add_argument("--profile", action="store_true",
                        help="also profile one fastnn epoch per workload at batch 32")
    args, torch, meta = start(__doc__, extra, repeats=False)
    n = args.samples or (8192 if args.quick else 60000)
    rounds = max(3, args.rounds or 3)
    batches = [int(b) for b in args.batches.split(",")]
    peak = args.peak_gflops or 87.5 * args.threads
    if torch is not None and not torch.__version__.startswith("2.13.0"):
        print(f"warning: PyTorch {torch.__version__}; the comparison is specified against torch==2.13.0")
    try:
        import sklearn  # noqa: F401
        have_sklearn = True
    except ImportError:
        have_sklearn = False
        print("scikit-learn missing: its column stays empty")
    X, y = make_teacher(n, SIZES[0], SIZES[-1], hidden=(256,), seed=0)
    fpp = flops_per_sample()
    limit = LIMIT_2CORE * peak / PEAK_2CORE
    print(f"{n} samples; GEMMs {fpp / 1e6:.2f} MFLOP per sample; compute limit {limit:,.0f} samples/s "
          f"at {peak:.0f} GFLOP/s")

    print("validation:")
    for workload in WORKLOADS:
        validate(torch, workload, X, y)

    rows = []
    for workload in WORKLOADS:
        for batch in batches:
            runners = {"fastnn": FastnnRunner("native", workload, X, y, batch),
                       "numpy": FastnnRunner("numpy", workload, X, y, batch)}
            if torch is not None:
                runners["torch"] = TorchRunner(torch, workload, X, y, batch)
            if have_sklearn and workload == "mlp":
                runners["sklearn"] = SklearnRunner(X, y, batch)
            rates = measure(runners, rounds)
            row = {"workload": workload, "batch": batch, **rates, "limit_fraction": rates["fastnn"] / limit}
            for lib in ("numpy", "torch", "sklearn"):
                if lib in rates:
                    row[f"vs_{lib}"] = rates["fastnn"] / rates[lib]
            rows.append(row)
            print(f"  {workload:7s} batch {batch:4d}: " + ", ".join(f"{k} {v:,.0f}/s" for k, v in rates.items())
                  + f" | {100 * row['limit_fraction']:.1f}% of the compute limit", flush=True)

    fmt = lambda r, k: f"{r[k]:,.0f}" if k in r else "-"
    ratio = lambda r, k: f"{r[k]:.2f}x" if k in r else "-"
    table = [[WORKLOADS[r["workload"]], r["batch"], fmt(r, "fastnn"), fmt(r, "numpy"), fmt(r, "torch"),
              fmt(r, "sklearn"), ratio(r, "vs_numpy"), ratio(r, "vs_torch"), ratio(r, "vs_sklearn"),
              f"{100 * r['limit_fraction']:.1f}%"] for r in rows]
    headers = ["workload", "batch", "fastnn samples/s", "NumPy backend", "PyTorch eager", "sklearn MLP",
               "vs NumPy", "vs PyTorch", "vs sklearn", "of compute limit"]
    md = markdown_table(headers, table)
    md += (f"\n\n{n} samples, one epoch per round, median of {rounds} interleaved rounds, {args.threads} threads. "
           f"Compute limit {limit:,.0f} samples/s at {peak:.0f} GFLOP/s (issue 4's 125,000 samples/s at 175 GFLOP/s, "
           f"scaled; the GEMMs alone are {fpp / 1e6:.2f} MFLOP/sample).")
    checks = []
    for r in rows:
        if r["workload"] == "mlp_bn":
            if r["batch"] in TARGETS_TORCH and "vs_torch" in r:
                checks.append(("PyTorch", r["batch"], r["vs_torch"], TARGETS_TORCH[r["batch"]]))
            checks.append(("NumPy", r["batch"], r["vs_numpy"], TARGET_NUMPY))
    if checks:
        md += "\n\nTargets for (b) (issue 4, 2-core machine):\n\n" + "\n".join(
            f"- vs {lib} at batch {b}: {got:.2f}x, target {want:g}x: "
            + ("met" if got >= want else f"missed by {100 * (1 - got / want):.0f}%") for lib, b, got, want in checks)
    print()
    print(md)
    write_results("train", rows, md, meta)
    plot(rows, batches, RESULTS / "train.png")
    if args.profile:
        for workload in WORKLOADS:
            profile_epoch(workload, X, y, batches[0])


if __name__ == "__main__":
    main()
