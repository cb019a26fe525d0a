"""fastnn.optim: every rule and option combination against a float64 textbook oracle (the
formulas of PEERS.md B3), native vs NumPy backend, torch.optim trajectories when torch is
installed, parameter groups, state dicts and bad hyper-parameters."""
import itertools
import json
import math

import numpy as np
import pytest

import fastnn
from fastnn import optim

STEPS = 50
SHAPES = [(7, 9), (1029,), (1,), (0, 3), (4, 16)]   # SIMD body and tails, one element, empty


class Param:
    """Stand-in for fastnn.nn.Parameter: an object holding .data and .grad."""

    def __init__(self, data):
        self.data = np.array(data, order="C")
        self.grad = np.zeros_like(self.data)


@pytest.fixture
def use_backend():
    """A setter for the kernel set of the test body; the previous one is restored afterwards."""
    previous = fastnn.get_backend()
    yield fastnn.set_backend
    fastnn.set_backend(previous)


def _product(**options):
    keys = list(options)
    return [dict(zip(keys, values)) for values in itertools.product(*(options[k] for k in keys))]


# (rule name, constructor kwargs) for every option combination.
CASES = (
    [("SGD", dict(lr=0.05, **c)) for c in _product(momentum=[0.0, 0.9], dampening=[0.0, 0.3],
                                                     nesterov=[False, True], weight_decay=[0.0, 0.1])
     if not (c["nesterov"] and (c["momentum"] == 0 or c["dampening"] != 0))]
    + [("Adagrad", dict(lr=0.1, **c)) for c in _product(lr_decay=[0.0, 0.05], weight_decay=[0.0, 0.1],
                                                         initial_accumulator_value=[0.0, 0.5])]
    + [("Adadelta", dict(**c)) for c in _product(lr=[1.0, 0.5], rho=[0.9, 0.5], weight_decay=[0.0, 0.1])]
    + [("RMSprop", dict(lr=0.01, **c)) for c in _product(alpha=[0.99, 0.9], centered=[False, True],
                                                          momentum=[0.0, 0.9], weight_decay=[0.0, 0.1])]
    + [("Adam", dict(lr=0.01, **c)) for c in _product(betas=[(0.9, 0.999), (0.5, 0.9)], amsgrad=[False, True],
                                                       weight_decay=[0.0, 0.1])]
    + [("AdamW", dict(lr=0.01, **c)) for c in _product(amsgrad=[False, True], weight_decay=[0.0, 0.01, 0.3])]
)
CASE_IDS = [f"{name}-" + ",".join(f"{k}={v}" for k, v in kw.items()) for name, kw in CASES]


# ------------------------------------------------------------------------------ textbook oracle (float64)

class Oracle:
    """PEERS.md B3 written out per parameter, in float64, independent of fastnn's kernels."""

    def __init__(self, name, kw):
        self.name, self.kw, self.state = name, kw, {}

    def step(self, i, p, g):
        kw, s = self.kw, self.state.setdefault(i, {"t": 0})
        s["t"] += 1
        t = s["t"]
        if self.name == "AdamW":
            p = p * (1 - kw["lr"] * kw.get("weight_decay", 1e-2))
        elif kw.get("weight_decay", 0):
            g = g + kw["weight_decay"] * p
        if self.name == "SGD":
            mu, tau = kw.get("momentum", 0), kw.get("dampening", 0)
            if mu:
                s["b"] = g.copy() if t == 1 else mu * s["b"] + (1 - tau) * g
                g = g + mu * s["b"] if kw.get("nesterov") else s["b"]
            return p - kw["lr"] * g
        if self.name == "Adagrad":
            s.setdefault("sum", np.full_like(p, kw.get("initial_accumulator_value", 0.0)))
            s["sum"] = s["sum"] + g * g
            clr = kw["lr"] / (1 + (t - 1) * kw.get("lr_decay", 0))
            return p - clr * g / (np.sqrt(s["sum"]) + kw.get("eps", 1e-10))
        if self.name == "Adadelta":
            rho, eps = kw.get("rho", 0.9), kw.get("eps", 1e-6)
            v, u = s.get("v", np.zeros_like(p)), s.get("u", np.zeros_like(p))
            v = rho * v + (1 - rho) * g * g
            delta = np.sqrt(u + eps) / np.sqrt(v + eps) * g
            s["v"], s["u"] = v, rho * u + (1 - rho) * delta * delta
            return p - kw.get("lr", 1.0) * delta
        if self.name == "RMSprop":
            a, eps, mu = kw.get("alpha", 0.99), kw.get("eps", 1e-8), kw.get("momentum", 0)
            s["v"] = a * s.get("v", np.zeros_like(p)) + (1 - a) * g * g
            if kw.get("centered"):
                s["ga"] = a * s.get("ga", np.zeros_like(p)) + (1 - a) * g
                denom = np.sqrt(s["v"] - s["ga"] ** 2) + eps
            else:
                denom = np.sqrt(s["v"]) + eps
            if mu > 0:
                s["b"] = mu * s.get("b", np.zeros_like(p)) + g / denom
                return p - kw["lr"] * s["b"]
            return p - kw["lr"] * g / denom
        b1, b2 = kw.get("betas", (0.9, 0.999))
        s["m"] = b1 * s.get("m", np.zeros_like(p)) + (1 - b1) * g
        s["v"] = b2 * s.get("v", np.zeros_like(p)) + (1 - b2) * g * g
        v = s["v"]
        if kw.get("amsgrad"):
            v = s["vmax"] = np.maximum(s.get("vmax", np.zeros_like(p)), v)
        return p - kw["lr"] / (1 - b1 ** t) * s["m"] / (np.sqrt(v) / math.sqrt(1 - b2 ** t) + kw.get("eps", 1e-8))


