"""fastnn.callbacks: state dicts (checked, atomic, through checkpoints), resumed early stopping,
ModelCheckpoint path templates, hooks used outside fit."""
import os

import numpy as np
import pytest

from fastnn import nn, optim
from fastnn.callbacks import (Callback, DropoutSchedule, EarlyStopping, GradientStats, LearningRateScheduler,
                              ModelCheckpoint)
from fastnn.optim import lr_scheduler as sched
from fastnn.serialization import load_checkpoint, save_checkpoint
from fastnn.trainer import Trainer

pytestmark = pytest.mark.usefixtures("numpy_backend")      # conftest.py: every test on the NumPy kernels

# val_loss per epoch: best at epoch 1, then worse; EarlyStopping(patience=3) stops at epoch 4.
SCRIPT = [1.0, 0.5, 0.6, 0.7, 0.8, 0.9, 0.95, 0.97, 0.98, 0.99]


class ScriptedValLoss(Callback):
    """Sets logs["val_loss"] to SCRIPT[epoch]; listed first, so later callbacks see it."""

    def on_epoch_end(self, epoch, logs):
        logs["val_loss"] = SCRIPT[epoch]


def data(n=96):
    rng = np.random.default_rng(0)
    X = rng.standard_normal((n, 6)).astype(np.float32)
    return X, (X[:, 0] > 0).astype(np.int64)


def make_trainer(callbacks, seed=0):
    model = nn.Sequential(nn.Linear(6, 12, rng=seed), nn.ReLU(), nn.Dropout(0.2, seed=seed + 1),
                          nn.Linear(12, 2, rng=seed + 2))
    return Trainer(model, nn.CrossEntropyLoss(), optim.Adam(model.parameters(), lr=1e-2), callbacks=callbacks,
                   verbose=0)


def state_bytes(model):
    return {k: v.tobytes() for k, v in model.state_dict().items()}


def same_state(a, b):
    """Equality of two callback state dicts that may hold arrays."""
    if isinstance(a, dict):
        return isinstance(b, dict) and a.keys() == b.keys() and all(same_state(a[k], b[k]) for k in a)
    if isinstance(a, np.ndarray):
        return isinstance(b, np.ndarray) and a.dtype == b.dtype and a.tobytes() == b.tobytes()
    return a == b


class Stub:
    """The parts of a Trainer that EarlyStopping uses."""

    def __init__(self, model=None, epoch=0):
        self.model, self.epoch, self.stop_training = model, epoch, False


# --------------------------------------------------------------------- EarlyStopping state

@pytest.mark.parametrize("restore", [False, True])
def test_early_stopping_resumes_from_a_checkpoint(tmp_path, restore):
    """A checkpoint written by ModelCheckpoint at epoch 3 (EarlyStopping waiting 1 epoch),
    loaded into fresh objects: the resumed fit stops at epoch 4 with the weights of the
    uninterrupted run (restoring the best epoch's, saved in the checkpoint)."""
    X, y = data()
    stop = EarlyStopping(patience=3, restore_best_weights=restore)
    straight = make_trainer([ScriptedValLoss(), stop, ModelCheckpoint(tmp_path / "ck-{epoch}.safetensors")])
    straight.fit(X, y, epochs=10, batch_size=16)
    assert straight.history.epoch == [0, 1, 2, 3, 4] and stop.stopped_epoch == 4 and stop.best_epoch == 1

    stop2 = EarlyStopping(patience=3, restore_best_weights=restore)
    resumed = make_trainer([ScriptedValLoss(), stop2, ModelCheckpoint(tmp_path / "resumed-{epoch}.safetensors")],
                           seed=9)
    load_checkpoint(tmp_path / "ck-3.safetensors", resumed)
    assert stop2.wait == 1 and stop2.best == 0.5 and stop2.last_epoch == 2
    resumed.fit(X, y, epochs=7, batch_size=16)
    assert resumed.history.epoch == straight.history.epoch
    assert stop2.stopped_epoch == 4 and stop2.best_epoch == 1
    assert state_bytes(resumed.model) == state_bytes(straight.model)


