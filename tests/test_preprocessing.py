"""fastnn.preprocessing: whitening statistics, round trips, edge cases, scikit-learn parity."""
import numpy as np
import pytest

from fastnn.preprocessing import (PCA, ChannelMeanSubtractor, MeanImageSubtractor, NotFittedError,
                                  StandardScaler, Whitening)

DTYPES = [np.float32, np.float64]
RTOL = {np.float32: 2e-4, np.float64: 1e-6}


def correlated(n=2000, p=10, seed=0, dtype=np.float64):
    """X = Z·A + offset with A random (p, p): strongly correlated, non-centred features."""
    g = np.random.default_rng(seed)
    A = g.normal(size=(p, p))
    return (g.normal(size=(n, p)) @ A + g.normal(size=p) * 5).astype(dtype)


def low_rank(n=40, p=12, rank=3, seed=1):
    g = np.random.default_rng(seed)
    return g.normal(size=(n, rank)) @ g.normal(size=(rank, p))


def random_orthogonal(p, seed):
    q, r = np.linalg.qr(np.random.default_rng(seed).normal(size=(p, p)))
    return q * np.sign(np.diag(r))


ALL = [StandardScaler, MeanImageSubtractor, ChannelMeanSubtractor, PCA,
       lambda: Whitening("pca"), lambda: Whitening("zca")]


# -------------------------------------------------------------------- StandardScaler

@pytest.mark.parametrize("dtype", DTYPES)
def test_standard_scaler(dtype):
    X = correlated(dtype=dtype)
    s = StandardScaler()
    Z = s.fit_transform(X)
    assert Z.dtype == dtype and s.mean_.dtype == np.float64
    np.testing.assert_allclose(Z.mean(0, dtype=np.float64), 0, atol=1e-5 if dtype == np.float32 else 1e-12)
    np.testing.assert_allclose(Z.std(0, dtype=np.float64), 1, rtol=RTOL[dtype])
    np.testing.assert_allclose(s.scale_, np.sqrt(s.var_))
    np.testing.assert_allclose(s.inverse_transform(Z), X, rtol=RTOL[dtype], atol=RTOL[dtype] * 10)


def test_standard_scaler_options_and_constant():
    X = correlated(200, 4)
    X[:, 1] = 3.7                                  # constant: scale 1, output 0
    X[:, 2] = 1e-3                                 # constant, small value
    s = StandardScaler().fit(X)
    assert s.scale_[1] == 1.0 and s.scale_[2] == 1.0
    Z = s.transform(X)
    assert np.all(Z[:, 1:3] == 0.0)                 # a constant feature's mean is exact
    Z = StandardScaler(with_mean=False).fit_transform(X)
    np.testing.assert_allclose(Z[:, 0], X[:, 0] / X[:, 0].std())
    s = StandardScaler(with_std=False).fit(X)
    assert s.scale_ is None
    np.testing.assert_allclose(s.transform(X), X - X.mean(0), atol=1e-12)   # X.mean(0) is off by an ulp
    # eps: a feature with std below eps is left unscaled.
    X[:, 3] = np.linspace(0, 1e-6, 200)
    assert StandardScaler(eps=1e-3).fit(X).scale_[3] == 1.0
    assert StandardScaler().fit(X).scale_[3] < 1e-6


def test_standard_scaler_single_sample_and_ints():
    s = StandardScaler().fit(np.array([[1.0, 2.0]]))
    np.testing.assert_array_equal(s.transform(np.array([[1.0, 2.0]])), [[0.0, 0.0]])
    Z = StandardScaler().fit_transform(np.arange(12, dtype=np.uint8).reshape(6, 2))
    assert Z.dtype == np.float64 and np.allclose(Z.std(0), 1)


