"""The classic initialisation demonstration: activation statistics of a 10-layer tanh MLP.

    python examples/activation_stats.py [--units 500] [--layers 10] [--plot DIR]

With weights drawn from 0.01·N(0, 1), each layer scales its input's std by about
0.01·√units ≈ 0.22, so the activations collapse towards 0 layer by layer (and so do the
gradients flowing back). Xavier/Glorot initialisation (std √(2/(fan_in + fan_out))) keeps
the tanh activations' std roughly constant; for ReLU layers He/Kaiming initialisation
(std √(2/fan_in)) does the same job. Prints one table per initialisation, and with
--plot writes the per-layer histograms as PNG files.
"""
import argparse
import os

import numpy as np

import fastnn
from fastnn import init, nn
from fastnn.diagnostics import activation_stats, format_table, plot_activation_histograms


def small_normal(weight, rng):
    return init.normal_(weight, 0.0, 0.01, rng=rng)


def he_relu(weight, rng):
    return init.kaiming_normal_(weight, nonlinearity="relu", rng=rng)


# (title, file name for --plot, activation, initializer)
CASES = [("tanh, weights 0.01*N(0, 1)", "tanh_small", "tanh", small_normal),
         ("tanh, Xavier/Glorot normal", "tanh_xavier", "tanh", "xavier_normal"),
         ("relu, weights 0.01*N(0, 1)", "relu_small", "relu", small_normal),
         ("relu, He/Kaiming normal", "relu_he", "relu", he_relu)]


def mlp(units, layers, activation, weight_init, seed=0):
    return nn.Sequential(*[nn.Linear(units, units, activation=activation, init=weight_init, rng=seed + i)
                           for i in range(layers)])


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--units", type=int, default=500)
    ap.add_argument("--layers", type=int, default=10)
    ap.add_argument("--batch", type=int, default=1000)
    ap.add_argument("--plot", metavar="DIR", help="also write activation histograms (needs matplotlib)")
    args = ap.parse_args()
    X = np.random.default_rng(0).standard_normal((args.batch, args.units)).astype(np.float32)
    for title, slug, activation, weight_init in CASES:
        model = mlp(args.units, args.layers, activation, weight_init)
        rows = activation_stats(model, X)
        print(f"\n{title} (input std {X.std():.3f})")
        print(format_table(rows, ["name", "layer", "mean", "std", "zero_frac", "saturated"]))
        if args.plot:
            os.makedirs(args.plot, exist_ok=True)
            print("wrote", plot_activation_histograms(model, X, os.path.join(args.plot, slug + ".png")))


if __name__ == "__main__":
    fastnn.set_backend(os.environ.get("FASTNN_BACKEND", fastnn.get_backend()))
    main()