def test_early_stopping_continues_across_fit_calls_until_it_stops():
    X, y = data()
    stop = EarlyStopping(patience=3)
    t = make_trainer([ScriptedValLoss(), stop])
    t.fit(X, y, epochs=2, batch_size=32)
    t.fit(X, y, epochs=5, batch_size=32)               # as fit(7): stops at epoch 4, not 5
    assert t.history.epoch == [0, 1, 2, 3, 4] and stop.stopped_epoch == 4
    t.fit(X, y, epochs=2, batch_size=32)               # after a stop: a fresh start (Keras)
    assert t.history.epoch[-2:] == [5, 6] and stop.stopped_epoch == 0 and stop.best_epoch == 5
    # On another trainer (at epoch 0, not where this state left off): a fresh start too.
    other = make_trainer([ScriptedValLoss(), stop])
    other.fit(X, y, epochs=1, batch_size=32)
    assert stop.best == SCRIPT[0] and stop.best_epoch == 0 and stop.wait == 0


def test_early_stopping_state_dict_round_trip():
    model = nn.Sequential(nn.Linear(3, 2, rng=0))
    stop = EarlyStopping(monitor="loss", patience=2, restore_best_weights=True)
    trainer = Stub(model)
    stop.set_trainer(trainer)
    stop.on_train_begin({})
    for epoch, loss in enumerate([1.0, 0.5, 0.7]):
        stop.on_epoch_end(epoch, {"loss": loss})
    state = stop.state_dict()
    assert set(state) == {"wait", "best", "best_epoch", "stopped_epoch", "last_epoch", "best_weights"}
    assert (state["wait"], state["best"], state["best_epoch"], state["last_epoch"]) == (1, 0.5, 1, 2)
    fresh = EarlyStopping(monitor="loss", patience=2, restore_best_weights=True)
    fresh.load_state_dict(state)
    assert same_state(fresh.state_dict(), state)
    fresh.best_weights["0.weight"][...] = 7.0           # a copy: the source is untouched
    assert not np.any(state["best_weights"]["0.weight"] == 7.0)
    # The loaded run continues where it left off: one more bad epoch stops it.
    fresh.set_trainer(Stub(model, epoch=3))
    fresh.on_train_begin({})
    fresh.on_epoch_end(3, {"loss": 0.8})
    assert fresh.stopped_epoch == 3 and fresh.trainer.stop_training
    # Without restore_best_weights the saved weights are dropped.
    plain = EarlyStopping(monitor="loss")
    plain.load_state_dict(state)
    assert plain.best_weights is None and plain.best == 0.5


@pytest.mark.parametrize("change, error, match", [
    (lambda s: {}, ValueError, r"missing keys \['best', 'best_epoch'"),
    (lambda s: dict(s, extra=1), ValueError, r"unknown keys \['extra'\]"),
    (lambda s: dict(s, wait="2"), TypeError, "'wait' must be an integer"),
    (lambda s: dict(s, wait=-1), ValueError, "'wait' must be >= 0"),
    (lambda s: dict(s, wait=True), TypeError, "'wait' must be an integer"),
    (lambda s: dict(s, best="0.5"), TypeError, "'best' must be a real number"),
    (lambda s: dict(s, last_epoch=-2), ValueError, "'last_epoch' must be >= -1"),
    (lambda s: dict(s, best_weights=[1]), TypeError, "'best_weights' must be None or a model state dict"),
    (lambda s: dict(s, best_weights={"0.weight": [1.0]}), TypeError, "'best_weights' must be None or"),
    (lambda s: None, TypeError, "takes a dict"),
    (lambda s: list(s.items()), TypeError, "takes a dict"),
])
def test_early_stopping_load_state_dict_checks_before_changing(change, error, match):
    stop = EarlyStopping(monitor="loss", restore_best_weights=True)
    stop.set_trainer(Stub(nn.Sequential(nn.Linear(3, 2, rng=0))))
    stop.on_train_begin({})
    stop.on_epoch_end(0, {"loss": 1.0})
    stop.on_epoch_end(1, {"loss": 2.0})
    before = stop.state_dict()
    with pytest.raises(error, match=match):
        stop.load_state_dict(change(before))
    assert same_state(stop.state_dict(), before)


