"""Trainer: accuracy on real data, determinism, resume equivalence, early stopping, divergence, bad input."""
import numpy as np
import pytest

import fastnn
from fastnn import nn, optim
from fastnn.callbacks import Callback, DropoutSchedule, EarlyStopping, GradientStats, LearningRateScheduler
from fastnn.trainer import Trainer, TrainingDivergedError


@pytest.fixture(scope="module")
def digits():
    """Standardised 8×8 digits: (X_train, X_test, y_train, y_test), 1347 / 450 samples."""
    pytest.importorskip("sklearn")
    from fastnn.datasets import load_digits, train_test_split
    from fastnn.preprocessing import StandardScaler
    X, y = load_digits()
    X_train, X_test, y_train, y_test = train_test_split(X, y, test_size=0.25, seed=0)
    scaler = StandardScaler().fit(X_train)
    return scaler.transform(X_train), scaler.transform(X_test), y_train, y_test


def mlp(seed=0, hidden=32, dropout=0.1, batchnorm=True):
    layers = [nn.Linear(64, hidden, rng=seed)]
    if batchnorm:
        layers.append(nn.BatchNorm1d(hidden))
    layers += [nn.ReLU(), nn.Dropout(dropout, seed=seed + 1), nn.Linear(hidden, 10, rng=seed + 2)]
    return nn.Sequential(*layers)


def trainer_for(model, lr=1e-2, **kwargs):
    kwargs.setdefault("verbose", 0)
    return Trainer(model, nn.CrossEntropyLoss(), optim.Adam(model.parameters(), lr=lr), **kwargs)


def weights(model):
    return {k: v.copy() for k, v in model.state_dict().items()}


def assert_bitwise_equal(a, b):
    assert a.keys() == b.keys()
    for k in a:
        assert a[k].dtype == b[k].dtype and a[k].tobytes() == b[k].tobytes(), k


# ------------------------------------------------------------------------------ learning

@pytest.mark.parametrize("backend", ["numpy", "native"])
def test_digits_accuracy_both_backends(backend, digits):
    X_train, X_test, y_train, y_test = digits
    previous = fastnn.get_backend()
    fastnn.set_backend(backend)
    model = mlp(hidden=128)
    trainer = trainer_for(model, lr=5e-3)
    try:
        history = trainer.fit(X_train, y_train, epochs=5, batch_size=32, validation_data=(X_test, y_test))
        result = trainer.evaluate(X_test, y_test)
    finally:
        fastnn.set_backend(previous)
    assert result["accuracy"] >= 0.95, result
    assert history.history["val_accuracy"][-1] == pytest.approx(result["accuracy"])
    assert history.history["loss"][0] > history.history["loss"][-1]


def test_history_records_every_key(numpy_backend, digits):
    X_train, X_test, y_train, y_test = digits
    trainer = trainer_for(mlp())
    history = trainer.fit(X_train, y_train, epochs=2, batch_size=64, validation_data=(X_test, y_test))
    for key in ("loss", "accuracy", "val_loss", "val_accuracy", "lr", "epoch_time", "samples_per_sec"):
        assert len(history.history[key]) == 2, key
    assert history.epoch == [0, 1]
    assert history.history["lr"] == [pytest.approx(1e-2)] * 2
    assert all(v > 0 for v in history.history["samples_per_sec"])


def test_same_seed_bitwise_identical_for_1_2_3_threads(digits):
    X_train, _, y_train, _ = digits
    previous = (fastnn.get_backend(), fastnn.get_num_threads())
    fastnn.set_backend("native")
    results = []
    try:
        for threads in (1, 2, 3):
            fastnn.set_num_threads(threads)
            model = mlp(hidden=96)
            trainer_for(model).fit(X_train, y_train, epochs=2, batch_size=50, seed=7)
            results.append(weights(model))
    finally:
        fastnn.set_backend(previous[0])
        fastnn.set_num_threads(previous[1])
    assert_bitwise_equal(results[0], results[1])
    assert_bitwise_equal(results[0], results[2])