def test_standard_scaler_matches_sklearn():
    sk = pytest.importorskip("sklearn.preprocessing")
    for dtype in DTYPES:
        X = correlated(300, 7, dtype=dtype)
        X[:, 3] = 2.0
        ours, ref = StandardScaler().fit(X), sk.StandardScaler().fit(X)
        np.testing.assert_allclose(ours.mean_, ref.mean_, rtol=1e-6)
        np.testing.assert_allclose(ours.var_, ref.var_, rtol=1e-5)
        np.testing.assert_allclose(ours.scale_, ref.scale_, rtol=1e-5)
        a, b = ours.transform(X), ref.transform(X)
        assert a.dtype == b.dtype == dtype
        np.testing.assert_allclose(a, b, rtol=RTOL[dtype], atol=1e-4 if dtype == np.float32 else 1e-10)


# ------------------------------------------------------------------ mean subtraction

@pytest.mark.parametrize("dtype", DTYPES)
def test_mean_image(dtype):
    g = np.random.default_rng(0)
    X = (g.uniform(0, 255, size=(50, 8, 6, 3))).astype(dtype)
    m = MeanImageSubtractor().fit(X)
    assert m.mean_.shape == (8, 6, 3)
    Z = m.transform(X)
    assert Z.dtype == dtype
    np.testing.assert_allclose(Z.mean(0, dtype=np.float64), 0, atol=1e-3 if dtype == np.float32 else 1e-10)
    np.testing.assert_allclose(m.inverse_transform(Z), X, rtol=RTOL[dtype])
    with pytest.raises(ValueError, match=r"X has shape \(5, 8, 6, 4\)"):
        m.transform(np.zeros((5, 8, 6, 4), dtype))
    u8 = (g.uniform(0, 255, size=(10, 4, 4))).astype(np.uint8)
    np.testing.assert_allclose(MeanImageSubtractor().fit_transform(u8), u8 - u8.mean(0))


@pytest.mark.parametrize("axis,shape", [(-1, (20, 5, 4, 3)), (1, (20, 3, 5, 4)), (3, (20, 5, 4, 3)),
                                        (-3, (20, 3, 5, 4)), (1, (20, 3))])
def test_channel_mean(axis, shape):
    g = np.random.default_rng(1)
    X = g.normal(size=shape) + np.arange(3).reshape([-1 if i == axis % len(shape) else 1
                                                     for i in range(len(shape))]) * 10
    c = ChannelMeanSubtractor(channel_axis=axis).fit(X)
    ax = axis % len(shape)
    expected = X.mean(axis=tuple(i for i in range(len(shape)) if i != ax))
    np.testing.assert_allclose(c.mean_, expected)
    Z = c.transform(X)
    np.testing.assert_allclose(Z.mean(axis=tuple(i for i in range(len(shape)) if i != ax)), 0, atol=1e-12)
    np.testing.assert_allclose(c.inverse_transform(Z), X)


def test_channel_mean_errors_and_other_sizes():
    X = np.random.default_rng(0).normal(size=(10, 4, 4, 3)).astype(np.float32)
    c = ChannelMeanSubtractor().fit(X)
    assert c.transform(np.zeros((2, 7, 9, 3), np.float32)).shape == (2, 7, 9, 3)   # other H, W fine
    with pytest.raises(ValueError, match="channels"):
        c.transform(np.zeros((2, 4, 4, 4), np.float32))
    with pytest.raises(ValueError, match="4-D"):
        c.transform(np.zeros((2, 3), np.float32))
    with pytest.raises(ValueError, match="channel_axis"):
        ChannelMeanSubtractor(channel_axis=0).fit(X)
    with pytest.raises(ValueError, match="channel_axis"):
        ChannelMeanSubtractor(channel_axis=4).fit(X)
    with pytest.raises(TypeError, match="channel_axis"):
        ChannelMeanSubtractor(channel_axis=1.0)


# ------------------------------------------------------------------------------ PCA

