"""Parity with torch.nn in float64: forward values, input and parameter gradients of every
module and loss agree within 1e-6, with weights copied across (state dict keys included).
Random modules are compared where their randomness is off (RReLU in eval, dropout p = 0/eval)."""
import numpy as np
import pytest

from fastnn import nn
from fastnn.reference.activation import ACTIVATIONS

torch = pytest.importorskip("torch")
F = torch.nn.functional
F64 = np.float64


def _close(a, b, what=""):
    np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-9, err_msg=what)


def _x(b=7, f=5, seed=0, scale=2.0):
    return np.random.default_rng(seed).standard_normal((b, f)) * scale


def _copy_into_torch(ours, tmod):
    with torch.no_grad():
        for name, p in tmod.state_dict().items():
            p.copy_(torch.from_numpy(ours.state_dict()[name]))


def _check(ours, tmod, x, what=""):
    """Forward and backward (grad_output random) of both; compare output, grad_x, parameter grads."""
    ours.zero_grad()
    y = ours.forward(x).copy()
    g = np.random.default_rng(99).standard_normal(y.shape)
    gx = ours.backward(g).copy()
    xt = torch.tensor(x, requires_grad=True)
    yt = tmod(xt)
    yt.backward(torch.from_numpy(g))
    _close(y, yt.detach().numpy(), f"{what} output")
    _close(gx, xt.grad.numpy(), f"{what} grad_input")
    if isinstance(tmod, _Fn):                         # parameters live in the closure: compared by the caller
        return
    tparams = dict(tmod.named_parameters())
    for name, p in ours.named_parameters():
        _close(p.grad, tparams[name].grad.numpy(), f"{what} grad {name}")


class _Fn(torch.nn.Module):
    def __init__(self, fn):
        super().__init__()
        self.fn = fn

    def forward(self, x):
        return self.fn(x)


ACT_PAIRS = [
    (nn.Identity(), torch.nn.Identity()), (nn.Sigmoid(), torch.nn.Sigmoid()), (nn.Tanh(), torch.nn.Tanh()),
    (nn.ReLU(), torch.nn.ReLU()), (nn.LeakyReLU(), torch.nn.LeakyReLU()), (nn.LeakyReLU(0.2), torch.nn.LeakyReLU(0.2)),
    (nn.ELU(), torch.nn.ELU()), (nn.ELU(0.7), torch.nn.ELU(0.7)), (nn.SELU(), torch.nn.SELU()),
    (nn.CELU(), torch.nn.CELU()), (nn.CELU(1.3), torch.nn.CELU(1.3)), (nn.Softplus(), torch.nn.Softplus()),
    (nn.Softplus(2.0, 5.0), torch.nn.Softplus(2.0, 5.0)), (nn.Softsign(), torch.nn.Softsign()),
    (nn.Hardtanh(), torch.nn.Hardtanh()), (nn.Hardtanh(-0.5, 2.0), torch.nn.Hardtanh(-0.5, 2.0)),
    (nn.Hardsigmoid(), torch.nn.Hardsigmoid()), (nn.SiLU(), torch.nn.SiLU()), (nn.GELU(), torch.nn.GELU()),
    (nn.GELU("tanh"), torch.nn.GELU("tanh")), (nn.Mish(), torch.nn.Mish()),
    (nn.MaxExp(), _Fn(lambda x: torch.maximum(x, x * torch.exp(-x.abs())))),
    (nn.Hardsigmoid("linear"), _Fn(lambda x: torch.clamp(0.2 * x + 0.5, 0, 1))),
]

TORCH_ACT = {
    "identity": lambda z: z, "relu": F.relu, "leaky_relu": F.leaky_relu, "sigmoid": torch.sigmoid,
    "tanh": torch.tanh, "gelu": F.gelu, "gelu_tanh": lambda z: F.gelu(z, approximate="tanh"), "elu": F.elu,
    "selu": F.selu, "celu": F.celu, "softplus": F.softplus, "softsign": F.softsign, "hardtanh": F.hardtanh,
    "hardsigmoid": F.hardsigmoid, "hardsigmoid_linear": lambda z: torch.clamp(0.2 * z + 0.5, 0, 1),
    "silu": F.silu, "mish": F.mish, "maxexp": lambda z: torch.maximum(z, z * torch.exp(-z.abs())),
}


