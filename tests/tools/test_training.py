"""The London-only trainer's steps on made-up numbers (no data): learners
(`training.common.learners`), the spread checks against chance (`common.checks`,
`london.fairness`). The committed model's retrain check is in
tests/analysers/test_attractiveness.py."""

from __future__ import annotations

import numpy as np

from aurum.measure.appearance import RawFeatures


def test_ridge_fit_is_order_and_jitter_invariant():
    """BLAS-independent and reproducible: shuffling the faces or jittering the inputs by
    1e-9 leaves the stored (6-significant-digit) coefficients unchanged."""
    from aurum.tools.training.common.learners import LONDON_LEARNERS
    from aurum.tools.training.common.output import significant

    fit_ridge = LONDON_LEARNERS["ridge"]
    rng = np.random.default_rng(5)
    x = rng.normal(size=(90, 128))
    y = x[:, :5].sum(axis=1) * 0.1 + rng.normal(0, 0.5, 90)
    a = fit_ridge(x, y)
    perm = rng.permutation(90)
    b = fit_ridge(x[perm], y[perm])
    c = fit_ridge(x + rng.normal(0, 1e-9, x.shape), y + rng.normal(0, 1e-9, 90))
    assert a.params == b.params == c.params
    assert significant(a.coef) == significant(b.coef) == significant(c.coef)
    assert f"{a.intercept:.7g}" == f"{b.intercept:.7g}" == f"{c.intercept:.7g}"


def test_spread_chance_level_separates_effect_from_noise():
    from aurum.tools.training.common.checks import spread_with_chance

    rng = np.random.default_rng(2)
    labels = [f"g{i % 5}" for i in range(50)]
    noise = rng.normal(40, 8, 50)
    null = spread_with_chance(noise, labels, ["f"] * 50, n_shuffles=2000)
    assert null["spread"] > 0 and null["chance_95"] > 0
    shifted = noise + np.array([15.0 if lab == "g0" else 0.0 for lab in labels])
    hit = spread_with_chance(shifted, labels, ["f"] * 50, n_shuffles=2000)
    assert hit["spread"] > hit["chance_95"] and hit["p"] < 0.05
    assert hit["groups"]["g0"]["deviation"] > hit["groups"]["g0"]["chance_95_abs_deviation"]
    # groups below the minimum size are left out
    few = spread_with_chance(noise[:12], labels[:10] + ["tiny", "tiny"], ["f"] * 12,
                             n_shuffles=200)
    assert "tiny" not in few["groups"]


def test_age_adjusted_hair_spread_removes_an_age_effect_but_not_a_hair_effect():
    """The card's age-adjusted hair spread: a gap that follows the faces' age cues
    disappears once they are held constant; a gap of the hair row itself does not."""
    from aurum.measure.appearance import AGE_NAMES
    from aurum.tools.training.london.data import SharedFaces
    from aurum.tools.training.london.fairness import age_adjusted_hair

    rng = np.random.default_rng(5)
    groups = ["blue hair", "green hair", "red or orange hair", "yellow or blond hair"]
    labels = [groups[i % 4] for i in range(48)]
    blond = np.array([lab == "yellow or blond hair" for lab in labels])
    age = rng.normal(0, 1, 48) + 1.5 * blond
    raws = [RawFeatures(shape=np.zeros((478, 2)),
                        scalars={k: a + rng.normal(0, 0.1) for k in AGE_NAMES})
            for a in age]
    sf = SharedFaces(labels, ["female"] * 48, raws, [None] * 48)
    by_age = 45.0 - 6.0 * age + rng.normal(0, 2, 48)
    out = age_adjusted_hair(sf, by_age)
    assert out is not None and out["cues"] == list(AGE_NAMES)
    assert out["age_index"]["yellow or blond hair"] > 0.5 and out["r_age_score"] < -0.8
    assert out["spread"] < out["chance_95"]
    by_hair = 45.0 - 12.0 * blond + rng.normal(0, 2, 48)  # age plays no part
    hit = age_adjusted_hair(sf, by_hair)
    assert hit is not None and hit["spread"] > hit["chance_95"]


def test_pls_matches_scikit_learn():
    from sklearn.cross_decomposition import PLSRegression

    from aurum.tools.training.common.learners import pls1

    rng = np.random.default_rng(3)
    x = rng.normal(size=(60, 12))
    y = x[:, 0] - 0.5 * x[:, 3] + rng.normal(0, 0.5, 60)
    for k, (coef, b) in enumerate(pls1(x, y, 4), start=1):
        ref = PLSRegression(n_components=k, scale=False).fit(x, y)
        assert np.allclose(x @ coef + b, ref.predict(x).ravel(), atol=1e-8)