def test_two_fits_equal_one(numpy_backend, digits):
    """Epoch numbering (and so shuffling and dropout) continues across fit calls."""
    X, _, y, _ = digits
    a, b = mlp(), mlp()
    trainer_for(a).fit(X, y, epochs=3, batch_size=100, seed=3)
    tb = trainer_for(b)
    tb.fit(X, y, epochs=1, batch_size=100, seed=3)
    tb.fit(X, y, epochs=2, batch_size=100, seed=3)
    assert_bitwise_equal(weights(a), weights(b))
    assert tb.history.epoch == [0, 1, 2]


def test_partial_last_batch_and_no_shuffle(numpy_backend, digits):
    X, _, y, _ = digits
    seen = []

    class Count(Callback):
        def on_batch_end(self, step, logs):
            seen.append(step)

    trainer_for(mlp()).fit(X[:250], y[:250], epochs=1, batch_size=100, shuffle=False, callbacks=[Count()])
    assert seen == [0, 1, 2]                      # 100 + 100 + 50


@pytest.mark.parametrize("backend", ["numpy", "native"])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_batches_are_the_rows_of_the_order(backend, dtype):
    """The mini-batch gather (native: the binding on byte-row views made once per epoch)
    yields X[order[i:i + b]] and y[order[i:i + b]], the last batch partial."""
    from fastnn.trainer import _Batches
    rng = np.random.default_rng(4)
    X = rng.standard_normal((23, 5)).astype(dtype)
    y = rng.integers(0, 3, 23)
    order = rng.permutation(23)
    fastnn.set_backend(backend)
    try:
        got = [(xb.copy(), yb.copy()) for xb, yb in _Batches(X, y, 7)(order)]
    finally:
        fastnn.set_backend("native")
    assert [len(xb) for xb, _ in got] == [7, 7, 7, 2]
    for k, (xb, yb) in enumerate(got):
        idx = order[7 * k:7 * k + 7]
        assert xb.dtype == dtype and xb.tobytes() == X[idx].tobytes()
        np.testing.assert_array_equal(yb, y[idx])


def test_validation_split_is_deterministic_per_seed(numpy_backend, digits):
    X, _, y, _ = digits

    def val_loss(seed):
        t = trainer_for(mlp())
        return t.fit(X, y, epochs=1, batch_size=64, validation_split=0.2, seed=seed).history["val_loss"]

    assert val_loss(5) == val_loss(5)
    assert val_loss(5) != val_loss(6)


def test_predict_and_predict_proba(numpy_backend, digits):
    X_train, X_test, y_train, _ = digits
    trainer = trainer_for(mlp())
    trainer.fit(X_train, y_train, epochs=1, batch_size=64)
    logits = trainer.predict(X_test, batch_size=100)
    proba = trainer.predict_proba(X_test)
    assert logits.shape == proba.shape == (len(X_test), 10)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, rtol=1e-5)
    assert (proba.argmax(axis=1) == logits.argmax(axis=1)).all()
    assert trainer.model.training                 # predict restores the mode


def test_bce_and_regression_losses(numpy_backend):
    rng = np.random.default_rng(0)
    X = rng.standard_normal((200, 5)).astype(np.float32)
    y_bin = (X[:, 0] > 0).astype(np.float32)
    model = nn.Sequential(nn.Linear(5, 8, rng=0), nn.Tanh(), nn.Linear(8, 1, rng=1))
    t = Trainer(model, nn.BCEWithLogitsLoss(), optim.Adam(model.parameters(), lr=3e-2), verbose=0)
    t.fit(X, y_bin, epochs=20, batch_size=32)
    assert t.evaluate(X, y_bin)["accuracy"] > 0.9
    p = t.predict_proba(X)
    assert ((p > 0) & (p < 1)).all()
    reg = nn.Sequential(nn.Linear(5, 1, rng=0))
    t = Trainer(reg, nn.MSELoss(), optim.SGD(reg.parameters(), lr=0.1), metrics=("mae",), verbose=0)
    h = t.fit(X, X[:, :1] * 2.0, epochs=10, batch_size=20)
    assert "accuracy" not in h.history and h.history["mae"][-1] < 0.05
    with pytest.raises(TypeError, match="predict_proba"):
        t.predict_proba(X)


def test_float64_model_converts_input_once(numpy_backend, digits):
    X, _, y, _ = digits
    model = nn.Sequential(nn.Linear(64, 10, dtype=np.float64, rng=0))
    t = trainer_for(model)
    t.fit(X, y, epochs=1, batch_size=128)          # X is float32: converted to float64
    assert model[0].weight.data.dtype == np.float64


