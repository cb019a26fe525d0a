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


def per_parameter_path(opt):
    """Make ``opt`` take one ``_update`` per parameter (the reference path), not its multi-tensor kernel."""
    opt._multi_tensor = False


# rule -> (options, an option switched on mid-run, a state buffer replaced mid-run)
MULTI_TENSOR_RULES = {
    "Adam": (dict(lr=0.05, weight_decay=0.01), ("amsgrad", True), "exp_avg"),
    "AdamW": (dict(lr=0.05), ("amsgrad", True), "exp_avg_sq"),
    "SGD": (dict(lr=0.05, momentum=0.9, dampening=0.3, weight_decay=0.01), ("momentum", 0.5), "momentum_buffer"),
    "RMSprop": (dict(lr=0.01, momentum=0.5, weight_decay=0.01), ("centered", True), "square_avg"),
    "Adagrad": (dict(lr=0.05, lr_decay=0.1, initial_accumulator_value=0.2), ("weight_decay", 0.1), "sum"),
    "Adadelta": (dict(lr=0.5, weight_decay=0.01), ("rho", 0.5), "acc_delta"),
}


@pytest.mark.parametrize("name", sorted(MULTI_TENSOR_RULES))
def test_multi_tensor_step_follows_every_change_between_steps(use_backend, name):
    """Every rule updates all parameters of a group in one cached multi-tensor call: replacing
    a grad or data array, freezing a parameter, editing the group list, switching an option
    or the backend, loading a state dict and replacing a state array or a whole record must
    all be seen, exactly as by one update per parameter."""
    options, (switch, value), key = MULTI_TENSOR_RULES[name]

    def run(per_parameter):
        ps = [Param(rng_p.normal(size=s)) for s in [(3, 4), (5,), (2, 2)]]
        opt = getattr(optim, name)(ps, **options)
        if per_parameter:                               # the reference path: one _update per parameter
            per_parameter_path(opt)
        extra = Param(rng_p.normal(size=(4,)))
        for step in range(14):
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
                opt.param_groups[0][switch] = value
            if step == 7:
                use_backend("numpy")
            if step == 8:
                use_backend("native")
            if step == 9:
                opt.load_state_dict(opt.state_dict())        # fresh state arrays
            if step == 10:
                ps[0].grad = None
            if step == 11:                                   # one state array replaced in the state dict
                opt.state[ps[1]][key] = opt.state[ps[1]][key] * 0.5
            if step == 12:                                   # a whole state record replaced
                opt.state[ps[2]] = {}
            opt.step()
        return [p.data for p in ps + [extra]] + [opt.state_dict()]

    rng_p, rng_g = np.random.default_rng(1), np.random.default_rng(2)
    want = run(True)
    rng_p, rng_g = np.random.default_rng(1), np.random.default_rng(2)
    got = run(False)
    for g, w in zip(got[:-1], want[:-1]):
        np.testing.assert_array_equal(g, w)
    assert repr(got[-1]) == repr(want[-1])             # state (buffers, step counts) the same too


@pytest.mark.parametrize("per_parameter", [False, True])
@pytest.mark.parametrize("name", sorted(MULTI_TENSOR_RULES))
def test_step_count_set_by_hand_is_checked_before_any_update(name, per_parameter):
    ps = [Param(np.ones(3)), Param(np.ones(2))]
    opt = getattr(optim, name)(ps, lr=0.1)
    if per_parameter:
        per_parameter_path(opt)
    opt.step()
    before = [p.data.copy() for p in ps], repr(opt.state_dict()), {k: v for k, v in opt.state[ps[1]].items()
                                                                       if k == "step"}
    for bad, error in [("x", TypeError), (-1, ValueError), (2.5, ValueError), (None, TypeError)]:
        opt.state[ps[1]]["step"] = bad
        with pytest.raises(error, match=r"parameter 1 \(param_groups\[0\]\): optimizer state 'step'"):
            opt.step()
        opt.state[ps[1]].pop("step")
        opt.state[ps[1]].update(before[2])
        assert all(np.array_equal(p.data, b) for p, b in zip(ps, before[0])) and repr(opt.state_dict()) == before[1]
    opt.state[ps[1]]["step"] = np.float64(1.0)         # as a loaded PyTorch step: taken as the int 1
    opt.step()
    assert type(opt.state[ps[1]]["step"]) is int and opt.state[ps[1]]["step"] == 2 - (name == "SGD")


