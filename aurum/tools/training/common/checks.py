"""The checks both trainers hold a candidate to, and the statistics behind them.

Used by `london` and `multiset` alike: group spreads against shuffle nulls
(`spread_with_chance`), Holm's step-down over a family of such tests (`holm`), the
SFHQ grids' group labels, the smiling limit and the interval's coverage.

Why shuffle nulls: with a few faces per group, some spread between group means is
always there; a spread counts only when it exceeds what shuffling the labels within
sex produces, and a family of such tests is judged together (Holm) so that many tests
do not make a failure certain.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

# Both trainers' shared bars: a smile may move the score by at most this much on
# average (0-100 points), and an interval covers this share of held-out people.
SMILING_LIMIT = 2.5
COVERAGE = 0.8

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
