"""fastnn.save / load and trainer checkpoints: round trips, bit-identical resume, damaged files, crash safety."""
import json
import os

import numpy as np
import pytest

import fastnn
from fastnn import _safetensors as st
from fastnn import nn, optim
from fastnn._safetensors import SafetensorsError
from fastnn.callbacks import LearningRateScheduler
from fastnn.serialization import CheckpointError, _state_floor, load, load_checkpoint, save, save_checkpoint
from fastnn.trainer import Trainer


pytestmark = pytest.mark.usefixtures("numpy_backend")      # conftest.py: every test on the NumPy kernels


def model_with_state(seed=0):
    """An MLP with every kind of state: parameters, running statistics, dropout and RReLU steps."""
    return nn.Sequential(nn.Linear(12, 16, rng=seed), nn.BatchNorm1d(16), nn.RReLU(seed=seed + 1),
                         nn.Dropout(0.3, seed=seed + 2), nn.Linear(16, 4, activation="tanh", rng=seed + 3),
                         nn.Linear(4, 3, rng=seed + 4))


def data(n=120):
    rng = np.random.default_rng(1)
    X = rng.standard_normal((n, 12)).astype(np.float32)
    return X, (X[:, 0] > 0).astype(np.int64) + (X[:, 1] > 0.5)


def parts(seed=0):
    model = model_with_state(seed)
    opt = optim.Adam(model.parameters(), lr=1e-2)
    sched = optim.lr_scheduler.StepLR(opt, step_size=1, gamma=0.7)
    return Trainer(model, nn.CrossEntropyLoss(), opt, callbacks=[LearningRateScheduler(sched)], verbose=0)


def state_bytes(model):
    return {k: v.tobytes() for k, v in model.state_dict().items()}


def trained_checkpoint(tmp_path):
    """(trainer after one epoch, the path of its checkpoint)."""
    X, y = data()
    trainer = parts()
    trainer.fit(X, y, epochs=1, batch_size=32)
    path = tmp_path / "c.safetensors"
    save_checkpoint(path, trainer)
    return trainer, path


def test_save_load_round_trip(tmp_path):
    X, y = data()
    trainer = parts()
    trainer.fit(X, y, epochs=2, batch_size=16)
    path = tmp_path / "model.safetensors"
    save(trainer.model, path)
    loaded = load(path)
    assert state_bytes(loaded) == state_bytes(trainer.model)
    assert repr(loaded) == repr(trainer.model)
    a, b = trainer.model.eval()(X).copy(), loaded.eval()(X).copy()
    assert a.tobytes() == b.tobytes()


def test_model_file_is_plain_safetensors(tmp_path):
    st = pytest.importorskip("safetensors.numpy")
    model = model_with_state()
    path = tmp_path / "m.safetensors"
    fastnn.save(model, path)
    tensors = st.load_file(str(path))
    assert tensors.keys() == model.state_dict().keys()
    for k, v in model.state_dict().items():
        np.testing.assert_array_equal(tensors[k], v)
    with open(path, "rb") as f:
        header = json.loads(f.read(int.from_bytes(f.read(8), "little")))
    meta = header["__metadata__"]
    assert meta["format"] == "fastnn.model" and meta["fastnn_version"] == fastnn.__version__
    assert json.loads(meta["config"]) == model.get_config()


@pytest.mark.parametrize("kernels", ["numpy", "native"])
def test_checkpoint_resume_is_bit_identical(tmp_path, kernels):
    """4 epochs straight == 2 epochs, checkpoint, load into fresh objects, 2 more."""
    fastnn.set_backend(kernels)                    # the autouse fixture restores the backend
    X, y = data()
    straight = parts()
    straight.fit(X, y, epochs=4, batch_size=16, validation_split=0.25, seed=3)

    first = parts()
    first.fit(X, y, epochs=2, batch_size=16, validation_split=0.25, seed=3)
    path = tmp_path / "ckpt.safetensors"
    save_checkpoint(path, first)

    resumed = parts(seed=99)                        # different initial weights and dropout seeds
    ckpt = load_checkpoint(path, resumed)
    assert ckpt.epoch == resumed.epoch == 2 and ckpt.seed == 3
    resumed.fit(X, y, epochs=2, batch_size=16, validation_split=0.25, seed=3)

    assert state_bytes(resumed.model) == state_bytes(straight.model)
    sd_a, sd_b = straight.optimizer.state_dict(), resumed.optimizer.state_dict()
    for i in sd_a["state"]:
        for key, v in sd_a["state"][i].items():
            assert np.asarray(v).tobytes() == np.asarray(sd_b["state"][i][key]).tobytes()
    assert resumed.history.history["lr"] == straight.history.history["lr"]
    assert resumed.history.history["val_loss"] == straight.history.history["val_loss"]
    assert resumed.history.epoch == [0, 1, 2, 3]