# ------------------------------------------------------------------------------ callbacks

class ScriptedValLoss(Callback):
    """Replaces val_loss by a scripted sequence and snapshots the weights at each epoch end."""

    def __init__(self, values):
        self.values, self.snapshots = values, []

    def on_epoch_end(self, epoch, logs):
        logs["val_loss"] = self.values[epoch]
        self.snapshots.append(weights(self.trainer.model))


def test_early_stopping_restores_best_weights(numpy_backend, digits):
    X, _, y, _ = digits
    script = ScriptedValLoss([1.0, 0.5, 0.7, 0.8, 0.9, 0.95])
    stop = EarlyStopping(monitor="val_loss", patience=2, restore_best_weights=True)
    t = trainer_for(mlp(), callbacks=[script, stop])
    history = t.fit(X[:400], y[:400], epochs=6, batch_size=100)
    assert history.epoch == [0, 1, 2, 3]           # no improvement in epochs 2 and 3
    assert stop.stopped_epoch == 3 and stop.best_epoch == 1 and stop.best == 0.5
    assert history.history["val_loss"] == [1.0, 0.5, 0.7, 0.8]
    assert_bitwise_equal(weights(t.model), script.snapshots[1])


def test_early_stopping_min_delta_and_mode():
    stop = EarlyStopping(monitor="val_accuracy", min_delta=0.01, patience=0)
    assert stop.mode == "max"

    class Stub:
        stop_training = False
        model = None

    stub = Stub()
    stop.set_trainer(stub)
    stop.on_train_begin({})
    stop.on_epoch_end(0, {"val_accuracy": 0.90})
    stop.on_epoch_end(1, {"val_accuracy": 0.905})     # within min_delta: no improvement
    assert stub.stop_training is True and stop.best == 0.90 and stop.stopped_epoch == 1


def test_lr_scheduler_dropout_schedule_and_gradient_stats(numpy_backend, digits):
    X, _, y, _ = digits
    model = mlp(dropout=0.5)
    opt = optim.SGD(model.parameters(), lr=0.1)
    sched = LearningRateScheduler(optim.lr_scheduler.StepLR(opt, step_size=1, gamma=0.5))
    drop = DropoutSchedule(optim.lr_scheduler.LinearSchedule(0.5, 0.0, 2))
    stats = GradientStats()
    t = Trainer(model, nn.CrossEntropyLoss(), opt, callbacks=[sched, drop, stats], verbose=0)
    h = t.fit(X, y, epochs=3, batch_size=100).history
    assert h["lr"] == pytest.approx([0.1, 0.05, 0.025])
    assert h["dropout"] == pytest.approx([0.5, 0.25, 0.0])
    assert model[3].p == 0.0
    ratios = h["update_ratio/0.weight"]
    assert len(ratios) == 3 and all(0 < r < 1 for r in ratios)
    assert all(g > 0 for g in h["grad_norm/4.weight"])


def test_reduce_lr_on_plateau_gets_the_monitored_value(numpy_backend, digits):
    X, _, y, _ = digits
    model = mlp()
    opt = optim.Adam(model.parameters(), lr=1e-2)
    plateau = optim.lr_scheduler.ReduceLROnPlateau(opt, factor=0.5, patience=0)
    script = ScriptedValLoss([1.0, 2.0, 3.0])
    t = Trainer(model, nn.CrossEntropyLoss(), opt, callbacks=[script, LearningRateScheduler(plateau)], verbose=0)
    h = t.fit(X[:200], y[:200], epochs=3, batch_size=100).history
    assert h["lr"] == pytest.approx([1e-2, 1e-2, 5e-3])


def test_regularisation_and_clipping_options(numpy_backend, digits):
    X, _, y, _ = digits
    norms = {}
    for l2 in (0.0, 1.0):
        model = mlp(batchnorm=False)
        t = trainer_for(model, l2=l2, l1=1e-4, grad_clip_norm=1.0, grad_clip_value=0.5)
        t.fit(X, y, epochs=2, batch_size=64)
        norms[l2] = np.linalg.norm(model[0].weight.data)
    assert norms[1.0] < 0.5 * norms[0.0]


# ------------------------------------------------------------------------------ divergence

