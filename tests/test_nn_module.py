"""The module protocol: registration and names, modes, gradients, state dicts (round trip,
strict errors, in-place loading), dtype conversion, repr, config round trip, workspace reuse."""
import json
import re

import numpy as np
import pytest

import fastnn
from fastnn import nn
from fastnn.nn.module import from_config

F64 = np.float64


def _model(dtype=np.float32, seed=0):
    return nn.Sequential(
        nn.Linear(3, 4, dtype=dtype, rng=seed), nn.BatchNorm1d(4, dtype=dtype), nn.ReLU(),
        nn.Residual(nn.Sequential(nn.Linear(4, 4, dtype=dtype, rng=seed + 1), nn.Tanh())),
        nn.Linear(4, 2, activation="sigmoid", dtype=dtype, rng=seed + 2))


def _x(b=5, f=3, dtype=np.float32, seed=0):
    return np.random.default_rng(seed).standard_normal((b, f)).astype(dtype)


PARAM_KEYS = ["0.weight", "0.bias", "1.weight", "1.bias", "3.block.0.weight", "3.block.0.bias", "4.weight", "4.bias"]
STATE_KEYS = ["0.weight", "0.bias", "1.weight", "1.bias", "1.running_mean", "1.running_var",
              "1.num_batches_tracked", "3.block.0.weight", "3.block.0.bias", "4.weight", "4.bias"]


# ------------------------------------------------------------------------------ Parameter

def test_parameter_holds_data_and_zero_grad():
    p = nn.Parameter(np.arange(6, dtype=F64).reshape(2, 3))
    assert p.shape == (2, 3) and p.dtype == F64 and p.requires_grad and p.size == 6
    assert p.grad.shape == (2, 3) and p.grad.dtype == F64 and not p.grad.any()
    with pytest.raises(TypeError, match="float32 or float64"):
        nn.Parameter(np.arange(3))


def _readonly(shape, dtype=np.float32):
    a = np.zeros(shape, dtype)
    a.flags.writeable = False
    return a


DATA_LAYERS = [("Linear", "weight", lambda: nn.Linear(4, 3), (3, 4)), ("Linear", "bias", lambda: nn.Linear(4, 3), (3,)),
               ("BatchNorm1d", "weight", lambda: nn.BatchNorm1d(4), (4,)),
               ("LayerNorm", "bias", lambda: nn.LayerNorm(4), (4,)), ("PReLU", "weight", lambda: nn.PReLU(4), (4,))]
BAD_DATA = {"float64": (TypeError, lambda s: np.zeros(s, F64)), "int64": (TypeError, lambda s: np.zeros(s, np.int64)),
            "list": (TypeError, lambda s: np.zeros(s).tolist()),
            "shape": (ValueError, lambda s: np.zeros((5, 5), np.float32)),
            "flat": (ValueError, lambda s: np.zeros(int(np.prod(s)) + 1, np.float32)),
            "strided": (ValueError, lambda s: np.zeros(s + (2,), np.float32)[..., 0]),
            "read-only": (ValueError, _readonly)}


@pytest.mark.parametrize("bad", sorted(BAD_DATA))
@pytest.mark.parametrize("layer,param,make,shape", DATA_LAYERS, ids=lambda v: v if isinstance(v, str) else "")
def test_parameter_data_is_replaced_only_by_an_array_that_fits(backend, layer, param, make, shape, bad):
    """The kernels need the parameter's exact shape and dtype, C order, writable: anything else
    is refused when assigned, naming the parameter, on both backends (it was a Cython "Buffer
    dtype mismatch" natively, and silently broadcast or failed later on NumPy)."""
    m = make()
    x = np.ones((2, 4), np.float32) + np.arange(4, dtype=np.float32)
    before = m.forward(x).copy()
    p = getattr(m, param)
    old = p.data
    exc, value = BAD_DATA[bad]
    with pytest.raises(exc, match=rf"{layer}\.{param}\.data must be a C-contiguous writable array of shape "
                                  rf"{re.escape(str(shape))} and dtype float32, got"):
        p.data = value(shape)
    assert p.data is old
    np.testing.assert_array_equal(m.forward(x), before)
    p.data = new = np.full(shape, 0.5, np.float32)     # one that fits is taken as it is (no copy)
    assert p.data is new
    m.double()                                         # Module.to is the way to another dtype
    assert p.data.dtype == F64 and p.grad.dtype == F64
    p.data = np.full(shape, 0.5, F64)
    with pytest.raises(TypeError, match=rf"{layer}\.{param}\.data .* dtype float64, got .*float32"):
        p.data = new


