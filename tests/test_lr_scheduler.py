"""fastnn.optim.lr_scheduler: values against torch.optim.lr_scheduler over many epochs
(two parameter groups), the warm-up cosine closed form, plateau logic, state dicts,
and the attribute (annealed dropout) schedules."""
import math

import numpy as np
import pytest

from fastnn import optim
from fastnn.optim import lr_scheduler as sched

EPOCHS = 120
LRS = (0.1, 0.03)


class Param:
    def __init__(self, n=2):
        self.data = np.zeros(n)
        self.grad = np.zeros(n)


def _ours():
    return optim.SGD([{"params": [Param()], "lr": LRS[0]}, {"params": [Param()], "lr": LRS[1]}], momentum=0.9)


def _theirs(torch):
    ps = [torch.nn.Parameter(torch.zeros(2)) for _ in LRS]
    return torch.optim.SGD([{"params": [p], "lr": lr} for p, lr in zip(ps, LRS)], momentum=0.9)


SCHEDULES = [
    ("StepLR", dict(step_size=7, gamma=0.5)),
    ("StepLR", dict(step_size=1, gamma=0.9)),
    ("MultiStepLR", dict(milestones=[10, 30, 30, 60], gamma=0.3)),
    ("ExponentialLR", dict(gamma=0.95)),
    ("CosineAnnealingLR", dict(T_max=25, eta_min=1e-4)),
    ("CosineAnnealingLR", dict(T_max=40)),
]


@pytest.mark.parametrize("name,kw", SCHEDULES)
def test_matches_torch_over_many_epochs(name, kw):
    torch = pytest.importorskip("torch")
    opt, topt = _ours(), _theirs(torch)
    s = getattr(sched, name)(opt, **kw)
    ts = getattr(torch.optim.lr_scheduler, name)(topt, **kw)
    assert s.get_last_lr() == ts.get_last_lr()
    seen = set()
    for _ in range(EPOCHS):
        opt.step()
        topt.step()
        s.step()
        ts.step()
        assert s.get_last_lr() == ts.get_last_lr()                 # same recursion: same bits
        assert [g["lr"] for g in opt.param_groups] == s.get_last_lr()
        seen.add(round(s.get_last_lr()[0], 12))
    assert len(seen) > 3