@pytest.mark.filterwarnings("ignore:overflow encountered", "ignore:invalid value encountered")
def test_nan_loss_stops_with_last_good_weights(numpy_backend, digits):
    """Step 4 overwrites layer 0's weights with 3e38: step 5's forward overflows in that layer."""
    X, _, y, _ = digits
    model = mlp()
    saved = {}

    class Sabotage(Callback):
        def on_batch_end(self, step, logs):
            if self.trainer.epoch == 1 and step == 3:
                model[0].weight.data[...] = 3e38
                saved["state"] = weights(model)
                saved["steps"] = model[3]._step

    t = trainer_for(model, callbacks=[Sabotage()])
    with pytest.raises(TrainingDivergedError, match=r"epoch 2, step 5: the loss is nan.*0 \(Linear\)"):
        t.fit(X, y, epochs=3, batch_size=64)
    assert isinstance(TrainingDivergedError("x"), FloatingPointError)
    assert_bitwise_equal(weights(model), saved["state"])   # running stats restored too
    assert model[3]._step == saved["steps"]
    assert t.epoch == 1


class _DuckSGD:
    """An optimizer that is not fastnn's: the trainer probes the gradients before its step."""

    def __init__(self, params):
        self.params = list(params)

    def step(self):
        for p in self.params:
            p.data -= 0.01 * p.grad

    def zero_grad(self):
        for p in self.params:
            p.grad[...] = 0


def _two_groups(model):
    ps = list(model.parameters())
    return optim.Adam([{"params": ps[:2]}, {"params": ps[2:], "lr": 1e-2}])


def _one_call_per_parameter(model):
    opt = optim.RMSprop(model.parameters(), momentum=0.5)
    opt._multi_tensor = False
    return opt


OPTIMIZERS_FOR_THE_GUARD = {
    "Adam": lambda m: optim.Adam(m.parameters()),          # the gradients tested inside the update
    "SGD": lambda m: optim.SGD(m.parameters(), lr=0.01, momentum=0.9, dampening=0.1),
    "Adagrad": lambda m: optim.Adagrad(m.parameters(), lr_decay=0.1),
    "Adadelta": lambda m: optim.Adadelta(m.parameters()),
    "two groups": _two_groups,                              # a probe over every group, then the step
    "per parameter": _one_call_per_parameter,
    "not fastnn's": lambda m: _DuckSGD(m.parameters()),
}


@pytest.mark.filterwarnings("ignore:invalid value encountered")
@pytest.mark.parametrize("replace_grads", [False, True])
@pytest.mark.parametrize("make_optimizer", OPTIMIZERS_FOR_THE_GUARD.values(), ids=OPTIMIZERS_FOR_THE_GUARD.keys())
def test_nonfinite_gradient_stops_before_the_step(backend, digits, replace_grads, make_optimizer):
    """Weights and optimizer state (step counts included) stay as before the step, whichever
    optimizer; also when the gradient arrays are replaced between steps (the check's cached
    handle must follow them)."""
    X, _, y, _ = digits

    class NanGradLoss(nn.CrossEntropyLoss):
        calls = 0

        def backward(self):
            g = super().backward()
            NanGradLoss.calls += 1
            if NanGradLoss.calls == 3:
                g[0, 0] = np.inf
            return g

    model = mlp()
    opt = make_optimizer(model)
    t = Trainer(model, NanGradLoss(), opt, verbose=0)
    before = {}

    class Keep(Callback):
        def on_batch_end(self, step, logs):
            before.update(weights(model))
            before["optimizer"] = repr(opt.state_dict()) if hasattr(opt, "state_dict") else None
            if replace_grads:
                for p in model.parameters():
                    p.grad = p.grad.copy()

    t.callbacks.append(Keep())
    with pytest.raises(TrainingDivergedError, match="epoch 1, step 3: a gradient is not finite"):
        t.fit(X, y, epochs=1, batch_size=64)
    assert before.pop("optimizer") == (repr(opt.state_dict()) if hasattr(opt, "state_dict") else None)
    assert_bitwise_equal(weights(model), before)


# ------------------------------------------------------------------------------ progress output