def test_a_layer_parameter_child_or_buffer_is_replaced_only_by_one_that_fits(backend):
    """As in PyTorch a parameter takes a Parameter or None and a child a Module or None. A layer
    sizes its kernels from its arguments: a new Parameter or float buffer must keep the shape
    and dtype (refused when assigned, not as a kernel error later); a custom module (no declared
    dtype) may resize its own."""
    lin = nn.Linear(4, 3)
    x = np.ones((2, 4), np.float32)
    for bad, exc in ((nn.Parameter(np.zeros((5, 5), np.float32)), ValueError),
                     (nn.Parameter(np.zeros((3, 4))), TypeError)):
        with pytest.raises(exc, match=r"Linear\.weight\.data must be a C-contiguous writable array of shape \(3, 4\) "
                                      r"and dtype float32, got shape"):
            lin.weight = bad
    for bad in (np.zeros((3, 4), np.float32), 0.5, nn.ReLU()):
        with pytest.raises(TypeError, match=r"Linear\.weight is a parameter: assign a Parameter or None, got"):
            lin.weight = bad
    lin.weight = w = nn.Parameter(np.ones((3, 4), np.float32))
    assert lin.weight is w and w._name == "Linear.weight" and lin(x).shape == (2, 3)
    lin.bias = None                                    # an absent bias is allowed, as in PyTorch
    np.testing.assert_array_equal(lin(x), np.full((2, 3), 4.0, np.float32))
    res = nn.Residual(nn.Linear(4, 4))
    with pytest.raises(TypeError, match=r"Residual\.block is a child module: assign a Module or None, got ndarray"):
        res.block = np.eye(4, dtype=np.float32)
    bn = nn.BatchNorm1d(4)
    for bad, exc in ((np.ones(5, np.float32), ValueError), (np.ones(4), TypeError), (np.ones(4, np.int64), TypeError),
                     ([1.0] * 4, TypeError), (np.ones(8, np.float32)[::2], ValueError), (_readonly(4), ValueError)):
        with pytest.raises(exc, match=r"BatchNorm1d\.running_var must be a C-contiguous writable array of "
                                      r"shape \(4,\)"):
            bn.running_var = bad
    bn.running_var = v = np.full(4, 2.0, np.float32)
    bn.eval()
    assert bn.running_var is v and bn.forward(x).shape == (2, 4)
    assert bn.double().running_var.dtype == F64        # Module.to still converts the buffers

    class Growing(nn.Module):
        def __init__(self):
            super().__init__()
            self.w = nn.Parameter(np.ones(2))
            self.register_buffer("b", np.ones(2))

    g = Growing()
    g.w, g.b = nn.Parameter(np.ones(5)), np.ones(5)
    assert g.w.shape == (5,) and g.b.shape == (5,)


def test_to_converts_a_parameter_whose_grad_was_set_to_none(backend):
    lin = nn.Linear(4, 3)
    lin.weight.grad = None
    lin.double()
    assert lin.weight.data.dtype == F64 and lin.weight.grad is None and lin.bias.grad.dtype == F64
    lin.forward(np.ones((2, 4)))
    lin.backward(np.ones((2, 3)))
    assert lin.weight.grad.dtype == F64 and lin.weight.grad.shape == (3, 4)


def test_copies_of_a_module_keep_their_parameters(backend):
    import copy
    import pickle

    m = _model()
    x = _x()
    for twin in (copy.deepcopy(m), pickle.loads(pickle.dumps(m))):
        np.testing.assert_array_equal(twin(x), m(x))
        with pytest.raises(ValueError, match=r"Linear\.weight\.data must be"):
            twin[0].weight.data = np.zeros((2, 2), np.float32)


# ------------------------------------------------------------------------------ traversal and modes

def test_names_follow_pytorch_dotted_layout():
    m = _model()
    assert [n for n, _ in m.named_parameters()] == PARAM_KEYS
    assert list(m.state_dict()) == STATE_KEYS
    assert [n for n, _ in m.named_buffers()] == ["1.running_mean", "1.running_var", "1.num_batches_tracked"]
    assert len(list(m.children())) == 5 and len(list(m.modules())) == 9
    assert m.num_parameters() == sum(p.data.size for p in m.parameters()) == 16 + 8 + 20 + 10
    assert m.state_dict()["1.num_batches_tracked"].dtype == np.int64