def test_early_stopping_loaded_weights_must_fit_the_model():
    stop = EarlyStopping(monitor="loss", restore_best_weights=True)
    stop.load_state_dict({"wait": 0, "best": 1.0, "best_epoch": 0, "stopped_epoch": 0, "last_epoch": 0,
                          "best_weights": {"0.weight": np.zeros((5, 5), np.float32)}})
    stop.set_trainer(Stub(nn.Sequential(nn.Linear(3, 2, rng=0)), epoch=1))
    with pytest.raises(ValueError, match=r"best weights .* do not fit the model: \['0.bias', '0.weight'\]"):
        stop.on_train_begin({})


# ------------------------------------------------------------ load_state_dict of every callback

def callbacks_with_state():
    """(name, callback) pairs, each with a state_dict its own load_state_dict must accept."""
    model = nn.Sequential(nn.Linear(3, 2, rng=0), nn.Dropout(0.3))
    opt = optim.SGD(model.parameters(), lr=0.1)
    return [
        ("EarlyStopping", EarlyStopping()),
        ("ModelCheckpoint", ModelCheckpoint("ck.safetensors")),
        ("LearningRateScheduler(StepLR)", LearningRateScheduler(sched.StepLR(opt, step_size=2))),
        ("LearningRateScheduler(function)", LearningRateScheduler(lambda epoch, lr: lr)),
        ("DropoutSchedule(DropoutScheduler)",
         DropoutSchedule(sched.DropoutScheduler(model, sched.LinearSchedule(0.5, 0.0, 4)))),
        ("DropoutSchedule(function)", DropoutSchedule(lambda epoch: 0.1)),
        ("GradientStats", GradientStats()),
        ("Callback", Callback()),
    ]


@pytest.mark.parametrize("index", range(len(callbacks_with_state())),
                         ids=[name for name, _ in callbacks_with_state()])
def test_every_callback_checks_its_state(index):
    _, cb = callbacks_with_state()[index]
    before = cb.state_dict()
    cb.load_state_dict(before)                           # its own state always loads
    assert same_state(cb.state_dict(), before)
    for bad, error in ((None, TypeError), ([1, 2], TypeError), ({"not_a_key": 1}, ValueError)):
        with pytest.raises(error, match=r"state dict|takes a dict"):
            cb.load_state_dict(bad)
    if before:
        with pytest.raises(ValueError, match="missing keys"):
            cb.load_state_dict({})
    # A container holding itself: refused by depth, not a RecursionError.
    looped = dict(before)
    looped["loop"] = looped
    with pytest.raises(ValueError, match="nested deeper than"):
        cb.load_state_dict(looped)
    deep = [0]
    for _ in range(200):
        deep = [deep]
    with pytest.raises(ValueError, match="nested deeper than"):
        cb.load_state_dict(dict(before, deep=deep))
    assert same_state(cb.state_dict(), before)


def test_model_checkpoint_state_is_checked():
    cb = ModelCheckpoint("ck.safetensors")
    with pytest.raises(TypeError, match="ModelCheckpoint state 'best' must be a real number, got str"):
        cb.load_state_dict({"best": "x"})
    cb.load_state_dict({"best": 3})
    assert cb.state_dict() == {"best": 3.0}


def test_subclass_saving_state_without_loading_it_warns():
    class Counter(Callback):
        def state_dict(self):
            return {"n": 3}

    with pytest.warns(RuntimeWarning, match="Counter overrides state_dict but not load_state_dict"):
        Counter().load_state_dict({"n": 3})


# ------------------------------------------------------------------- ModelCheckpoint paths

@pytest.mark.parametrize("template, match", [
    ("ck_{.st", "not a valid format template"),
    ("ck_}.st", "not a valid format template"),
    ("ck_{0}.st", r"field \{0\} must be a plain name"),
    ("ck_{}.st", r"field \{\} must be a plain name"),
    ("ck_{loss.__class__}.st", r"field \{loss.__class__\} must be a plain name"),
    ("ck_{loss[0]}.st", r"field \{loss\[0\]\} must be a plain name"),
    ("ck_{epoch:q}.st", r"field \{epoch\} has a bad format: Unknown format code 'q'"),
    ("ck_{val_loss:d}.st", r"field \{val_loss\} has a bad format"),
    ("ck_{epoch!x}.st", r"field \{epoch\} has a bad format"),
    ("ck_{epoch:{width}}.st", "nested field"),
    ("", "path must not be empty"),
])
def test_model_checkpoint_template_checked_at_construction(tmp_path, template, match):
    with pytest.raises(ValueError, match=match):
        ModelCheckpoint(os.path.join(tmp_path, template) if template else template)


