"""Random search for an MLP's learning rate, width, L2 strength and dropout on the digits data.

    python examples/random_search.py [--trials 12] [--epochs 8] [--seed 0]

Log-uniform distributions for the learning rate and the L2 strength (equal odds per
decade), an integer width, a choice of dropout rates. Every trial trains for the same
epoch budget and is ranked by its best validation accuracy; the best configuration is
then retrained on all training data and scored once on the held-out test set.
"""
import argparse

from fastnn import Trainer, nn, optim
from fastnn.datasets import load_digits, train_test_split
from fastnn.preprocessing import StandardScaler
from fastnn.search import Choice, IntUniform, LogUniform, RandomSearch


def build(config, seed=0):
    width, p = config["width"], config["dropout"]
    model = nn.Sequential(nn.Linear(64, width, rng=seed), nn.ReLU(), nn.Dropout(p, seed=seed + 1),
                          nn.Linear(width, 10, rng=seed + 2))
    opt = optim.AdamW(model.parameters(), lr=config["lr"], weight_decay=config["weight_decay"])
    return model, nn.CrossEntropyLoss(), opt


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--trials", type=int, default=12)
    ap.add_argument("--epochs", type=int, default=8)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    X, y = load_digits()
    X_train, X_test, y_train, y_test = train_test_split(X, y, test_size=0.25, seed=args.seed)
    scaler = StandardScaler().fit(X_train)
    X_train, X_test = scaler.transform(X_train), scaler.transform(X_test)
    space = {"lr": LogUniform(1e-4, 1e-1), "width": IntUniform(16, 256), "weight_decay": LogUniform(1e-5, 1e-1),
             "dropout": Choice([0.0, 0.1, 0.3, 0.5])}
    search = RandomSearch(build, space, n_trials=args.trials, epochs=args.epochs, batch_size=32, seed=args.seed)
    search.fit(X_train, y_train, validation_split=0.2)
    print()
    print(search.results_table())
    print(f"\nbest configuration: {search.best_config_} (validation accuracy {search.best_score_:.4f})")
    trainer = Trainer(*build(search.best_config_), verbose=0)
    trainer.fit(X_train, y_train, epochs=args.epochs, batch_size=32, seed=args.seed)
    print(f"retrained on all training data: test accuracy {trainer.evaluate(X_test, y_test)['accuracy']:.4f}")


if __name__ == "__main__":
    main()