def test_custom_module_registers_parameters_and_children():
    class Block(nn.Module):
        def __init__(self):
            super().__init__()
            self.scale = nn.Parameter(np.ones(3))
            self.inner = nn.Linear(3, 3, dtype=F64)

    b = Block()
    assert [n for n, _ in b.named_parameters()] == ["scale", "inner.weight", "inner.bias"]
    b.inner = None                                    # reassigning unregisters
    assert [n for n, _ in b.named_parameters()] == ["scale"]

    class Broken(nn.Module):
        def __init__(self):
            self.w = nn.Parameter(np.ones(2))

    with pytest.raises(AttributeError, match="super"):
        Broken()


@pytest.mark.parametrize("how", ["append itself", "append its parent", "own attribute", "residual block"])
def test_a_module_cannot_become_its_own_descendant(backend, how):
    """A cycle would make modules(), parameters(), repr and state_dict recurse forever: it is
    refused when the child is added, and the module is left as it was."""
    inner = nn.Sequential(nn.Linear(3, 3, rng=0))
    outer = nn.Sequential(inner, nn.ReLU())
    add = {"append itself": lambda: outer.append(outer), "append its parent": lambda: inner.append(outer),
           "own attribute": lambda: setattr(inner[0], "me", inner[0]),
           "residual block": lambda: inner.append(nn.Residual(outer))}[how]
    with pytest.raises(ValueError, match="cannot add a .* that is or contains this .*own descendant"):
        add()
    assert len(list(outer.modules())) == 4 and len(list(outer.parameters())) == 2
    assert list(outer.state_dict()) == ["0.0.weight", "0.0.bias"] and "Sequential" in repr(outer)
    assert outer(np.ones((2, 3), np.float32)).shape == (2, 3)
    shared = nn.ReLU()                                 # the same child twice is not a cycle
    assert len(nn.Sequential(shared, nn.Sequential(shared))) == 2


def test_train_eval_recurse_and_return_self():
    m = _model()
    assert m.eval() is m and not any(x.training for x in m.modules())
    assert m.train() is m and all(x.training for x in m.modules())


def test_gradients_accumulate_and_zero_grad_keeps_arrays(backend):
    m = _model(F64)
    x = _x(dtype=F64)
    g = np.ones((5, 2))
    m.forward(x)
    m.backward(g)
    first = {n: p.grad.copy() for n, p in m.named_parameters()}
    arrays = {n: p.grad for n, p in m.named_parameters()}
    m.forward(x)
    m.backward(g)
    for n, p in m.named_parameters():
        np.testing.assert_allclose(p.grad, 2 * first[n], rtol=1e-12, atol=1e-15)
    m.zero_grad()
    for n, p in m.named_parameters():
        assert p.grad is arrays[n] and not p.grad.any()


# ------------------------------------------------------------------------------ state dict

def test_state_dict_round_trip_in_place(backend):
    src, dst = _model(F64, seed=0), _model(F64, seed=10)
    for _ in range(3):
        src.forward(_x(dtype=F64, seed=_))            # moves running statistics
    sd = src.state_dict()
    arrays = {n: p.data for n, p in dst.named_parameters()}
    assert dst.load_state_dict(sd) == ([], [])
    for n, p in dst.named_parameters():
        assert p.data is arrays[n]                    # optimizer references stay valid
    for k, v in dst.state_dict().items():
        np.testing.assert_array_equal(v, sd[k])
    src.eval(), dst.eval()
    x = _x(dtype=F64, seed=7)
    np.testing.assert_array_equal(src(x), dst(x))


def test_state_dict_returns_copies():
    m = _model()
    sd = m.state_dict()
    sd["0.weight"][...] = 7
    assert not (m.state_dict()["0.weight"] == 7).any()