def test_load_checkpoint_without_target_rebuilds_the_model(tmp_path):
    trainer, path = trained_checkpoint(tmp_path)
    ckpt = load_checkpoint(path)
    assert state_bytes(ckpt.model) == state_bytes(trainer.model)
    assert ckpt.optimizer_class == "Adam" and ckpt.epoch == 1
    opt = optim.Adam(ckpt.model.parameters())
    opt.load_state_dict(ckpt.optimizer_state)
    assert opt.param_groups[0]["lr"] == trainer.optimizer.param_groups[0]["lr"]


def test_checkpoint_from_parts_and_mismatches(tmp_path):
    model = model_with_state()
    opt = optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    path = tmp_path / "p.safetensors"
    save_checkpoint(path, {"model": model, "optimizer": opt})
    load_checkpoint(path, {"model": model_with_state(5), "optimizer": opt})
    other = model_with_state(5)
    with pytest.raises(CheckpointError, match="holds SGD state, the optimizer is a Adam"):
        load_checkpoint(path, {"model": other, "optimizer": optim.Adam(other.parameters())})
    adam_parts = {"model": model_with_state(), "optimizer": None}
    adam_parts["optimizer"] = optim.Adam(adam_parts["model"].parameters(), lr=1e-2)
    save_checkpoint(tmp_path / "a.safetensors", adam_parts)
    with pytest.raises(CheckpointError, match="no trainer state"):
        load_checkpoint(tmp_path / "a.safetensors", parts())
    with pytest.raises(CheckpointError, match="expected a 'fastnn.model' file.*load_checkpoint"):
        load(path)
    small = nn.Sequential(nn.Linear(12, 3))
    save(small, tmp_path / "s.safetensors")
    with pytest.raises(CheckpointError, match="expected a 'fastnn.checkpoint'"):
        load_checkpoint(tmp_path / "s.safetensors")
    with pytest.raises(CheckpointError, match="shape"):
        load_checkpoint(path, nn.Sequential(nn.Linear(12, 16), nn.BatchNorm1d(16), nn.RReLU(), nn.Dropout(),
                                            nn.Linear(16, 5, activation="tanh"), nn.Linear(5, 3)))


# ------------------------------------------------------------------------------ damaged files

def rewrite_header(path, edit):
    raw = open(path, "rb").read()
    n = int.from_bytes(raw[:8], "little")
    header = json.loads(raw[8:8 + n])
    edit(header)
    new = json.dumps(header).encode()
    new += b" " * (-len(new) % 8)
    open(path, "wb").write(len(new).to_bytes(8, "little") + new + raw[8 + n:])


@pytest.fixture
def saved(tmp_path):
    path = tmp_path / "m.safetensors"
    save(nn.Sequential(nn.Linear(3, 2, rng=0), nn.Linear(2, 2, rng=1)), path)
    return path


def test_truncated_file(saved):
    raw = open(saved, "rb").read()
    open(saved, "wb").write(raw[:-5])
    with pytest.raises(SafetensorsError, match=r"m.safetensors: .*truncated"):
        load(saved)
    open(saved, "wb").write(raw[:5])
    with pytest.raises(SafetensorsError, match="shorter than the 8-byte header"):
        load(saved)


def test_oversized_header(saved):
    raw = open(saved, "rb").read()
    open(saved, "wb").write((200_000_000).to_bytes(8, "little") + raw[8:])
    with pytest.raises(SafetensorsError, match="exceeds"):
        load(saved)


def test_overlapping_offsets(saved):
    def overlap(h):
        h["1.bias"]["data_offsets"] = [24, 32]      # inside 0.weight's [8, 32)
    rewrite_header(saved, overlap)
    with pytest.raises(SafetensorsError, match="overlaps"):
        load(saved)


def test_wrong_dtype(saved):
    def as_int32(h):
        h["0.weight"]["dtype"] = "I32"              # same byte count, wrong type for the model
    rewrite_header(saved, as_int32)
    with pytest.raises(CheckpointError, match="0.weight.*dtype int32.*float32"):
        load(saved)

    def unknown(h):
        h["0.weight"]["dtype"] = "BF16"
    rewrite_header(saved, unknown)
    with pytest.raises(SafetensorsError, match="unsupported dtype"):
        load(saved)