@pytest.mark.parametrize("dtype", DTYPES)
def test_pca_roundtrip_and_attributes(dtype):
    X = correlated(500, 10, dtype=dtype)
    p = PCA().fit(X)
    assert p.n_components_ == 10 and p.components_.shape == (10, 10)
    np.testing.assert_allclose(p.components_ @ p.components_.T, np.eye(10), atol=1e-12)
    assert np.all(np.diff(p.explained_variance_) <= 0)
    np.testing.assert_allclose(p.explained_variance_ratio_.sum(), 1.0)
    np.testing.assert_allclose(p.explained_variance_.sum(), np.var(X.astype(np.float64), axis=0, ddof=1).sum())
    Z = p.transform(X)
    assert Z.dtype == dtype
    np.testing.assert_allclose(np.cov(Z.astype(np.float64).T), np.diag(p.explained_variance_),
                               rtol=1e-4, atol=1e-4 * p.explained_variance_[0])
    np.testing.assert_allclose(p.inverse_transform(Z), X, rtol=RTOL[dtype], atol=RTOL[dtype] * np.abs(X).max())


@pytest.mark.parametrize("method", ["pca_whiten", "pca", "zca"])
@pytest.mark.parametrize("dtype", DTYPES)
def test_whitened_covariance_is_identity(method, dtype):
    X = correlated(5000, 10, dtype=dtype)
    t = PCA(whiten=True, eps=1e-10) if method == "pca_whiten" else Whitening(method, eps=1e-10)
    Z = t.fit_transform(X)
    assert Z.dtype == dtype
    np.testing.assert_allclose(np.cov(Z.astype(np.float64).T), np.eye(10), atol=1e-3 if dtype == np.float32 else 1e-8)
    np.testing.assert_allclose(t.inverse_transform(Z), X, rtol=RTOL[dtype], atol=RTOL[dtype] * np.abs(X).max())


def test_pca_variance_fraction():
    g = np.random.default_rng(3)
    # Variances 100, 10, 1, 0.1, ...: the first two carry ~99 % of the total.
    X = g.normal(size=(4000, 6)) * np.sqrt([100.0, 10.0, 1.0, 0.1, 0.01, 0.001])
    for frac, k in ((0.5, 1), (0.85, 1), (0.95, 2), (0.995, 3), (0.99995, 5)):
        p = PCA(n_components=frac).fit(X)
        assert p.n_components_ == k, frac
        cum = np.cumsum(PCA().fit(X).explained_variance_ratio_)
        assert cum[k - 1] >= frac and (k == 1 or cum[k - 2] < frac)
    assert PCA(n_components=2).fit(X).explained_variance_.sum() == pytest.approx(110, rel=0.05)


def test_sign_convention():
    # Deterministic signs (sklearn's svd_flip on components): each row's largest-|·| entry > 0.
    X = correlated(200, 8, seed=7)
    for V in (PCA().fit(X).components_, Whitening().fit(X).eigenvectors_):
        rows = np.arange(V.shape[0])
        assert np.all(V[rows, np.argmax(np.abs(V), axis=1)] > 0)
    np.testing.assert_array_equal(PCA().fit(X).components_, PCA().fit(X.copy()).components_)


def test_pca_n_components_int_and_errors():
    X = correlated(100, 10)
    p = PCA(n_components=3).fit(X)
    assert p.transform(X).shape == (100, 3)
    assert p.inverse_transform(p.transform(X)).shape == (100, 10)
    with pytest.raises(ValueError, match=r"X has shape \(100, 4\)"):
        p.inverse_transform(np.zeros((100, 4)))
    with pytest.raises(ValueError, match="n_components"):
        PCA(n_components=11).fit(X)
    for bad in (0, 1.0, 0.0, -0.5):
        with pytest.raises(ValueError, match="n_components"):
            PCA(n_components=bad)
    with pytest.raises(TypeError, match="n_components"):
        PCA(n_components="all")
    with pytest.raises(ValueError, match="2 samples"):
        PCA().fit(X[:1])