def test_load_state_dict_strict_errors_name_keys_shapes_and_dtypes():
    m = _model()
    before = m.state_dict()
    sd = m.state_dict()
    del sd["0.bias"]
    with pytest.raises(ValueError, match=r"missing keys \['0.bias'\]"):
        m.load_state_dict(sd)
    sd = m.state_dict()
    sd["extra.weight"] = np.zeros(2, np.float32)
    with pytest.raises(ValueError, match=r"unexpected keys \['extra.weight'\]"):
        m.load_state_dict(sd)
    sd = m.state_dict()
    sd["4.weight"] = np.zeros((3, 4), np.float32)
    sd["0.weight"] = sd["0.weight"] + 1                 # valid, must not be applied: loading is atomic
    with pytest.raises(ValueError, match=r"'4.weight': shape \(3, 4\) in the state dict, \(2, 4\) in the module"):
        m.load_state_dict(sd)
    sd = m.state_dict()
    sd["1.running_var"] = sd["1.running_var"].astype(F64)
    with pytest.raises(ValueError, match="'1.running_var': dtype float64 in the state dict, float32 in the module"):
        m.load_state_dict(sd)
    for k, v in m.state_dict().items():
        np.testing.assert_array_equal(v, before[k])


def test_load_state_dict_non_strict_reports_and_loads_the_rest():
    m = _model()
    sd = {"0.weight": np.full((4, 3), 0.5, np.float32), "bogus": np.zeros(1)}
    res = m.load_state_dict(sd, strict=False)
    assert res.unexpected_keys == ["bogus"] and "0.bias" in res.missing_keys
    assert (m[0].weight.data == 0.5).all()
    with pytest.raises(ValueError, match="shape"):
        m.load_state_dict({"0.weight": np.zeros((1, 1), np.float32)}, strict=False)


def test_load_state_dict_reads_views_of_the_module_before_writing():
    """A state value viewing the module's own arrays is read as it was before the load."""
    lin = nn.Linear(2, 2)
    w0 = lin.weight.data.copy()
    lin.load_state_dict({"weight": np.stack([lin.bias.data] * 2), "bias": lin.weight.data[:, 0]})
    np.testing.assert_array_equal(lin.bias.data, w0[:, 0])


def test_load_state_dict_refuses_ragged_values_naming_the_key():
    lin = nn.Linear(2, 2)
    sd = lin.state_dict()
    sd["weight"] = [[1.0, 2.0], [3.0]]
    with pytest.raises(ValueError, match="'weight': a list that is not a rectangular array"):
        lin.load_state_dict(sd)


# ------------------------------------------------------------------------------ dtype conversion

def test_to_double_and_float_convert_parameters_grads_buffers(backend):
    m = _model()
    assert m.double() is m
    for _, p in m.named_parameters():
        assert p.data.dtype == F64 and p.grad.dtype == F64
    assert m[1].running_mean.dtype == F64 and m[1].num_batches_tracked.dtype == np.int64
    y = m(_x(dtype=F64))
    assert y.dtype == F64
    with pytest.raises(TypeError, match="float32.*float64"):
        m(_x())
    m.float()
    assert m(_x()).dtype == np.float32
    with pytest.raises(TypeError):
        m.to(np.int32)


# ------------------------------------------------------------------------------ repr

def test_repr_like_pytorch_with_parameter_count():
    m = nn.Sequential(nn.Linear(3, 4), nn.ReLU(), nn.Residual(nn.Sequential(nn.Linear(4, 4), nn.Dropout(0.2))),
                      nn.BatchNorm1d(4), nn.Linear(4, 2, bias=False, activation="gelu", dtype=F64))
    assert repr(m) == (
        "Sequential(\n"
        "  (0): Linear(in_features=3, out_features=4, bias=True)\n"
        "  (1): ReLU()\n"
        "  (2): Residual(\n"
        "    (block): Sequential(\n"
        "      (0): Linear(in_features=4, out_features=4, bias=True)\n"
        "      (1): Dropout(p=0.2)\n"
        "    )\n"
        "  )\n"
        "  (3): BatchNorm1d(4, eps=1e-05, momentum=0.1, affine=True, track_running_stats=True)\n"
        "  (4): Linear(in_features=4, out_features=2, bias=False, activation=gelu, dtype=float64)\n"
        ")\n"
        "Total parameters: 52")
    assert repr(nn.ReLU()) == "ReLU()"
    assert repr(nn.LeakyReLU(0.2)) == "LeakyReLU(negative_slope=0.2)"
    assert repr(nn.CrossEntropyLoss(label_smoothing=0.1)) == "CrossEntropyLoss(label_smoothing=0.1)"


# ------------------------------------------------------------------------------ config