def test_verbose_one_line_per_epoch_when_not_a_tty(numpy_backend, digits, capsys):
    X, _, y, _ = digits
    trainer_for(mlp(), verbose=1).fit(X[:200], y[:200], epochs=2, batch_size=50)
    lines = [line for line in capsys.readouterr().out.splitlines() if line.startswith("Epoch")]
    assert len(lines) == 2 and "loss" in lines[0] and "samples/s" in lines[0]
    trainer_for(mlp(), verbose=0).fit(X[:200], y[:200], epochs=2, batch_size=50)
    assert capsys.readouterr().out == ""


# ------------------------------------------------------------------------------ bad input

@pytest.mark.parametrize("change, error, match", [
    (lambda a: a.update(y=a["y"][:-1]), ValueError, "different lengths"),
    (lambda a: a.update(X=a["X"][:0], y=a["y"][:0]), ValueError, "empty"),
    (lambda a: a.update(batch_size=0), ValueError, "batch_size must be >= 1"),
    (lambda a: a.update(batch_size=-3), ValueError, "batch_size must be >= 1"),
    (lambda a: a.update(batch_size=2.5), TypeError, "batch_size must be an integer"),
    (lambda a: a.update(epochs=-1), ValueError, "epochs must be >= 0"),
    (lambda a: a.update(epochs="3"), TypeError, "epochs must be an integer"),
    (lambda a: a["y"].__setitem__(7, 10), ValueError, r"y\[7\] = 10 is outside the model's 10 outputs"),
    (lambda a: a["y"].__setitem__(2, -1), ValueError, r"y\[2\] = -1 is outside"),
    (lambda a: a.update(y=a["y"].astype(np.float32)), TypeError, "integer class labels"),
    (lambda a: a.update(y=np.eye(10, dtype=int)[a["y"]] * 2), ValueError,
     "one-hot class probabilities, but row 0 is"),
    (lambda a: a.update(y=np.eye(10, dtype=bool)[a["y"]] | np.eye(10, dtype=bool)[(a["y"] + 1) % 10]),
     ValueError, "row 0 is"),                                                 # multi-hot
    (lambda a: a.update(y=np.zeros((50, 10), np.uint8)), ValueError, "row 0 is"),
    (lambda a: a.update(validation_split=1.0), ValueError, "validation_split must be <"),
    (lambda a: a.update(validation_split=-0.1), ValueError, "validation_split must be >="),
    (lambda a: a.update(validation_split=0.1, validation_data=(a["X"], a["y"])), ValueError, "not both"),
    (lambda a: a.update(validation_data=a["X"]), TypeError, "validation_data must be a tuple"),
    (lambda a: a.update(X=a["X"].tolist()), TypeError, "X must be a numpy.ndarray"),
    (lambda a: a.update(y=list(a["y"])), TypeError, "y must be a numpy.ndarray"),
    (lambda a: a.update(X=a["X"][:, :60]), ValueError, "64"),
    (lambda a: a.update(X=a["X"].reshape(-1)), ValueError, "2-D"),
    (lambda a: a["X"].__setitem__((3, 3), np.nan), ValueError, "NaN or infinity"),
    (lambda a: a.update(y=np.array(1)), ValueError, "y must have one entry per sample"),
    (lambda a: a.update(X=a["X"].astype(np.complex64)), TypeError, "X must hold real numbers"),
])
def test_bad_fit_arguments(numpy_backend, change, error, match):
    rng = np.random.default_rng(0)
    args = {"X": rng.standard_normal((50, 64)).astype(np.float32), "y": rng.integers(0, 10, 50),
            "epochs": 1, "batch_size": 10}
    change(args)
    with pytest.raises(error, match=match):
        trainer_for(mlp()).fit(**args)


@pytest.mark.parametrize("X, error, match", [
    (np.ones((4, 64), np.complex128), TypeError, "X must hold real numbers"),   # was: imaginary part dropped
    (np.ones((4, 64), object), TypeError, "X must hold real numbers"),
    (np.ones((0, 64), np.float32), ValueError, "X is empty"),
    (np.ones(64, np.float32), ValueError, "X must be 2-D"),
    (np.full((4, 64), np.inf, np.float32), ValueError, "NaN or infinity"),
    ([[0.0] * 64], TypeError, "X must be a numpy.ndarray"),
])
def test_bad_predict_arguments(numpy_backend, X, error, match):
    """predict takes what fit takes: refusing, not converting, what is not real numbers."""
    t = trainer_for(mlp())
    with pytest.raises(error, match=match):
        t.predict(X)
    assert t.predict(np.ones((3, 64), np.int64)).shape == (3, 10)