@pytest.mark.parametrize("pair", ACT_PAIRS, ids=lambda p: repr(p[0]))
def test_activation_modules(backend, pair):
    ours, tmod = pair
    _check(nn.from_config(ours.get_config()), tmod, _x(scale=3.0), repr(ours))


@pytest.mark.parametrize("num_parameters", [1, 5])
def test_prelu(backend, num_parameters):
    ours = nn.PReLU(num_parameters, init=0.1, dtype=F64)
    ours.weight.data[...] = np.linspace(-0.3, 0.6, num_parameters)
    tmod = torch.nn.PReLU(num_parameters, dtype=torch.float64)
    _copy_into_torch(ours, tmod)
    _check(ours, tmod, _x())


def test_rrelu_eval(backend):
    _check(nn.RReLU().eval(), torch.nn.RReLU().eval(), _x())


@pytest.mark.parametrize("activation", sorted(ACTIVATIONS))
def test_linear_with_activation(backend, activation):
    ours = nn.Linear(5, 4, activation=activation, dtype=F64, rng=0)
    lin = torch.nn.Linear(5, 4, dtype=torch.float64)
    _copy_into_torch(ours, lin)
    _check(ours, _Fn(lambda x: TORCH_ACT[activation](lin(x))), _x(), activation)
    _close(ours.weight.grad, lin.weight.grad.numpy(), "weight grad")
    _close(ours.bias.grad, lin.bias.grad.numpy(), "bias grad")


@pytest.mark.parametrize("kwargs", [{}, {"momentum": None}, {"momentum": 0.3, "eps": 1e-3},
                                    {"affine": False}, {"track_running_stats": False}])
def test_batchnorm_training_steps_running_stats_and_eval(backend, kwargs):
    ours = nn.BatchNorm1d(5, dtype=F64, **kwargs)
    tmod = torch.nn.BatchNorm1d(5, dtype=torch.float64, **kwargs)
    if ours.affine:
        ours.weight.data[...] = np.linspace(0.5, 1.5, 5)
        ours.bias.data[...] = np.linspace(-1, 1, 5)
        _copy_into_torch(ours, tmod)
    for step in range(4):
        tmod.zero_grad()
        _check(ours, tmod, _x(9, seed=step, scale=step + 1) + step, f"step {step}")
    sd, tsd = ours.state_dict(), tmod.state_dict()
    assert list(sd) == list(tsd)
    for k in sd:
        _close(sd[k], tsd[k].numpy(), k)
    ours.eval(), tmod.eval()
    tmod.zero_grad()
    _check(ours, tmod, _x(3, seed=10), "eval")


@pytest.mark.parametrize("kwargs", [{}, {"elementwise_affine": False}, {"bias": False}, {"eps": 1e-3}])
def test_layernorm(backend, kwargs):
    ours = nn.LayerNorm(5, dtype=F64, **kwargs)
    tmod = torch.nn.LayerNorm(5, dtype=torch.float64, **kwargs)
    if ours.weight is not None:
        ours.weight.data[...] = np.linspace(0.5, 1.5, 5)
    if ours.bias is not None:
        ours.bias.data[...] = np.linspace(-1, 1, 5)
    _copy_into_torch(ours, tmod)
    _check(ours, tmod, _x() + 3)


def test_maxout(backend):
    ours = nn.Maxout(5, 3, 4, dtype=F64, rng=0)
    lin = torch.nn.Linear(5, 12, dtype=torch.float64)
    with torch.no_grad():
        lin.weight.copy_(torch.from_numpy(ours.linear.weight.data))
        lin.bias.copy_(torch.from_numpy(ours.linear.bias.data))
    _check(ours, _Fn(lambda x: lin(x).view(-1, 3, 4).max(dim=-1).values), _x())
    _close(ours.linear.weight.grad, lin.weight.grad.numpy(), "weight grad")
    _close(ours.linear.bias.grad, lin.bias.grad.numpy(), "bias grad")


@pytest.mark.parametrize("dim", [-1, 1, 0, -2])
def test_glu(backend, dim):
    _check(nn.GLU(dim), torch.nn.GLU(dim), _x(8, 6))