def _every_module():
    lin = nn.Linear(6, 6, dtype=F64, rng=3)
    return nn.Sequential(
        nn.Linear(5, 6, activation=nn.LeakyReLU(0.3), dtype=F64, rng=1), nn.PReLU(6, dtype=F64),
        nn.BatchNorm1d(6, momentum=None, dtype=F64), nn.RReLU(0.1, 0.3, seed=4),
        nn.Dropout(0.2, mode="classic", seed=5),
        nn.DropConnect(lin, p=0.1, seed=6), nn.LayerNorm(6, elementwise_affine=True, bias=False, dtype=F64),
        nn.Residual(nn.Sequential(nn.Linear(6, 4, dtype=F64), nn.ELU(0.5)), projection=nn.Linear(6, 4, dtype=F64)),
        nn.Maxout(4, 6, 3, dtype=F64), nn.GLU(), nn.Identity(), nn.Sigmoid(), nn.Tanh(), nn.ReLU(), nn.SELU(),
        nn.CELU(2.0), nn.Softplus(2.0, 10.0), nn.Softsign(), nn.Hardtanh(-2.0, 2.0), nn.Hardsigmoid("linear"),
        nn.SiLU(), nn.Swish(), nn.GELU("tanh"), nn.Mish(), nn.MaxExp(), nn.Linear(3, 2, dtype=F64))


def test_config_round_trip_through_json(backend):
    m = _every_module()
    cfg = json.loads(json.dumps(m.get_config()))
    m2 = from_config(cfg)
    assert repr(m2) == repr(m) and m2.get_config() == cfg
    m2.load_state_dict(m.state_dict())
    m.eval(), m2.eval()
    x = _x(4, 5, F64)
    np.testing.assert_array_equal(m(x), m2(x))
    m.train(), m2.train()                            # same seeds: same masks and slopes
    np.testing.assert_array_equal(m(x), m2(x))


def test_config_errors_and_user_classes():
    with pytest.raises(ValueError, match="unknown module class"):
        from_config({"class": "os.system", "config": {}})
    with pytest.raises(ValueError, match="'class' and 'config'"):
        from_config({"class": "Linear"})

    class NoConfig(nn.Module):
        pass

    with pytest.raises(NotImplementedError, match="NoConfig"):
        NoConfig().get_config()

    class Scale(nn.Module):
        def __init__(self, factor=2.0):
            super().__init__()
            self.factor = factor

        def _config(self):
            return {"factor": self.factor}

    cfg = nn.Sequential(Scale(3.0)).get_config()
    assert cfg["config"]["modules"][0]["class"].endswith("Scale")
    assert from_config(json.loads(json.dumps(cfg)))[0].factor == 3.0


# ------------------------------------------------------------------------------ workspaces

def test_outputs_and_gradients_reuse_buffers_per_batch_shape(backend):
    m = _model(F64)
    x = _x(dtype=F64)
    y1, g1 = m.forward(x), m.backward(np.ones((5, 2)))
    y1v, g1v = y1.copy(), g1.copy()
    y2, g2 = m.forward(x), m.backward(np.ones((5, 2)))
    assert y2 is y1 and g2 is g1                      # steady state: no new output arrays
    np.testing.assert_array_equal(y2, y1v)
    np.testing.assert_array_equal(g2, g1v)
    y3 = m.forward(_x(7, dtype=F64))
    assert y3 is not y1 and y3.shape == (7, 2)
    assert m.forward(x) is y1                         # the batch-5 buffers are kept


def test_backward_before_forward_names_the_module():
    for m in [nn.Linear(2, 2), nn.ReLU(), nn.BatchNorm1d(2), nn.Sequential(nn.Linear(2, 2)),
              nn.Residual(nn.Linear(2, 2)), nn.Dropout(), nn.PReLU(), nn.RReLU(), nn.LayerNorm(2), nn.GLU(),
              nn.Maxout(2, 2, 2), nn.DropConnect(nn.Linear(2, 2))]:
        with pytest.raises(RuntimeError, match=f"{type(m).__name__}.backward called before forward"):
            m.backward(np.ones((1, 2), np.float32))