def test_step_and_exponential_closed_forms():
    opt = _ours()
    s = sched.StepLR(opt, step_size=5, gamma=0.5)
    for epoch in range(1, 30):
        s.step()
        assert s.get_last_lr()[1] == pytest.approx(LRS[1] * 0.5 ** (epoch // 5), rel=1e-14)
    opt = _ours()
    s = sched.ExponentialLR(opt, gamma=0.9)
    for epoch in range(1, 30):
        s.step()
        assert s.get_last_lr()[0] == pytest.approx(LRS[0] * 0.9 ** epoch, rel=1e-13)


def _warmup_cosine(base, t, warmup, total, min_lr=0.0, start=0.0):
    if t < warmup:
        return base * (start + (1 - start) * t / warmup)
    t = min(t, total)
    return min_lr + (base - min_lr) * 0.5 * (1 + math.cos(math.pi * (t - warmup) / (total - warmup)))


@pytest.mark.parametrize("warmup,total,min_lr,start", [(5, 50, 0.0, 0.0), (10, 40, 1e-3, 0.1), (0, 30, 0.0, 0.0)])
def test_cosine_warmup_closed_form(warmup, total, min_lr, start):
    opt = _ours()
    s = sched.CosineWarmup(opt, warmup, total, min_lr=min_lr, start_factor=start)
    lrs = [s.get_last_lr()]
    for _ in range(total + 10):
        s.step()
        lrs.append(s.get_last_lr())
    for t, got in enumerate(lrs):
        for base, lr in zip(LRS, got):
            expected = _warmup_cosine(base, t, warmup, total, min_lr, start)
            assert lr == pytest.approx(expected, rel=1e-14, abs=1e-16)     # abs: 1 + cos(≈π) cancels
    assert lrs[0][0] == (LRS[0] * start if warmup else LRS[0])
    if warmup:
        assert lrs[warmup][0] == LRS[0] and lrs[warmup - 1][0] < LRS[0]
    assert lrs[-1] == [min_lr, min_lr]


def test_cosine_warmup_matches_torch_linear_then_cosine():
    torch = pytest.importorskip("torch")
    warmup, total = 8, 60
    opt, topt = _ours(), _theirs(torch)
    s = sched.CosineWarmup(opt, warmup, total, min_lr=1e-4, start_factor=0.25)
    ts = torch.optim.lr_scheduler.SequentialLR(topt, [
        torch.optim.lr_scheduler.LinearLR(topt, start_factor=0.25, end_factor=1.0, total_iters=warmup),
        torch.optim.lr_scheduler.CosineAnnealingLR(topt, T_max=total - warmup, eta_min=1e-4)], milestones=[warmup])
    for _ in range(total):
        assert s.get_last_lr() == pytest.approx(ts.get_last_lr(), rel=1e-12)
        opt.step()
        topt.step()
        s.step()
        ts.step()


@pytest.mark.parametrize("kw", [
    dict(mode="min", patience=3),
    dict(mode="min", patience=0, cooldown=2, factor=0.5, min_lr=0.02),
    dict(mode="max", patience=2, threshold=0.05, threshold_mode="abs"),
    dict(mode="max", patience=4, threshold=0.01, cooldown=1, min_lr=[0.0, 0.01]),
    dict(mode="min", patience=1, eps=0.01),
])
def test_reduce_on_plateau_matches_torch(kw):
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(0)
    # Improvement phases, plateaus and noise.
    metric = np.concatenate([np.linspace(1, 0.5, 15), 0.5 + 0.01 * rng.standard_normal(30),
                             np.linspace(0.5, 0.2, 10), 0.2 + 0.001 * rng.standard_normal(45)])
    if kw["mode"] == "max":
        metric = -metric
    opt, topt = _ours(), _theirs(torch)
    s = sched.ReduceLROnPlateau(opt, **kw)
    ts = torch.optim.lr_scheduler.ReduceLROnPlateau(topt, **kw)
    changes = 0
    for m in metric:
        before = s.get_last_lr()
        s.step(m)
        ts.step(m)
        assert s.get_last_lr() == ts.get_last_lr()
        assert (s.best, s.num_bad_epochs, s.cooldown_counter) == (ts.best, ts.num_bad_epochs, ts.cooldown_counter)
        changes += s.get_last_lr() != before
    assert changes >= 1


@pytest.mark.parametrize("name,kw", SCHEDULES + [("CosineWarmup", dict(warmup_steps=5, total_steps=50))])
def test_state_dict_resumes(name, kw):
    opt = _ours()
    s = getattr(sched, name)(opt, **kw)
    for _ in range(17):
        s.step()
    saved_opt, saved = opt.state_dict(), s.state_dict()
    expected = []
    for _ in range(40):
        s.step()
        expected.append(s.get_last_lr())
    opt2 = _ours()
    opt2.load_state_dict(saved_opt)
    s2 = getattr(sched, name)(opt2, **kw)
    s2.load_state_dict(saved)
    for lrs in expected:
        s2.step()
        assert s2.get_last_lr() == lrs


def test_plateau_state_dict_resumes():
    opt = _ours()
    s = sched.ReduceLROnPlateau(opt, patience=1)
    for m in [1.0, 0.9, 0.95, 0.96, 0.97]:
        s.step(m)
    opt2 = _ours()
    opt2.load_state_dict(opt.state_dict())
    s2 = sched.ReduceLROnPlateau(opt2, patience=1)
    s2.load_state_dict(s.state_dict())
    for m in [0.98, 0.5, 0.6, 0.7, 0.8]:
        s.step(m)
        s2.step(m)
        assert s.get_last_lr() == s2.get_last_lr()
    assert s.get_last_lr()[0] < LRS[0] / 50


def test_schedulers_compose_like_torch():
    torch = pytest.importorskip("torch")
    opt, topt = _ours(), _theirs(torch)
    ours = [sched.StepLR(opt, 5, 0.5), sched.ExponentialLR(opt, 0.97)]
    theirs = [torch.optim.lr_scheduler.StepLR(topt, 5, 0.5), torch.optim.lr_scheduler.ExponentialLR(topt, 0.97)]
    for _ in range(30):
        opt.step()
        topt.step()
        for a, b in zip(ours, theirs):
            a.step()
            b.step()
        assert [g["lr"] for g in opt.param_groups] == [g["lr"] for g in topt.param_groups]


@pytest.mark.parametrize("factory,exc,match", [
    (lambda o: sched.StepLR(o, step_size=0), ValueError, "step_size"),
    (lambda o: sched.MultiStepLR(o, milestones=[3, -1]), ValueError, "milestone"),
    (lambda o: sched.CosineAnnealingLR(o, T_max=0), ValueError, "T_max"),
    (lambda o: sched.CosineWarmup(o, 10, 10), ValueError, "greater than warmup_steps"),
    (lambda o: sched.CosineWarmup(o, 2, 10, start_factor=1.5), ValueError, "start_factor"),
    (lambda o: sched.ReduceLROnPlateau(o, factor=1.0), ValueError, "Factor should be < 1.0"),
    (lambda o: sched.ReduceLROnPlateau(o, mode="up"), ValueError, "mode"),
    (lambda o: sched.ReduceLROnPlateau(o, min_lr=[0.1]), ValueError, "expected 2 min_lrs"),
    (lambda o: sched.ExponentialLR(o, gamma="0.9"), TypeError, "gamma"),
    (lambda o: sched.StepLR(object(), 3), TypeError, "not a fastnn Optimizer"),
    (lambda o: sched.StepLR(o, 3, last_epoch=4), KeyError, "initial_lr"),
])
def test_bad_arguments(factory, exc, match):
    with pytest.raises(exc, match=match):
        factory(_ours())


# ------------------------------------------------------------------------------ attribute schedules

class FakeDropout:
    def __init__(self, p):
        self.p = p


class FakeModel:
    def __init__(self, *layers):
        self.layers = layers

    def modules(self):
        return iter((self,) + self.layers)


def test_linear_schedule():
    s = sched.LinearSchedule(0.5, 0.1, 4)
    assert [s(e) for e in range(7)] == pytest.approx([0.5, 0.4, 0.3, 0.2, 0.1, 0.1, 0.1], abs=1e-15)


def test_dropout_scheduler_walks_the_model():
    a, b, other = FakeDropout(0.5), FakeDropout(0.2), object()
    model = FakeModel(a, other, b)
    s = sched.DropoutScheduler(model, sched.LinearSchedule(0.5, 0.0, 5))
    assert a.p == b.p == 0.5
    values = []
    for _ in range(6):
        s.step()
        values.append((a.p, b.p))
    assert values == [pytest.approx((v, v)) for v in (0.4, 0.3, 0.2, 0.1, 0.0, 0.0)]
    assert s.get_last_value() == 0.0
    s2 = sched.DropoutScheduler(FakeModel(FakeDropout(0.5)), sched.LinearSchedule(0.5, 0.0, 5))
    s2.load_state_dict({"last_epoch": 2})
    assert s2.targets[0].p == pytest.approx(0.3)


def test_dropout_scheduler_on_fastnn_modules():
    nn = pytest.importorskip("fastnn.nn")
    model = nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Dropout(0.5), nn.Linear(8, 2), nn.Dropout(0.3))
    s = sched.DropoutScheduler(model, lambda epoch: 0.5 * 0.5 ** epoch, types=nn.Dropout)
    drops = [m for m in model.modules() if isinstance(m, nn.Dropout)]
    assert [d.p for d in drops] == [0.5, 0.5]
    s.step()
    assert [d.p for d in drops] == [0.25, 0.25]


def test_attribute_scheduler_on_objects_and_errors():
    a, b = FakeDropout(0.0), FakeDropout(0.0)
    sched.AttributeScheduler([a, b], "p", lambda e: e * 2.0).step()
    assert a.p == b.p == 2.0
    with pytest.raises(ValueError, match="no module"):
        sched.DropoutScheduler(FakeModel(object()), lambda e: 0.1)
    with pytest.raises(ValueError, match="dropout probability at epoch 0"):
        sched.DropoutScheduler(FakeDropout(0.1), lambda e: 1.5)
    with pytest.raises(TypeError, match="callable"):
        sched.DropoutScheduler(FakeDropout(0.1), 0.3)
    with pytest.raises(TypeError, match="no attribute 'p'"):
        sched.DropoutScheduler([object()], lambda e: 0.1)


@pytest.mark.parametrize("change, error, match", [
    (lambda d: d.update(last_epoch="x"), TypeError, "'last_epoch' must be like"),
    (lambda d: d.update(last_epoch=-5), ValueError, "last_epoch must be an integer >= -1"),
    (lambda d: d.update(base_lrs=[0.1, 0.2, 0.3]), TypeError, "'base_lrs' must be like"),
    (lambda d: d.update(gamma=True), TypeError, "'gamma' must be like"),
    (lambda d: d.update(step=3), ValueError, r"unknown keys \['step'\]"),
    (lambda d: d.pop("gamma"), ValueError, r"missing keys \['gamma'\]"),
])
def test_scheduler_load_state_dict_checks_before_changing(change, error, match):
    """A state dict must have this scheduler's keys with values of their kinds (a checkpoint
    entry that overwrote a method or held text would fail only later); nothing changes."""
    s = sched.StepLR(_ours(), step_size=2, gamma=0.5)
    for _ in range(3):
        s.step()
    before = s.state_dict()
    bad = dict(before)
    change(bad)
    with pytest.raises(error, match=match):
        s.load_state_dict(bad)
    assert s.state_dict() == before
    with pytest.raises(TypeError, match="takes a dict"):
        s.load_state_dict([("last_epoch", 1)])
    s.load_state_dict(dict(before, last_epoch=7, gamma=1))          # an int for a float is fine
    assert s.last_epoch == 7 and s.gamma == 1


@pytest.mark.parametrize("bad, error, match", [
    ({}, ValueError, r"DropoutScheduler state dict: unknown keys \[\], missing keys \['last_epoch'\]"),
    ({"last_epoch": 1, "p": 0.2}, ValueError, r"unknown keys \['p'\]"),
    ({"last_epoch": "a"}, TypeError, "'last_epoch' must be like 2"),
    ({"last_epoch": 1.0}, TypeError, "'last_epoch' must be like 2"),
    ({"last_epoch": -5}, ValueError, "last_epoch must be an integer >= -1"),
    ([("last_epoch", 1)], TypeError, "takes a dict"),
    (None, TypeError, "takes a dict"),
])
def test_dropout_scheduler_load_state_dict_checks_before_changing(bad, error, match):
    drop = FakeDropout(0.5)
    s = sched.DropoutScheduler(drop, sched.LinearSchedule(0.5, 0.0, 5))
    s.step()
    s.step()
    with pytest.raises(error, match=match):
        s.load_state_dict(bad)
    assert s.state_dict() == {"last_epoch": 2} and drop.p == pytest.approx(0.3)


def test_attribute_schedule_that_raises_changes_nothing():
    drop = FakeDropout(0.5)
    s = sched.DropoutScheduler(drop, lambda epoch: 0.1 if epoch < 3 else 2.0)
    s.step()
    with pytest.raises(ValueError, match="dropout probability at epoch 3"):
        s.load_state_dict({"last_epoch": 3})
    assert s.last_epoch == 1 and drop.p == 0.1 and s.get_last_value() == 0.1
    s.step()
    with pytest.raises(ValueError, match="dropout probability at epoch 3"):
        s.step()
    assert s.last_epoch == 2 and drop.p == 0.1


def test_multistep_load_state_dict_checks_milestones_before_changing():
    s = sched.MultiStepLR(_ours(), milestones=[2, 4, 4])
    s.step()
    before = s.state_dict()
    loop = {}
    loop["x"] = loop
    for milestones in ({"a": 1}, {"0": 1}, {2: "1"}, {2: True}, {2.5: 1}, {3: loop}):
        with pytest.raises(ValueError, match="'milestones' must map epochs >= 1 to counts >= 1"):
            s.load_state_dict(dict(before, last_epoch=5, milestones=milestones))
        assert s.state_dict() == before
    s.load_state_dict(dict(before, milestones={"3": 2, 6: 1}))     # JSON gives str keys
    assert s.milestones == {3: 2, 6: 1}
    loaded = dict(before, base_lrs=[0.5, 0.25])
    s.load_state_dict(loaded)
    loaded["base_lrs"].append(1.0)                                  # the scheduler keeps a copy
    assert s.base_lrs == [0.5, 0.25]