def test_bad_config(saved):
    def break_config(h):
        h["__metadata__"]["config"] = json.dumps({"class": "Evil", "config": {}})
    rewrite_header(saved, break_config)
    with pytest.raises(CheckpointError, match="unknown module class 'Evil'"):
        load(saved)


def write_header(path, raw):
    """A file of just a header (raw JSON bytes), padded to 8."""
    raw += b" " * (-len(raw) % 8)
    path.write_bytes(len(raw).to_bytes(8, "little") + raw)


def set_config(path, config):
    def edit(h):
        h["__metadata__"]["config"] = config if isinstance(config, str) else json.dumps(config)
    rewrite_header(path, edit)


def linear(i, o):
    return {"class": "Linear", "config": {"in_features": i, "out_features": o}}


# Sizes fail fast (terabytes) should the check ever go: the config is rejected before building.
@pytest.mark.parametrize("config", [
    linear(10 ** 7, 10 ** 7),
    {"class": "Maxout", "config": {"in_features": 10 ** 5, "out_features": 10 ** 5, "pieces": 10 ** 5}},
    {"class": "PReLU", "config": {"num_parameters": 10 ** 12}},
    {"class": "BatchNorm1d", "config": {"num_features": 10 ** 13}},
    {"class": "LayerNorm", "config": {"normalized_shape": [10 ** 13]}},
    {"class": "Sequential", "config": {"modules": [linear(3, 2), {"class": "Residual", "config": {
        "block": {"class": "DropConnect", "config": {"linear": linear(10 ** 7, 10 ** 7)}}}}]}},
    linear(3000, 2000),                                  # a plain mismatch is caught before building too
])
def test_config_needing_more_state_than_the_file_is_rejected_before_building(saved, config):
    set_config(saved, config)
    with pytest.raises(CheckpointError, match=r"m.safetensors: the model in 'config' has at least .* "
                                              r"elements, the file stores 14"):
        load(saved)


@pytest.mark.parametrize("layer", [
    nn.Linear(3, 5), nn.Linear(3, 5, bias=False), nn.Maxout(4, 3, 2), nn.Maxout(4, 3, 2, bias=False),
    nn.PReLU(), nn.PReLU(7), nn.BatchNorm1d(6), nn.BatchNorm1d(6, affine=False),
    nn.BatchNorm1d(6, track_running_stats=False), nn.BatchNorm1d(6, affine=False, track_running_stats=False),
    nn.LayerNorm(5), nn.LayerNorm([5], bias=False), nn.LayerNorm(5, elementwise_affine=False),
    nn.DropConnect(nn.Linear(3, 4)), model_with_state(),
])
def test_state_floor_holds_for_every_layer(layer):
    """The floor never exceeds what the layer really stores (no saved model is refused) and is not loose."""
    stored = sum(v.size for v in layer.state_dict().values())
    assert _state_floor(layer.get_config()) <= stored <= 4 * _state_floor(layer.get_config()) + 1


class Hungry(nn.Module):
    def __init__(self):
        raise MemoryError

    def _config(self):
        return {}


@pytest.mark.parametrize("config,msg", [
    ({"class": "Sequential", "config": {}}, "entry 'modules' is missing"),
    ({"class": f"{__name__}.Hungry", "config": {}}, "out of memory"),
    ('{"class": "Sequential", "config": {"modules": ' + "[" * 10 ** 5 + "]" * 10 ** 5 + "}}", "nested deeper"),
])
def test_bad_config_entries(saved, config, msg):
    set_config(saved, config)
    with pytest.raises(CheckpointError, match=msg) as e:
        load(saved)
    assert str(e.value).startswith(f"{saved}: ")


@pytest.mark.parametrize("header,msg", [
    (b'{"w": {"dtype": ["F32"], "shape": [0], "data_offsets": [0, 0]}}', "unsupported dtype"),
    (b'{"w": {"dtype": "F32", "shape": [0, 4611686018427387904, 4611686018427387904], "data_offsets": [0, 0]}}',
     "too large"),
    (b'{"w": {"dtype": "F32", "shape": [0, 18446744073709551616], "data_offsets": [0, 0]}}', "too large"),
    (b'{"w": {"dtype": "F32", "shape": [' + b"9" * 5000 + b'], "data_offsets": [0, 0]}}', "5000 digits"),
    (b'{"w": ' + b"[" * 10 ** 5 + b"]" * 10 ** 5 + b"}", "nested deeper"),
], ids=["dtype-list", "shape-2^124", "shape-2^64", "5000-digits", "deep"])
def test_crafted_headers_name_the_file(tmp_path, header, msg):
    write_header(tmp_path / "h.safetensors", header)
    with pytest.raises(SafetensorsError, match=f"h.safetensors: not a valid safetensors file: .*{msg}"):
        load(tmp_path / "h.safetensors")


