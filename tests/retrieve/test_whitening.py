"""PCA whitening: the algebra, a second implementation, persistence, validation, and its use."""

from __future__ import annotations

import numpy as np
import pytest

from adstage.errors import InputError
from adstage.retrieve.base import l2_normalize
from adstage.retrieve.whitening import Whitening


@pytest.fixture(scope="module")
def data() -> np.ndarray:
    """60 correlated 8-d vectors (full rank, very unequal variances)."""
    rng = np.random.default_rng(0)
    return (
        rng.normal(size=(60, 8)) @ np.diag([9, 5, 3, 2, 1, 0.5, 0.2, 0.1]) @ rng.normal(size=(8, 8))
    )


def test_whitened_covariance_is_identity_and_shrink_is_a_ridge(data) -> None:
    w = Whitening(shrink=0.0).fit(data)
    assert w.fitted and w.in_dim == 8 and w.out_dim == 8 and w.n_fit == 60
    z = (data - w.mean) @ w.projection
    np.testing.assert_allclose(np.cov(z, rowvar=False), np.eye(8), atol=1e-8)
    # with a ridge s·mean(λ), axis i keeps the variance λᵢ / (λᵢ + s·mean(λ))
    s = Whitening(shrink=1.0).fit(data)
    zs = (data - s.mean) @ s.projection
    lam = s.eigenvalues
    np.testing.assert_allclose(np.var(zs, axis=0, ddof=1), lam / (lam + lam.mean()), rtol=1e-8)
    # power 0: a rotation, so the cosine is the one of the centred vectors
    p = Whitening(power=0.0).fit(data)
    centred = l2_normalize(data - data.mean(0))
    out = p.transform(data)
    np.testing.assert_allclose(out @ out.T, centred @ centred.T, atol=1e-5)


def test_matches_an_eigendecomposition_of_the_covariance(data) -> None:
    """Second implementation: eigh of the covariance (axes' signs differ; cosines do not)."""
    lam, vec = np.linalg.eigh(np.cov(data, rowvar=False))
    order = np.argsort(lam)[::-1][:5]
    ridge = 0.3 * lam.mean()
    ref = l2_normalize((data - data.mean(0)) @ vec[:, order] / np.sqrt(lam[order] + ridge))
    out = Whitening(dim=5, shrink=0.3).fit(data).transform(data)
    assert out.shape == (60, 5) and out.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(out, axis=1), 1.0, rtol=1e-5)
    np.testing.assert_allclose(out @ out.T, ref @ ref.T, atol=1e-5)


def test_rank_limits_the_dimension() -> None:
    x = np.random.default_rng(1).normal(size=(5, 20))  # 5 points span 4 centred directions
    w = Whitening().fit(x)
    assert w.out_dim == 4
    assert Whitening(dim=2).fit(x).out_dim == 2
    with pytest.raises(InputError, match="variance"):
        Whitening().fit(np.ones((4, 3)))
    with pytest.raises(InputError, match="at least 2"):
        Whitening().fit(np.ones((1, 3)))


def test_whitening_removes_a_shared_nuisance_direction() -> None:
    """Two classes differ along a weak axis; a strong axis varies within both. Cosine nearest
    neighbours follow the strong axis before whitening and the class after (P@1 0.7 → 1)."""
    rng = np.random.default_rng(0)
    n = 40
    label = np.arange(n) % 2
    x = np.zeros((n, 3))
    x[:, 0] = 10 + 0.05 * rng.normal(size=n)  # what every item shares (the white backdrop)
    x[:, 1] = np.where(label == 1, 0.5, -0.5) + 0.05 * rng.normal(size=n)  # the class
    x[:, 2] = rng.uniform(-60, 60, n)  # strong variation within both classes

    def p_at_1(v: np.ndarray) -> float:
        s = v @ v.T
        np.fill_diagonal(s, -np.inf)
        return float((label[s.argmax(1)] == label).mean())

    before = p_at_1(l2_normalize(x))
    after = p_at_1(Whitening(shrink=0.0).fit(x).transform(x))
    assert before < 0.8 and after == 1.0


def test_save_load_round_trip(data, tmp_path) -> None:
    w = Whitening(dim=6, shrink=0.5).fit(data)
    path = w.save(tmp_path / "sub" / "fusion-whitening.npz")
    assert path.exists() and not list(path.parent.glob("*.tmp"))
    back = Whitening.load(path)
    assert (back.dim, back.shrink, back.power, back.n_fit) == (6, 0.5, 0.5, 60)
    np.testing.assert_array_equal(back.transform(data), w.transform(data))
    none_dim = Whitening.load(Whitening().fit(data).save(tmp_path / "all.npz"))
    assert none_dim.dim is None and none_dim.out_dim == 8
    (tmp_path / "bad.npz").write_bytes(b"not a zip")
    with pytest.raises(InputError, match="path"):
        Whitening.load(tmp_path / "bad.npz")
    np.savez(tmp_path / "other.npz", a=np.zeros(3))
    with pytest.raises(InputError, match="not an adstage-whitening"):
        Whitening.load(tmp_path / "other.npz")


def test_unfitted_and_wrong_inputs(data, tmp_path) -> None:
    with pytest.raises(InputError, match="not fitted"):
        Whitening().transform(data)
    with pytest.raises(InputError, match="not fitted"):
        Whitening().save(tmp_path / "w.npz")
    w = Whitening().fit(data)
    with pytest.raises(InputError, match="8 columns"):
        w.transform(data[:, :5])
    with pytest.raises(InputError, match="NaN"):
        w.transform(np.full((1, 8), np.nan))
    with pytest.raises(InputError, match="N×D"):
        w.fit(np.zeros(8))


@pytest.mark.parametrize(
    ("options", "argument"),
    [
        ({"dim": 0}, "dim"),
        ({"dim": True}, "dim"),
        ({"dim": 2.5}, "dim"),
        ({"shrink": -0.1}, "shrink"),
        ({"shrink": float("inf")}, "shrink"),
        ({"power": 1.5}, "power"),
        ({"power": "half"}, "power"),
    ],
)
def test_validation_names_the_argument(options, argument) -> None:
    with pytest.raises(InputError, match=argument):
        Whitening(**options)
    with pytest.raises(TypeError):
        Whitening(8)  # type: ignore[misc]  # keyword-only
