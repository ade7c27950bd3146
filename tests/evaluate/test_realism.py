"""The realism critic: intervals and tests on hand-computed cases, the classifier against a
second implementation, C2ST on identical and separable distributions, save/load, bad inputs."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest

from adstage.errors import InputError
from adstage.evaluate.realism import (
    ColourGradientFeatures,
    RealismCritic,
    binomial_p_value,
    c2st,
    clopper_pearson,
    crop_features,
    fit_logistic,
    mask_box,
    square_crop,
    wilson,
)

# ------------------------------------------------------------------------------------------------
# intervals and p-values, by hand


def test_clopper_pearson_at_the_ends_has_a_closed_form() -> None:
    # k = 0: upper = 1 − (α/2)^(1/n); k = n: lower = (α/2)^(1/n).
    assert clopper_pearson(0, 10) == (0.0, pytest.approx(1 - 0.025**0.1, abs=1e-9))
    assert clopper_pearson(10, 10) == (pytest.approx(0.025**0.1, abs=1e-9), 1.0)
    assert clopper_pearson(0, 10)[1] == pytest.approx(0.30850, abs=1e-5)


def test_clopper_pearson_solves_its_defining_equations() -> None:
    k, n = 7, 20
    lo, hi = clopper_pearson(k, n)
    tail_hi = sum(math.comb(n, i) * lo**i * (1 - lo) ** (n - i) for i in range(k, n + 1))
    tail_lo = sum(math.comb(n, i) * hi**i * (1 - hi) ** (n - i) for i in range(0, k + 1))
    assert tail_hi == pytest.approx(0.025, abs=1e-9)
    assert tail_lo == pytest.approx(0.025, abs=1e-9)


def test_wilson_hand_computed() -> None:
    # k = 5, n = 10, z = 1.959964: centre 0.5, half-width z/(1+z²/n)·√(0.025 + z²/400).
    z = 1.959963984540054
    half = z / (1 + z * z / 10) * math.sqrt(0.25 / 10 + z * z / 400)
    lo, hi = wilson(5, 10)
    assert lo == pytest.approx(0.5 - half, abs=1e-9) and hi == pytest.approx(0.5 + half, abs=1e-9)
    assert lo == pytest.approx(0.23659, abs=1e-5)


def test_binomial_p_value_hand_computed() -> None:
    assert binomial_p_value(10, 10) == pytest.approx(1 / 1024)
    assert binomial_p_value(8, 10) == pytest.approx((45 + 10 + 1) / 1024)
    assert binomial_p_value(0, 10) == pytest.approx(1.0)
    assert binomial_p_value(5, 10) == pytest.approx(638 / 1024)


def test_against_scipy() -> None:
    stats = pytest.importorskip("scipy.stats")
    for k, n in [(3, 10), (57, 100), (120, 240), (199, 240)]:
        two_sided = stats.binomtest(k, n)
        exact = two_sided.proportion_ci(method="exact")
        assert clopper_pearson(k, n) == pytest.approx((exact.low, exact.high), abs=1e-9)
        score = two_sided.proportion_ci(method="wilson")
        assert wilson(k, n) == pytest.approx((score.low, score.high), abs=1e-9)
        greater = stats.binomtest(k, n, alternative="greater").pvalue
        assert binomial_p_value(k, n) == pytest.approx(greater, rel=1e-9, abs=1e-300)


@pytest.mark.parametrize(("k", "n"), [(-1, 10), (11, 10), (3, 0), (1.5, 10), (True, 10)], ids=str)
def test_counts_are_checked(k, n) -> None:
    with pytest.raises(InputError, match=r"^[kn]:"):
        clopper_pearson(k, n)


# ------------------------------------------------------------------------------------------------
# the classifier


def test_logistic_regression_matches_a_generic_optimiser() -> None:
    optimize = pytest.importorskip("scipy.optimize")
    rng = np.random.default_rng(0)
    for n, d in [(200, 5), (60, 150)]:  # more rows than columns, and fewer (the Woodbury step)
        x = rng.normal(size=(n, d))
        y = (x[:, 0] + rng.normal(size=n) > 0).astype(float)
        w, b = fit_logistic(x, y, l2=0.1)

        def objective(theta: np.ndarray, x=x, y=y) -> float:
            margin = (2 * y - 1) * (x @ theta[:-1] + theta[-1])
            return float(np.mean(np.logaddexp(0, -margin)) + 0.05 * theta @ theta)

        reference = optimize.minimize(
            objective, np.zeros(d + 1), method="L-BFGS-B", options={"gtol": 1e-12, "maxiter": 10000}
        )
        assert objective(np.r_[w, b]) <= reference.fun + 1e-9
        assert np.r_[w, b] == pytest.approx(reference.x, abs=1e-3)


def test_logistic_regression_on_one_feature_by_hand() -> None:
    # Symmetric data x = ±1 with labels 1/0: b = 0 by symmetry, and the optimum of
    # log(1 + e^(−w)) + l2/2·w² solves σ(−w) = l2·w.
    w, b = fit_logistic(np.array([[1.0], [-1.0]]), np.array([1.0, 0.0]), l2=0.5)
    assert b == pytest.approx(0.0, abs=1e-9)
    assert 1 / (1 + math.exp(w[0])) == pytest.approx(0.5 * w[0], abs=1e-9)


# ------------------------------------------------------------------------------------------------
# the two-sample test


def test_identical_distributions_give_chance_accuracy() -> None:
    rng = np.random.default_rng(1)
    a, b = rng.normal(size=(200, 16)), rng.normal(size=(200, 16))
    result = c2st(a, b, features="toy", splits=5, seed=0)
    assert abs(result.accuracy - 0.5) < 0.06
    lo, hi = result.interval
    assert lo <= 0.5 <= hi and hi - lo < 0.25
    assert result.p_value > 0.05
    assert result.n_test == 200 and result.n_real == result.n_fake == 200
    assert result.as_dict()["features"] == "toy"


def test_separable_distributions_give_accuracy_one() -> None:
    rng = np.random.default_rng(2)
    a, b = rng.normal(size=(100, 8)), rng.normal(size=(60, 8)) + 4.0
    result = c2st(a, b, splits=3)
    assert result.accuracy == pytest.approx(1.0)
    assert result.interval[1] == 1.0 and result.interval[0] > 0.9
    assert result.p_value == pytest.approx(0.5**60)  # classes balanced: 60 test crops
    assert result.n_test == 60


def test_c2st_is_deterministic_and_keeps_groups_apart() -> None:
    rng = np.random.default_rng(3)
    # Each group is one tight cluster, far from the others: a split that put a group on both
    # sides would let the classifier memorise it. Real and fake groups share nothing, so
    # with groups kept apart the held-out accuracy stays near chance.
    centres = rng.normal(scale=5.0, size=(40, 6))
    a = np.repeat(centres[:20], 5, axis=0) + rng.normal(scale=0.1, size=(100, 6))
    b = np.repeat(centres[20:], 5, axis=0) + rng.normal(scale=0.1, size=(100, 6))
    groups = np.repeat(np.arange(20), 5)
    kept = c2st(a, b, groups_real=groups, groups_fake=groups, splits=5, seed=4)
    assert (
        kept.accuracy
        == c2st(a, b, groups_real=groups, groups_fake=groups, splits=5, seed=4).accuracy
    )
    mixed = c2st(a, b, splits=5, seed=4)
    assert mixed.accuracy > kept.accuracy + 0.2


@pytest.mark.parametrize(
    ("real", "fake", "message"),
    [
        (np.zeros((0, 4)), np.zeros((5, 4)), r"real: expected at least 2"),
        (np.zeros((5, 4)), np.zeros((1, 4)), r"fake: expected at least 2"),
        (np.zeros((5, 4)), np.zeros((5, 3)), r"dimensions differ \(4 vs 3\)"),
        (np.zeros(5), np.zeros((5, 3)), r"real: expected an N×D"),
        (np.full((5, 4), np.nan), np.zeros((5, 4)), r"real: features contain NaN"),
    ],
)
def test_bad_feature_sets(real, fake, message) -> None:
    with pytest.raises(InputError, match=message):
        c2st(real, fake)
    with pytest.raises(InputError, match=message):
        RealismCritic.fit(real, fake, features="colour-gradient")


def test_bad_options() -> None:
    a = np.random.default_rng(0).normal(size=(10, 3))
    with pytest.raises(InputError, match="splits"):
        c2st(a, a, splits=0)
    with pytest.raises(InputError, match="l2"):
        c2st(a, a, l2=0.0)
    with pytest.raises(InputError, match="groups_real: expected one group label per row"):
        c2st(a, a, groups_real=[0, 1])
    with pytest.raises(InputError, match="groups_fake: expected at least 2 distinct groups"):
        c2st(a, a, groups_fake=np.zeros(10))
    with pytest.raises(InputError, match="features: unknown 'clip'; available: colour-gradient"):
        crop_features("clip")


# ------------------------------------------------------------------------------------------------
# the per-image critic


def _features_of(crops: list[np.ndarray]) -> np.ndarray:
    return ColourGradientFeatures()(crops)


def test_critic_scores_real_above_fake_and_survives_save_load(tmp_path: Path) -> None:
    rng = np.random.default_rng(5)
    real = rng.normal(size=(60, 12))
    fake = rng.normal(size=(30, 12)) + 1.5
    critic = RealismCritic.fit(real, fake, features="colour-gradient", meta={"note": "toy"})
    held_real, held_fake = rng.normal(size=(50, 12)), rng.normal(size=(50, 12)) + 1.5
    s_real, s_fake = critic.score_features(held_real), critic.score_features(held_fake)
    assert ((s_real >= 0) & (s_real <= 1)).all()
    assert s_real.mean() > 0.8 and s_fake.mean() < 0.2
    path = critic.save(tmp_path / "critic.npz")
    loaded = RealismCritic.load(path)
    assert np.array_equal(loaded.score_features(held_fake), s_fake)
    assert (loaded.features, loaded.l2, loaded.factor, loaded.size) == (
        "colour-gradient",
        critic.l2,
        1.5,
        299,
    )
    assert loaded.meta == {"n_real": 60, "n_fake": 30, "note": "toy"}
    assert [p.name for p in tmp_path.iterdir()] == ["critic.npz"]  # no temporary left behind


def test_critic_checks_its_inputs(tmp_path: Path) -> None:
    rng = np.random.default_rng(6)
    critic = RealismCritic.fit(
        rng.normal(size=(10, 4)), rng.normal(size=(10, 4)), features="colour-gradient"
    )
    with pytest.raises(InputError, match=r"expected N×4 \(colour-gradient\), got shape \(3, 5\)"):
        critic.score_features(np.zeros((3, 5)))
    with pytest.raises(
        InputError, match="fitted on 'colour-gradient' features, got 'inception-v3'"
    ):
        critic.score([np.zeros((8, 8, 3), np.uint8)], crop_features("inception-v3"))
    with pytest.raises(InputError, match="features: unknown 'nope'"):
        RealismCritic.fit(np.zeros((3, 2)), np.ones((3, 2)), features="nope")
    (tmp_path / "bad.npz").write_bytes(b"not a zip")
    with pytest.raises(InputError, match="not a realism critic file"):
        RealismCritic.load(tmp_path / "bad.npz")


def test_critic_on_crops_end_to_end() -> None:
    # Real: smooth gradients; fake: the same with a hard-edged white square pasted in the centre.
    rng = np.random.default_rng(7)

    def scene(fake: bool) -> np.ndarray:
        base = np.linspace(0, 1, 96)[None, :, None] * rng.uniform(60, 200, 3)
        image = np.clip(base + rng.normal(0, 4, (96, 96, 3)), 0, 255).astype(np.uint8)
        if fake:
            image[36:60, 36:60] = 255
        return image

    box = (36, 36, 60, 60)
    real = [square_crop(scene(False), box, size=64) for _ in range(16)]
    fake = [square_crop(scene(True), box, size=64) for _ in range(16)]
    critic = RealismCritic.fit(
        _features_of(real), _features_of(fake), features="colour-gradient", size=64
    )
    assert critic.score_image(scene(False), box) > 0.5 > critic.score_image(scene(True), box)
    result = c2st(_features_of(real), _features_of(fake), splits=3)
    assert result.accuracy > 0.9


# ------------------------------------------------------------------------------------------------
# crops


def test_square_crop_geometry() -> None:
    image = np.zeros((100, 200, 3), np.uint8)
    image[40:60, 90:110] = 255  # a 20×20 white box
    crop = square_crop(image, (90, 40, 110, 60), factor=2.0, size=40)
    assert crop.shape == (40, 40, 3)
    # The box fills the middle half of the crop.
    assert crop[10:30, 10:30].min() == 255 and crop[:8].max() == 0 and crop[:, :8].max() == 0
    # Leaving the image: padded by edge replication, still square.
    assert square_crop(image, (0, 0, 10, 90), size=32).shape == (32, 32, 3)
    assert mask_box(image[..., 0] > 0) == (90, 40, 110, 60)


def test_square_crop_and_mask_box_refuse_bad_input() -> None:
    image = np.zeros((20, 20, 3), np.uint8)
    with pytest.raises(InputError, match="box: expected x1 > x0"):
        square_crop(image, (5, 5, 5, 9))
    with pytest.raises(InputError, match=r"box: expected \(x0, y0, x1, y1\)"):
        square_crop(image, (5, 5, 9))
    with pytest.raises(InputError, match="mask: empty"):
        mask_box(np.zeros((4, 4)))
