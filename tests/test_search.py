"""Random search: distributions, seeded reproducibility, ranking, diverged trials."""
import math

import numpy as np
import pytest

from fastnn import nn, optim
from fastnn.search import Choice, IntUniform, LogUniform, RandomSearch, Uniform


pytestmark = pytest.mark.usefixtures("numpy_backend")      # conftest.py: every test on the NumPy kernels


def test_distributions():
    rng = np.random.default_rng(0)
    lu = [LogUniform(1e-4, 1e-1).sample(rng) for _ in range(2000)]
    assert min(lu) >= 1e-4 and max(lu) <= 1e-1
    assert {LogUniform(1e-3, 1e-3).sample(rng) for _ in range(20)} == {1e-3}   # exp(log(1e-3)) > 1e-3
    decades = np.histogram(np.log10(lu), bins=[-4, -3, -2, -1])[0]
    assert decades.min() > 550                                  # ≈ 1/3 per decade
    assert all(2.0 <= Uniform(2, 3).sample(rng) <= 3.0 for _ in range(100))
    ints = {IntUniform(1, 3).sample(rng) for _ in range(200)}
    assert ints == {1, 2, 3}
    assert {Choice(["a", "b"]).sample(rng) for _ in range(50)} == {"a", "b"}
    with pytest.raises(ValueError):
        LogUniform(0, 1)
    with pytest.raises(ValueError):
        Uniform(2, 1)
    with pytest.raises(ValueError):
        Choice([])
    # The same draws as Generator.uniform; and a range wider than the largest float, which
    # Generator.uniform refuses (OverflowError), is still sampled inside it.
    r1, r2 = np.random.default_rng(7), np.random.default_rng(7)
    assert [Uniform(-3, 7.5).sample(r1) for _ in range(100)] == [float(r2.uniform(-3, 7.5)) for _ in range(100)]
    wide = [Uniform(-1.7e308, 1.7e308).sample(rng) for _ in range(100)]
    assert all(math.isfinite(v) and -1.7e308 <= v <= 1.7e308 for v in wide) and min(wide) < 0 < max(wide)


@pytest.fixture(scope="module")
def blobs():
    rng = np.random.default_rng(0)
    centers = rng.standard_normal((3, 6)) * 2
    y = rng.integers(0, 3, 300)
    X = (centers[y] + rng.standard_normal((300, 6))).astype(np.float32)
    return X, y


def build(config):
    model = nn.Sequential(nn.Linear(6, config["hidden"], rng=1), nn.ReLU(), nn.Linear(config["hidden"], 3, rng=2))
    opt = optim.SGD(model.parameters(), lr=config["lr"], momentum=config["momentum"])
    return model, nn.CrossEntropyLoss(), opt


SPACE = {"lr": LogUniform(1e-3, 0.3), "hidden": IntUniform(4, 16), "momentum": Choice([0.0, 0.9])}


def test_random_search_is_seeded_and_sorted(blobs):
    X, y = blobs
    runs = []
    for _ in range(2):
        search = RandomSearch(build, SPACE, n_trials=4, epochs=2, batch_size=32, seed=11, verbose=0)
        runs.append(search.fit(X, y, validation_split=0.25))
    strip = lambda rs: [(r["trial"], r["config"], r["score"], r["best_epoch"]) for r in rs]
    assert strip(runs[0]) == strip(runs[1])
    scores = [r["score"] for r in runs[0]]
    assert scores == sorted(scores, reverse=True)
    assert search.best_score_ == scores[0] and search.best_config_ == runs[0][0]["config"]
    assert len({r["trial"] for r in runs[0]}) == 4
    other = RandomSearch(build, SPACE, n_trials=4, epochs=2, batch_size=32, seed=12).sample_configs()
    assert other != search.sample_configs()
    table = search.results_table()
    assert "val_accuracy" in table and "momentum" in table and len(table.splitlines()) == 6


