"""Diagnostics: the classic activation-statistics demonstration, stats without side effects, plots."""
import re

import numpy as np
import pytest

from fastnn import init, nn, optim
from fastnn.diagnostics import activation_stats, format_table, plot_activation_histograms, plot_history
from fastnn.trainer import Trainer


pytestmark = pytest.mark.usefixtures("numpy_backend")      # conftest.py: every test on the NumPy kernels


def deep_mlp(activation, weight_init, units=500, layers=10):
    return nn.Sequential(*[nn.Linear(units, units, activation=activation, init=weight_init, rng=i)
                           for i in range(layers)])


@pytest.fixture(scope="module")
def X500():
    return np.random.default_rng(0).standard_normal((200, 500)).astype(np.float32)


def small_normal(w, rng):
    return init.normal_(w, 0.0, 0.01, rng=rng)


def test_small_init_collapses_tanh_activations(X500):
    rows = activation_stats(deep_mlp("tanh", small_normal), X500)
    stds = [r["std"] for r in rows]
    assert len(rows) == 10 and rows[0]["layer"] == "Linear(tanh)"
    assert all(b < 0.3 * a for a, b in zip(stds, stds[1:]))      # ×≈0.22 per layer
    assert stds[-1] < 1e-6
    assert all(r["saturated"] == 0.0 for r in rows)


def test_xavier_holds_tanh_and_he_holds_relu(X500):
    xavier = [r["std"] for r in activation_stats(deep_mlp("tanh", "xavier_normal"), X500)]
    assert all(0.15 < s < 0.8 for s in xavier), xavier
    he = activation_stats(deep_mlp("relu", lambda w, rng: init.kaiming_normal_(w, nonlinearity="relu", rng=rng)), X500)
    assert all(0.5 < r["std"] < 1.5 for r in he), [r["std"] for r in he]
    assert all(0.4 < r["zero_frac"] < 0.6 for r in he)             # half the ReLUs are off
    assert all(np.isnan(r["saturated"]) for r in he)


def test_saturation_and_nested_layers():
    model = nn.Sequential(nn.Linear(4, 64, rng=0, init=lambda w, rng: init.normal_(w, 0, 10, rng=rng)),
                          nn.Sequential(nn.Sigmoid(), nn.Linear(64, 3, rng=1)), nn.Tanh())
    X = np.random.default_rng(1).standard_normal((100, 4)).astype(np.float32)
    rows = activation_stats(model, X)
    assert [r["name"] for r in rows] == ["0", "1.0", "1.1", "2"]
    assert rows[1]["layer"] == "Sigmoid" and rows[1]["saturated"] > 0.5
    y = np.tanh(model[1][1].forward(model[1][0].forward(model[0].forward(X))).astype(np.float64))
    assert rows[3]["saturated"] == pytest.approx(np.mean(np.abs(y) > 0.99))
    table = format_table(rows)
    assert "Sigmoid" in table and table.count("\n") == len(rows) + 1
    with pytest.raises(TypeError, match="rows must be dicts"):
        format_table([1, 2])


def test_stats_change_no_state():
    model = nn.Sequential(nn.Linear(8, 16, rng=0), nn.BatchNorm1d(16), nn.ReLU(), nn.Dropout(0.5, seed=1))
    before = {k: v.copy() for k, v in model.state_dict().items()}
    X = np.random.default_rng(2).standard_normal((32, 8)).astype(np.float32) + 3.0
    rows = activation_stats(model, X)
    assert abs(rows[1]["mean"]) < 1e-5                           # batch statistics used (training mode)
    assert 0.6 < rows[3]["zero_frac"] < 0.9                      # ReLU zeros plus dropped units
    for k, v in model.state_dict().items():
        assert v.tobytes() == before[k].tobytes(), k
    assert model[3]._step == 0 and model.training


def test_plots_are_written(tmp_path):
    pytest.importorskip("matplotlib")
    X = np.random.default_rng(0).standard_normal((64, 8)).astype(np.float32)
    y = (X[:, 0] > 0).astype(np.int64)
    model = nn.Sequential(nn.Linear(8, 16, rng=0), nn.Tanh(), nn.Linear(16, 2, rng=1))
    h = Trainer(model, nn.CrossEntropyLoss(), optim.Adam(model.parameters()), verbose=0).fit(
        X, y, epochs=3, batch_size=16, validation_split=0.25)
    for path in (plot_history(h, tmp_path / "h.png"), plot_activation_histograms(model, X, tmp_path / "a.png")):
        data = open(path, "rb").read()
        assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 5000
    with pytest.raises(ValueError, match="loss"):
        plot_history({"accuracy": [1.0]}, tmp_path / "x.png")


def test_plot_without_matplotlib_says_what_to_install(monkeypatch, tmp_path):
    import builtins
    real_import = builtins.__import__

    def no_matplotlib(name, *args, **kwargs):
        if name.startswith("matplotlib"):
            raise ImportError(name)
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_matplotlib)
    with pytest.raises(ImportError, match=r'pip install "fastnn\[plot\]"'):
        plot_history({"loss": [1.0, 0.5]}, tmp_path / "h.png")