def test_zero_grad_is_deferred_but_always_reads_as_zero(backend):
    lin = nn.Linear(3, 2, rng=0)
    bn = nn.BatchNorm1d(2)
    x = _x(4, 3)
    for _ in range(2):                                # accumulate twice, so stale values exist
        bn.forward(lin.forward(x))
        lin.backward(bn.backward(_x(4, 2, seed=1)))
    w_grad = lin.weight.grad
    stale = w_grad.copy()
    assert np.abs(stale).sum() > 0
    for zero in (lambda: nn.Sequential(lin, bn).zero_grad(), lambda: fastnn.optim.SGD(
            list(lin.parameters()) + list(bn.parameters())).zero_grad()):
        zero()
        assert lin.weight.grad is w_grad and not w_grad.any()          # reading fills it
        zero()
        g = lin.forward(x)                                             # backward overwrites without reading
        gx = lin.backward(np.ones_like(g))
        fresh = nn.Linear(3, 2, rng=0)
        fresh.forward(x)
        fresh.backward(np.ones_like(g))
        np.testing.assert_array_equal(lin.weight.grad, fresh.weight.grad)
        np.testing.assert_array_equal(lin.bias.grad, fresh.bias.grad)
        assert gx.shape == x.shape
        lin.backward(np.ones_like(g))                                  # and accumulates after that
        np.testing.assert_allclose(lin.weight.grad, 2 * fresh.weight.grad, rtol=1e-6)
    lin.weight.grad = None                                             # set_to_none: backward recreates it
    lin.backward(np.ones_like(g))
    np.testing.assert_allclose(lin.weight.grad, fresh.weight.grad, rtol=1e-6)


@pytest.mark.parametrize("which,shape", [("weight", (2, 2)), ("weight", (9, 9)), ("bias", (1,))])
def test_replaced_gradient_of_wrong_shape_is_an_error(backend, which, shape):
    lin = nn.Linear(4, 3, rng=0)
    y = lin.forward(_x(2, 4))
    getattr(lin, which).grad = np.zeros(shape, np.float32)
    with pytest.raises(ValueError, match="grad"):
        lin.backward(np.ones_like(y))
    bn = nn.BatchNorm1d(3)
    y = bn.forward(_x(4, 3))
    bn.weight.grad = np.zeros(1, np.float32)
    with pytest.raises(ValueError, match="grad"):
        bn.backward(np.ones_like(y))


def test_call_returns_an_owned_copy_forward_reuses_buffers(backend):
    from fastnn import nn
    model = nn.Sequential(nn.Linear(5, 4, rng=0), nn.ReLU(), nn.Linear(4, 3, rng=1))
    x1 = np.random.default_rng(0).standard_normal((6, 5)).astype(np.float32)
    x2 = x1 + 1
    kept = model(x1)
    again = model(x2)
    assert not np.shares_memory(kept, again)
    np.testing.assert_array_equal(kept, model.forward(x1))    # not overwritten by later calls
    assert np.shares_memory(model.forward(x1), model.forward(x2))  # forward: reused workspace


def test_sequential_backward_without_input_grad(backend):
    from fastnn import nn
    rng = np.random.default_rng(1)
    x = rng.standard_normal((7, 6))
    g = rng.standard_normal((7, 2))
    grads = []
    for need in (True, False):
        model = nn.Sequential(nn.Linear(6, 5, rng=2, dtype=np.float64), nn.Tanh(),
                              nn.Linear(5, 2, rng=3, dtype=np.float64))
        model.forward(x)
        gx = model.backward(g, need_input_grad=need)
        assert (gx is None) == (not need)
        grads.append([p.grad.copy() for p in model.parameters()])
    for a, b in zip(*grads):
        np.testing.assert_array_equal(a, b)


def test_state_dict_loading_modes_and_dtype_refuse_odd_values():
    m = nn.Sequential(nn.Linear(2, 3), nn.ReLU())
    for sd in (None, [], "0.weight"):
        with pytest.raises(TypeError, match="state_dict must be a mapping"):
            m.load_state_dict(sd, strict=False)
    with pytest.raises(TypeError, match="strict must be a bool"):
        m.load_state_dict(m.state_dict(), strict="x")
    for mode in ("x", None, 1, np.array([1, 0])):
        for kind in (TypeError, ValueError):          # ValueError: PyTorch's type for it
            with pytest.raises(kind, match="mode must be a bool"):
                m.train(mode)
    assert m.training and m.train(np.bool_(False)).training is False
    with pytest.raises(TypeError, match="got None"):
        m.to(None)
    with pytest.raises(TypeError, match="got None"):
        nn.Linear(2, 3, dtype=None)
    with pytest.raises(TypeError, match="bias must be a bool"):
        nn.Linear(2, 3, bias="no")