def test_sequential_fused_and_residual_against_torch_layout(backend):
    ours = nn.Sequential(
        nn.Linear(5, 8, dtype=F64), nn.ReLU(), nn.Linear(8, 8, dtype=F64), nn.GELU(), nn.BatchNorm1d(8, dtype=F64),
        nn.Dropout(0.0), nn.Linear(8, 6, dtype=F64), nn.LayerNorm(6, dtype=F64), nn.Linear(6, 3, dtype=F64), nn.Tanh())
    tmod = torch.nn.Sequential(
        torch.nn.Linear(5, 8), torch.nn.ReLU(), torch.nn.Linear(8, 8), torch.nn.GELU(), torch.nn.BatchNorm1d(8),
        torch.nn.Dropout(0.0), torch.nn.Linear(8, 6), torch.nn.LayerNorm(6), torch.nn.Linear(6, 3),
        torch.nn.Tanh()).double()
    ours.load_state_dict({k: v.numpy() for k, v in tmod.state_dict().items()})   # strict: same keys, shapes, dtypes
    _check(ours, tmod, _x(), "train")
    ours.eval(), tmod.eval()
    tmod.zero_grad()
    _check(ours, tmod, _x(seed=1), "eval")


def test_residual(backend):
    block = nn.Sequential(nn.Linear(5, 5, dtype=F64), nn.SiLU())
    proj_block, proj = nn.Linear(5, 3, dtype=F64), nn.Linear(5, 3, bias=False, dtype=F64)
    tblock = torch.nn.Sequential(torch.nn.Linear(5, 5), torch.nn.SiLU()).double()
    tpb, tproj = torch.nn.Linear(5, 3).double(), torch.nn.Linear(5, 3, bias=False).double()
    _copy_into_torch(block, tblock)
    _copy_into_torch(proj_block, tpb)
    _copy_into_torch(proj, tproj)
    _check(nn.Residual(block), _Fn(lambda x: x + tblock(x)), _x())
    _close(block[0].weight.grad, tblock[0].weight.grad.numpy())
    _check(nn.Residual(proj_block, projection=proj), _Fn(lambda x: tproj(x) + tpb(x)), _x())
    _close(proj.weight.grad, tproj.weight.grad.numpy())


LOSSES = {
    "mse": (lambda r: nn.MSELoss(reduction=r), lambda r: torch.nn.MSELoss(reduction=r), "real"),
    "bce": (lambda r: nn.BCEWithLogitsLoss(reduction=r), lambda r: torch.nn.BCEWithLogitsLoss(reduction=r), "unit"),
    "huber": (lambda r: nn.HuberLoss(reduction=r, delta=0.7),
              lambda r: torch.nn.HuberLoss(reduction=r, delta=0.7), "real"),
    "ce": (lambda r: nn.CrossEntropyLoss(reduction=r), lambda r: torch.nn.CrossEntropyLoss(reduction=r), "labels"),
    "ce_probs": (lambda r: nn.CrossEntropyLoss(reduction=r), lambda r: torch.nn.CrossEntropyLoss(reduction=r), "probs"),
    "ce_smooth": (lambda r: nn.CrossEntropyLoss(reduction=r, label_smoothing=0.15),
                  lambda r: torch.nn.CrossEntropyLoss(reduction=r, label_smoothing=0.15), "labels"),
    "ce_probs_smooth": (lambda r: nn.CrossEntropyLoss(reduction=r, label_smoothing=0.15),
                        lambda r: torch.nn.CrossEntropyLoss(reduction=r, label_smoothing=0.15), "probs"),
}


@pytest.mark.parametrize("reduction", ["mean", "sum"])
@pytest.mark.parametrize("name", sorted(LOSSES))
def test_losses(backend, name, reduction):
    make, tmake, kind = LOSSES[name]
    rng = np.random.default_rng(0)
    pred = rng.standard_normal((9, 4)) * 3
    target = {"real": lambda: rng.standard_normal((9, 4)), "unit": lambda: rng.uniform(size=(9, 4)),
              "labels": lambda: rng.integers(0, 4, 9), "probs": lambda: rng.dirichlet(np.ones(4), 9)}[kind]()
    loss = make(reduction)
    value = loss(pred, target)
    pt = torch.tensor(pred, requires_grad=True)
    tv = tmake(reduction)(pt, torch.from_numpy(target))
    tv.backward()
    assert value == pytest.approx(tv.item(), rel=1e-12)
    _close(loss.backward(), pt.grad.numpy(), "grad")