def _initial(dtype, seed=0):
    rng = np.random.default_rng(seed)
    return [rng.standard_normal(s).astype(dtype) for s in SHAPES]


def _grads(step, dtype, seed=1):
    rng = np.random.default_rng([seed, step])
    return [rng.standard_normal(s).astype(dtype) for s in SHAPES]


def _run(name, kw, dtype, steps=STEPS, params=None):
    params = params or [Param(x) for x in _initial(dtype)]
    opt = getattr(optim, name)(params, **kw)
    for t in range(steps):
        for p, g in zip(params, _grads(t, dtype)):
            p.grad[...] = g
        opt.step()
    return params, opt


@pytest.mark.parametrize("name,kw", CASES, ids=CASE_IDS)
@pytest.mark.parametrize("backend_name", ["native", "numpy"])
def test_matches_textbook_oracle_float64(name, kw, backend_name, use_backend):
    use_backend(backend_name)
    params, _ = _run(name, kw, np.float64)
    oracle = Oracle(name, kw)
    expected = _initial(np.float64)
    for t in range(STEPS):
        expected = [oracle.step(i, p, g) for i, (p, g) in enumerate(zip(expected, _grads(t, np.float64)))]
    for p, e in zip(params, expected):
        np.testing.assert_allclose(p.data, e, rtol=1e-11, atol=1e-12)
    assert any(np.abs(p.data - x).max() > 1e-3 for p, x in zip(params, _initial(np.float64)) if x.size)


@pytest.mark.parametrize("name,kw", CASES, ids=CASE_IDS)
def test_native_float32_tracks_reference(name, kw, use_backend):
    native, _ = _run(name, kw, np.float32)
    use_backend("numpy")
    ref, _ = _run(name, kw, np.float32)
    exact, _ = _run(name, kw, np.float64)
    for a, b, e in zip(native, ref, exact):
        assert a.data.dtype == np.float32
        # float32 rounding differs between FMA-contracted kernels and NumPy; both stay near float64
        np.testing.assert_allclose(a.data, b.data, rtol=2e-4, atol=2e-5)
        np.testing.assert_allclose(a.data, e.data, rtol=2e-4, atol=2e-5)


@pytest.mark.parametrize("name,kw", CASES, ids=CASE_IDS)
def test_matches_torch_trajectory_float64(name, kw):
    torch = pytest.importorskip("torch")
    params, _ = _run(name, kw, np.float64)
    tparams = [torch.nn.Parameter(torch.from_numpy(x)) for x in _initial(np.float64)]
    topt = getattr(torch.optim, name)(tparams, **kw)
    for t in range(STEPS):
        for p, g in zip(tparams, _grads(t, np.float64)):
            p.grad = torch.from_numpy(g)
        topt.step()
    for p, tp in zip(params, tparams):
        np.testing.assert_allclose(p.data, tp.detach().numpy(), rtol=0, atol=1e-9)