# ------------------------------------------------------------------------------ damaged checkpoints

@pytest.fixture
def checkpoint(tmp_path):
    X, y = data()
    trainer = parts()
    trainer.fit(X, y, epochs=1, batch_size=32)
    save_checkpoint(tmp_path / "c.safetensors", trainer)
    return tmp_path / "c.safetensors"


def edit_metadata(path, key, edit):
    """Re-save ``path`` with metadata entry ``key`` replaced by edit(its tree): a tree, or raw JSON text."""
    tensors, meta = st.load_file(path)
    new = edit(json.loads(meta[key]))
    meta[key] = new if isinstance(new, str) else json.dumps(new)
    st.save_file(tensors, path, meta)


def with_field(key, value):
    """edit: a flattened dict tree ({"__dict__": [[key, value], ...]}) with ``key`` set to ``value``."""
    return lambda tree: {"__dict__": [[k, value if k == key else v] for k, v in tree["__dict__"]]}


def with_group_field(key, value):
    """edit: an optimizer tree whose first param group has ``key`` set to ``value``."""
    def edit(tree):
        groups = dict(tree["__dict__"])["param_groups"]
        return with_field("param_groups", [with_field(key, value)(g) for g in groups])(tree)
    return edit


def live_state(trainer):
    """Everything load_checkpoint may change, as comparable values."""
    sd = trainer.optimizer.state_dict()
    return (state_bytes(trainer.model), repr(sd["param_groups"]),
            {(i, k): np.asarray(v).tobytes() for i, rec in sd["state"].items() for k, v in rec.items()},
            trainer.epoch, trainer.seed, trainer.history, [cb.state_dict() for cb in trainer.callbacks],
            [(m.seed, m._step) for m in trainer.model.modules() if hasattr(m, "_step")])


@pytest.mark.parametrize("key,edit,msg", [
    ("optimizer", lambda t: "[" * 10 ** 5 + "]" * 10 ** 5, "entry 'optimizer' is not valid JSON: nested deeper"),
    ("random", lambda t: '{"2": [' + "9" * 5000 + ', 0], "3": [1, 0]}',
     "entry 'random' is not valid JSON: .*5000 digits"),
    ("optimizer", lambda t: {"__set__": []}, "'optimizer': unknown entry"),
    ("random", lambda t: {k: [1] for k in t}, "'random': layer '2' must have \\[seed, step\\]"),
    ("random", lambda t: {k: [None, 0] for k in t}, "'random': layer '2': seed must be an integer"),
    ("random", lambda t: {k: [-1, 0] for k in t}, "'random': layer '2': seed must be >= 0"),
    ("random", lambda t: {k: [1, -5] for k in t}, "'random': layer '2': step must be >= 0"),
    ("random", lambda t: [1], "'random': must map layer names"),
    ("trainer", lambda t: {"__dict__": [kv for kv in t["__dict__"] if kv[0] != "epoch"]},
     "'trainer': must be an object"),
    ("trainer", lambda t: [1, 2], "'trainer': must be an object"),
    ("trainer", with_field("history", [1]), "'trainer': history must map"),
    ("trainer", with_field("history", {"__dict__": [["loss", [1.0, 2.0]]]}), "history\\['loss'\\] must be a list of 1"),
    ("trainer", with_field("history_epochs", 5), "'trainer': history_epochs must be a list"),
    ("trainer", lambda t: {"__dict__": t["__dict__"] + [[[1], 2]]}, "'trainer': __dict__ must hold .* str or int keys"),
    ("trainer", with_field("seed", {"__float__": "abc"}), "'trainer': __float__ must be one of"),
    ("trainer", with_field("seed", {"__tensor__": [1]}), "'trainer': the state refers to tensor \\[1\\]"),
    ("trainer", with_field("seed", "abc"), "'trainer': seed must be an integer"),
    ("trainer", with_field("epoch", 10 ** 30), "'trainer': epoch must be <="),
    ("trainer", with_field("epoch", -1), "'trainer': epoch must be >= 0"),
    ("callbacks", lambda t: 5, "'callbacks': must be a list of \\[class name, state\\] pairs"),
    # these fail only once the model is loaded: it must be put back
    ("optimizer", with_group_field("lr", 10 ** 400), "optimizer state does not fit"),
    ("optimizer", with_group_field("params", [0]), "optimizer state does not fit"),
    ("optimizer", with_field("state", []), 'optimizer state does not fit: .*"state" must be a dict'),
    ("optimizer", with_field("param_groups", "x"), 'optimizer state does not fit: .*"param_groups" must be a list'),
    ("callbacks", lambda t: [["LearningRateScheduler", [1, 2]]], "state of callback 0 \\(LearningRateScheduler\\)"),
])
def test_malformed_checkpoint_changes_nothing(checkpoint, key, edit, msg):
    edit_metadata(checkpoint, key, edit)
    trainer = parts(seed=7)
    X, y = data()
    trainer.fit(X, y, epochs=2, batch_size=32, seed=5)
    before = live_state(trainer)
    with pytest.raises(CheckpointError, match=msg) as e:
        load_checkpoint(checkpoint, trainer)
    assert str(e.value).startswith(f"{checkpoint}: ")
    assert live_state(trainer) == before