@pytest.mark.parametrize("per_parameter", [False, True])
@pytest.mark.parametrize("name", sorted(MULTI_TENSOR_RULES))
def test_step_if_finite_refused_changes_nothing_even_at_the_first_step(name, per_parameter):
    """A non-finite gradient: no parameter, buffer, record or step count changes (the buffers
    a refused first step made go again); the next finite step is a first step, bit for bit."""
    options, (switch, value), _ = MULTI_TENSOR_RULES[name]

    def fresh_optimizer():
        ps = [Param(np.linspace(-1, 1, 12).reshape(3, 4)), Param(np.ones(5)), Param(np.ones(2))]
        opt = getattr(optim, name)(ps, **options)
        if per_parameter:
            per_parameter_path(opt)
        for p in ps:
            p.grad[...] = 0.25
        return ps, opt

    ps, opt = fresh_optimizer()
    empty = repr(opt.state_dict())
    for where in [(0, (1, 2)), (1, (4,)), (2, (0,))]:
        ps[where[0]].grad[where[1]] = np.nan
        assert opt._step_if_finite() is False
        ps[where[0]].grad[where[1]] = 0.25
        assert repr(opt.state_dict()) == empty and not opt.state
        assert all(np.array_equal(p.data, q.data) for p, q in zip(ps, fresh_optimizer()[0]))
    assert opt._step_if_finite() is True
    ref, ref_opt = fresh_optimizer()
    ref_opt.step()
    for p, q in zip(ps, ref):
        np.testing.assert_array_equal(p.data, q.data)
    assert repr(opt.state_dict()) == repr(ref_opt.state_dict())
    opt.param_groups[0][switch] = value                # a buffer added mid-run, then a refused step
    before = [p.data.copy() for p in ps], repr(opt.state_dict())
    ps[1].grad[0] = np.inf
    assert opt._step_if_finite() is False
    assert all(np.array_equal(p.data, b) for p, b in zip(ps, before[0])) and repr(opt.state_dict()) == before[1]


def test_sgd_momentum_buffer_set_to_none_starts_anew():
    """PyTorch reads a None momentum buffer as none yet: the next step sets it to the gradient
    (no dampening on that step), on both update paths."""
    for per_parameter in (False, True):
        a = Param(np.zeros(3))
        opt = optim.SGD([a], lr=1.0, momentum=0.9, dampening=0.5)
        if per_parameter:
            per_parameter_path(opt)
        a.grad[...] = 1.0
        opt.step()
        np.testing.assert_array_equal(opt.state[a]["momentum_buffer"], 1.0)    # b₁ = g
        opt.state[a]["momentum_buffer"] = None
        a.grad[...] = 2.0
        opt.step()
        np.testing.assert_array_equal(opt.state[a]["momentum_buffer"], 2.0)    # b = g again, not 0.9·0 + 0.5·2
        np.testing.assert_array_equal(a.data, -3.0)


def test_replaced_state_record_restarts_the_parameter():
    """Replacing opt.state[p] restarts p's moments (as in PyTorch); the old record is left alone."""
    a, b = Param(np.ones(3)), Param(np.ones(2))
    opt = optim.Adam([a, b], lr=0.1)
    a.grad[...], b.grad[...] = 1.0, 1.0
    opt.step()
    old = opt.state[a]
    saved = {key: np.copy(v) for key, v in old.items()}
    opt.state[a] = {}
    opt.step()
    assert opt.state[a]["step"] == 1 and opt.state[b]["step"] == 2
    np.testing.assert_allclose(opt.state[a]["exp_avg"], 0.1)
    for key, v in saved.items():
        np.testing.assert_array_equal(old[key], v)