def test_pca_few_samples_and_constant_features():
    X = low_rank(8, 30, rank=8)
    X[:, 5] = 2.0
    p = PCA(whiten=True).fit(X)
    assert p.n_components_ == 8
    Z = p.transform(X)
    assert np.all(np.isfinite(Z)) and np.all(np.isfinite(p.explained_variance_ratio_))
    np.testing.assert_allclose(PCA().fit(X).inverse_transform(PCA().fit(X).transform(X)), X, atol=1e-10)
    Zc = PCA(whiten=True).fit_transform(np.ones((5, 3)))       # all constant: no NaN
    assert np.all(np.isfinite(Zc)) and np.all(Zc == 0)
    with pytest.raises(ValueError, match="eps"):
        PCA(whiten=True, eps=0.0).fit(X)
    assert np.all(np.isfinite(PCA(n_components=7, whiten=True, eps=0.0).fit_transform(X)))


def test_pca_matches_sklearn():
    sk = pytest.importorskip("sklearn.decomposition")
    for X in (correlated(300, 10), low_rank(20, 50, rank=20)):
        for k in (None, 4, 0.9):
            ours, ref = PCA(n_components=k).fit(X), sk.PCA(n_components=k, svd_solver="full").fit(X)
            assert ours.n_components_ == ref.n_components_
            np.testing.assert_allclose(ours.explained_variance_, ref.explained_variance_, rtol=1e-8)
            np.testing.assert_allclose(ours.explained_variance_ratio_, ref.explained_variance_ratio_, rtol=1e-8)
            np.testing.assert_allclose(ours.mean_, ref.mean_, rtol=1e-10, atol=1e-12)
            # Components agree up to sign (sklearn's flip rule changed across versions).
            signs = np.sign(np.sum(ours.components_ * ref.components_, axis=1))
            np.testing.assert_allclose(ours.components_, ref.components_ * signs[:, None], atol=1e-8)
            np.testing.assert_allclose(ours.transform(X), ref.transform(X) * signs, atol=1e-8)
    # Whitening with eps=0 is sklearn's whiten=True.
    X = correlated(300, 10)
    ours, ref = PCA(whiten=True, eps=0.0).fit(X), sk.PCA(whiten=True, svd_solver="full").fit(X)
    signs = np.sign(np.sum(ours.components_ * ref.components_, axis=1))
    np.testing.assert_allclose(ours.transform(X), ref.transform(X) * signs, atol=1e-8)


# ------------------------------------------------------------------------- Whitening

def test_zca_is_symmetric_and_closest_to_input():
    X = correlated(3000, 6, seed=4)
    zca = Whitening("zca", eps=1e-10).fit(X)
    pca = Whitening("pca", eps=1e-10).fit(X)
    W = zca.whitening_matrix_
    np.testing.assert_allclose(W, W.T, atol=1e-12)
    assert np.all(np.linalg.eigvalsh(W) > 0)                      # symmetric positive definite
    Xc = X - X.mean(0)
    Zz, Zp = zca.transform(X), pca.transform(X)
    dist = lambda Z: np.linalg.norm(Z - Xc)
    # Every whitening is R·W_zca with R orthogonal; ZCA minimises ‖Z − Xc‖ among them.
    assert dist(Zz) < dist(Zp)
    for seed in range(20):
        R = random_orthogonal(6, seed)
        assert dist(Zz) < dist(Zz @ R.T)
    # PCA whitening = ZCA rotated into the eigenbasis.
    np.testing.assert_allclose(Zp, Zz @ pca.eigenvectors_.T, atol=1e-9)


