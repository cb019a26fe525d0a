"""The trainer's fast step (fastnn._train_step) against the modules it stands in for: same
weights, gradients, running statistics, random streams, optimizer state and losses, bit for
bit, and the same errors; the modules take over wherever the fast step does not apply."""
import numpy as np
import pytest

import fastnn
from fastnn import _train_step, nn, optim
from fastnn.callbacks import Callback, DropoutSchedule
from fastnn.trainer import Trainer, TrainingDivergedError


_BUILD = _train_step.TrainStep.build                  # (tests patch it on the class)


def _data(n=150, d=12, c=5, seed=0, dtype=np.float32, targets="labels"):
    """(X, y): y class labels, or (n, c) probabilities, 0/1 targets or real values."""
    rng = np.random.default_rng(seed)
    X, labels = rng.standard_normal((n, d)).astype(dtype), rng.integers(0, c, n)
    if targets == "labels":
        return X, labels
    if targets == "probabilities":
        p = rng.random((n, c))
        return X, (p / p.sum(axis=1, keepdims=True)).astype(dtype)
    if targets == "binary":
        return X, (rng.random((n, c)) < 0.3).astype(dtype)
    return X, rng.standard_normal((n, c)).astype(dtype)


def _bn_mlp(dtype=np.float32, dropout=0.2, mode="inverted", affine=True, momentum=0.1, track=True):
    layers = [nn.Linear(12, 16, rng=0, dtype=dtype),
              nn.BatchNorm1d(16, affine=affine, momentum=momentum, track_running_stats=track, dtype=dtype), nn.ReLU()]
    if dropout is not None:
        layers.append(nn.Dropout(dropout, mode=mode, seed=3))
    layers += [nn.Linear(16, 16, rng=1, dtype=dtype), nn.BatchNorm1d(16, dtype=dtype), nn.ReLU(),
               nn.Dropout(0.1, seed=4), nn.Linear(16, 5, rng=2, dtype=dtype)]
    return nn.Sequential(*layers)


MODELS = {
    "bn_relu_dropout": lambda: _bn_mlp(),
    "bn_relu_dropout_float64": lambda: _bn_mlp(dtype=np.float64),
    "bn_relu_no_dropout": lambda: _bn_mlp(dropout=None),
    "bn_classic_dropout": lambda: _bn_mlp(mode="classic"),
    "bn_not_affine_cumulative": lambda: _bn_mlp(affine=False, momentum=None),
    "bn_no_running_stats": lambda: _bn_mlp(track=False),
    "linear_relu": lambda: nn.Sequential(nn.Linear(12, 16, rng=0), nn.ReLU(), nn.Linear(16, 16, rng=1), nn.Tanh(),
                                         nn.Linear(16, 5, rng=2)),
    "linear_own_activations": lambda: nn.Sequential(nn.Linear(12, 16, activation="gelu", rng=0),
                                                    nn.Linear(16, 16, rng=1), nn.LeakyReLU(-0.5),
                                                    nn.Linear(16, 5, activation="sigmoid", rng=2)),
    "single_linear": lambda: nn.Sequential(nn.Linear(12, 5, rng=0)),
    "no_bias": lambda: nn.Sequential(nn.Linear(12, 16, bias=False, rng=0), nn.BatchNorm1d(16), nn.ReLU(),
                                     nn.Dropout(0.2, seed=3), nn.Linear(16, 5, bias=False, rng=1)),
}


def _use_fast_step(monkeypatch, fast):
    """Let the trainer build fast steps (fast) or none; returns [steps the fast path ran]."""
    ran = [0]

    def counted(*args):
        step = _BUILD(*args)
        if step is None:
            return None
        forward = step.forward

        def forward_counted(*a):
            out = forward(*a)
            ran[0] += out is not None
            return out
        step.forward = forward_counted
        return step
    monkeypatch.setattr("fastnn.trainer.TrainStep.build", counted if fast else (lambda *a: None))
    return ran