def test_plot_and_table_arguments_are_checked_by_name(tmp_path):
    X = np.random.default_rng(0).standard_normal((8, 4)).astype(np.float32)
    model = nn.Sequential(nn.Linear(4, 3), nn.ReLU())
    png = str(tmp_path / "p.png")
    for call, exc, match in [
            (lambda: plot_activation_histograms(nn.Sequential(), X, png), ValueError, "empty Sequential"),
            (lambda: plot_activation_histograms(model, X, None), TypeError, "path must be"),
            (lambda: plot_activation_histograms(model, X, png, bins=True), TypeError, "bins"),
            (lambda: plot_activation_histograms(model, X, png, bins=0), ValueError, "bins"),
            (lambda: activation_stats(model, X, training="x"), TypeError, "training must be a bool"),
            (lambda: plot_history({"loss": [1.0, 2.0], "val_loss": [1.0]}, png), ValueError, "val_loss"),
            (lambda: plot_history({"loss": [1.0], "accuracy": None}, png), TypeError, "accuracy"),
            (lambda: plot_history({"loss": "abc"}, png), TypeError, "loss"),
            (lambda: plot_history({"loss": [1.0]}, 3), TypeError, "path must be"),
            (lambda: format_table(None), TypeError, "rows must be"),
            (lambda: format_table([{"a": 1}], columns=3), TypeError, "columns must be")]:
        with pytest.raises(exc, match=match):
            call()
    assert plot_history({"loss": [1.0, 0.5], "val_loss": [1.1, 0.7]}, png) == png


# ------------------------------------------------------------------------ fuzz findings

@pytest.mark.parametrize("dtype", [np.complex64, "U1", object, "datetime64[s]"])
def test_stats_refuse_non_real_input(dtype):
    model = nn.Sequential(nn.Linear(3, 2, rng=0))
    X = np.zeros((2, 3), dtype)                          # complex lost its imaginary part silently
    with pytest.raises(TypeError, match=f"X must hold real numbers .* got dtype {re.escape(str(np.dtype(dtype)))}"):
        activation_stats(model, X)


@pytest.mark.parametrize("scale", [1e-300, 1e200, 1e307])
def test_stats_finite_at_any_magnitude(scale, tmp_path):
    model = nn.Sequential(nn.Linear(1, 1, bias=False, rng=0, dtype=np.float64))
    model[0].weight.data[:] = scale
    X = np.array([[1.0], [-1.0], [1.0], [1.5]])
    (row,) = activation_stats(model, X)
    y = X[:, 0]
    np.testing.assert_allclose([row["mean"] / scale, row["std"] / scale], [y.mean(), y.std()], rtol=1e-12)
    assert plot_activation_histograms(model, X, tmp_path / "a.png") == tmp_path / "a.png"


def test_format_table_odd_columns_and_numpy_floats():
    assert format_table([{1: 2.0}]).splitlines() == ["1", "-", "2"]
    assert format_table([{"a": np.float32(0.123456789), "b": np.float32("nan")}]).splitlines()[2] == "0.1235  -"
    with pytest.raises(TypeError, match="columns must be hashable column names"):
        format_table([{"a": 1}], columns=[["a"]])


@pytest.mark.parametrize("loss", [[-1.7e308, 1.7e308], [1e307, 1.7e308], [-8e307, 8e307]])
def test_plot_history_of_values_near_the_float_maximum(tmp_path, loss):
    # matplotlib's axis range overflowed: "arange: cannot compute length"
    assert plot_history({"loss": loss, "val_loss": loss[::-1]}, tmp_path / "h.png") == tmp_path / "h.png"


@pytest.mark.parametrize("bins, error, match", [
    (2.5, TypeError, "bins must be an int, a rule name"), (None, TypeError, "bins must be"),
    ("foo", ValueError, "bins must be 'auto'"), ([3, 1, 2], ValueError, "increasing"),
    ([0, np.nan, 1], ValueError, "finite"), ([1.0], ValueError, "2 to"), (10 ** 9, ValueError, "bins must be <="),
])
def test_plot_histogram_bins_checked(tmp_path, bins, error, match):
    model = nn.Sequential(nn.Linear(3, 2, rng=0))
    with pytest.raises(error, match=match):
        plot_activation_histograms(model, np.ones((4, 3), np.float32), tmp_path / "a.png", bins=bins)
    assert list(tmp_path.iterdir()) == []


def test_plot_paths(tmp_path):
    import io
    with pytest.raises(ValueError, match="is not a file name"):
        plot_history({"loss": [1.0]}, str(tmp_path / "a\0.png"))
    with pytest.raises(TypeError, match="binary file object .* got the text file StringIO"):
        plot_history({"loss": [1.0]}, io.StringIO())
    buf = io.BytesIO()
    plot_history({"loss": [1.0]}, buf)
    assert buf.getvalue().startswith(b"\x89PNG")