def test_from_config_refuses_malformed_configs_by_name():
    cfg = {"class": "ReLU", "config": {}}
    for _ in range(5000):
        cfg = {"class": "Sequential", "config": {"modules": [cfg]}}
    for bad, exc, match in [({"class": ["Linear"], "config": {}}, TypeError, "'class' must be a class name"),
                            ({"class": "Linear", "config": None}, TypeError, "must be a dict of constructor"),
                            ({"class": "Sequential", "config": {}}, TypeError, "Sequential config"),
                            ({"class": "Sequential", "config": {"modules": None}}, TypeError, "Sequential config"),
                            (cfg, ValueError, "nested more than")]:
        with pytest.raises(exc, match=match):
            from_config(bad)


def test_sequential_indexing_and_replaced_children():
    x = -5 * np.ones((1, 2), np.float32)
    s = nn.Sequential(nn.Linear(2, 2, rng=0), nn.ReLU())
    s(x)                                               # builds the Linear + ReLU fusion plan
    s.__setattr__("1", nn.Tanh())                      # a child replaced: the plan must follow
    np.testing.assert_allclose(s(x), np.tanh(s[0](x)), rtol=1e-6)
    for index, exc in [(2, IndexError), (-3, IndexError), ("0", TypeError), (1.0, TypeError),
                       (True, TypeError), (np.array([0]), TypeError)]:
        with pytest.raises(exc, match="Sequential ind"):
            s[index]
    assert s[np.int64(-1)] is s[1] and len(s[5:]) == 0


def test_sequential_list_editing_renumbers_children_and_refits_the_plan(backend):
    """insert, extend, pop, s[i] = m and del s[i] as in PyTorch: children renamed by position,
    the fusion plan rebuilt (outputs equal the unfused chain), bad edits refused whole."""
    rng = np.random.default_rng(0)
    x = rng.standard_normal((3, 4)).astype(np.float32)
    l0, l1 = nn.Linear(4, 3, rng=0), nn.Linear(3, 2, rng=1)
    s = nn.Sequential(l0, nn.ReLU(), l1)
    s(x)                                                # builds the Linear + ReLU fusion plan
    s.insert(1, nn.Tanh())
    assert [type(m).__name__ for m in s] == ["Linear", "Tanh", "ReLU", "Linear"]
    assert list(s.state_dict()) == ["0.weight", "0.bias", "3.weight", "3.bias"]
    h0 = l0(x).copy()
    np.testing.assert_allclose(s(x), l1(np.maximum(np.tanh(h0), 0)), rtol=1e-5, atol=1e-6)
    assert isinstance(s.pop(1), nn.Tanh) and isinstance(s.pop(), nn.Linear) and len(s) == 2
    s.extend([nn.Sigmoid(), l1])
    np.testing.assert_allclose(s(x), l1(1 / (1 + np.exp(-np.maximum(h0, 0)))), rtol=1e-5, atol=1e-6)
    s[1] = nn.Identity()
    del s[2]
    assert [type(m).__name__ for m in s] == ["Linear", "Identity", "Linear"]
    np.testing.assert_allclose(s(x), l1(h0), rtol=1e-5, atol=1e-6)
    del s[-2:]
    assert list(s.state_dict()) == ["0.weight", "0.bias"] and s[0] is l0
    before = list(s)
    for edit, exc, match in [
        (lambda: s.insert(2, nn.ReLU()), IndexError, "insert index 2 is out of range for 1"),
        (lambda: s.insert("0", nn.ReLU()), TypeError, "insert index must be an integer"),
        (lambda: s.insert(0, np.ones(3)), TypeError, "Sequential takes Modules, got ndarray"),
        (lambda: s.extend([nn.ReLU(), "relu"]), TypeError, "Sequential takes Modules, got str"),
        (lambda: s.extend([nn.Sequential(s)]), ValueError, "own descendant"),
        (lambda: s.__setitem__(1, nn.ReLU()), IndexError, "index 1 is out of range for 1"),
        (lambda: s.__setitem__(0, s), ValueError, "own descendant"),
        (lambda: s.__delitem__(True), TypeError, "must be integers or slices"),
        (lambda: s.pop(3), IndexError, "out of range"),
    ]:
        with pytest.raises(exc, match=match):
            edit()
        assert list(s) == before and list(s.state_dict()) == ["0.weight", "0.bias"]
