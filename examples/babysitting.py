"""Babysitting a training run: learning curves, gradient norms and update/weight ratios, checkpoints.

    python examples/babysitting.py [--lr 1e-3] [--epochs 20] [--out babysitting]

Trains a digits MLP with early stopping and a checkpoint of the best epoch, records each
weight matrix's gradient norm and ‖Δw‖/‖w‖ after the first step of every epoch (a
healthy ratio is around 1e-3: try --lr 1e-5 or --lr 1 to see it leave that band), and
writes the loss/accuracy curves and the per-layer activation histograms as PNG files.
"""
import argparse
import os

from fastnn import Trainer, load_checkpoint, nn, optim
from fastnn.callbacks import EarlyStopping, GradientStats, ModelCheckpoint
from fastnn.datasets import load_digits, train_test_split
from fastnn.diagnostics import activation_stats, format_table, plot_activation_histograms, plot_history
from fastnn.preprocessing import StandardScaler


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--lr", type=float, default=1e-3)
    ap.add_argument("--epochs", type=int, default=20)
    ap.add_argument("--out", default="babysitting")
    args = ap.parse_args()
    os.makedirs(args.out, exist_ok=True)
    X, y = load_digits()
    X_train, X_test, y_train, y_test = train_test_split(X, y, test_size=0.25, seed=0)
    scaler = StandardScaler().fit(X_train)
    X_train, X_test = scaler.transform(X_train), scaler.transform(X_test)

    model = nn.Sequential(nn.Linear(64, 128, rng=0), nn.BatchNorm1d(128), nn.ReLU(), nn.Dropout(0.2, seed=1),
                          nn.Linear(128, 10, rng=2))
    stats = GradientStats()
    best = os.path.join(args.out, "best.safetensors")
    callbacks = [stats, EarlyStopping(patience=4, restore_best_weights=True),
                 ModelCheckpoint(best, monitor="val_loss", save_best_only=True)]
    trainer = Trainer(model, nn.CrossEntropyLoss(), optim.Adam(model.parameters(), lr=args.lr),
                      callbacks=callbacks, verbose=1)
    history = trainer.fit(X_train, y_train, epochs=args.epochs, batch_size=32, validation_split=0.2)

    print("\nlast epoch's first step, per weight matrix:")
    print(format_table([{"parameter": name, "grad norm": g, "weight norm": w, "update/weight": r}
                        for name, (g, w, r) in stats.last.items()]))
    print("\nactivations on 500 training images:")
    print(format_table(activation_stats(model, X_train[:500], training=False)))
    print(f"\ntest accuracy (best weights restored): {trainer.evaluate(X_test, y_test)['accuracy']:.4f}")
    ckpt = load_checkpoint(best)
    print(f"best checkpoint: epoch {ckpt.epoch}, val_loss {min(ckpt.history['val_loss']):.4f}")
    print("wrote", plot_history(history, os.path.join(args.out, "history.png")))
    print("wrote", plot_activation_histograms(model, X_train[:500], os.path.join(args.out, "activations.png")))


if __name__ == "__main__":
    main()