def _train(make, monkeypatch, fast, *, loss=None, batch_size=32, epochs=2, callbacks=(), dtype=np.float32,
           optimizer=None, targets="labels", fits=None, **trainer_options):
    """(trainer, number of steps the fast path ran) after fitting a fresh model; ``fits``: a
    list of (batch_size, epochs) for successive fit calls instead of one."""
    ran = _use_fast_step(monkeypatch, fast)
    model = make()
    opt = (optimizer or (lambda ps: optim.Adam(ps, lr=1e-2)))(model.parameters())
    trainer = Trainer(model, loss or nn.CrossEntropyLoss(), opt, verbose=0, callbacks=list(callbacks),
                      **trainer_options)
    X, y = _data(dtype=dtype, targets=targets)
    for b, e in fits or [(batch_size, epochs)]:
        trainer.fit(X, y, epochs=e, batch_size=b, seed=1)
    return trainer, ran[0]


def _state(trainer):
    """Everything a step changes: weights and buffers, gradients, Dropout steps, optimizer
    state, losses, and the saved contexts a later backward would read."""
    model = trainer.model
    grads = [None if p.grad is None else p.grad.copy() for p in model.parameters()]
    steps = [m._step for m in model.modules() if hasattr(m, "_step")]
    ctx = [tuple(np.array(c) if isinstance(c, np.ndarray) else c for c in m._ctx)
           for m in model if m._ctx is not None]
    ctx.append(model._ctx[1])                            # which BatchNorm blocks ran fused
    return (model.state_dict(), grads, steps, trainer.optimizer.state_dict()["state"],
            trainer.history.history["loss"], ctx)


def _assert_same(a, b):
    (sa, ga, da, oa, la, ca), (sb, gb, db, ob, lb, cb) = a, b
    assert sa.keys() == sb.keys()
    for k in sa:
        assert sa[k].dtype == sb[k].dtype and sa[k].tobytes() == sb[k].tobytes(), k
    for x, y in zip(ga, gb):
        assert (x is None and y is None) or x.tobytes() == y.tobytes()
    assert da == db and la == lb
    for i in oa:
        for k, v in oa[i].items():
            assert np.asarray(v).tobytes() == np.asarray(ob[i][k]).tobytes(), (i, k)
    assert len(ca) == len(cb) and ca[-1] == cb[-1]
    for x, y in zip(ca[:-1], cb[:-1]):
        assert len(x) == len(y)
        for u, v in zip(x, y):
            assert type(u) is type(v)
            if isinstance(u, np.ndarray):
                assert u.tobytes() == v.tobytes()
            elif not isinstance(u, list):                # (a Sequential's saved plan: its own modules)
                assert u == v


@pytest.fixture(autouse=True)
def native():
    previous = fastnn.get_backend()
    fastnn.set_backend("native")
    yield
    fastnn.set_backend(previous)


