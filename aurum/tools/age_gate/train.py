"""Fitting the adults-only gate and choosing its threshold by a rule fixed in advance.

The model: standardise the features on the training faces, clip at +-Z_CLIP, and fit an
L2-regularised logistic regression (minor = 1). Weights: the minors' total weight equals
the adults'; each minors' grid weighs the same, and so does each adult set (MEBeauty's
1,944 photos would otherwise outvote London's 102 real faces); within MEBeauty each
ethnicity x sex cell weighs the same (`Table.cell`), so the cells the age head reads as
younger (Asian and Indian women) shape the boundary as much as the largest cell.

Cross-validation, honest about what the withheld evaluation measures (a THIRD age grid
of synthetic minors) and about each adult group's rate: every fit leaves out one
minors' grid AND one of ADULT_FOLDS folds of the adults (grouped by photo: one person
a photo in MEBeauty and London, one synthetic face in faces/; each cell split evenly),
and scores only those; 2 grids x 3 folds = 6 fits. A face's out-of-fold logit is the
mean over the fits that left it out (a minor: 3, an adult: 2). The candidate (feature
groups, their weights, C) is chosen from `CANDIDATES` on those logits (`select`).

The threshold rule, as first written (before the first run), on out-of-fold logits:
1. `t_adult`: the lowest threshold that withholds at most 2 % of the shared adults;
2. `t_child`: the lowest logit of an under-13 face;
3. `t_adult` if `t_child >= t_adult` (both hold; the lowest threshold the adults'
   budget allows withholds the most 16-year-olds), else `t_child` (withhold a
   young-looking adult rather than score a child).
Out of fold, `t_child < t_adult` for every candidate: step 3 would have withheld 15-30 %
of the shared adults. Amended after that first run, and said so in the card: the same
three steps are applied to the SHIPPED model's logits on the shared faces (the issue's
"every face under 13", "at most 2 % of the shared adults"); a candidate whose own fit
cannot meet them there (the 14-feature proportions + age model: 14 % of the adults)
is not eligible; the out-of-fold figures at the out-of-fold `t_adult` are reported as
what to expect on faces the model never saw.

Restated for the second fit (issue 34, fairness and recall; written before its final
run): a candidate is eligible when it meets the rule on its own training faces AND,
out of fold at its `t_adult`, no MEBeauty ethnicity x sex cell is withheld at more than
WORST_CELL_MAX; among the eligible, the most under-13s withheld out of fold, then the
lowest worst-cell rate, then the most 16-year-olds, then the simpler (earlier) one. The
threshold: the three steps above on the shipped model's logits on every shared face.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from sklearn.linear_model import LogisticRegression

from aurum.analysers.age_gate import GROUPS, Z_CLIP

ALL_GROUPS = tuple(GROUPS)  # the table's columns, in this order


@dataclass(frozen=True)
class Spec:
    """One candidate: which feature groups, each group's weight after standardising
    (a weight w divides that group's L2 penalty by w squared), and C."""

    groups: tuple[str, ...]
    weight: tuple[float, ...]
    c: float

    def columns(self) -> np.ndarray:
        starts = np.cumsum([0, *GROUPS.values()])
        pos = {g: (starts[i], starts[i + 1]) for i, g in enumerate(GROUPS)}
        return np.concatenate([np.arange(*pos[g]) for g in self.groups])

    def weights(self) -> np.ndarray:
        return np.concatenate([np.full(GROUPS[g], w) for g, w in zip(self.groups,
                                                                      self.weight,
                                                                      strict=True)])


# The candidates, fixed before the run (simplest first): the features the engine had
# before faceres; then with faceres's descriptor and age head; then the age head and
# the proportions carrying more weight than the two 128/1024-D descriptors.
# Second fit: the first fit's choice, then the proportions weighing 2x and 3x more (out
# of grid, a child's face shape carried over better than the descriptors; mirrored
# minors, C = 0.01 or 0.1 and the age head at 6 did not help: docs/age-gate.md).
_ALL = ("descriptor", "proportions", "faceres", "age")
CANDIDATES = (Spec(_ALL, (0.3, 1.0, 0.3, 3.0), 0.03), Spec(_ALL, (0.3, 2.0, 0.3, 3.0), 0.03),
              Spec(_ALL, (0.3, 3.0, 0.3, 3.0), 0.03))
ADULT_BUDGET = 0.02
ADULT_FOLDS = 3
WORST_CELL_MAX = 0.08  # the first fit's worst cell, on photos it never saw: 12.6 %
ADULT_SETS = ("faces", "london", "mebeauty")
DIGITS = 6  # significant digits kept: 1e-9 jitter and row order leave the file unchanged


@dataclass
class Table:
    """The labelled feature table (one row a photo, canonical order)."""

    x: np.ndarray  # (n, d)
    minor: np.ndarray  # bool
    set_key: np.ndarray  # "minors" or an adult set
    grid: np.ndarray  # the minors' grid ("" for adults)
    age_class: np.ndarray  # "under13", "teen16", "adult"
    cell: np.ndarray | None = None  # weighting cell: "mebeauty/asian/female"; default set

    def cells(self) -> np.ndarray:
        return self.set_key if self.cell is None else self.cell


@dataclass
class Fitted:
    spec: Spec
    mean: np.ndarray
    scale: np.ndarray
    coef: np.ndarray
    intercept: float

    def logit(self, x: np.ndarray) -> np.ndarray:
        """`x`: the full table's columns (every group); the spec picks its own."""
        x = x[:, self.spec.columns()]
        z = np.clip((x - self.mean) / self.scale, -Z_CLIP, Z_CLIP) * self.spec.weights()
        return z @ self.coef + self.intercept


def _round(a: np.ndarray) -> np.ndarray:
    return np.array([float(f"{v:.{DIGITS}g}") for v in np.ravel(a)])


def weights(t: Table) -> np.ndarray:
    """Half the weight on the minors (each grid alike), half on the adults (each set
    alike, and each cell of a set alike), so no one set's or group's size decides the
    boundary."""
    w = np.zeros(len(t.minor))
    grids = sorted(set(t.grid[t.minor]))
    for g in grids:
        sel = t.minor & (t.grid == g)
        w[sel] = 0.5 / len(grids) / sel.sum()
    cells, adults = t.cells(), ~t.minor
    sets = sorted(set(t.set_key[adults]))
    for s in sets:
        in_set = sorted(set(cells[adults & (t.set_key == s)]))
        for c in in_set:
            sel = adults & (t.set_key == s) & (cells == c)
            w[sel] = 0.5 / len(sets) / len(in_set) / sel.sum()
    return w * len(w)


def fit(t: Table, spec: Spec, exact: bool = True) -> Fitted:
    """The regularised logistic model on `t`, rounded to DIGITS significant digits.
    `exact=False` (the cross-validation's 48 fits) uses lbfgs: 10-30 times faster on
    1,170 features, and its figures are shares of faces, not shipped coefficients."""
    x = t.x[:, spec.columns()]
    mean = _round(x.mean(axis=0))
    scale = _round(np.maximum(x.std(axis=0), 1e-12))
    z = np.clip((x - mean) / scale, -Z_CLIP, Z_CLIP) * spec.weights()
    # Newton's method converges to machine precision: row order and 1e-9 jitter move
    # the coefficients by about 1e-12, far below the DIGITS rounding (lbfgs stopped
    # 1e-6 short, and the file changed with the row order).
    lr = LogisticRegression(C=spec.c, solver="newton-cholesky", max_iter=200, tol=1e-12) \
        if exact else LogisticRegression(C=spec.c, solver="lbfgs", max_iter=5000, tol=1e-8)
    lr.fit(z, t.minor.astype(int), sample_weight=weights(t))
    return Fitted(spec, mean, scale, _round(lr.coef_[0]), float(_round(lr.intercept_)[0]))


def take(t: Table, mask: np.ndarray) -> Table:
    return Table(t.x[mask], t.minor[mask], t.set_key[mask], t.grid[mask], t.age_class[mask],
                 t.cells()[mask])


def adult_folds(t: Table) -> np.ndarray:
    """Each adult's fold (0..ADULT_FOLDS-1; -1 for a minor): every cell dealt out in
    turn, in the table's canonical order, so each fold holds a third of every group."""
    fold = np.full(len(t.minor), -1)
    cells = t.cells()
    for c in sorted(set(cells[~t.minor])):
        idx = np.flatnonzero(~t.minor & (cells == c))
        fold[idx] = np.arange(len(idx)) % ADULT_FOLDS
    return fold


Folds = dict[tuple[str, str], tuple[np.ndarray, np.ndarray]]


def out_of_fold(t: Table, spec: Spec) -> tuple[np.ndarray, Folds]:
    """Every face's mean logit over the fits that left out its grid (minors) or its
    fold (adults); also each fit's held-out mask and logits, for the per-fold figures."""
    total, count = np.zeros(len(t.minor)), np.zeros(len(t.minor))
    folds = {}
    fold = adult_folds(t)
    for g in sorted(set(t.grid[t.minor])):
        for k in range(ADULT_FOLDS):
            held = (t.minor & (t.grid == g)) | (fold == k)
            logit = fit(take(t, ~held), spec, exact=False).logit(t.x)
            total[held] += logit[held]
            count[held] += 1
            folds[(g, str(k))] = (held, logit)
    return total / np.maximum(count, 1), folds


def choose_threshold(logit: np.ndarray, t: Table) -> tuple[float, dict[str, float]]:
    """The rule of the module docstring, on out-of-fold logits."""
    adults = np.sort(logit[~t.minor])
    allowed = int(np.floor(ADULT_BUDGET * len(adults)))  # adults that may be withheld
    # withheld = logit >= threshold: put it just above the (allowed+1)-th highest adult
    t_adult = float(np.nextafter(adults[-(allowed + 1)], np.inf))
    t_child = float(logit[t.age_class == "under13"].min())
    chosen = t_adult if t_child >= t_adult else t_child
    return chosen, {"t_adult": t_adult, "t_child": t_child}


def rates(logit: np.ndarray, t: Table, threshold: float) -> dict[str, float]:
    """Share withheld of under-13s, 16-year-olds and each adult set at `threshold`."""
    out = {}
    for name, mask in (("under13", t.age_class == "under13"),
                       ("teen16", t.age_class == "teen16"), ("adults", ~t.minor),
                       *((s, t.set_key == s) for s in ADULT_SETS)):
        out[name] = float(np.mean(logit[mask] >= threshold)) if mask.any() else float("nan")
    return out


def worst_cell(logit: np.ndarray, t: Table, threshold: float, set_key: str = "mebeauty"
               ) -> float:
    """The highest withheld share among one adult set's cells (ethnicity x sex)."""
    cells = t.cells()
    return max(float(np.mean(logit[cells == c] >= threshold))
               for c in sorted(set(cells[t.set_key == set_key])))


def select(t: Table, progress: Callable[[str], None] = lambda s: None
           ) -> tuple[Spec, dict[Spec, dict[str, float]]]:
    """Eligible first (the module docstring's restated rule): its own fit meets the rule
    on the shared faces and no MEBeauty cell is withheld above WORST_CELL_MAX out of
    fold; then the most under-13s withheld out of fold at the adults' 2 % threshold,
    the lowest worst cell, the most 16-year-olds; on a tie the earlier one."""
    scores = {}
    for spec in CANDIDATES:
        logit, _ = out_of_fold(t, spec)
        t_adult = choose_threshold(logit, t)[1]["t_adult"]
        scores[spec] = rates(logit, t, t_adult)
        scores[spec]["worst_cell"] = worst_cell(logit, t, t_adult)
        own = choose_threshold(fit(t, spec, exact=False).logit(t.x), t)[1]
        scores[spec]["eligible"] = float(own["t_child"] >= own["t_adult"]
                                         and scores[spec]["worst_cell"] <= WORST_CELL_MAX)
        progress(f"  {spec}: {scores[spec]}")
    order = {s: i for i, s in enumerate(CANDIDATES)}
    best = max(CANDIDATES, key=lambda s: (scores[s]["eligible"], scores[s]["under13"],
                                          -scores[s]["worst_cell"], scores[s]["teen16"],
                                          -order[s]))
    return best, scores


def curve(logit: np.ndarray, t: Table, thresholds: np.ndarray) -> list[dict[str, float]]:
    """Withheld shares against the threshold (the card's and docs' table)."""
    return [{"threshold": float(th), **rates(logit, t, float(th))} for th in thresholds]