@pytest.mark.parametrize("method", ["pca", "zca"])
def test_whitening_rank_deficient(method):
    X = low_rank(10, 25, rank=4)                         # n < p and rank 4
    X[:, 0] = 1.0
    w = Whitening(method).fit(X)
    assert w.whitening_matrix_.shape == (25, 25)          # all components kept
    Z = w.transform(X)
    assert np.all(np.isfinite(Z))
    np.testing.assert_allclose(w.inverse_transform(Z), X, atol=1e-8)
    lam = w.eigenvalues_
    assert np.all(lam >= 0) and np.sum(lam > 1e-8 * lam[0]) == 4
    with pytest.raises(ValueError, match="eps"):
        Whitening(method, eps=0.0).fit(X)


def test_whitening_bad_method():
    with pytest.raises(ValueError, match="method"):
        Whitening("pcz")
    with pytest.raises(ValueError, match="eps"):
        Whitening(eps=-1.0)


# ------------------------------------------------------- data of any finite magnitude
# Squares of 1e300 overflow and squares of 1e-300 underflow: statistics are taken on data
# rescaled by a power of two, which must give the same transforms as data near 1.

WHITENERS = {"pca_whiten": lambda eps: PCA(whiten=True, eps=eps),
             "pca": lambda eps: Whitening("pca", eps=eps), "zca": lambda eps: Whitening("zca", eps=eps)}