@pytest.mark.parametrize("name", ["SGD", "Adagrad", "Adadelta", "RMSprop", "Adam", "AdamW"])
def test_defaults_match_torch(name):
    torch = pytest.importorskip("torch")
    ours = getattr(optim, name)([Param(np.zeros(3))]).defaults
    theirs = getattr(torch.optim, name)([torch.nn.Parameter(torch.zeros(3))]).defaults
    for key, value in ours.items():
        assert theirs[key] == value, key


# ------------------------------------------------------------------------------ groups

def test_param_groups_have_their_own_lr_and_weight_decay():
    x = _initial(np.float64)
    a, b = Param(x[0]), Param(x[1])
    opt = optim.SGD([{"params": [a]}, {"params": [b], "lr": 0.5, "weight_decay": 0.2}], lr=0.1, momentum=0.9)
    assert opt.param_groups[0]["lr"] == 0.1 and opt.param_groups[1]["lr"] == 0.5
    assert opt.param_groups[1]["momentum"] == 0.9
    a1, b1 = Param(x[0]), Param(x[1])
    sep = [optim.SGD([a1], lr=0.1, momentum=0.9), optim.SGD([b1], lr=0.5, momentum=0.9, weight_decay=0.2)]
    for t in range(5):
        g = _grads(t, np.float64)
        a.grad[...], b.grad[...], a1.grad[...], b1.grad[...] = g[0], g[1], g[0], g[1]
        opt.step()
        for o in sep:
            o.step()
    np.testing.assert_array_equal(a.data, a1.data)
    np.testing.assert_array_equal(b.data, b1.data)


def test_param_groups_match_torch():
    torch = pytest.importorskip("torch")
    x = _initial(np.float64)
    ps = [Param(v) for v in x]
    opt = optim.Adam([{"params": ps[:2]}, {"params": ps[2:], "lr": 0.1, "amsgrad": True}], lr=0.01, weight_decay=0.1)
    tps = [torch.nn.Parameter(torch.from_numpy(v)) for v in x]
    topt = torch.optim.Adam([{"params": tps[:2]}, {"params": tps[2:], "lr": 0.1, "amsgrad": True}],
                            lr=0.01, weight_decay=0.1)
    for t in range(20):
        for p, tp, g in zip(ps, tps, _grads(t, np.float64)):
            p.grad[...] = g
            tp.grad = torch.from_numpy(g.copy())
        opt.step()
        topt.step()
    for p, tp in zip(ps, tps):
        np.testing.assert_allclose(p.data, tp.detach().numpy(), rtol=0, atol=1e-10)


def test_add_param_group_and_duplicates():
    a, b = Param(np.ones(3)), Param(np.ones(4))
    opt = optim.Adam([a], lr=0.01)
    opt.add_param_group({"params": b, "lr": 0.5})
    assert opt.param_groups[1]["lr"] == 0.5 and opt.param_groups[1]["betas"] == (0.9, 0.999)
    with pytest.raises(ValueError, match="more than once"):
        opt.add_param_group({"params": [a]})
    with pytest.raises(ValueError, match="more than once"):
        optim.SGD([a, a])
    with pytest.raises(TypeError, match="unknown option"):
        opt.add_param_group({"params": [Param(np.ones(2))], "learning_rate": 0.1})
    with pytest.raises(ValueError, match="Invalid learning rate"):
        opt.add_param_group({"params": [Param(np.ones(2))], "lr": -0.1})


def test_skips_missing_and_frozen_gradients():
    a, b = Param(np.ones(3)), Param(np.ones(3))
    a.grad = None
    b.requires_grad = False
    b.grad[...] = 1.0
    opt = optim.SGD([a, b], lr=0.1)
    opt.step()
    np.testing.assert_array_equal(a.data, 1.0)
    np.testing.assert_array_equal(b.data, 1.0)
    assert opt.state == {}


def test_zero_grad_in_place_or_to_none():
    a = Param(np.ones(3))
    g = a.grad
    g[...] = 5.0
    opt = optim.SGD([a])
    opt.zero_grad()
    assert a.grad is g and not g.any()
    opt.zero_grad(set_to_none=True)
    assert a.grad is None


def test_closure_result_is_returned():
    a = Param(np.ones(3))
    assert optim.SGD([a]).step(lambda: 1.5) == 1.5


def test_update_is_in_place_and_dtype_is_kept():
    for dtype in (np.float32, np.float64):
        a = Param(np.ones((2, 3), dtype))
        data = a.data
        a.grad[...] = 1.0
        optim.Adam([a]).step()
        assert a.data is data and a.data.dtype == dtype and (a.data < 1).all()


# ------------------------------------------------------------------------------ state

