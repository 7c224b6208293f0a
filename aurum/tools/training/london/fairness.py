"""The London-only trainer's fairness figures: SFHQ grid scores and spreads, London's
cross-validated residuals by ethnic group, and the raters' age preference.

Used by `london.train`; the spread test and Holm's family test themselves are shared
(`common.checks`).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np

from aurum.analysers.attractiveness import LearnedAttractiveness, rating_to_score
from aurum.measure.appearance import AGE_NAMES
from aurum.tools.training.common.checks import (
    ETHNICITY_PREFIX,
    HAIR_LABELS,
    MIN_GROUP,
    spread_with_chance,
)
from aurum.tools.training.london.data import Dataset, SharedFaces, as_descriptor


def score_shared(model: LearnedAttractiveness, sf: SharedFaces
                 ) -> tuple[np.ndarray, list[bool]]:
    """0-100 scores (NaN where unavailable) and whether any feature was clipped."""
    scores, clipped = [], []
    for raw, desc in zip(sf.raw, sf.desc, strict=True):
        out = model.analyze_raw(raw, as_descriptor(desc)) if raw is not None else {"score": None}
        scores.append(math.nan if out["score"] is None else float(out["score"]))
        clipped.append(bool(out.get("out_of_range")))
    return np.array(scores), clipped


def shared_label_table(sf: SharedFaces, scores: np.ndarray, clipped: list[bool]
                       ) -> list[dict[str, Any]]:
    rows = []
    for label in sorted(set(sf.labels)):
        idx = [i for i, lab in enumerate(sf.labels) if lab == label]
        ok = [scores[i] for i in idx if math.isfinite(scores[i])]
        rows.append({"label": label, "n": len(idx), "scored": len(ok),
                     "women": sum(sf.sexes[i] == "female" for i in idx),
                     "score_mean": float(np.mean(ok)) if ok else None,
                     "score_sd": float(np.std(ok)) if ok else None,
                     "with_out_of_range_features": sum(clipped[i] for i in idx)})
    return rows


def shared_fairness(sf: SharedFaces, scores: np.ndarray) -> dict[str, Any]:
    """Within-sex spreads on the SFHQ grids: ethnicity among men, hair colour among women."""
    def subset(pred: Callable[[str], bool], sex: str, min_group: int = MIN_GROUP
               ) -> dict[str, Any]:
        idx = [i for i, (lab, sx) in enumerate(zip(sf.labels, sf.sexes, strict=True))
               if pred(lab) and sx == sex]
        return spread_with_chance(scores[idx], [sf.labels[i] for i in idx],
                                  [sex] * len(idx), min_group=min_group)

    return {"ethnicity_men": subset(lambda lab: lab.startswith(ETHNICITY_PREFIX), "male"),
            "hair_women": subset(lambda lab: lab in HAIR_LABELS, "female"),
            # reported, not a selection check: groups of 2 women included
            "hair_women_min2": subset(lambda lab: lab in HAIR_LABELS, "female", 2),
            # reported, not a selection check (added after the rule was fixed)
            "hair_women_age_adjusted": age_adjusted_hair(sf, scores)}


def _plain_r(a: np.ndarray, b: np.ndarray) -> float:
    """Pearson's r from plain sums (no BLAS dot product), so a stored figure is the same
    on every CPU."""
    da, db = a - a.mean(), b - b.mean()
    return float(np.sum(da * db) / np.sqrt(np.sum(da * da) * np.sum(db * db)))


def london_age_rating_r(ds: Dataset) -> dict[str, float | None]:
    """Within each sex, the correlation of the panel's mean rating with the stated age:
    the raters' own age preference, which a model of their ratings inherits. Plain sums
    (no BLAS)."""
    out: dict[str, float | None] = {}
    for sex in sorted({f.sex for f in ds.faces}):
        pairs = [(f.age, y) for f, y in zip(ds.faces, ds.y, strict=True)
                 if f.sex == sex and f.age is not None]
        if len(pairs) < 3:
            out[sex] = None
            continue
        a, y = (np.array(v, dtype=np.float64) for v in zip(*pairs, strict=True))
        out[sex] = _plain_r(a, y)
    return out


def age_adjusted_hair(sf: SharedFaces, scores: np.ndarray) -> dict[str, Any] | None:
    """The hair-colour spread among women with the faces' age cues held constant.

    Why: SFHQ's generator drew each hair-colour row's women from its own prompt, so the
    rows differ in more than hair; the London raters rated older-looking faces lower.
    The age index is the mean of the z-scored `AGE_NAMES` cues (wrinkle energy, under-
    eye darkness) that every face of the check has; the score's straight-line
    dependence on it, fitted on the same faces, is removed before the spread and its
    chance level are taken. The cues are this package's own appearance measures, not a
    validated age estimate. The slope uses plain sums (no BLAS), so it is the same on
    every CPU.
    """
    idx = [i for i, (lab, sx) in enumerate(zip(sf.labels, sf.sexes, strict=True))
           if lab in HAIR_LABELS and sx == "female" and sf.raw[i] is not None
           and np.isfinite(scores[i])]
    counts = {g: sum(sf.labels[i] == g for i in idx) for g in HAIR_LABELS}
    idx = [i for i in idx if counts[sf.labels[i]] >= MIN_GROUP]
    if len(idx) < 2 * MIN_GROUP:
        return None
    raws = [r for r in (sf.raw[i] for i in idx) if r is not None]  # none is None: idx
    cues = [k for k in AGE_NAMES
            if all(np.isfinite(r.scalars.get(k, math.nan)) for r in raws)]
    if not cues:
        return None
    x = np.array([[r.scalars[k] for k in cues] for r in raws])
    z = (x - x.mean(axis=0)) / x.std(axis=0)
    age = z.mean(axis=1)
    v = scores[idx].astype(np.float64)
    da, dv = age - age.mean(), v - v.mean()
    slope = float(np.sum(da * dv) / np.sum(da * da))
    labels = [sf.labels[i] for i in idx]
    out = spread_with_chance(v - slope * da, labels, ["female"] * len(idx))
    out.update({"cues": cues, "slope_points_per_sd": slope, "r_age_score": _plain_r(age, v),
                "age_index": {g: float(age[[lab == g for lab in labels]].mean())
                              for g in sorted(set(labels))}})
    return out


def london_residuals(ds: Dataset, oof: np.ndarray) -> dict[str, Any]:
    """Cross-validated residuals (predicted - rated, in 0-100 score points) by ethnic
    group, with chance levels from shuffling the groups within sex."""
    res = np.array([rating_to_score(p) - rating_to_score(y) for p, y in zip(oof, ds.y,
                                                                            strict=True)])
    return spread_with_chance(res, [f.eth for f in ds.faces], [f.sex for f in ds.faces])


def below_chance(d: dict[str, Any] | None) -> bool | None:
    """A spread check: passed, failed, or None when there were too few groups."""
    if not d or d.get("spread") is None:
        return None
    return bool(d["spread"] < d["chance_95"])