@pytest.mark.parametrize("name", ["SGD", "Adam"])                  # one update per parameter; multi-tensor
def test_state_record_that_is_not_a_dict_is_named(name):
    a, b = Param(np.ones(3)), Param(np.ones(2))
    opt = getattr(optim, name)([a, b], lr=0.1)
    opt.step()
    opt.state[b] = [np.zeros(2)]
    with pytest.raises(TypeError, match=r"parameter 1 \(param_groups\[0\]\): optimizer state record must be a dict"):
        opt.step()


def _assert_unchanged(opt, before, groups):
    """opt's state and param_groups are those saved in ``before`` (a state_dict) and ``groups`` (the list)."""
    assert opt.param_groups is groups
    after = opt.state_dict()
    assert after["param_groups"] == before["param_groups"]
    assert after["state"].keys() == before["state"].keys()
    for i, record in before["state"].items():
        assert after["state"][i].keys() == record.keys()
        for key, v in record.items():
            np.testing.assert_array_equal(after["state"][i][key], v)


@pytest.mark.parametrize("step", [10**400, -1, -2, float("nan"), float("inf"), 1.5, 2**63])
def test_load_state_dict_rejects_bad_step_count(step):
    params, opt = _run("Adam", dict(lr=0.01, betas=(0.0, 0.5)), np.float64, steps=2)
    before, groups = opt.state_dict(), opt.param_groups
    bad = opt.state_dict()
    bad["param_groups"][0]["lr"] = 0.5
    bad["state"][1]["step"] = step
    with pytest.raises(ValueError, match=r"parameter 1: 'step' must be an integer in \[0, 2\*\*63\)"):
        opt.load_state_dict(bad)
    _assert_unchanged(opt, before, groups)
    opt.step()                                          # still usable


@pytest.mark.parametrize("step", [True, "3", None, np.zeros(2)])
def test_load_state_dict_rejects_step_count_of_wrong_type(step):
    params, opt = _run("Adam", dict(lr=0.01), np.float64, steps=2)
    before, groups = opt.state_dict(), opt.param_groups
    bad = opt.state_dict()
    bad["state"][3]["step"] = step
    with pytest.raises(TypeError, match="parameter 3: 'step' must be a non-negative integer"):
        opt.load_state_dict(bad)
    _assert_unchanged(opt, before, groups)


@pytest.mark.parametrize("step", [np.int64(7), np.uint8(7), 7.0, np.float32(7), np.array(7.0, np.float32)])
def test_load_state_dict_accepts_integral_step_counts(step):
    """PyTorch keeps step as a 0-d float tensor; loaded, it is a Python int."""
    params, opt = _run("Adam", dict(lr=0.01), np.float64, steps=2)
    sd = opt.state_dict()
    sd["state"][0]["step"] = step
    opt.load_state_dict(sd)
    assert type(opt.state[params[0]]["step"]) is int and opt.state[params[0]]["step"] == 7


DELETE = object()


def _edit(path, value):
    """A function editing a state dict: sets (or deletes, for value DELETE) the entry at ``path``."""
    def edit(sd):
        *head, last = path
        for key in head:
            sd = sd[key]
        if value is DELETE:
            del sd[last]
        else:
            sd[last] = value(sd[last]) if callable(value) else value
    return edit