def test_model_only_checkpoint_load_is_atomic(checkpoint):
    model = model_with_state(seed=7)
    before = state_bytes(model), [(m.seed, m._step) for m in model.modules() if hasattr(m, "_step")]
    edit_metadata(checkpoint, "random", lambda t: {k: [1, -1] for k in t})
    with pytest.raises(CheckpointError, match="step must be >= 0"):
        load_checkpoint(checkpoint, model)
    assert (state_bytes(model), [(m.seed, m._step) for m in model.modules() if hasattr(m, "_step")]) == before


def test_checkpoint_config_needing_more_state_is_rejected_before_building(checkpoint):
    edit_metadata(checkpoint, "model_config", lambda t: linear(10 ** 7, 10 ** 7))
    with pytest.raises(CheckpointError, match="c.safetensors: the model in 'model_config' has at least"):
        load_checkpoint(checkpoint)


# ------------------------------------------------------------------------------ crash safety

@pytest.mark.parametrize("target", ["save", "checkpoint"])
def test_crash_mid_save_keeps_previous_file(tmp_path, monkeypatch, target):
    import fastnn._safetensors as st
    trainer = parts()
    path = tmp_path / "f.safetensors"
    write = (lambda: save(trainer.model, path)) if target == "save" else (lambda: save_checkpoint(path, trainer))
    write()
    before = path.read_bytes()
    X, y = data()
    trainer.fit(X, y, epochs=1, batch_size=32)     # new weights to save

    def crash(fd):
        raise OSError("disk pulled out")

    monkeypatch.setattr(st.os, "fsync", crash)
    with pytest.raises(OSError, match="disk pulled out"):
        write()
    monkeypatch.undo()
    assert path.read_bytes() == before
    assert os.listdir(tmp_path) == ["f.safetensors"]   # no temporary file left behind


def test_model_checkpoint_callback_saves_best_epochs(tmp_path):
    from fastnn.callbacks import Callback, ModelCheckpoint

    class Script(Callback):
        def on_epoch_end(self, epoch, logs):
            logs["val_loss"] = [0.9, 0.5, 0.7, 0.4][epoch]

    X, y = data()
    every = ModelCheckpoint(tmp_path / "every-{epoch}.safetensors", save_best_only=False)
    best = ModelCheckpoint(tmp_path / "best-{epoch}-{val_loss:.1f}.safetensors", monitor="val_loss",
                           save_best_only=True)
    model = model_with_state()
    trainer = Trainer(model, nn.CrossEntropyLoss(), optim.Adam(model.parameters()), callbacks=[Script(), every, best],
                      verbose=0)
    trainer.fit(X, y, epochs=4, batch_size=32)
    names = sorted(os.listdir(tmp_path))
    assert names == ["best-1-0.9.safetensors", "best-2-0.5.safetensors", "best-4-0.4.safetensors",
                     "every-1.safetensors", "every-2.safetensors", "every-3.safetensors", "every-4.safetensors"]
    ckpt = load_checkpoint(tmp_path / "best-4-0.4.safetensors")
    assert ckpt.epoch == 4 and state_bytes(ckpt.model) == state_bytes(model)