@pytest.mark.filterwarnings("ignore::RuntimeWarning")
def test_min_mode_and_diverged_trials_rank_last(blobs):
    X, y = blobs
    space = {"lr": Choice([0.05, 1e30]), "hidden": 8, "momentum": 0.0}
    search = RandomSearch(build, space, n_trials=4, epochs=2, batch_size=32, seed=0, metric="val_loss",
                          mode="min", verbose=0)
    results = search.fit(X, y, validation_data=(X[:50], y[:50]))
    lrs = [r["config"]["lr"] for r in results]
    assert 0.05 in lrs and 1e30 in lrs
    for r in results:
        assert (r["status"] == "diverged") == (r["config"]["lr"] == 1e30)
    n_ok = lrs.count(0.05)
    assert all(not math.isnan(r["score"]) for r in results[:n_ok])
    assert all(math.isnan(r["score"]) for r in results[n_ok:])
    assert search.best_config_["lr"] == 0.05


def test_search_argument_errors(blobs):
    X, y = blobs
    with pytest.raises(ValueError, match="needs validation_data"):
        RandomSearch(build, SPACE, 2, 1, 32).fit(X, y)
    with pytest.raises(ValueError, match="mode"):
        RandomSearch(build, SPACE, 2, 1, 32, mode="best")
    with pytest.raises(TypeError, match="build_fn"):
        RandomSearch(None, SPACE, 2, 1, 32)
    with pytest.raises(TypeError, match="must return a tuple"):
        RandomSearch(lambda c: None, SPACE, 1, 1, 32).fit(X, y, validation_split=0.2)
    with pytest.raises(ValueError, match="val_f1"):
        RandomSearch(build, SPACE, 1, 1, 32, metric="val_f1", verbose=0).fit(X, y, validation_split=0.2)


@pytest.mark.parametrize("metric", ["val_f1", "accuracy_", "val_mse"])
def test_unknown_metric_is_refused_before_any_trial_trains(blobs, metric):
    X, y = blobs
    models = []

    def recording_build(config):
        built = build(config)
        models.append((built[0], [p.data.copy() for p in built[0].parameters()]))
        return built

    with pytest.raises(ValueError, match=rf"metric '{metric}' is not logged; available: \['accuracy', 'epoch_time'"):
        RandomSearch(recording_build, SPACE, 3, 5, 32, metric=metric, verbose=0).fit(X, y, validation_split=0.2)
    assert len(models) == 1                            # the first trial's model was built, never trained
    for p, before in zip(models[0][0].parameters(), models[0][1]):
        np.testing.assert_array_equal(p.data, before)


def test_every_logged_key_is_a_valid_search_metric(blobs):
    X, y = blobs
    search = RandomSearch(build, {**SPACE, "momentum": 0.0}, 1, 1, 32, metric="val_loss", verbose=0)
    search.fit(X, y, validation_split=0.2)
    model, loss, opt = build(search.best_config_)
    from fastnn import Trainer
    history = Trainer(model, loss, opt, verbose=0).fit(X, y, 1, 32, validation_split=0.2)
    assert sorted(history.history) == sorted(Trainer(model, loss, opt)._log_keys(y, True))
    for metric in history.history:
        RandomSearch(build, SPACE, 1, 1, 32, metric=metric, verbose=0).fit(X, y, validation_split=0.2)


def test_search_odd_arguments_are_refused_by_name(blobs):
    X, y = blobs
    for bad, err, match in [(lambda: Choice(3), TypeError, "options must be a sequence"),
                            (lambda: Choice("ab"), TypeError, "options must be a sequence"),
                            (lambda: IntUniform(0, 2**64), ValueError, "high must be <="),
                            (lambda: IntUniform(-2**70, 0), ValueError, "low must be >="),
                            (lambda: RandomSearch(build, {1: 0.1, "lr": 0.1}, 1, 1, 32), TypeError, "space keys"),
                            (lambda: RandomSearch(build, SPACE, 1, 1, 32, metric=None), TypeError, "metric"),
                            (lambda: RandomSearch(build, SPACE, 1, 1, 32, mode=np.array(["max"])), TypeError, "mode"),
                            (lambda: RandomSearch(build, SPACE, 1, 1, 32, verbose=0).fit(
                                X, y, validation_split=np.array([0.2, 0.3])), TypeError, "validation_split")]:
        with pytest.raises(err, match=match):
            bad()
    rng = np.random.default_rng(0)
    assert IntUniform(-2**63, 2**63 - 1).sample(rng) in range(-2**63, 2**63)


def test_train_test_split_refuses_ragged_rows_naming_the_argument():
    from fastnn.datasets import train_test_split
    with pytest.raises(ValueError, match="X must be an array with one entry per sample"):
        train_test_split([[1.0, 2.0], [3.0]], [0, 1])