@pytest.mark.parametrize("scale", [1e300, 1e-300])
def test_standard_scaler_extreme_magnitudes(scale):
    X = correlated(400, 5) * scale
    s = StandardScaler().fit(X)
    Z = s.transform(X)
    np.testing.assert_allclose(Z.std(0), 1, rtol=1e-12)
    np.testing.assert_allclose(Z.mean(0), 0, atol=1e-12)
    np.testing.assert_allclose(Z, StandardScaler().fit_transform(X / scale), rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(s.scale_ / scale, (X / scale).std(0), rtol=1e-12)
    np.testing.assert_allclose(s.inverse_transform(Z), X, rtol=1e-12)


def test_standard_scaler_mixed_magnitudes_and_float_max():
    X = correlated(300, 4) * [1e300, 1e-300, 1.0, 1e-5]
    X = np.column_stack([X, np.full(300, 1e300)])              # and a constant feature at 1e300
    s = StandardScaler().fit(X)
    Z = s.transform(X)
    np.testing.assert_allclose(Z[:, :4].std(0), 1, rtol=1e-12)
    assert s.scale_[4] == 1.0 and np.abs(Z[:, 4]).max() < 1e-14 * 1e300   # the mean's rounding error
    np.testing.assert_allclose(s.inverse_transform(Z), X, rtol=1e-12)
    # Near the float64 maximum the mean's sum and x − mean overflow unless done in halves.
    B = np.array([[1.7e308], [1.7e308], [-1.7e308]])
    s = StandardScaler().fit(B)
    assert s.mean_[0] == pytest.approx(1.7e308 / 3) and s.scale_[0] == pytest.approx(1.7e308 / 3 * np.sqrt(8))
    np.testing.assert_allclose(s.transform(B)[:, 0], [2 ** -0.5, 2 ** -0.5, -2 ** 0.5], rtol=1e-14)
    np.testing.assert_allclose(s.inverse_transform(s.transform(B)), B, rtol=1e-14)


@pytest.mark.parametrize("make", [MeanImageSubtractor, ChannelMeanSubtractor])
def test_mean_subtraction_near_float_max(make):
    X = np.array([[1.7e308, 1e308], [1.7e308, 1.7e308], [1.7e308, -1e308]])    # the sums overflow
    t = make().fit(X)
    np.testing.assert_allclose(t.mean_, [1.7e308, 1.7e308 / 3], rtol=1e-14)
    Z = t.transform(X)
    np.testing.assert_allclose(Z, X - [1.7e308, 1.7e308 / 3], rtol=1e-14, atol=1e293)
    np.testing.assert_allclose(t.inverse_transform(Z), X, rtol=1e-14)


@pytest.mark.parametrize("method", WHITENERS)
@pytest.mark.parametrize("scale", [1e300, 1e-300])
def test_whitening_extreme_magnitudes(method, scale):
    X = correlated(2000, 6) * scale
    ref = WHITENERS[method](0.0).fit(X / scale)
    t = WHITENERS[method](0.0).fit(X)
    Z = t.transform(X)
    np.testing.assert_allclose(np.cov(Z.T), np.eye(6), atol=1e-8)
    np.testing.assert_allclose(Z, ref.transform(X / scale), rtol=1e-8, atol=1e-8)
    np.testing.assert_allclose(t.inverse_transform(Z), X, rtol=1e-10, atol=1e-10 * np.abs(X).max())
    if method == "pca_whiten":
        np.testing.assert_allclose(t.explained_variance_ratio_, ref.explained_variance_ratio_, rtol=1e-10)
        np.testing.assert_allclose(t.singular_values_ / scale, ref.singular_values_, rtol=1e-10)
    # With the default eps = 1e-5: negligible next to variances of 1e600, dominant next to 1e-600.
    t = WHITENERS[method](1e-5).fit(X)
    Z = t.transform(X)
    if scale > 1:
        np.testing.assert_allclose(np.cov(Z.T), np.eye(6), atol=1e-8)
    else:                                    # λ ≪ eps: whitening is a rotation, then a gain 1/√eps
        Xc = X - X.mean(0)
        rotated = {"pca_whiten": lambda: Xc @ t.components_.T, "pca": lambda: Xc @ t.eigenvectors_.T,
                   "zca": lambda: Xc}[method]()
        np.testing.assert_allclose(Z, rotated / np.sqrt(1e-5), rtol=1e-8, atol=1e-8 * np.abs(Z).max())
    np.testing.assert_allclose(t.inverse_transform(Z), X, rtol=1e-8, atol=1e-8 * np.abs(X).max())


@pytest.mark.parametrize("method", WHITENERS)
def test_whitening_mixed_magnitudes_and_limits(method):
    # Features from 1e298 to 1e302: every variance overflows, the covariance is well conditioned.
    X = correlated(3000, 3) * [1e300, 1e298, 1e302]
    Z = WHITENERS[method](1e-5).fit_transform(X)
    np.testing.assert_allclose(np.cov(Z.T), np.eye(3), atol=1e-6)
    # Gains that float64 cannot hold are refused, not returned as 0 or inf.
    with pytest.raises(ValueError, match="cannot whiten with eps=0"):
        WHITENERS[method](0.0).fit(correlated(50, 3) * 1e-310)
    with pytest.raises(ValueError, match="rescale X"):
        WHITENERS[method](1e-5).fit(np.array([[1.7e308, -1.7e308], [1.7e308, 1.7e308], [-1.7e308, 1e308]]))


@pytest.mark.parametrize("make", [StandardScaler, lambda: PCA(whiten=True), lambda: Whitening("zca")])
def test_float32_near_its_maximum(make):
    X = np.random.default_rng(5).uniform(-3e38, 3e38, size=(500, 3)).astype(np.float32)
    t = make().fit(X)
    Z = t.transform(X)
    assert Z.dtype == np.float32 and np.all(np.isfinite(Z))
    if isinstance(t, StandardScaler):
        np.testing.assert_allclose(Z.std(0, dtype=np.float64), 1, rtol=1e-5)
    else:
        np.testing.assert_allclose(np.cov(Z.astype(np.float64).T), np.eye(3), atol=1e-4)
    back = t.inverse_transform(Z)
    assert back.dtype == np.float32
    np.testing.assert_allclose(back, X, rtol=1e-5, atol=1e-5 * 3e38)


# ------------------------------------------------------------------- common errors

@pytest.mark.parametrize("make", ALL)
def test_not_fitted(make):
    t = make()
    for fn in (t.transform, t.inverse_transform):
        with pytest.raises(NotFittedError, match="not fitted"):
            fn(np.zeros((3, 4)))
    assert issubclass(NotFittedError, ValueError)


@pytest.mark.parametrize("make", ALL)
def test_bad_input(make):
    t = make()
    X = correlated(20, 4)
    with pytest.raises(ValueError, match="empty"):
        t.fit(np.zeros((0, 4)))
    bad = X.copy()
    bad[3, 2] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        t.fit(bad)
    bad[3, 2] = np.inf
    with pytest.raises(ValueError, match="NaN or infinity"):
        t.fit(bad)
    with pytest.raises(TypeError, match="X"):
        t.fit(X.tolist())
    with pytest.raises(TypeError, match="X"):
        t.fit(X.astype(np.complex128))
    t.fit(X)
    with pytest.raises(ValueError, match=r"X has shape \(5, 3\)"):
        t.transform(X[:5, :3])
    bad = X.copy()
    bad[0, 0] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        t.transform(bad)


@pytest.mark.parametrize("make", [StandardScaler, PCA, lambda: Whitening("zca")])
def test_requires_2d(make):
    with pytest.raises(ValueError, match="2-D"):
        make().fit(np.zeros((4, 3, 2)))
    with pytest.raises(ValueError, match="2-D"):
        make().fit(np.zeros(5))


@pytest.mark.parametrize("make", ALL)
@pytest.mark.parametrize("dtype", DTYPES)
def test_dtype_preserved_and_input_untouched(make, dtype):
    X = correlated(50, 4, dtype=dtype)
    X0 = X.copy()
    t = make()
    Z = t.fit_transform(X)
    assert Z.dtype == dtype and t.inverse_transform(Z).dtype == dtype
    assert np.array_equal(X, X0)
    Xnc = np.asfortranarray(X)                              # non-contiguous input accepted
    np.testing.assert_allclose(t.transform(Xnc), Z)


@pytest.mark.filterwarnings("ignore::PendingDeprecationWarning")     # np.matrix
@pytest.mark.parametrize("make", ALL)
def test_matrix_and_masked_input_refused_memmap_accepted(make, tmp_path):
    X = correlated(20, 4)
    with pytest.raises(TypeError, match="X must be a plain numpy.ndarray, got matrix"):
        make().fit(np.matrix(X))
    with pytest.raises(TypeError, match="got MaskedArray"):
        make().fit(np.ma.masked_array(X, mask=X > 1))
    mm = np.memmap(tmp_path / "x.bin", dtype=np.float64, mode="w+", shape=X.shape)
    mm[:] = X
    Z = make().fit(mm).transform(mm)
    assert type(Z) is np.ndarray
    np.testing.assert_allclose(Z, make().fit(X).transform(X))


@pytest.mark.parametrize("make, arg", [(lambda v: StandardScaler(with_mean=v), "with_mean"),
                                       (lambda v: StandardScaler(with_std=v), "with_std"),
                                       (lambda v: PCA(whiten=v), "whiten")])
@pytest.mark.parametrize("value", ["no", np.array([True, False])])
def test_flags_are_bools(make, arg, value):
    with pytest.raises(TypeError, match=f"{arg} must be a bool"):
        make(value)


@pytest.mark.parametrize("method", [None, ["pca"], np.array(["pca", "zca"])])
def test_whitening_method_checked_by_type(method):
    with pytest.raises(TypeError, match="method must be 'pca' or 'zca'"):
        Whitening(method)


@pytest.mark.parametrize("value", [0.1, 0.3, 7.7, 1e300])
def test_constant_feature_is_centred_exactly(value):
    # The rounded mean of n equal values can miss them by an ulp (np.full(20, 0.3).mean() != 0.3);
    # with scale 1 for constant features that ulp was the output, 1e284 for value 1e300.
    X = np.c_[correlated(20, 2), np.full(20, value)]
    for t in (StandardScaler(), MeanImageSubtractor(), ChannelMeanSubtractor()):
        Z = t.fit(X).transform(X)
        assert np.all(Z[:, 2] == 0.0)
        assert t.mean_[2] == value