@pytest.mark.parametrize("name", sorted(MODELS))
@pytest.mark.parametrize("batch_size", [32, 7])
def test_fast_step_equals_modules(name, batch_size, monkeypatch):
    """Two epochs (the last batch of each shorter when 150 rows do not divide), bit for bit."""
    dtype = np.float64 if "float64" in name else np.float32
    fast, ran = _train(MODELS[name], monkeypatch, True, batch_size=batch_size, dtype=dtype)
    slow, ran_slow = _train(MODELS[name], monkeypatch, False, batch_size=batch_size, dtype=dtype)
    assert ran == 2 * -(-150 // batch_size) and ran_slow == 0
    _assert_same(_state(fast), _state(slow))


@pytest.mark.parametrize("loss, targets", [
    (nn.CrossEntropyLoss(reduction="sum"), "labels"),
    (nn.CrossEntropyLoss(label_smoothing=0.1), "labels"),
    (nn.CrossEntropyLoss(label_smoothing=0.05), "probabilities"),
    (nn.MSELoss(), "real"),
    (nn.HuberLoss(delta=0.5, reduction="sum"), "real"),
    (nn.BCEWithLogitsLoss(), "binary"),
])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_fast_step_losses(loss, targets, dtype, monkeypatch):
    make = MODELS["bn_relu_dropout_float64" if dtype == np.float64 else "bn_relu_dropout"]
    fast, ran = _train(make, monkeypatch, True, loss=loss, targets=targets, dtype=dtype)
    slow, _ = _train(make, monkeypatch, False, loss=loss, targets=targets, dtype=dtype)
    assert ran == 10
    _assert_same(_state(fast), _state(slow))


def test_a_loss_replaced_between_steps_is_used(monkeypatch):
    """A callback giving the trainer another loss: the next step is built for it."""
    class Swap(Callback):
        def on_batch_end(self, step, logs):
            if self.trainer.epoch == 0 and step == 3:
                self.trainer.loss = nn.CrossEntropyLoss(label_smoothing=0.2)
    fast, ran = _train(MODELS["bn_relu_dropout"], monkeypatch, True, callbacks=[Swap()])
    slow, _ = _train(MODELS["bn_relu_dropout"], monkeypatch, False, callbacks=[Swap()])
    assert ran == 10
    _assert_same(_state(fast), _state(slow))


@pytest.mark.parametrize("opt, options", [
    (lambda ps: optim.SGD(ps, lr=0.05, momentum=0.9, nesterov=True), {}),
    (lambda ps: optim.Adam([{"params": list(ps)[:2], "lr": 1e-3}, {"params": list(ps)[2:]}], lr=1e-2), {}),
    (None, {"l1": 1e-4, "l2": 1e-3, "grad_clip_norm": 0.5}),
    (None, {"grad_clip_value": 1e-2}),
])
def test_fast_step_with_other_optimizers_and_penalties(opt, options, monkeypatch):
    """SGD with momentum, a two-group Adam, L1/L2 penalties and clipping: they act on the
    gradients the fast backward leaves, as on the modules'."""
    fast, ran = _train(MODELS["bn_relu_dropout"], monkeypatch, True, optimizer=opt, **options)
    slow, _ = _train(MODELS["bn_relu_dropout"], monkeypatch, False, optimizer=opt, **options)
    assert ran == 10
    _assert_same(_state(fast), _state(slow))


class _Edit(Callback):
    """Calls edit(model, step) after every batch."""

    def __init__(self, edit):
        self.edit = edit
        self.step = 0

    def on_batch_end(self, step, logs):
        self.edit(self.trainer.model, self.step)
        self.step += 1


def _edited(monkeypatch, edit, make=MODELS["bn_relu_dropout"], more_callbacks=list, **kwargs):
    """Steps the fast path ran, after checking a fit with ``edit`` after every batch (and the
    fresh callbacks more_callbacks() gives) against the modules."""
    fast, ran = _train(make, monkeypatch, True, callbacks=[*more_callbacks(), _Edit(edit)], **kwargs)
    slow, _ = _train(make, monkeypatch, False, callbacks=[*more_callbacks(), _Edit(edit)], **kwargs)
    _assert_same(_state(fast), _state(slow))
    return ran


def test_changes_between_steps_are_seen(monkeypatch):
    """Arrays, gradients and hyper-parameters a callback changes: re-read every step."""
    def edit(model, step):
        if step == 2:
            model[0].weight.data = model[0].weight.data * 0.5           # a new array
        if step == 3:
            model[4].bias.grad = None                                   # recreated by the next backward
        if step == 4:
            model[1].eps = 1e-3
            model[1].momentum = None
        if step == 5:
            model[3].p = 0.5
        if step == 6:
            model[4].weight.requires_grad = False
    assert _edited(monkeypatch, edit) == 10


def test_dropout_schedule_and_mode_changes(monkeypatch):
    def edit(model, step):
        if step == 3:
            model[3].mode = "classic"
    schedule = lambda: [DropoutSchedule(lambda epoch: 0.3 + 0.2 * epoch)]  # noqa: E731
    assert _edited(monkeypatch, edit, more_callbacks=schedule) == 10


def test_modules_take_over_where_the_fast_step_does_not_apply(monkeypatch):
    """Dropout p = 1 (scale 0), a BatchNorm1d in eval mode and a child the fast step does not know;
    once the child is covered again, the fast step is too."""
    def edit(model, step):
        if step == 1:
            model[3].p = 1.0
        if step == 3:
            model[3].p = 0.2
            model[5].eval()
        if step == 5:
            model[5].train()
            model[6] = nn.LeakyReLU(0.1)                                # the plan is rebuilt: unfused BN
        if step == 7:
            model[6] = nn.ReLU()
    # fast: steps 0 and 1; 5 (each epoch starts with model.train()); 8 and 9, rebuilt for the ReLU back
    assert _edited(monkeypatch, edit) == 5


def test_fast_step_is_used_and_rebuilt(monkeypatch):
    """The fast step runs on every step of a covered model, again after a child is replaced."""
    def edit(model, step):
        if step == 4:
            model[7] = nn.Dropout(0.3, seed=9)
    assert _edited(monkeypatch, edit) == 10


@pytest.mark.parametrize("model", [
    nn.Sequential(nn.BatchNorm1d(12), nn.ReLU(), nn.Linear(12, 5)),     # not starting with a Linear
    nn.Sequential(nn.Linear(12, 5), nn.Dropout(0.1)),                  # not ending with one
    nn.Sequential(nn.Linear(12, 8), nn.Dropout(0.1), nn.Linear(8, 5)),  # a Dropout not after BatchNorm
    nn.Sequential(nn.Linear(12, 8), nn.LayerNorm(8), nn.Linear(8, 5)),
    nn.Sequential(nn.Sequential(nn.Linear(12, 5))),
    nn.Linear(12, 5),
])
def test_uncovered_models_are_left_to_the_modules(model):
    assert _train_step.TrainStep.build(model, nn.CrossEntropyLoss(), (12, 5)) is None


def test_losses_not_fastnns_are_left_to_the_modules():
    """A subclass may compute differently; a duck-typed loss has no _compute."""
    class Scaled(nn.MSELoss):
        def forward(self, pred, target):
            return 2 * super().forward(pred, target)

    class Duck:
        def forward(self, pred, target):
            return 0.0

        def backward(self):
            return None
    model = MODELS["bn_relu_dropout"]()
    assert _train_step.TrainStep.build(model, Scaled(), (12, 5)) is None
    assert _train_step.TrainStep.build(model, Duck(), (12, 5)) is None
    assert _train_step.TrainStep.build(model, nn.MSELoss(), (12, 5)) is not None
    assert _train_step.TrainStep.build(model, nn.MSELoss(), (12, 4)) is None       # not the data's widths
    assert _train_step.TrainStep.build(model, nn.MSELoss(), (11, 5)) is None


def test_float_targets_are_checked_before_training():
    """What the fast step no longer meets per batch (a NaN target) is refused by fit up front."""
    model = MODELS["bn_relu_dropout"]()
    trainer = Trainer(model, nn.MSELoss(), optim.Adam(model.parameters()), verbose=0)
    X, y = _data(targets="real")
    y[100, 2] = np.nan
    with pytest.raises(ValueError, match=r"y contains NaN or infinity \(shape \(150, 5\)\)"):
        trainer.fit(X, y, epochs=1, batch_size=32)
    y[100, 2] = np.inf
    with pytest.raises(ValueError, match="y_val contains NaN or infinity"):
        trainer.fit(X, np.nan_to_num(y, posinf=0.0), epochs=1, batch_size=32, validation_data=(X, y))
    assert int(model[1].num_batches_tracked) == 0


def test_other_backend_runs_the_modules(monkeypatch):
    step = _train_step.TrainStep.build(MODELS["bn_relu_dropout"](), nn.CrossEntropyLoss(), (12, 5))
    X, y = _data()
    fastnn.set_backend("numpy")
    assert step.forward(X[:8], y[:8]) is None
    fastnn.set_backend("native")
    value, out = step.forward(X[:8], y[:8])
    assert np.isfinite(value) and out.shape == (8, 5)


@pytest.mark.parametrize("edit, error, match, fast_steps", [
    (lambda m: setattr(m[1], "eps", 1e-39), ValueError, "below float32's smallest normal", 4),
    (lambda m: m[5].num_batches_tracked.__setitem__((), np.iinfo(np.int64).max), ValueError, "overflow", 4),
    (lambda m: setattr(m[4].weight, "grad", np.zeros((3, 3), np.float32)), ValueError, "Linear.weight.grad", 5),
    (lambda m: setattr(m[7], "seed", None), TypeError, "int", 4),          # read after the batch is counted
    (lambda m: m.__setitem__(8, nn.Linear(16, 4, rng=5)), ValueError, "out of range", 4),  # labels reach 4
    (lambda m: m.__setitem__(0, nn.Linear(11, 16, rng=5)), ValueError, r"expected: \(batch, 11\)", 4),
])
def test_errors_and_partial_state_match_the_modules(edit, error, match, fast_steps, monkeypatch):
    """An error raised mid-step: the same error, and the same state left, as from the modules
    (fast_steps: forwards the fast step ran, the failing one included when the error comes in
    the backward)."""
    def run(fast):
        def at_step_3(model, step):
            if step == 3:
                edit(model)
        ran = _use_fast_step(monkeypatch, fast)
        model = MODELS["bn_relu_dropout"]()
        trainer = Trainer(model, nn.CrossEntropyLoss(), optim.Adam(model.parameters(), lr=1e-2), verbose=0,
                          callbacks=[_Edit(at_step_3)])
        X, y = _data()
        with pytest.raises(error, match=match) as e:
            trainer.fit(X, y, epochs=1, batch_size=16, seed=1)
        assert ran[0] == (fast_steps if fast else 0)
        grads = [p.grad.copy() for p in model.parameters()]
        return str(e.value), model.state_dict(), grads, [m._step for m in model.modules() if hasattr(m, "_step")]
    (fast_error, fast_state, fast_grads, fast_steps), (slow_error, slow_state, slow_grads, slow_steps) = \
        run(True), run(False)
    assert fast_error == slow_error and fast_steps == slow_steps
    for k in fast_state:
        assert fast_state[k].tobytes() == slow_state[k].tobytes(), k
    for a, b in zip(fast_grads, slow_grads):
        assert a.tobytes() == b.tobytes()


def test_a_batch_of_one_with_batchnorm_gets_the_modules_error(monkeypatch):
    """151 rows at batch 30: the last batch has 1 row, which batch statistics refuse."""
    for fast in (True, False):
        ran = _use_fast_step(monkeypatch, fast)
        model = MODELS["bn_relu_dropout"]()
        trainer = Trainer(model, nn.CrossEntropyLoss(), optim.Adam(model.parameters()), verbose=0)
        X, y = _data(n=151)
        with pytest.raises(ValueError, match="Expected more than 1 value per channel"):
            trainer.fit(X, y, epochs=1, batch_size=30, shuffle=False)
        assert ran[0] == (5 if fast else 0)


def test_bias_edits_and_eval_mode_dropout(monkeypatch):
    """A bias removed and given back, a frozen bias, and (BatchNorm without running statistics)
    an eval-mode Dropout inside the fused block, inverted (the identity) and classic (a scale)."""
    def edit(model, step):
        if step == 1:
            model[4].bias = None
        if step == 3:
            model[4].bias = nn.Parameter(np.full(16, 0.1, np.float32))
            model[8].bias.requires_grad = False
        if step == 5:
            model[3].eval()
            model[1].eval()                                             # no running stats: batch statistics
        if step == 7:
            model[3].mode = "classic"
    ran = _edited(monkeypatch, edit, make=MODELS["bn_no_running_stats"])
    assert ran == 10


def test_frozen_randomness_and_changing_batch_sizes(monkeypatch):
    """Masks repeating under frozen_randomness; successive fits at three batch sizes (the
    workspaces of two are kept)."""
    from fastnn.nn.module import frozen_randomness

    class Freeze(Callback):
        def on_train_begin(self, logs):
            self.ctx = frozen_randomness(self.trainer.model)
            self.ctx.__enter__()

        def on_train_end(self, logs):
            self.ctx.__exit__(None, None, None)
    fits = [(32, 1), (7, 1), (50, 1), (32, 1)]
    fast, ran = _train(MODELS["bn_relu_dropout"], monkeypatch, True, fits=fits, callbacks=[Freeze()])
    slow, _ = _train(MODELS["bn_relu_dropout"], monkeypatch, False, fits=fits, callbacks=[Freeze()])
    assert ran == 5 + 22 + 3 + 5
    _assert_same(_state(fast), _state(slow))
    assert [m._step for m in fast.model.modules() if hasattr(m, "_step")] == [0, 0]


def test_a_layer_used_twice_is_left_to_the_modules(monkeypatch):
    shared = nn.Linear(16, 16, rng=1)
    make = lambda: nn.Sequential(nn.Linear(12, 16, rng=0), nn.BatchNorm1d(16), nn.ReLU(),  # noqa: E731
                                 shared, nn.BatchNorm1d(16), nn.ReLU(), shared, nn.Linear(16, 5, rng=2))
    assert _train_step.TrainStep.build(make(), nn.CrossEntropyLoss(), (12, 5)) is None


def test_fit_copies_the_targets(monkeypatch):
    """A callback writing into the caller's y changes nothing the trainer reads."""
    X, y = _data(targets="real")
    y0 = y.copy()

    class Scribble(Callback):
        def on_batch_end(self, step, logs):
            y[:] = np.nan
    results = []
    for fast in (True, False):
        y[:] = y0
        _use_fast_step(monkeypatch, fast)
        model = MODELS["bn_relu_dropout"]()
        trainer = Trainer(model, nn.MSELoss(), optim.Adam(model.parameters()), verbose=0, callbacks=[Scribble()])
        trainer.fit(X, y, epochs=1, batch_size=32, seed=1)
        results.append(model.state_dict())
    for k in results[0]:
        assert results[0][k].tobytes() == results[1][k].tobytes(), k


@pytest.mark.filterwarnings("ignore:overflow encountered", "ignore:invalid value encountered")
def test_divergence_in_the_fast_step(monkeypatch):
    """A non-finite loss from the fast forward: the trainer's error, the pre-step state restored."""
    def sabotage(model, step):
        if step == 2:
            model[0].weight.data[...] = 3e38
    for fast in (True, False):
        monkeypatch.setattr("fastnn.trainer.TrainStep.build", _BUILD if fast else (lambda *a: None))
        model = MODELS["bn_relu_dropout"]()
        trainer = Trainer(model, nn.CrossEntropyLoss(), optim.Adam(model.parameters(), lr=1e-2), verbose=0,
                          callbacks=[_Edit(sabotage)])
        X, y = _data()
        with pytest.raises(TrainingDivergedError, match=r"epoch 1, step 4: the loss is nan.*0 \(Linear\)"):
            trainer.fit(X, y, epochs=1, batch_size=16, seed=1)
        state = (model.state_dict(), [m._step for m in model.modules() if hasattr(m, "_step")])
        if fast:
            fast_state = state
    for k in state[0]:
        assert state[0][k].tobytes() == fast_state[0][k].tobytes(), k
    assert state[1] == fast_state[1]
