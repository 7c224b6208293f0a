"""Group spreads against chance: SFHQ grids, London residuals, and Holm's family test.

Why shuffle nulls: with a few faces per group, some spread between group means is
always there; a spread counts only when it exceeds what shuffling the labels within
sex produces, and a family of such tests is judged together (Holm) so that many tests
do not make a failure certain.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from aurum.analysers.attractiveness import LearnedAttractiveness, rating_to_score
from aurum.measure.appearance import AGE_NAMES
from aurum.tools.training.data import Dataset, SharedFaces, as_descriptor


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


N_SHUFFLES = 5000
SHUFFLE_SEED = 0
# As in issue 13's definition (6 ethnicity groups among men, 5 hair colours among
# women): a group needs 3 faces of that sex. The 'white or gray hair' row has 2 women;
# the card also reports the spread with it (min 2), outside the selection rule.
MIN_GROUP = 3


def spread_with_chance(values: np.ndarray, labels: Sequence[str], strata: Sequence[str],
                       n_shuffles: int = N_SHUFFLES, seed: int = SHUFFLE_SEED,
                       min_group: int = MIN_GROUP) -> dict[str, Any]:
    """Spread (max - min) of the group means, and its chance level: the 95th percentile
    of the same spread after shuffling the labels within each stratum (sex), so a
    model with no group effect at all shows this spread 5 % of the time. Groups
    with fewer than `min_group` members are left out. Also each group's |mean - overall
    mean| against its own shuffled 95th percentile."""
    v = np.asarray(values, dtype=np.float64)
    lab = np.asarray(labels, dtype=object)
    st = np.asarray(strata, dtype=object)
    ok = np.isfinite(v)
    v, lab, st = v[ok], lab[ok], st[ok]
    names = sorted(g for g in set(lab) if (lab == g).sum() >= min_group)
    keep = np.isin(lab, names)
    v, lab, st = v[keep], lab[keep], st[keep]
    if len(names) < 2:
        return {"groups": {}, "spread": None, "chance_95": None, "p": None, "n": int(len(v))}
    codes = np.array([names.index(g) for g in lab])

    def means(c: np.ndarray) -> np.ndarray:
        sums = np.bincount(c, weights=v, minlength=len(names))
        counts = np.bincount(c, minlength=len(names))
        return sums / counts

    observed = means(codes)
    overall = float(v.mean())
    rng = np.random.default_rng(seed)
    spreads = np.empty(n_shuffles)
    devs = np.empty((n_shuffles, len(names)))
    strata_idx = [np.flatnonzero(st == s) for s in sorted(set(st))]
    for k in range(n_shuffles):
        c = codes.copy()
        for idx in strata_idx:
            c[idx] = codes[idx][rng.permutation(len(idx))]
        m = means(c)
        spreads[k] = m.max() - m.min()
        devs[k] = np.abs(m - overall)
    spread = float(observed.max() - observed.min())
    groups = {g: {"n": int((codes == i).sum()), "mean": float(observed[i]),
                  "deviation": float(observed[i] - overall),
                  "chance_95_abs_deviation": float(np.percentile(devs[:, i], 95))}
              for i, g in enumerate(names)}
    return {"groups": groups, "spread": spread,
            "chance_95": float(np.percentile(spreads, 95)),
            "p": float((np.sum(spreads >= spread - 1e-12) + 1) / (n_shuffles + 1)),
            "n": int(len(v)), "shuffles": n_shuffles}


ETHNICITY_PREFIX = "typical adult "
HAIR_LABELS = ("white or gray hair", "yellow or blond hair", "blue hair",
               "purple or pink hair", "red or orange hair", "green hair")


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


ALPHA_FAMILY = 0.05


def holm(pvalues: dict[str, float | None], alpha: float = ALPHA_FAMILY) -> dict[str, Any]:
    """Holm's step-down over the family: each test's adjusted p and whether the family
    passes (no hypothesis of 'no group effect' rejected)."""
    items = sorted(((p, k) for k, p in pvalues.items() if p is not None))
    m = len(items)
    adjusted: dict[str, float] = {}
    running = 0.0
    for i, (p, k) in enumerate(items):
        running = max(running, min(1.0, (m - i) * p))
        adjusted[k] = running
    rejected = [k for k, a in adjusted.items() if a <= alpha]
    return {"alpha": alpha, "m": m, "p": dict(pvalues), "p_holm": adjusted,
            "rejected": sorted(rejected), "passed": not rejected}