def test_model_checkpoint_path_kinds_and_directories(tmp_path):
    for bad in (None, 5, b"ck.st", ["ck.st"]):
        with pytest.raises(TypeError, match="path must be a str or os.PathLike"):
            ModelCheckpoint(bad)
    with pytest.raises(ValueError, match="directory .*nodir.* does not exist"):
        ModelCheckpoint(tmp_path / "nodir" / "ck-{epoch}.st")
    with pytest.raises(ValueError, match="is a directory"):
        ModelCheckpoint(tmp_path)
    template = "ck-{epoch:03d}-{val_loss:.2f}.st"
    assert ModelCheckpoint(tmp_path / template).path == os.path.join(tmp_path, template)
    assert os.listdir(tmp_path) == []                    # nothing written by the constructor


def test_model_checkpoint_runtime_errors_name_the_path(tmp_path):
    X, y = data()
    cb = ModelCheckpoint(tmp_path / "ck-{val_loss:.2f}.st")     # no validation data: no val_loss
    t = make_trainer([cb])
    with pytest.raises(ValueError, match=r"ck-\{val_loss:.2f\}.st' names \['val_loss'\], which epoch 1 did not log"):
        t.fit(X, y, epochs=1, batch_size=32)
    cb = ModelCheckpoint(tmp_path / "run{epoch}" / "ck.st")     # the directory of each epoch must exist
    with pytest.raises(FileNotFoundError, match=r"cannot write .*run1.*ck.st.*does not exist"):
        make_trainer([cb]).fit(X, y, epochs=1, batch_size=32)
    os.mkdir(tmp_path / "run1")
    os.mkdir(tmp_path / "run1" / "ck.st")
    with pytest.raises(IsADirectoryError, match=r"cannot write .*ck.st.*it is a directory"):
        make_trainer([cb]).fit(X, y, epochs=1, batch_size=32)
    assert sorted(os.listdir(tmp_path)) == ["run1"] and os.listdir(tmp_path / "run1") == ["ck.st"]


def test_model_checkpoint_epoch_field_wins_over_a_logged_epoch(tmp_path):
    class LogsEpoch(Callback):
        def on_epoch_end(self, epoch, logs):
            logs["epoch"] = 123.0

    X, y = data()
    make_trainer([LogsEpoch(), ModelCheckpoint(tmp_path / "ck-{epoch}-{loss:.1f}.st")]).fit(X, y, epochs=2,
                                                                                            batch_size=32)
    names = sorted(os.listdir(tmp_path))
    assert len(names) == 2 and names[0].startswith("ck-1-") and names[1].startswith("ck-2-")


def test_model_checkpoint_best_only_keeps_best_when_the_save_fails(tmp_path):
    cb = ModelCheckpoint(tmp_path / "run{epoch}" / "ck.st", monitor="loss", save_best_only=True)
    cb.set_trainer(make_trainer([]))
    with pytest.raises(FileNotFoundError):
        cb.on_epoch_end(0, {"loss": 0.5})
    assert cb.state_dict() == {"best": float("inf")}


# ---------------------------------------------------------------- hooks outside Trainer.fit

HOOK_CALLS = {
    "on_train_begin": lambda cb: cb.on_train_begin({}),
    "on_epoch_begin": lambda cb: cb.on_epoch_begin(0, {}),
    "on_epoch_end": lambda cb: cb.on_epoch_end(0, {"val_loss": 1.0, "loss": 1.0}),
    "on_batch_end": lambda cb: cb.on_batch_end(0, {}),
    "on_train_end": lambda cb: cb.on_train_end({}),
}
NEEDS_TRAINER = [
    (EarlyStopping, ["on_train_begin", "on_epoch_end", "on_train_end"]),
    (lambda: ModelCheckpoint("ck.st"), ["on_epoch_end"]),
    (lambda: LearningRateScheduler(lambda epoch, lr: lr), ["on_epoch_begin", "on_epoch_end"]),
    (lambda: DropoutSchedule(lambda epoch: 0.1), ["on_epoch_begin", "on_epoch_end"]),
    (GradientStats, ["on_epoch_begin", "on_batch_end", "on_epoch_end"]),
]