def test_checkpoint_of_state_holding_itself_is_refused_before_writing(tmp_path):
    from fastnn.callbacks import Callback

    class Loop(Callback):
        def state_dict(self):
            state = {"a": [1]}
            state["a"].append(state)
            return state

    trainer = parts()
    trainer.callbacks.append(Loop())
    path = tmp_path / "c.safetensors"
    with pytest.raises(ValueError, match=r"'callbacks/1/a/1/a/1.*nested deeper than 32 levels"):
        save_checkpoint(path, trainer)
    assert os.listdir(tmp_path) == []
    deep = {"x": None}
    for _ in range(31):                       # 32 levels: the most a state may nest, and it round-trips
        deep = {"x": deep}
    trainer.callbacks[1].state_dict = lambda: deep
    save_checkpoint(path, trainer)
    assert load_checkpoint(path).epoch == 0   # and reads back under the JSON depth limit


# ------------------------------------------------------------------------ fuzz findings

def test_path_kinds(tmp_path):
    model = model_with_state()
    for bad in (0, True, None):
        with pytest.raises(TypeError, match="path must be a str, bytes or os.PathLike"):
            load(bad)                                    # load(0) read stdin, then closed it
        with pytest.raises(TypeError, match="path must be a str, bytes or os.PathLike"):
            load_checkpoint(bad)
        with pytest.raises(TypeError, match="path must be a str, bytes or os.PathLike"):
            save(model, bad)
    path = os.fsencode(tmp_path / "m.st")
    save(model, path)                                    # bytes: was a TypeError from str + bytes
    assert state_bytes(load(path)) == state_bytes(model)
    with pytest.raises(IsADirectoryError, match="cannot save to a directory"):
        save_checkpoint(tmp_path, parts())


def test_parts_optimizer_must_be_an_optimizer(tmp_path):
    with pytest.raises(TypeError, match="checkpoint part 'optimizer' must be a fastnn.optim.Optimizer or None, got int"):
        save_checkpoint(tmp_path / "c.st", {"model": model_with_state(), "optimizer": 3})
    assert os.listdir(tmp_path) == []


def test_history_int_too_large_for_a_float_changes_nothing(tmp_path):
    _, path = trained_checkpoint(tmp_path)
    tensors, meta = st.load_file(path)
    meta["trainer"] = meta["trainer"].replace('[["loss", [', '[["loss", [' + "9" * 400 + ", ", 1)
    meta["trainer"] = meta["trainer"].replace('["history_epochs", [0]]', '["history_epochs", [0, 1]]')
    for key in json.loads(meta["trainer"])["__dict__"][2][1]["__dict__"]:
        if key[0] != "loss":
            meta["trainer"] = meta["trainer"].replace(f'["{key[0]}", [', f'["{key[0]}", [1, ', 1)
    st.save_file(tensors, path, meta)
    fresh = parts(seed=5)
    before = state_bytes(fresh.model), fresh.callbacks[0].state_dict()
    with pytest.raises(CheckpointError, match=r"history\['loss'\] holds an int too large for a float"):
        load_checkpoint(path, fresh)                     # was an OverflowError after the model was loaded
    assert (state_bytes(fresh.model), fresh.callbacks[0].state_dict()) == before and fresh.epoch == 0


@pytest.mark.parametrize("history, epochs", [({"loss": [True]}, [0]), ({"loss": ["a"]}, [0]),
                                             ({1: [1.0]}, [0]), ({"loss": [1.0, 2.0]}, [0])])
def test_checkpoint_that_could_not_be_loaded_is_not_written(tmp_path, history, epochs):
    t = parts()
    t.history.history, t.history.epoch, t.epoch = history, epochs, 1
    with pytest.raises(ValueError, match="cannot save the trainer's state, load_checkpoint would refuse it"):
        save_checkpoint(tmp_path / "c.st", t)
    assert os.listdir(tmp_path) == []


@pytest.mark.parametrize("state, match", [({"a": 10 ** 1000}, "the value at 'callbacks/1/a'"),
                                          ({10 ** 1000: 1}, "a key of 'callbacks/1'")])
def test_int_the_loader_refuses_is_not_saved(tmp_path, state, match):
    class Big(fastnn.callbacks.Callback):
        def state_dict(self):
            return state

    t = parts()
    t.callbacks.append(Big())
    with pytest.raises(ValueError, match=f"cannot store {match} in a checkpoint: a .*-bit int"):
        save_checkpoint(tmp_path / "c.st", t)
    assert os.listdir(tmp_path) == []
    state = {"a": 10 ** 999}                             # 1000 digits: read back
    save_checkpoint(tmp_path / "c.st", t)
    load_checkpoint(tmp_path / "c.st")