def test_bad_trainer_arguments():
    model = mlp()
    opt = optim.SGD(model.parameters(), lr=0.1)
    with pytest.raises(TypeError, match="model must be"):
        Trainer("model", nn.CrossEntropyLoss(), opt)
    with pytest.raises(TypeError, match="optimizer must have"):
        Trainer(model, nn.CrossEntropyLoss(), object())
    with pytest.raises(ValueError, match="unknown metric"):
        Trainer(model, nn.CrossEntropyLoss(), opt, metrics=("f1",))
    with pytest.raises(TypeError, match="Callback"):
        Trainer(model, nn.CrossEntropyLoss(), opt, callbacks=[print])
    with pytest.raises(ValueError, match="grad_clip_norm"):
        Trainer(model, nn.CrossEntropyLoss(), opt, grad_clip_norm=0)


def test_make_teacher_checks_the_hidden_widths():
    from fastnn.datasets import make_teacher
    X, y = make_teacher(20, n_features=3, n_classes=4, hidden=(5, 2), seed=1)
    assert X.shape == (20, 3) and y.shape == (20,) and set(y) <= {0, 1, 2, 3}
    for hidden, exc, match in [((0,), ValueError, r"hidden\[0\] must be >= 1"), (5, TypeError, "sequence of layer widths"),
                               (("a",), TypeError, r"hidden\[0\] must be an integer")]:
        with pytest.raises(exc, match=match):
            make_teacher(10, n_features=3, hidden=hidden)


def test_datasets_refuse_odd_dtypes_labels_and_flags():
    from fastnn.datasets import make_teacher, train_test_split
    for dtype in (np.float16, np.int32, complex, object, "foo"):
        with pytest.raises(TypeError, match="dtype must be float32 or float64"):
            make_teacher(5, n_features=3, hidden=(2,), dtype=dtype)
    X = np.arange(40.0).reshape(20, 2)
    onehot = np.eye(2, dtype=int)[np.arange(20) % 2]               # 2-D labels: stratified by row
    Xa, Xb, ya, yb = train_test_split(X, onehot, test_size=0.5)
    assert ya.shape == (10, 2) and yb.sum(axis=0).tolist() == [5, 5]
    assert len(train_test_split(X, (np.arange(20) % 2).astype(object))[1]) == 4
    for args, kwargs, exc, match in [((X, np.array([None] * 20)), {}, TypeError, "sorted"),
                                     ((np.float64(1), np.float64(1)), {}, ValueError, "0-d"),
                                     ((X, np.arange(20)), {"stratify": "no"}, TypeError, "stratify must be a bool"),
                                     ((X, np.arange(20)), {"stratify": np.arange(20)}, TypeError, "stratify"),
                                     ((X[:0], np.arange(0)), {}, ValueError, "empty part")]:
        with pytest.raises(exc, match=match):
            train_test_split(*args, **kwargs)


def test_integer_one_hot_targets_train_as_their_float_probabilities(numpy_backend):
    rng = np.random.default_rng(0)
    X, y = rng.standard_normal((40, 64)).astype(np.float32), rng.integers(0, 10, 40)
    runs = []
    for target in (np.eye(10, dtype=np.int64)[y], np.eye(10, dtype=bool)[y], np.eye(10, dtype=np.float32)[y]):
        tr = trainer_for(mlp())
        tr.fit(X, target, epochs=2, batch_size=8, seed=3)
        runs.append([p.data.copy() for p in tr.model.parameters()])
    for other in runs[1:]:
        for a, b in zip(runs[0], other):
            np.testing.assert_array_equal(a, b)


def test_fit_refuses_a_non_bool_shuffle():
    model = nn.Linear(3, 2, rng=0)
    t = Trainer(model, nn.CrossEntropyLoss(), optim.SGD(model.parameters(), lr=0.1), verbose=0)
    X, y = np.zeros((4, 3), np.float32), np.array([0, 1, 0, 1])
    for shuffle in ("x", None, 1):
        with pytest.raises(TypeError, match="shuffle must be a bool"):
            t.fit(X, y, 1, 2, shuffle=shuffle)
    assert t.epoch == 0