@pytest.mark.parametrize("make, hook", [(make, hook) for make, hooks in NEEDS_TRAINER for hook in hooks])
def test_hooks_before_set_trainer_raise_runtime_error(make, hook):
    cb = make()
    with pytest.raises(RuntimeError, match=f"{type(cb).__name__} is not attached to a trainer"):
        HOOK_CALLS[hook](cb)


def test_hooks_after_set_trainer_need_no_other_hook_first():
    stop = EarlyStopping(monitor="loss", patience=0)
    stub = Stub()
    stop.set_trainer(stub)
    stop.on_epoch_end(0, {"loss": 1.0})                  # on_train_begin not called: state exists anyway
    stop.on_epoch_end(1, {"loss": 2.0})
    assert stub.stop_training and stop.stopped_epoch == 1
    drop = DropoutSchedule(lambda epoch: 0.1)
    drop.set_trainer(make_trainer([]))
    with pytest.raises(RuntimeError, match="before any on_epoch_begin"):
        drop.on_epoch_end(0, {})
    stats = GradientStats()
    stats.set_trainer(make_trainer([]))
    stats.on_batch_end(0, {})                            # no epoch begun: nothing to measure
    assert stats.last == {}


def test_monitored_value_must_be_a_number():
    stop = EarlyStopping()
    stop.set_trainer(Stub())
    for bad, kind in (("abc", "str"), (np.ones(3), "ndarray"), (None, "NoneType")):
        with pytest.raises(TypeError, match=f"EarlyStopping: logs\\['val_loss'\\] must be a real number, got {kind}"):
            stop.on_epoch_end(0, {"val_loss": bad})
    assert stop.wait == 0 and stop.best == float("inf")


# --------------------------------------------------------------- other callback arguments

def test_learning_rate_scheduler_arguments():
    model = nn.Sequential(nn.Linear(3, 2, rng=0))
    opt = optim.SGD(model.parameters(), lr=0.1)
    with pytest.raises(TypeError, match="scheduler must be an lr_scheduler .* got SGD"):
        LearningRateScheduler(opt)
    for bad in (5, ["loss"], None):
        with pytest.raises(TypeError, match="monitor must be a log key"):
            LearningRateScheduler(sched.StepLR(opt, 1), monitor=bad)
    X, y = data()
    other = optim.SGD(nn.Linear(2, 2).parameters(), lr=1.0)
    with pytest.raises(ValueError, match="StepLR schedules another optimizer than the trainer's"):
        make_trainer([LearningRateScheduler(sched.StepLR(other, 1))]).fit(X, y, epochs=1, batch_size=32)
    t = make_trainer([])
    plateau = LearningRateScheduler(sched.ReduceLROnPlateau(t.optimizer))
    with pytest.raises(ValueError, match="ReduceLROnPlateau monitors 'val_loss', which is not in the logs"):
        t.fit(X, y, epochs=1, batch_size=32, callbacks=[plateau])
    for bad, error in (("yes", TypeError), (np.ones(2), TypeError)):
        with pytest.raises(error, match="restore_best_weights must be a bool"):
            EarlyStopping(restore_best_weights=bad)
    with pytest.raises(ValueError, match="mode must be 'auto', 'min' or 'max'"):
        EarlyStopping(mode=np.array(["min"]))


def test_gradient_stats_counts_a_missing_gradient_as_zero():
    t = make_trainer([])
    stats = GradientStats()
    stats.set_trainer(t)
    stats.on_epoch_begin(0, {})
    t.model[0].weight.grad = None
    stats.on_batch_end(0, {})
    assert stats.last["0.weight"][0] == 0.0


# --------------------------------------------------------------- fuzz findings

