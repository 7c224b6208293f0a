"""Grouped cross-validation over the several-set pool, and the checks and figures drawn
from it: per-set correlations, smiling stability, the fairness family, conformal
intervals.

Why grouped: MEBeauty has several photos of one person; holding out photos rather than
people would let the model recognise a face instead of predicting its rating.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from aurum.tools.training.common.checks import (
    COVERAGE,
    grid_spread,
    holm,
    spread_with_chance,
)
from aurum.tools.training.common.features import standardiser, zscore
from aurum.tools.training.common.learners import MULTISET_LEARNERS, Model, weights
from aurum.tools.training.multiset.data import Pool, display_points

N_FOLDS = 10



def grouped_folds(groups: np.ndarray, seed: int, k: int = N_FOLDS) -> np.ndarray:
    """Fold number per photo, from a hash of (seed, person): every photo of one person
    shares a fold, row order does not matter, and a person who appears or merges with
    another (two photos crossing the same-person distance under processor noise) moves
    only their own photos; dealing people out in a permuted order moved every fold
    (London's within-sex r by 0.01 from noise at the cross-processor scale)."""
    import hashlib

    def fold(name: str) -> int:
        digest = hashlib.sha256(f"{seed}:{name}".encode()).digest()
        return int.from_bytes(digest[:8], "big") % k

    memo: dict[str, int] = {}
    return np.array([memo.setdefault(g, fold(g)) for g in groups.tolist()])


def _r(a: np.ndarray, b: np.ndarray) -> float:
    if len(a) < 3 or np.std(a) == 0 or np.std(b) == 0:
        return math.nan
    return float(np.corrcoef(a, b)[0, 1])


def fit_rows(pool: Pool, x: np.ndarray, tr: np.ndarray, learner: str, weighting: str,
             col_weight: np.ndarray | None = None) -> tuple[Model, np.ndarray, np.ndarray]:
    """The learner on rows `tr`, features z-scored on those rows; `col_weight` (a
    block's weight, e.g. faceres' 1024 columns given the total variance of dlib's 128)
    multiplies the z-scores, folded into the stored scale so the app applies it."""
    mean, scale = standardiser(x[tr])
    if col_weight is not None:
        scale = scale / col_weight
    model = MULTISET_LEARNERS[learner](zscore(x[tr], mean, scale), pool.target[tr],
                              weights(pool.sets[tr], weighting))
    return model, mean, scale


def _fit_predict(pool: Pool, x: np.ndarray, tr: np.ndarray, te: np.ndarray,
                 learner: str, weighting: str, col_weight: np.ndarray | None = None
                 ) -> np.ndarray:
    model, mean, scale = fit_rows(pool, x, tr, learner, weighting, col_weight)
    return model.predict(zscore(x[te], mean, scale))


@dataclass
class CV:
    oof: np.ndarray  # (repeats, n) over the pool; NaN for val photos
    val_pred: np.ndarray  # (n,) for val photos, NaN elsewhere
    crit: list[float]  # per repeat
    per_set: dict[str, list[float]]

    @property
    def criterion(self) -> float:
        return float(np.mean(self.crit))

    @property
    def criterion_sd(self) -> float:
        return float(np.std(self.crit))


def cross_validate(pool: Pool, x: np.ndarray, learner: str, weighting: str,
                   seeds: Sequence[int], progress: Callable[[str], None] = lambda s: None,
                   col_weight: np.ndarray | None = None) -> CV:
    """Grouped k-fold over the pool (val excluded) per seed, and the val prediction
    from a model fitted on the pool minus every photo of a val person."""
    n = len(pool.target)
    train_pool = ~pool.val
    oof = np.full((len(seeds), n), np.nan)
    crit, per_set = [], {k: [] for k in sorted(set(pool.sets.tolist()))}
    for si, seed in enumerate(seeds):
        folds = np.full(n, -1)
        folds[train_pool] = grouped_folds(pool.groups[train_pool], seed)
        for f in range(N_FOLDS):
            tr = np.flatnonzero(train_pool & (folds != f))
            te = np.flatnonzero(folds == f)
            oof[si, te] = _fit_predict(pool, x, tr, te, learner, weighting, col_weight)
        rs = []
        for key in per_set:
            m = train_pool & (pool.sets == key)
            r = _r(oof[si, m], pool.target[m])
            per_set[key].append(r)
            rs.append(r)
        crit.append(float(np.mean(rs)))
        progress(f"    seed {seed}: " + ", ".join(f"{k} r={v[-1]:.3f}"
                                                   for k, v in per_set.items()))
    val_pred = np.full(n, np.nan)
    if pool.val.any():
        val_people = set(pool.groups[pool.val].tolist())
        tr = np.flatnonzero(train_pool & ~np.isin(pool.groups, list(val_people)))
        te = np.flatnonzero(pool.val)
        val_pred[te] = _fit_predict(pool, x, tr, te, learner, weighting, col_weight)
    return CV(oof, val_pred, crit, per_set)


def fairness_family(pool: Pool, oof_mean: np.ndarray, val_pred: np.ndarray,
                    sfhq: tuple[list[str], list[str], np.ndarray] | None) -> dict[str, Any]:
    """Within-sex spreads against shuffle nulls (`spread_with_chance`), in 0-100 display
    points: MEBeauty val residuals by ethnicity (women; men), London CV residuals by
    ethnicity (shuffled within sex), and the SFHQ grids' group means within sex."""
    pts = display_points(pool)
    photos = pool.sd.photos
    tests: dict[str, Any] = {}
    res_val = (val_pred - pool.target) * pts
    for sex, label in (("female", "women"), ("male", "men")):
        idx = np.flatnonzero(pool.val & np.array([p.sex == sex for p in photos]))
        tests[f"mebeauty_val_ethnicity_{label}"] = spread_with_chance(
            res_val[idx], [photos[i].group for i in idx], [sex] * len(idx))
    lon = np.flatnonzero(pool.sets == "london")
    res_lon = (oof_mean - pool.target) * pts
    tests["london_cv_ethnicity"] = spread_with_chance(
        res_lon[lon], [photos[i].group for i in lon], [photos[i].sex for i in lon])
    if sfhq is not None:
        labels, sexes, scores = sfhq
        for sex, label in (("female", "women"), ("male", "men")):
            for grid in ("ethnicity", "hair"):
                tests[f"sfhq_{grid}_{label}"] = grid_spread(labels, sexes, scores, grid, sex)
    verdict = holm({k: v.get("p") for k, v in tests.items()})
    return {"tests": tests, "holm": verdict, "units": "0-100 score points"}


def smiling_change(pool: Pool, x_smile: np.ndarray, x: np.ndarray, learner: str,
                   weighting: str, seed: int, col_weight: np.ndarray | None = None
                   ) -> dict[str, Any]:
    """London people's neutral and smiling photos scored by the fold model that held
    them out: mean absolute change in 0-100 points."""
    n = len(pool.target)
    train_pool = ~pool.val
    folds = np.full(n, -1)
    folds[train_pool] = grouped_folds(pool.groups[train_pool], seed)
    pts = display_points(pool)
    has = np.all(np.isfinite(x_smile[:, :128]), axis=1) & (pool.sets == "london")
    neutral, smile = [], []
    for f in range(N_FOLDS):
        tr = np.flatnonzero(train_pool & (folds != f))
        te = np.flatnonzero((folds == f) & has)
        if not len(te):
            continue
        model, mean, scale = fit_rows(pool, x, tr, learner, weighting, col_weight)
        neutral.append(model.predict(zscore(x[te], mean, scale)))
        smile.append(model.predict(zscore(x_smile[te], mean, scale)))
    a, b = np.concatenate(neutral) * pts, np.concatenate(smile) * pts
    return {"n": int(len(a)), "mean_abs_change": float(np.mean(np.abs(b - a))),
            "mean_change": float(np.mean(b - a)), "pearson_r_neutral_vs_smiling": _r(a, b)}


def conformal(pool: Pool, oof: np.ndarray, val_pred: np.ndarray) -> dict[str, Any]:
    """Per panel: the split-conformal quantile (level ceil((n+1) c)/n) of the absolute
    grouped-CV residuals in that panel's rating units (all repeats pooled, people
    counted once per repeat); coverage measured in CV (within sex) and on MEBeauty val."""
    out: dict[str, Any] = {"coverage": COVERAGE, "panels": {}}
    photos = pool.sd.photos
    sexes = np.array([p.sex for p in photos])
    for key in sorted(set(pool.sets.tolist())):
        sdv = pool.norms[key]["sd"]
        m = (pool.sets == key) & ~pool.val
        res = np.abs(oof[:, m] - pool.target[m][None, :]).ravel() * sdv
        level = min(1.0, math.ceil((res.size + 1) * COVERAGE) / res.size)
        half = float(np.quantile(res, level, method="higher"))
        cov_cv = {sx: float(np.mean(np.abs(oof[:, m & (sexes == sx)]
                                           - pool.target[m & (sexes == sx)][None, :])
                                    * sdv <= half)) for sx in ("female", "male")}
        panel: dict[str, Any] = {"half_width_rating": half, "n_residuals": int(res.size),
                                 "coverage_cv": float(np.mean(res <= half)),
                                 "coverage_cv_by_sex": cov_cv}
        vm = pool.val & (pool.sets == key)
        if vm.any():
            err = np.abs(val_pred[vm] - pool.target[vm]) * sdv
            panel["coverage_val"] = float(np.mean(err <= half))
            panel["coverage_val_by_sex"] = {
                sx: float(np.mean(err[sexes[vm] == sx] <= half)) for sx in ("female", "male")}
            panel["n_val"] = int(vm.sum())
        out["panels"][key] = panel
    out["method"] = (f"split-conformal: per panel, the ceil((n+1) x {COVERAGE})/n quantile "
                     "of the absolute grouped 10-fold CV residuals on that panel's own "
                     f"scale ({oof.shape[0]} repeats pooled)")
    return out


def _spearman(a: np.ndarray, b: np.ndarray) -> float:
    from scipy.stats import spearmanr

    return float(spearmanr(a, b)[0])


def figures(pool: Pool, cv: CV) -> dict[str, Any]:
    """Pooled and within-sex r of London CV, MEBeauty train CV and MEBeauty val."""
    sexes = np.array([p.sex for p in pool.sd.photos])
    out: dict[str, Any] = {"criterion": cv.criterion, "criterion_sd": cv.criterion_sd}
    for key in sorted(cv.per_set):
        m = (pool.sets == key) & ~pool.val
        sdv = pool.norms[key]["sd"]
        out[f"{key}_cv"] = {
            "pearson_r": float(np.mean(cv.per_set[key])),
            "pearson_r_sd": float(np.std(cv.per_set[key])),
            "spearman_rho": float(np.mean([_spearman(o[m], pool.target[m]) for o in cv.oof])),
            "mae_rating": float(np.mean([np.mean(np.abs(o[m] - pool.target[m])) * sdv
                                         for o in cv.oof])),
            "within_sex_pearson_r": {
                sx: float(np.mean([_r(o[m & (sexes == sx)], pool.target[m & (sexes == sx)])
                                   for o in cv.oof])) for sx in ("female", "male")},
            "n": int(m.sum())}
    if pool.val.any():
        v = pool.val
        out["mebeauty_val"] = {
            "pearson_r": _r(cv.val_pred[v], pool.target[v]),
            "spearman_rho": _spearman(cv.val_pred[v], pool.target[v]),
            "mae_rating": float(np.mean(np.abs(cv.val_pred[v] - pool.target[v]))
                                * pool.norms["mebeauty"]["sd"]),
            "within_sex_pearson_r": {sx: _r(cv.val_pred[v & (sexes == sx)],
                                            pool.target[v & (sexes == sx)])
                                     for sx in ("female", "male")},
            "n": int(v.sum())}
    return out