@pytest.mark.parametrize("name,kw", CASES[::3], ids=CASE_IDS[::3])
@pytest.mark.parametrize("via", ["state_dict", "state_arrays"])
def test_state_round_trip_continues_bit_identically(name, kw, via):
    params, opt = _run(name, kw, np.float32, steps=10)
    saved_params = [p.data.copy() for p in params]
    if via == "state_dict":
        saved = opt.state_dict()
    else:
        arrays, meta = opt.state_arrays()
        saved = ({key: a.copy() for key, a in arrays.items()}, json.loads(json.dumps(meta)))
    for t in range(10, 20):
        for p, g in zip(params, _grads(t, np.float32)):
            p.grad[...] = g
        opt.step()
    params2 = [Param(x) for x in saved_params]
    opt2 = getattr(optim, name)(params2, lr=123.0)       # hyper-parameters come from the state
    if via == "state_dict":
        opt2.load_state_dict(saved)
    else:
        opt2.load_state_arrays(*saved)
    assert opt2.param_groups[0]["lr"] == kw["lr"]
    for t in range(10, 20):
        for p, g in zip(params2, _grads(t, np.float32)):
            p.grad[...] = g
        opt2.step()
    for a, b in zip(params, params2):
        np.testing.assert_array_equal(a.data, b.data)


def test_state_dict_layout_and_copies():
    params, opt = _run("Adam", dict(lr=0.01, amsgrad=True), np.float64, steps=3)
    sd = opt.state_dict()
    assert sd["param_groups"][0]["params"] == list(range(len(SHAPES)))
    assert set(sd["state"][0]) == {"step", "exp_avg", "exp_avg_sq", "max_exp_avg_sq"}
    assert sd["state"][0]["step"] == 3
    sd["state"][0]["exp_avg"][...] = 99.0                 # a copy: the optimizer is unaffected
    assert not (opt.state[params[0]]["exp_avg"] == 99.0).any()
    arrays, meta = opt.state_arrays()
    assert set(arrays) >= {"state.0.exp_avg", "state.4.max_exp_avg_sq"}
    json.dumps(meta)
    assert meta["state"]["0"]["exp_avg"] == {"__array__": "state.0.exp_avg"}


def test_load_state_dict_rejects_mismatches():
    params, opt = _run("Adam", dict(lr=0.01), np.float64, steps=2)
    sd = opt.state_dict()
    with pytest.raises(ValueError, match="parameters"):
        optim.Adam(params[:2]).load_state_dict(sd)
    other = [Param(np.zeros(s)) for s in [(3,)] + SHAPES[1:]]
    with pytest.raises(ValueError, match="shape"):
        optim.Adam(other).load_state_dict(sd)
    with pytest.raises(ValueError, match="does not fit"):
        optim.SGD(params).load_state_dict(sd)
    bad = opt.state_dict()
    bad["param_groups"][0]["lr"] = -1.0
    with pytest.raises(ValueError, match="Invalid learning rate"):
        opt.load_state_dict(bad)


def test_replaced_parameter_is_detected():
    a = Param(np.ones(4))
    opt = optim.Adam([a])
    a.grad[...] = 1.0
    opt.step()
    a.data, a.grad = np.ones(5), np.ones(5)
    with pytest.raises(ValueError, match="replaced"):
        opt.step()


def test_multi_tensor_step_follows_every_change_between_steps(use_backend):
    """Adam updates all parameters in one cached multi-tensor call: replacing a grad or data
    array, freezing a parameter, editing the group list, switching amsgrad or the backend,
    loading a state dict and replacing a state array must all be seen, exactly as by one
    update per parameter."""
    def run(per_parameter):
        ps = [Param(rng_p.normal(size=s)) for s in [(3, 4), (5,), (2, 2)]]
        opt = optim.Adam(ps, lr=0.05, weight_decay=0.01)
        if per_parameter:                               # the reference path: one _update per parameter
            opt._update_group = lambda k, i, g: optim.Optimizer._update_group(opt, k, i, g)
        extra = Param(rng_p.normal(size=(4,)))
        for step in range(13):
            for p in ps + [extra]:
                if p.grad is not None:
                    p.grad[...] = rng_g.normal(size=p.data.shape)
            if step == 2:
                ps[0].grad = ps[0].grad.copy()                 # a new grad array
            if step == 3:
                ps[1].data = ps[1].data.copy()                 # a new data array
            if step == 4:
                ps[2].requires_grad = False
            if step == 5:
                ps[2].requires_grad = True
                opt.param_groups[0]["params"].append(extra)  # the group list edited in place
            if step == 6:
                opt.param_groups[0]["amsgrad"] = True
            if step == 7:
                use_backend("numpy")
            if step == 8:
                use_backend("native")
            if step == 9:
                opt.load_state_dict(opt.state_dict())        # fresh state arrays
            if step == 10:
                ps[0].grad = None
            if step == 11:                                   # one state array replaced in the state dict
                opt.state[ps[1]]["exp_avg"] = opt.state[ps[1]]["exp_avg"] * 0.5
            opt.step()
        return [p.data for p in ps + [extra]]

    rng_p, rng_g = np.random.default_rng(1), np.random.default_rng(2)
    want = run(True)
    rng_p, rng_g = np.random.default_rng(1), np.random.default_rng(2)
    got = run(False)
    for g, w in zip(got, want):
        np.testing.assert_array_equal(g, w)