@pytest.mark.parametrize("make", [EarlyStopping, lambda: ModelCheckpoint("ck.st", save_best_only=True)])
def test_loaded_best_may_be_infinite_but_not_nan(make):
    cb = make()
    state = cb.state_dict()
    cb.load_state_dict({**state, "best": -np.inf})
    with pytest.raises(ValueError, match="state 'best' must be a number or ±inf, got nan"):
        cb.load_state_dict({**state, "best": float("nan")})     # nothing would ever improve on it
    assert cb.state_dict()["best"] == -np.inf


def test_hooks_take_logs_none_and_check_epoch_and_logs(tmp_path):
    t = make_trainer([])
    stop, drop, stats = EarlyStopping(), DropoutSchedule(lambda epoch: 0.1), GradientStats()
    check = ModelCheckpoint(tmp_path / "ck.st", save_best_only=True)
    for cb in (stop, drop, stats, check):
        cb.set_trainer(t)
    with pytest.warns(RuntimeWarning, match="'val_loss' is not in the logs"):
        stop.on_epoch_end(0, None)                      # Keras: logs=None is no logs
    drop.on_epoch_begin(0, None)
    drop.on_epoch_end(0, None)
    stats.on_epoch_begin(0, None)
    stats.on_batch_end(0, None)
    stats.on_epoch_end(0, None)
    with pytest.warns(RuntimeWarning):
        check.on_epoch_end(0, None)
    for bad, error, match in (("1", TypeError, "epoch must be an integer, got str"),
                              (-5, ValueError, "epoch must be >= 0, got -5")):
        for call in (lambda: stop.on_epoch_end(bad, {"val_loss": 1.0}), lambda: drop.on_epoch_begin(bad, {}),
                     lambda: check.on_epoch_end(bad, {"val_loss": 1.0})):
            with pytest.raises(error, match=match):
                call()
    assert stop.last_epoch == 0                          # a state_dict that load_state_dict takes back
    with pytest.raises(TypeError, match="logs must be a dict of log values .* got list"):
        stop.on_epoch_end(1, ["val_loss"])


@pytest.mark.parametrize("template, match", [
    ("ck\0{epoch}.st", "contains a NUL character"),
    ("ck-{epoch:99999999999}.st", r"field \{epoch\} has a bad format"),
    ("ck-{epoch:100000}.st", r"field \{epoch\} formats to 100000 characters"),
])
def test_model_checkpoint_template_fuzz(tmp_path, template, match):
    with pytest.raises(ValueError, match=match):
        ModelCheckpoint(os.path.join(tmp_path, template))


def test_schedule_classes_are_refused():
    with pytest.raises(TypeError, match="got the class StepLR; pass an instance"):
        LearningRateScheduler(sched.StepLR)
    with pytest.raises(TypeError, match="got the class LinearSchedule; pass an instance"):
        DropoutSchedule(sched.LinearSchedule)


@pytest.mark.parametrize("scale", [1e-200, 1.0, 1e200])
def test_gradient_stats_norms_at_any_magnitude(scale):
    model = nn.Sequential(nn.Linear(3, 2, rng=0, dtype=np.float64))
    t = Trainer(model, nn.MSELoss(), optim.SGD(model.parameters(), lr=0.0), verbose=0)
    w = model[0].weight
    w.data[:] = scale
    w.grad = np.full_like(w.data, 2 * scale)
    stats = GradientStats()
    stats.set_trainer(t)
    stats.on_epoch_begin(0, {})
    w.data[0, 0] += scale                                # Δw = scale in one entry
    stats.on_batch_end(0, {})
    g, w_norm, ratio = stats.last["0.weight"]
    np.testing.assert_allclose([g / scale, w_norm / scale, ratio], [np.sqrt(24), np.sqrt(6), 1 / np.sqrt(6)])


def test_gradient_stats_ratio_of_unchanged_zero_weights_is_zero():
    t = make_trainer([])
    t.model[0].weight.data[:] = 0.0
    stats = GradientStats()
    stats.set_trainer(t)
    stats.on_epoch_begin(0, {})
    stats.on_batch_end(0, {})
    assert stats.last["0.weight"][1:] == (0.0, 0.0)
    stats.on_epoch_begin(1, {})
    t.model[0].weight.data[0, 0] = 1.0
    stats.on_batch_end(1, {})
    assert stats.last["0.weight"][2] == np.inf