@pytest.mark.parametrize("edit,exc,match", [
    (_edit(["param_groups", 0, "params"], DELETE), TypeError, 'parameter group 0 .* "params" list'),
    (_edit(["param_groups", 0], [0, 1]), TypeError, 'parameter group 0 .* must be a dict'),
    (_edit(["param_groups"], lambda g: {0: g[0]}), TypeError, '"param_groups" must be a list'),
    (_edit(["param_groups", 0, "params"], lambda ids: ids[:-1] + ["4"]), TypeError, "indices must be integers"),
    (_edit(["param_groups", 0, "params"], lambda ids: ids[:-1] + [0]), ValueError, "more than once"),
    (_edit(["param_groups", 0, "lr"], "x"), TypeError, r"parameter group 0 .*: lr must be a real number"),
    (_edit(["param_groups", 0, "eps"], DELETE), ValueError, r"parameter group 0 .* missing \['eps'\]"),
    (_edit(["param_groups", 0, "nesterov"], True), ValueError, "unknown"),
    (_edit(["state"], lambda st: list(st.values())), TypeError, '"state" must be a dict'),
    (_edit(["state"], lambda st: {"0": st[0]}), TypeError, "indices must be integers"),
    (_edit(["state"], lambda st: {9: st[0]}), ValueError, "parameter 9, which no group lists"),
    (_edit(["state", 2], lambda r: list(r.values())), TypeError, "state of parameter 2 must be a dict"),
    (_edit(["state", 2], lambda r: {**r, 5: 1}), TypeError, "parameter 2: keys must be strings"),
    (_edit(["state", 2, "exp_avg"], lambda a: a + 1j), TypeError, "parameter 2: 'exp_avg' must be a float array"),
    (_edit(["state", 2, "exp_avg_sq"], lambda a: a.astype(np.int64)), TypeError, "'exp_avg_sq' must be a float"),
    (_edit(["state", 0, "exp_avg"], lambda a: a.T), ValueError, r"parameter 0: 'exp_avg' has shape \(9, 7\)"),
    (_edit(["state", 2, "exp_avg"], "abc"), TypeError, "'exp_avg' must be an ndarray or a number"),
])
def test_load_state_dict_rejects_bad_structure_and_changes_nothing(edit, exc, match):
    params, opt = _run("Adam", dict(lr=0.01), np.float64, steps=2)
    before, groups = opt.state_dict(), opt.param_groups
    bad = opt.state_dict()
    bad["param_groups"][0]["lr"] = 0.5                  # a valid change that must not be applied
    edit(bad)
    with pytest.raises(exc, match=match):
        opt.load_state_dict(bad)
    _assert_unchanged(opt, before, groups)


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


@pytest.mark.parametrize("name", ["SGD", "Adam"])                  # one update per parameter; multi-tensor
def test_replaced_parameter_data_of_another_dtype_is_named(name):
    a, b, c = Param(np.ones(3)), Param(np.ones(2)), Param(np.ones(4))
    opt = getattr(optim, name)([{"params": [a]}, {"params": [b, c], "lr": 0.5}], lr=0.1)
    opt.step()
    c.data, c.grad = np.ones(4, np.int64), np.ones(4, np.int64)
    with pytest.raises(TypeError, match=r"parameter 2 \(param_groups\[1\]\): data must be float32 or float64, "
                                        r"got int64"):
        opt.step()
    c.data = np.ones(4)
    with pytest.raises(TypeError, match=r"parameter 2 \(param_groups\[1\]\): grad has dtype int64"):
        opt.step()
    with pytest.raises(TypeError, match=r"parameter 1 \(param_groups\[0\]\): data must be float32"):
        getattr(optim, name)([a, Param(np.ones(2, np.int32))])


@pytest.mark.parametrize("name,key", [("Adam", "exp_avg"), ("Adam", "exp_avg_sq"), ("SGD", "momentum_buffer"),
                                      ("RMSprop", "square_avg"), ("Adagrad", "sum"), ("Adadelta", "acc_delta")])
@pytest.mark.parametrize("per_parameter", [False, True])
@pytest.mark.parametrize("bad", ["transposed", "strided", "read-only", "list"])
def test_state_buffer_not_updatable_in_place_is_rejected(name, key, per_parameter, bad):
    """A state buffer the kernels cannot update in place is an error on both update paths (the
    multi-tensor one would otherwise update a copy), and the failed step changes nothing."""
    a, b = Param(np.ones(3)), Param(np.ones((2, 3)))
    opt = getattr(optim, name)([a, b], lr=0.1, **({"momentum": 0.9} if name == "SGD" else {}))
    if per_parameter:
        per_parameter_path(opt)
    a.grad[...], b.grad[...] = 1.0, 1.0
    opt.step()
    buf = opt.state[b][key]
    opt.state[b][key] = {"transposed": np.ascontiguousarray(buf.T).T, "strided": np.repeat(buf, 2, axis=1)[:, ::2],
                         "read-only": buf.copy(), "list": buf.tolist()}[bad]
    if bad == "read-only":
        opt.state[b][key].flags.writeable = False
    before = opt.state_dict()
    data = [a.data.copy(), b.data.copy()]
    exc, match = ((TypeError, "must be a numpy.ndarray") if bad == "list"
                  else (ValueError, "must be a writeable C-contiguous"))
    with pytest.raises(exc, match=rf"parameter 1 \(param_groups\[0\]\): optimizer state '{key}' {match}"):
        opt.step()
    np.testing.assert_array_equal(b.data, data[1])
    assert opt.state_dict()["state"][1].get("step") == before["state"][1].get("step")
    np.testing.assert_array_equal(a.data, data[0])         # every path checks all before updating any