# ------------------------------------------------------------------------------ bad input

@pytest.mark.parametrize("name,kw,exc,match", [
    ("SGD", dict(lr=-1), ValueError, r"Invalid learning rate: -1"),
    ("SGD", dict(momentum=-0.5), ValueError, "Invalid momentum value"),
    ("SGD", dict(weight_decay=-1e-4), ValueError, "Invalid weight_decay value"),
    ("SGD", dict(nesterov=True), ValueError, "Nesterov momentum requires a momentum and zero dampening"),
    ("SGD", dict(momentum=0.9, dampening=0.1, nesterov=True), ValueError, "Nesterov"),
    ("SGD", dict(lr="0.1"), TypeError, "lr must be a real number"),
    ("SGD", dict(lr=float("nan")), ValueError, "Invalid learning rate"),
    ("SGD", dict(nesterov=1), TypeError, "nesterov must be a bool"),
    ("SGD", dict(learning_rate=0.1), TypeError, "learning_rate"),
    ("Adagrad", dict(lr_decay=-1), ValueError, "Invalid lr_decay value"),
    ("Adagrad", dict(initial_accumulator_value=-1), ValueError, "Invalid initial_accumulator_value"),
    ("Adagrad", dict(eps=-1), ValueError, "Invalid epsilon value"),
    ("Adadelta", dict(rho=1.5), ValueError, "Invalid rho value: 1.5"),
    ("RMSprop", dict(alpha=-0.1), ValueError, "Invalid alpha value"),
    ("RMSprop", dict(momentum=-0.1), ValueError, "Invalid momentum value"),
    ("Adam", dict(betas=(1.0, 0.999)), ValueError, "Invalid beta parameter at index 0: 1.0"),
    ("Adam", dict(betas=(0.9, -0.1)), ValueError, "Invalid beta parameter at index 1"),
    ("Adam", dict(betas=0.9), TypeError, "betas must be a pair"),
    ("Adam", dict(eps=-1e-8), ValueError, "Invalid epsilon value"),
    ("AdamW", dict(weight_decay=-0.01), ValueError, "Invalid weight_decay value"),
    ("Adam", dict(amsgrad="yes"), TypeError, "amsgrad must be a bool"),
    ("Adam", dict(foreach=True), TypeError, "foreach"),
])
def test_bad_hyper_parameters(name, kw, exc, match):
    with pytest.raises(exc, match=match):
        getattr(optim, name)([Param(np.zeros(3))], **kw)


def test_bad_params_and_gradients():
    with pytest.raises(ValueError, match="empty parameter list"):
        optim.SGD([])
    with pytest.raises(TypeError, match="single"):
        optim.SGD(Param(np.zeros(3)))
    with pytest.raises(TypeError, match=r"\.data and \.grad"):
        optim.SGD([np.zeros(3)])
    with pytest.raises(TypeError, match="float32 or float64"):
        optim.SGD([Param(np.zeros(3, np.int64))])
    with pytest.raises(TypeError, match="not a set"):
        optim.SGD({Param(np.zeros(3))})
    a = Param(np.zeros(3))
    opt = optim.SGD([a])
    a.grad = np.zeros(4)
    with pytest.raises(ValueError, match=r"grad has shape \(4,\)"):
        opt.step()
    a.grad = np.zeros(3, np.float32)
    with pytest.raises(TypeError, match="dtype float32"):
        opt.step()
    a.grad = np.zeros(6)[::2]
    with pytest.raises(ValueError, match="C-contiguous"):
        opt.step()
