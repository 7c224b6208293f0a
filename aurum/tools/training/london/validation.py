"""Repeated 10-fold cross-validation of the London-only trainer, and the figures drawn
from its out-of-fold predictions (group tables, smiling stability, the interval).

Why out-of-fold: every figure the card states is what a face the model never saw gets,
not a training-set fit.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from aurum.analysers.attractiveness import rating_to_score
from aurum.tools.training.common.checks import COVERAGE
from aurum.tools.training.common.features import standardiser, zscore
from aurum.tools.training.common.learners import LONDON_LEARNERS
from aurum.tools.training.common.output import rounded
from aurum.tools.training.london.data import Dataset, Face
from aurum.tools.training.london.folds import FeatureCache, matrix


def prediction_stats(pred: np.ndarray, y: np.ndarray) -> dict[str, float]:
    from scipy.stats import pearsonr, spearmanr

    return {"pearson_r": float(pearsonr(pred, y)[0]),
            "spearman_rho": float(spearmanr(pred, y)[0]),
            "mae": float(np.mean(np.abs(pred - y)))}


def _folds(n: int, seed: int | None) -> list[tuple[np.ndarray, np.ndarray]]:
    from sklearn.model_selection import KFold, LeaveOneOut

    idx = np.arange(n)
    if seed is None:
        return list(LeaveOneOut().split(idx))
    return list(KFold(10, shuffle=True, random_state=seed).split(idx))


def oof_predictions(cache: FeatureCache, names: Sequence[str], learner: str,
                    seed: int | None, with_smiling: bool = False
                    ) -> tuple[np.ndarray, np.ndarray | None]:
    """Out-of-fold predictions (and, optionally, of the held-out people's smiling
    photos under the same fold's model)."""
    y = cache.ds.y
    pred = np.full(len(y), np.nan)
    smile = np.full(len(y), np.nan) if with_smiling else None
    for tr, te in _folds(len(y), seed):
        ff = cache.fold(tr, with_smiling)
        x = matrix(ff.table, names)
        mean, scale = standardiser(x[tr])
        model = LONDON_LEARNERS[learner](zscore(x[tr], mean, scale), y[tr])
        pred[te] = model.predict(zscore(x[te], mean, scale))
        if smile is not None:
            xs = matrix(ff.smiling, names)[te]
            ok = np.isfinite(xs[:, 0])  # shape features exist when the photo was measured
            if ok.any():
                smile[te[ok]] = model.predict(zscore(xs[ok], mean, scale))
    return pred, smile


def repeated_cv(cache: FeatureCache, names: Sequence[str], learner: str,
                seeds: Sequence[int]) -> dict[str, Any]:
    y = cache.ds.y
    per, preds = [], []
    for s in seeds:
        p, _ = oof_predictions(cache, names, learner, s)
        per.append(prediction_stats(p, y))
        preds.append(p)
    out: dict[str, Any] = {k: float(np.mean([d[k] for d in per])) for k in per[0]}
    out["pearson_r_sd"] = float(np.std([d["pearson_r"] for d in per]))
    out["per_repeat"] = per
    out["oof"] = np.array(preds)
    return out


def choose_learner(results: dict[str, dict[str, Any]]) -> str:
    """One-standard-error rule: the simplest learner (LONDON_LEARNERS order) whose mean
    10-fold r is within one SD over repeats of the best learner's."""
    best = max(results, key=lambda k: results[k]["pearson_r"])
    bar = results[best]["pearson_r"] - results[best]["pearson_r_sd"]
    return next(k for k in LONDON_LEARNERS if k in results and results[k]["pearson_r"] >= bar)


def smiling_augmented_cv(cache: FeatureCache, names: Sequence[str], learner: str,
                         seeds: Sequence[int]) -> dict[str, float]:
    """Tried: add each training person's smiling photo with their neutral rating."""
    y = cache.ds.y
    rs = []
    for seed in seeds:
        pred = np.full(len(y), np.nan)
        for tr, te in _folds(len(y), seed):
            ff = cache.fold(tr, with_smiling=True)
            x, xs = matrix(ff.table, names), matrix(ff.smiling, names)
            ok = np.isfinite(xs[tr, 0])
            xtr = np.vstack([x[tr], xs[tr][ok]])
            ytr = np.concatenate([y[tr], y[tr][ok]])
            mean, scale = standardiser(xtr)
            pred[te] = LONDON_LEARNERS[learner](zscore(xtr, mean, scale), ytr).predict(
                zscore(x[te], mean, scale))
        rs.append(prediction_stats(pred, y)["pearson_r"])
    return {"pearson_r": float(np.mean(rs))}


def group_table(ds: Dataset, pred: np.ndarray, key: Callable[[Face], str]
                 ) -> list[dict[str, Any]]:
    from scipy.stats import pearsonr

    y = ds.y
    groups: dict[str, list[int]] = {}
    for i, f in enumerate(ds.faces):
        groups.setdefault(key(f), []).append(i)
    rows = []
    for g, idx in sorted(groups.items(), key=lambda kv: (-len(kv[1]), kv[0])):
        ii = np.array(idx)
        row = {"group": g, "n": len(ii),
               "rating_mean": float(y[ii].mean()),
               "predicted_mean": float(pred[ii].mean()),
               "score_mean": float(np.mean([rating_to_score(v) for v in pred[ii]])),
               "score_sd": float(np.std([rating_to_score(v) for v in pred[ii]])),
               "bias": float((pred[ii] - y[ii]).mean()),
               "mae": float(np.abs(pred[ii] - y[ii]).mean()),
               "r_within": float(pearsonr(pred[ii], y[ii])[0]) if len(ii) >= 8 else None}
        rows.append(row)
    return rows


def within_sex_r(ds: Dataset, pred: np.ndarray) -> dict[str, float | None]:
    return {row["group"]: row["r_within"] for row in group_table(ds, pred, lambda f: f.sex)}


def smiling_stability(ds: Dataset, oof: np.ndarray, smile: np.ndarray, seed: int) -> dict[str, Any]:
    from scipy.stats import pearsonr

    y = ds.y
    has = np.isfinite(smile)
    s_neutral = np.array([rating_to_score(v) for v in oof[has]])
    s_smile = np.array([rating_to_score(v) for v in smile[has]])
    return {
        "n": int(has.sum()),
        "mean_abs_change": float(np.mean(np.abs(s_smile - s_neutral))),
        "mean_change": float(np.mean(s_smile - s_neutral)),
        "pearson_r_neutral_vs_smiling": float(pearsonr(s_neutral, s_smile)[0]),
        "pearson_r_smiling_vs_rating": float(pearsonr(smile[has], y[has])[0]),
        "note": f"10-fold (seed {seed}): each person's neutral and smiling photo scored "
                "by the model of the fold that held that person out",
    }


def interval(ds: Dataset, main_cv: dict[str, Any], seeds: Sequence[int]) -> dict[str, Any]:
    """The interval on every score: cross-validated residuals of every repeat, pooled,
    so its width is what a held-out London face sees, not a training-set fit."""
    y = ds.y
    resid = (main_cv["oof"] - y[None, :]).ravel()
    half = float(np.quantile(np.abs(resid), COVERAGE))
    by_sex_cov = {sx: float(np.mean(np.abs((main_cv["oof"] - y[None, :])[:, [
        i for i, f in enumerate(ds.faces) if f.sex == sx]]) <= half))
        for sx in sorted({f.sex for f in ds.faces})}
    return rounded({
        "method": f"{COVERAGE * 100:.0f}th percentile of the absolute 10-fold CV residuals "
                  f"(all {len(seeds)} repeats pooled, {resid.size} residuals): the panel's "
                  "mean rating of a London-like photo falls within +- this of the estimate "
                  f"about {COVERAGE * 100:.0f} % of the time",
        "coverage": COVERAGE, "half_width_rating": half,
        "half_width_score": half / 6 * 100,
        "coverage_by_sex": by_sex_cov,
        "residual_sd_rating": float(np.std(resid))})