@pytest.mark.parametrize("value,exc,match", [
    ("x", TypeError, r"param_groups\[1\]: lr must be a real number, got str"),
    (float("nan"), ValueError, r"param_groups\[1\]: Invalid learning rate: nan \(lr\)"),
    (-0.1, ValueError, r"param_groups\[1\]: Invalid learning rate: -0.1 \(lr\)"),
    (True, TypeError, r"param_groups\[1\]: lr must be a real number, got bool"),
    (DELETE, ValueError, r"param_groups\[1\] does not fit Adam: missing \['lr'\]"),
])
@pytest.mark.parametrize("name", ["Adam", "RMSprop"])                # multi-tensor; one update per parameter
def test_hyper_parameters_edited_between_steps_are_checked(name, value, exc, match):
    a, b = Param(np.ones(3)), Param(np.ones(2))
    opt = getattr(optim, name)([{"params": [a]}, {"params": [b]}], lr=0.1)
    a.grad[...], b.grad[...] = 1.0, 1.0
    opt.step()
    if value is DELETE:
        del opt.param_groups[1]["lr"]
    else:
        opt.param_groups[1]["lr"] = value
    data = [a.data.copy(), b.data.copy()]
    with pytest.raises(exc, match=match.replace("Adam", name)):
        opt.step()
    np.testing.assert_array_equal(a.data, data[0])        # no group is updated by a failing step
    np.testing.assert_array_equal(b.data, data[1])
    opt.param_groups[1]["lr"] = np.float64(0.2)           # as a scheduler may write it
    opt.step()
    assert type(opt.param_groups[1]["lr"]) is float and (b.data < data[1]).all()


def test_hyper_parameters_are_checked_again_only_when_replaced():
    """The per-step check is an identity test per value; a rule's _check runs only on a change."""
    a = Param(np.ones(3))
    opt = optim.SGD([a], lr=0.1, momentum=0.9, nesterov=True)
    calls = []
    check = opt._check
    opt._check = lambda group: (calls.append(1), check(group))
    for _ in range(3):
        opt.step()
    assert len(calls) == 1                                  # the first step
    opt.param_groups[0]["lr"] = 0.05
    opt.step()
    opt.step()
    assert len(calls) == 2
    opt.param_groups[0]["momentum"] = 0.0                  # a combination check: nesterov needs momentum
    with pytest.raises(ValueError, match=r"param_groups\[0\]: Nesterov momentum requires a momentum"):
        opt.step()


@pytest.mark.parametrize("name", ["SGD", "Adagrad", "Adadelta", "RMSprop", "Adam", "AdamW"])
@pytest.mark.parametrize("per_parameter", [False, True])
def test_a_refused_parameter_in_a_later_group_leaves_every_group_unchanged(name, per_parameter):
    """step checks every group's gradients and state before it updates any parameter, so a
    refused one (here a float32 grad on float64 data, in the second group) changes nothing."""
    a, b, c = Param(np.ones(3)), Param(np.ones((2, 3))), Param(np.ones(4))
    extra = {"momentum": 0.9} if name == "SGD" else {}
    opt = getattr(optim, name)([{"params": [a, b]}, {"params": [c], "lr": 0.5}], lr=0.1, **extra)
    if per_parameter:
        per_parameter_path(opt)
    for p in (a, b, c):
        p.grad[...] = 1.0
    opt.step()
    before = opt.state_dict()
    data = [p.data.copy() for p in (a, b, c)]
    c.grad = np.ones(4, np.float32)
    with pytest.raises(TypeError, match=r"parameter 2 \(param_groups\[1\]\): grad has dtype float32"):
        opt.step()
    for p, d in zip((a, b, c), data):
        np.testing.assert_array_equal(p.data, d)
    assert repr(opt.state_dict()) == repr(before)
