"""Attractiveness learned from several rated sets (London 1-7, MEBeauty 1-10, ...).

    python -m aurum train-attractiveness --sets london,mebeauty [--out models/]

The sets are declared in `aurum.tools.rated_sets`. What this module adds to the London-only
training of `aurum.tools.train_attractiveness`:

- **Scales.** Each set's mean ratings are standardised with its own training photos'
  mean and SD; the model predicts that standardised rating. The shown score maps it back
  to one panel's scale (the display set, London's 1-7, so a score means the same as the
  London-only model's), and the JSON also gives it on every other panel's scale.
- **People, not photos, are held out.** Cross-validation folds are drawn over people:
  a set with person ids (London) uses them; MEBeauty's are recovered as connected
  components of descriptor distance (`rated_sets.person_groups`). London's CV keeps
  every other set in training. MEBeauty's val split is held out of all selection and
  is predicted by a model fitted without any photo of its people.
- **A learner chosen by a rule fixed before the run** among ridge, kernel ridge, a small
  MLP head, the descriptor averaged over a photo and its mirror, and the descriptor with
  appearance features (`SELECTION_RULE`).
- **Intervals per panel**: split-conformal quantiles of the grouped-CV residuals,
  checked on MEBeauty val.
- **Fairness as a family**: within-sex group spreads against shuffle nulls, judged with
  Holm's step-down at alpha 0.05.

Deterministic: fixed seeds, closed-form solvers; the MLP trains full-batch on one
thread with torch's deterministic algorithms.
"""

from __future__ import annotations

import json
import math
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from aurum.analysers.attractiveness import DESCRIPTOR_NAMES, FORMAT_MULTI
from aurum.tools.rated_sets import (
    SAME_PERSON,
    SETS,
    Extractor,
    SetData,
    collect_sets,
    group_sizes,
    person_groups,
    standardise_ratings,
)

Z_CLIP = 3.0
N_FOLDS = 10
SEEDS = (0, 1, 2)
COVERAGE = 0.8
ALPHA_FAMILY = 0.05
SMILING_LIMIT = 2.5  # mean abs change, 0-100 points
MARGIN_MIN = 0.01  # the one-SE rule's margin is never below this (processor noise)
DISPLAY_SET = "london"
MODEL_FILE_MULTI = "attractiveness_multiset.json"
CARD_FILE_MULTI = "MODEL_CARD.md"
VERSION = 1


def _appearance_names() -> list[str]:
    from aurum.tools.train_attractiveness import APPEARANCE_GROUPS, _names

    return _names(APPEARANCE_GROUPS)


# ------------------------------------------------------------ representations ------

def _unit(d: np.ndarray) -> np.ndarray:
    return d / np.linalg.norm(d, axis=1, keepdims=True)


REPRESENTATIONS: dict[str, str] = {
    "descriptor": "the L2-normalised 128-D face descriptor",
    "descriptor, photo + mirror": "the descriptor averaged over the photo and its mirror "
                                  "image (then L2-normalised)",
    "descriptor + appearance": "the descriptor and the 15 expression, skin, age and "
                               "contrast features",
}


def features(sd: SetData, rep: str) -> tuple[np.ndarray, list[str]]:
    """The feature matrix of one representation (NaN where a feature is hidden)."""
    if rep == "descriptor":
        return sd.desc.copy(), list(DESCRIPTOR_NAMES)
    if rep == "descriptor, photo + mirror":
        return _unit((sd.desc + sd.desc_mirror) / 2.0), list(DESCRIPTOR_NAMES)
    if rep == "descriptor + appearance":
        names = _appearance_names()
        extra = np.array([[s.get(n, math.nan) for n in names] for s in sd.scalars])
        return np.hstack([sd.desc, extra]), list(DESCRIPTOR_NAMES) + names
    raise KeyError(rep)


def standardiser(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    mean = np.nanmean(x, axis=0)
    scale = np.nanstd(x, axis=0)
    return mean, np.where(scale > 1e-12, scale, 1.0)


def zf(x: np.ndarray, mean: np.ndarray, scale: np.ndarray) -> np.ndarray:
    z = np.clip((x - mean) / scale, -Z_CLIP, Z_CLIP)
    return np.where(np.isfinite(z), z, 0.0)


# ------------------------------------------------------------------ learners ------

@dataclass
class Model:
    kind: str  # linear | rbf | mlp
    intercept: float
    params: dict[str, Any]
    coef: np.ndarray | None = None
    gamma: float | None = None
    dual: np.ndarray | None = None
    support: np.ndarray | None = None
    layers: list[tuple[np.ndarray, np.ndarray]] | None = None

    def predict(self, z: np.ndarray) -> np.ndarray:
        if self.kind == "linear":
            return z @ self.coef + self.intercept
        if self.kind == "rbf":
            d2 = ((z[:, None, :] - self.support[None, :, :]) ** 2).sum(axis=2)
            return np.exp(-self.gamma * d2) @ self.dual + self.intercept
        h = z
        for i, (w, b) in enumerate(self.layers):
            h = h @ w + b
            if i < len(self.layers) - 1:
                h = np.maximum(h, 0.0)
        return h[:, 0] + self.intercept


RIDGE_ALPHAS = np.logspace(0, 4, 17)


def fit_ridge(z: np.ndarray, y: np.ndarray, w: np.ndarray | None = None) -> Model:
    """Weighted ridge, alpha by exact (weighted) leave-one-out from one SVD."""
    w = np.ones(len(y)) if w is None else w
    ym = float(np.sum(w * y) / np.sum(w))
    zm = (w[:, None] * z).sum(axis=0) / np.sum(w)
    sw = np.sqrt(w)
    zc, yc = sw[:, None] * (z - zm), sw * (y - ym)
    u, s, vt = np.linalg.svd(zc, full_matrices=False)
    uty = u.T @ yc
    best = (math.inf, 0.0)
    for a in RIDGE_ALPHAS:
        f = s ** 2 / (s ** 2 + a)
        fitted = u @ (f * uty)
        hat = (u ** 2) @ f + w / np.sum(w)
        err = float(np.mean(((yc - fitted) / (1.0 - hat)) ** 2))
        if err < best[0] - 1e-12:
            best = (err, float(a))
    a = best[1]
    coef = vt.T @ (s / (s ** 2 + a) * uty)
    return Model("linear", ym - float(zm @ coef), {"alpha": a}, coef=coef)


def fit_kernel_ridge(z: np.ndarray, y: np.ndarray, w: np.ndarray | None = None) -> Model:
    """Weighted RBF kernel ridge; gamma and alpha by exact (weighted) leave-one-out."""
    w = np.ones(len(y)) if w is None else w
    p = z.shape[1]
    ym = float(np.sum(w * y) / np.sum(w))
    sw = np.sqrt(w)
    yt = sw * (y - ym)
    g2 = (z * z).sum(1)
    d2 = np.maximum(g2[:, None] + g2[None, :] - 2 * z @ z.T, 0.0)
    best = (math.inf, 0.0, 0.0)
    for g in (0.25 / p, 0.5 / p, 1.0 / p):
        evals, evecs = np.linalg.eigh(sw[:, None] * np.exp(-g * d2) * sw[None, :])
        proj = evecs.T @ yt
        for a in np.logspace(-1, 2, 7):
            shrink = evals / (evals + a)
            fitted = evecs @ (shrink * proj)
            hat = (evecs ** 2) @ shrink
            err = float(np.mean(((yt - fitted) / np.maximum(1.0 - hat, 1e-6)) ** 2))
            if err < best[0] - 1e-12:
                best = (err, g, float(a))
    _, g, a = best
    kt = sw[:, None] * np.exp(-g * d2) * sw[None, :]
    dual = sw * np.linalg.solve(kt + a * np.eye(len(y)), yt)
    return Model("rbf", ym, {"gamma": g, "alpha": a}, gamma=g, dual=dual, support=z.copy())


MLP_SHAPE = (256, 64)  # FaceStats' 512-256-64-1 head, with 128 inputs
MLP_EPOCHS = 300
MLP_LR = 1e-3
MLP_WD = 0.05
MLP_DROPOUT = 0.3
MLP_SEED = 0


def fit_mlp(z: np.ndarray, y: np.ndarray, w: np.ndarray | None = None) -> Model:
    """A 128-256-64-1 ReLU head (FaceStats' shape for 128 inputs): full-batch AdamW with
    weight decay and dropout, a fixed number of epochs, one thread, torch's deterministic
    algorithms and a fixed seed, so a rerun gives the same weights."""
    import torch

    torch.set_num_threads(1)
    torch.use_deterministic_algorithms(True)
    torch.manual_seed(MLP_SEED)
    w = np.ones(len(y)) if w is None else w
    ym = float(np.sum(w * y) / np.sum(w))
    xs = torch.tensor(z, dtype=torch.float32)
    ys = torch.tensor(y - ym, dtype=torch.float32)
    ws = torch.tensor(w / w.mean(), dtype=torch.float32)
    sizes = [z.shape[1], *MLP_SHAPE, 1]
    mods: list[Any] = []
    for i in range(len(sizes) - 1):
        mods.append(torch.nn.Linear(sizes[i], sizes[i + 1]))
        if i < len(sizes) - 2:
            mods += [torch.nn.ReLU(), torch.nn.Dropout(MLP_DROPOUT)]
    net = torch.nn.Sequential(*mods)
    opt = torch.optim.AdamW(net.parameters(), lr=MLP_LR, weight_decay=MLP_WD)
    net.train()
    for _ in range(MLP_EPOCHS):
        opt.zero_grad()
        loss = torch.mean(ws * (net(xs)[:, 0] - ys) ** 2)
        loss.backward()
        opt.step()
    net.eval()
    layers = [(m.weight.detach().double().numpy().T.copy(), m.bias.detach().double().numpy())
              for m in net if isinstance(m, torch.nn.Linear)]
    return Model("mlp", ym, {"shape": sizes, "epochs": MLP_EPOCHS, "lr": MLP_LR,
                             "weight_decay": MLP_WD, "dropout": MLP_DROPOUT}, layers=layers)


LEARNERS: dict[str, Callable[..., Model]] = {
    "ridge": fit_ridge, "kernel_ridge": fit_kernel_ridge, "mlp": fit_mlp}
LEARNER_TEXT = {
    "ridge": "ridge regression, alpha by exact leave-one-out inside the training fold",
    "kernel_ridge": "RBF kernel ridge, gamma and alpha by exact leave-one-out inside the "
                    "training fold",
    "mlp": "MLP head 128-256-64-1 (ReLU, dropout 0.3, AdamW weight decay 0.05, 300 "
           "full-batch epochs, fixed seed)",
}

# How photos are weighted in the loss: "photo" = every photo 1; "sets" = every set the
# same total weight (1,727 MEBeauty photos would otherwise drown London's 102 faces and
# its panel's view), normalised to a mean weight of 1 within each training fold.
WEIGHTING_TEXT = {"photo": "every photo weighs 1",
                  "sets": "every set carries the same total weight"}

# (name, representation, learner, weighting), in order of simplicity: ridge on the
# descriptor with each weighting, then one change at a time from balanced ridge.
CANDIDATES: list[tuple[str, str, str, str]] = [
    ("ridge", "descriptor", "ridge", "photo"),
    ("ridge, sets balanced", "descriptor", "ridge", "sets"),
    ("ridge, photo + mirror, sets balanced", "descriptor, photo + mirror", "ridge", "sets"),
    ("ridge, descriptor + appearance, sets balanced", "descriptor + appearance", "ridge",
     "sets"),
    ("kernel ridge, sets balanced", "descriptor", "kernel_ridge", "sets"),
    ("mlp, sets balanced", "descriptor", "mlp", "sets"),
]


def weights(sets: np.ndarray, how: str) -> np.ndarray:
    """Loss weights of the photos in a training fold (mean 1)."""
    if how == "photo":
        return np.ones(len(sets))
    keys, inv, counts = np.unique(sets, return_inverse=True, return_counts=True)
    w = len(sets) / (len(keys) * counts[inv])
    return w / w.mean()


# Step 5 of the rule: the recorded decision a rebuild reuses (issue 23), and how much
# better the rule's own pick must be before a rebuild overrides it.
RECORDED_CHOICE = "ridge, descriptor + appearance, sets balanced"
HYSTERESIS = 0.02

SELECTION_RULE = (
    "fixed before the run. (1) Each candidate is scored by grouped 10-fold CV (people, "
    "not photos, held out; each person's fold from a hash of seed and person; 3 "
    "repeats, seeds 0-2) over London and MEBeauty train: its "
    "criterion is the mean of London's and MEBeauty train's out-of-fold Pearson r, each "
    "computed within its set. MEBeauty val plays no part in the choice. Candidates: ridge "
    "with every photo weighing 1 and with every set carrying the same total weight; "
    "then, from balanced ridge, one change each: the photo + mirror descriptor; the "
    "descriptor + appearance features; RBF kernel ridge; the MLP head. (2) A candidate "
    "is eligible when the London smiling photos move its score by at most "
    f"{SMILING_LIMIT} points on average (each person scored by the fold model that held "
    "them out) and its fairness family passes Holm's step-down at alpha "
    f"{ALPHA_FAMILY}. (3) Among eligible candidates, in the order listed (simplest "
    "first), the "
    "first whose criterion is within max(one SD over repeats, "
    f"{MARGIN_MIN}) of the best eligible one's is chosen. (4) If none is eligible, the "
    "one with the fewest failed checks, then the highest criterion. (5) A rebuild keeps "
    "the recorded choice (the first build's pick) while it stays eligible and its "
    f"criterion is within {HYSTERESIS} of the pick of steps 2-4: the first build's "
    "pick cleared step 3's bar by 0.001, inside the noise of a rebuild on another "
    "processor, and a near-tie must not flip the shipped model")


# ------------------------------------------------------------------ folds ----------

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


@dataclass
class Pool:
    """The training pool (London + MEBeauty train) and MEBeauty val, with targets."""

    sd: SetData
    groups: np.ndarray
    target: np.ndarray  # per-set standardised rating
    sets: np.ndarray  # set key per photo
    val: np.ndarray  # bool: MEBeauty val
    norms: dict[str, dict[str, float]]

    def to_rating(self, z: np.ndarray, key: str) -> np.ndarray:
        n = self.norms[key]
        return n["mean"] + n["sd"] * z


def make_pool(sd: SetData) -> Pool:
    """The pool in a canonical order (set, then photo id): every fit, fold and the MLP's
    dropout masks follow this order, so the order photos arrive in changes nothing."""
    order = sorted(range(len(sd.photos)),
                   key=lambda i: (sd.photos[i].set_key, sd.photos[i].photo_id))
    if order != list(range(len(sd.photos))):
        sd = sd.take(np.array(order, dtype=int))
    groups = person_groups(sd)
    norms = standardise_ratings(sd)
    sets = np.array([p.set_key for p in sd.photos])
    target = np.array([(p.rating - norms[p.set_key]["mean"]) / norms[p.set_key]["sd"]
                       for p in sd.photos])
    val = np.array([p.split == "val" for p in sd.photos])
    return Pool(sd, groups, target, sets, val, norms)


def oof_mean(oof: np.ndarray) -> np.ndarray:
    """Mean over CV repeats (NaN for the val photos, which no fold predicts)."""
    out = np.full(oof.shape[1], np.nan)
    ok = np.all(np.isfinite(oof), axis=0)
    out[ok] = oof[:, ok].mean(axis=0)
    return out


def _r(a: np.ndarray, b: np.ndarray) -> float:
    if len(a) < 3 or np.std(a) == 0 or np.std(b) == 0:
        return math.nan
    return float(np.corrcoef(a, b)[0, 1])


def _fit(pool: Pool, x: np.ndarray, tr: np.ndarray, learner: str, weighting: str
         ) -> tuple[Model, np.ndarray, np.ndarray]:
    mean, scale = standardiser(x[tr])
    model = LEARNERS[learner](zf(x[tr], mean, scale), pool.target[tr],
                              weights(pool.sets[tr], weighting))
    return model, mean, scale


def _fit_predict(pool: Pool, x: np.ndarray, tr: np.ndarray, te: np.ndarray,
                 learner: str, weighting: str) -> np.ndarray:
    model, mean, scale = _fit(pool, x, tr, learner, weighting)
    return model.predict(zf(x[te], mean, scale))


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
                   seeds: Sequence[int], progress: Callable[[str], None] = lambda s: None) -> CV:
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
            oof[si, te] = _fit_predict(pool, x, tr, te, learner, weighting)
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
        val_pred[te] = _fit_predict(pool, x, tr, te, learner, weighting)
    return CV(oof, val_pred, crit, per_set)


# ------------------------------------------------------------------ checks ---------

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


def fairness_family(pool: Pool, oof_mean: np.ndarray, val_pred: np.ndarray,
                    sfhq: tuple[list[str], list[str], np.ndarray] | None) -> dict[str, Any]:
    """Within-sex spreads against shuffle nulls (`spread_with_chance`), in 0-100 display
    points: MEBeauty val residuals by ethnicity (women; men), London CV residuals by
    ethnicity (shuffled within sex), and the SFHQ grids' group means within sex."""
    from aurum.tools.train_attractiveness import (
        ETHNICITY_PREFIX,
        HAIR_LABELS,
        spread_with_chance,
    )

    pts = 100.0 * pool.norms[DISPLAY_SET]["sd"] / (SETS[DISPLAY_SET].scale[1]
                                                   - SETS[DISPLAY_SET].scale[0])
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
            for kind, pred in (("ethnicity", lambda s: s.startswith(ETHNICITY_PREFIX)),
                               ("hair", lambda s: s in HAIR_LABELS)):
                idx = [i for i, (lab, sx) in enumerate(zip(labels, sexes, strict=True))
                       if pred(lab) and sx == sex]
                tests[f"sfhq_{kind}_{label}"] = spread_with_chance(
                    scores[idx], [labels[i] for i in idx], [sex] * len(idx))
    verdict = holm({k: v.get("p") for k, v in tests.items()})
    return {"tests": tests, "holm": verdict, "units": "0-100 score points"}


def smiling_change(pool: Pool, x_smile: np.ndarray, x: np.ndarray, learner: str,
                   weighting: str, seed: int) -> dict[str, Any]:
    """London people's neutral and smiling photos scored by the fold model that held
    them out: mean absolute change in 0-100 points."""
    n = len(pool.target)
    train_pool = ~pool.val
    folds = np.full(n, -1)
    folds[train_pool] = grouped_folds(pool.groups[train_pool], seed)
    pts = 100.0 * pool.norms[DISPLAY_SET]["sd"] / (SETS[DISPLAY_SET].scale[1]
                                                   - SETS[DISPLAY_SET].scale[0])
    has = np.all(np.isfinite(x_smile[:, :128]), axis=1) & (pool.sets == "london")
    neutral, smile = [], []
    for f in range(N_FOLDS):
        tr = np.flatnonzero(train_pool & (folds != f))
        te = np.flatnonzero((folds == f) & has)
        if not len(te):
            continue
        model, mean, scale = _fit(pool, x, tr, learner, weighting)
        neutral.append(model.predict(zf(x[te], mean, scale)))
        smile.append(model.predict(zf(x_smile[te], mean, scale)))
    a, b = np.concatenate(neutral) * pts, np.concatenate(smile) * pts
    return {"n": int(len(a)), "mean_abs_change": float(np.mean(np.abs(b - a))),
            "mean_change": float(np.mean(b - a)), "pearson_r_neutral_vs_smiling": _r(a, b)}


def smiling_features(sd: SetData, rep: str) -> np.ndarray:
    """Smiling photos' features in a representation (London only; NaN elsewhere).
    The smiling photo's mirror and appearance are not cached: the mirror candidate uses
    the smiling descriptor for both halves, the appearance one the neutral photo's
    appearance (a conservative reading: only the descriptor moves)."""
    x, _ = features(sd, rep)
    s = sd.smiling_desc
    out = np.full_like(x, np.nan)
    ok = np.all(np.isfinite(s), axis=1)
    out[ok, :128] = s[ok]
    if x.shape[1] > 128:
        out[ok, 128:] = x[ok, 128:]
    return out


# ------------------------------------------------------------------ intervals -------

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
                     "scale (3 repeats pooled)")
    return out


# What the card must say about how the candidate list came to be (not in the rule's
# favour, so stated): the first run had every candidate weigh each photo 1 (ridge,
# ridge on photo + mirror, ridge on descriptor + appearance, kernel ridge, MLP), and
# every one failed the fairness family on London's residuals by ethnic group
# (p 0.0012-0.0026; black faces under-, west Asian faces over-estimated by 6-8 points
# against the London panel). Balanced set weights were then added as a candidate
# dimension, and the list below was fixed before the run that chose the model.
RULE_HISTORY = (
    "The candidate list was revised once, after a first run in which every candidate "
    "weighed each photo 1 (ridge, ridge on photo + mirror, ridge on descriptor + "
    "appearance, kernel ridge, the MLP): all of them failed the fairness family on "
    "London's cross-validated residuals by ethnic group (p 0.0012-0.0026; the London "
    "panel's black faces estimated 6 points low, its west Asian faces 8 points high: "
    "the MEBeauty panel's preferences, 17 times more photos, outweighed London's). "
    "Balanced set weights were added then; steps 1-4 and the list above were fixed "
    "before the run that chose this model. Step 5 (the recorded choice) was added after "
    "it, when a check with noise 14 times the cross-processor scale flipped the pick to "
    "kernel ridge; it keeps that run's pick. Unweighted figures of that first run: ridge "
    "London r 0.63, MEBeauty val 0.65; kernel ridge London 0.65, val 0.66")


# ------------------------------------------------------------------ training -------

@dataclass
class Candidate:
    name: str
    rep: str
    learner: str
    weighting: str
    names: list[str]
    cv: CV
    figures: dict[str, Any]
    smiling: dict[str, Any]
    fairness: dict[str, Any]
    checks: dict[str, bool]
    model: Model
    mean: np.ndarray
    scale: np.ndarray

    @property
    def failed(self) -> int:
        return sum(1 for v in self.checks.values() if not v)


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


@dataclass
class Sfhq:
    labels: list[str]
    sexes: list[str]
    desc: np.ndarray
    x: dict[str, np.ndarray]  # representation -> features


def collect_sfhq(faces: Path | None, extractor: Extractor) -> Sfhq | None:
    """The shared synthetic faces (no ratings): their group labels and features."""
    import csv

    manifest = faces / "MANIFEST.csv" if faces else None
    if manifest is None or not manifest.is_file():
        return None
    with manifest.open(newline="", encoding="utf-8") as fh:
        rows = sorted(csv.DictReader(fh), key=lambda r: r["file"])
    labels, sexes, desc, mirror, scal = [], [], [], [], []
    for row in rows:
        m = extractor.measure(faces / row["file"])
        if m.error or not np.all(np.isfinite(m.desc)):
            continue
        labels.append(row.get("query_label") or "unlabelled")
        sexes.append(row.get("apparent_sex") or "unknown")
        desc.append(m.desc)
        mirror.append(m.desc_mirror if np.all(np.isfinite(m.desc_mirror)) else m.desc)
        scal.append(m.scalars)
    fake = SetData([], np.array(desc), np.array(mirror), scal, np.zeros(len(desc)))
    return Sfhq(labels, sexes, np.array(desc),
                {rep: features(fake, rep)[0] for rep in REPRESENTATIONS})


def display_points(pool: Pool) -> float:
    """0-100 points per standardised rating unit on the display panel's scale."""
    lo, hi = SETS[DISPLAY_SET].scale
    return 100.0 * pool.norms[DISPLAY_SET]["sd"] / (hi - lo)


def evaluate(pool: Pool, cname: str, rep: str, learner: str, weighting: str,
             seeds: Sequence[int],
             sfhq: Sfhq | None, progress: Callable[[str], None]) -> Candidate:
    """One candidate: grouped CV, val, smiling, its model fitted on the whole training
    pool (val held out), and the fairness family of that model."""
    sd = pool.sd
    x, names = features(sd, rep)
    progress(f"  {cname} ...")
    cv = cross_validate(pool, x, learner, weighting, seeds, progress)
    figs = figures(pool, cv)
    smile = smiling_change(pool, smiling_features(sd, rep), x, learner, weighting, seeds[0])
    model, mean, scale = _fit(pool, x, np.flatnonzero(~pool.val), learner, weighting)
    sf = None
    if sfhq is not None:
        lo, hi = SETS[DISPLAY_SET].scale
        n = pool.norms[DISPLAY_SET]
        rating = n["mean"] + n["sd"] * model.predict(zf(sfhq.x[rep], mean, scale))
        scores = (np.clip(rating, lo, hi) - lo) / (hi - lo) * 100.0
        sf = (sfhq.labels, sfhq.sexes, scores)
    fair = fairness_family(pool, oof_mean(cv.oof), cv.val_pred, sf)
    checks = {"smiling": smile["mean_abs_change"] <= SMILING_LIMIT,
              "fairness_holm": bool(fair["holm"]["passed"])}
    c = Candidate(cname, rep, learner, weighting, names, cv, figs, smile, fair, checks, model, mean,
                  scale)
    progress(f"  -> {cname}: criterion {cv.criterion:.3f} (SD {cv.criterion_sd:.3f}), "
             f"London {figs['london_cv']['pearson_r']:.3f} "
             f"{figs['london_cv']['within_sex_pearson_r']}, val "
             f"{figs.get('mebeauty_val', {}).get('pearson_r', math.nan):.3f}, smiling "
             f"{smile['mean_abs_change']:.2f}, Holm {fair['holm']['passed']} "
             f"(p {fair['holm']['p']})")
    return c


def rule_pick(cands: list[Candidate]) -> Candidate:
    """SELECTION_RULE, steps 2-4 (candidates arrive in order of simplicity)."""
    eligible = [c for c in cands if c.failed == 0]
    if eligible:
        best = max(eligible, key=lambda c: c.cv.criterion)
        bar = best.cv.criterion - max(best.cv.criterion_sd, MARGIN_MIN)
        return next(c for c in eligible if c.cv.criterion >= bar)
    return min(cands, key=lambda c: (c.failed, -c.cv.criterion))


def select(cands: list[Candidate], recorded: str | None = RECORDED_CHOICE) -> Candidate:
    """SELECTION_RULE, step 5: the recorded choice unless the rule's pick beats it by
    more than HYSTERESIS (or it is no longer eligible)."""
    pick = rule_pick(cands)
    rec = next((c for c in cands if c.name == recorded), None)
    if rec is not None and rec.failed == 0 and \
            pick.cv.criterion - rec.cv.criterion <= HYSTERESIS:
        return rec
    return pick


def _sig(a: Any, digits: int = 6) -> Any:
    return np.vectorize(lambda v: float(f"{v:.{digits}g}"), otypes=[float])(
        np.asarray(a, dtype=np.float64)).tolist()


def _round(v: Any, digits: int = 4) -> Any:
    from aurum.tools.train_attractiveness import _r as rr

    return rr(v, digits)


def learner_spec(c: Candidate) -> dict[str, Any]:
    m = c.model
    out: dict[str, Any] = {"name": c.learner, "description": LEARNER_TEXT[c.learner],
                           "kind": m.kind, "intercept": float(f"{m.intercept:.7g}"),
                           "hyperparameters": _round(m.params, 6)}
    if m.kind == "linear":
        out["coef"] = _sig(m.coef)
    elif m.kind == "rbf":
        out.update(gamma=m.gamma, dual_coef=_sig(m.dual), support=_sig(m.support))
    else:
        out["layers"] = [[_sig(w), _sig(b)] for w, b in m.layers]
    return out


def candidate_row(c: Candidate) -> dict[str, Any]:
    return {"representation": REPRESENTATIONS[c.rep], "learner": c.learner,
            "weighting": WEIGHTING_TEXT[c.weighting],
            "n_features": len(c.names), "figures": c.figures,
            "hyperparameters": c.model.params,
            "smiling": c.smiling, "fairness_p": c.fairness["holm"]["p"],
            "fairness_p_holm": c.fairness["holm"]["p_holm"], "checks": c.checks,
            "failed_checks": c.failed}


def build_spec(pool: Pool, chosen: Candidate, cands: list[Candidate],
               seeds: Sequence[int], sd: SetData) -> dict[str, Any]:
    from aurum.analysers.descriptor import LICENCES, SHA256, alignment
    from aurum.tools.train_attractiveness import GROUPS

    group_of = {n: g for g, ns in GROUPS.items() for n in ns}
    keys = sorted(set(pool.sets.tolist()))
    commercial = all(SETS[k].commercial for k in keys)
    terms = ("trained on MEBeauty (research and non-commercial use) and the London set "
             "(CC BY 4.0): research and non-commercial use only; a commercial deployment "
             "picks the London-only model (AURUM_ATTRACTIVENESS_MODEL=london)"
             if not commercial else "; ".join(SETS[k].terms for k in keys))
    london = [p.rating for p in sd.photos if p.set_key == "london"]
    lon = chosen.figures["london_cv"]
    mean_oof = oof_mean(chosen.cv.oof)
    spec: dict[str, Any] = {
        "format": FORMAT_MULTI,
        "id": f"{'-'.join(keys)}-{chosen.rep.replace(', ', '-').replace(' + ', '-')}"
              f"-{chosen.learner.replace('_', '-')}"
              f"{'-balanced' if chosen.weighting == 'sets' else ''}-v{VERSION}"
              .replace(" ", "-"),
        "created_by": "python -m aurum train-attractiveness --sets " + ",".join(keys),
        "terms": {"text": terms, "commercial": commercial,
                  "sets": {k: SETS[k].terms for k in keys}},
        "data": {
            "name": " + ".join(f"{SETS[k].title} ({int((pool.sets == k).sum())} photos, "
                               f"{SETS[k].scale_text} scale)" for k in keys),
            "attribution": "; ".join(SETS[k].attribution for k in keys),
            "n_faces": int(len(sd.photos)),
            "n_train": int((~pool.val).sum()), "n_val": int(pool.val.sum()),
            "sets": {k: {"n": int((pool.sets == k).sum()),
                         "n_val": int(((pool.sets == k) & pool.val).sum()),
                         "panel": SETS[k].panel, "scale": list(SETS[k].scale)}
                     for k in keys},
            "photo_rule": "EXIF-upright, longer side scaled to at most 2000 px, the engine's "
                          "face choice (the largest detected face); photos with more than "
                          f"one face: {int((sd.faces_found > 1).sum())}",
            "people": {k: group_sizes(pool.groups[pool.sets == k]) for k in keys},
            "grouping": "photos whose L2-normalised descriptors are closer than "
                        f"{SAME_PERSON} are one "
                        "person (single linkage); London: one person per face id",
            "rating_means_sorted": sorted(london),
            "failures": list(sd.failures),
        },
        "target": {"kind": "standardised_per_set", "display": DISPLAY_SET,
                   "text": "each set's mean ratings standardised with its training photos' "
                           "mean and SD; the estimate is mapped back to every panel's scale",
                   "sets": {k: {**_round(pool.norms[k], 6), "panel": SETS[k].panel}
                            for k in keys}},
        "features": {"names": chosen.names,
                     "groups": {n: group_of.get(n, "other") for n in chosen.names},
                     "mean": _sig(chosen.mean), "scale": _sig(chosen.scale),
                     "clip_z": Z_CLIP,
                     "representation": REPRESENTATIONS[chosen.rep],
                     "mirror_average": chosen.rep == "descriptor, photo + mirror",
                     "imputation": "a hidden appearance feature takes the training mean; "
                                   "the descriptor is never imputed"},
        "shape_space": None,
        "learner": {**learner_spec(chosen), "weighting": WEIGHTING_TEXT[chosen.weighting]},
        "calibration": {"kind": "linear_rating_scale",
                        "text": "the estimate on the London panel's 1-7 scale, as 0-100: "
                                "score = (rating - 1) / 6 * 100 (0 = every London rater "
                                "would answer 1, 100 = every one 7); the same estimate on "
                                "MEBeauty's 1-10 scale is in `panels`",
                        "score": "100 * (london_rating - 1) / 6, clipped to 0-100"},
        "descriptor": {"source": "aurum.analysers.descriptor: dlib face-recognition ResNet "
                                 "v1, chip aligned on five face-mesh points, 150 px, "
                                 "padding 0.25; "
                                 "L2-normalised before standardisation",
                       "alignment": alignment(), "weights_sha256": dict(SHA256),
                       "licences": dict(LICENCES)},
        "uncertainty": conformal(pool, chosen.cv.oof, chosen.cv.val_pred),
        "validation": {
            "kfold": {"scheme": f"grouped {N_FOLDS}-fold CV over people, repeated "
                                f"{len(seeds)} times (seeds {', '.join(map(str, seeds))}), "
                                "London and MEBeauty train pooled: London's figures are "
                                "its held-out people with every other set in training",
                      "pearson_r": lon["pearson_r"], "pearson_r_sd": lon["pearson_r_sd"],
                      "spearman_rho": lon["spearman_rho"], "mae": lon["mae_rating"]},
            "loo": None,
            "within_sex_pearson_r": lon["within_sex_pearson_r"],
            "mebeauty_cv": chosen.figures.get("mebeauty_cv"),
            "mebeauty_val": chosen.figures.get("mebeauty_val"),
            "smiling": chosen.smiling,
            "fairness": chosen.fairness,
            "candidates": {c.name: candidate_row(c) for c in cands},
            "chosen_candidate": chosen.name,
            "rule_pick_without_record": rule_pick(cands).name,
            "selection_rule": SELECTION_RULE,
            "oof_london": [float(v) for v in pool.to_rating(mean_oof, "london")[
                pool.sets == "london"]],
        },
    }
    return _round(spec, 6)


def train(shared: Path, keys: Sequence[str], *, seeds: Sequence[int] = SEEDS,
          faces: Path | None = None, extractor: Extractor | None = None,
          progress: Callable[[str], None] = lambda s: None,
          candidates: Sequence[tuple[str, str, str, str]] | None = None,
          sd: SetData | None = None) -> tuple[dict[str, Any], str, list[Candidate]]:
    ex = extractor or Extractor()
    if sd is None:
        sd = collect_sets(shared, keys, ex, progress)
    pool = make_pool(sd)
    sfhq = collect_sfhq(faces, ex)
    cands = [evaluate(pool, n, r, lr, wt, seeds, sfhq, progress)
             for n, r, lr, wt in (candidates or CANDIDATES)]
    chosen = select(cands)
    progress(f"  chosen: {chosen.name} (rule's pick without the record: "
             f"{rule_pick(cands).name})")
    spec = build_spec(pool, chosen, cands, seeds, sd)
    return spec, render_card(json.loads(json.dumps(spec))), cands


# ------------------------------------------------------------------ card -----------

def _f(v: Any, d: int = 2) -> str:
    return "n/a" if v is None or (isinstance(v, float) and not math.isfinite(v)) \
        else f"{v:.{d}f}"


def render_card(spec: dict[str, Any]) -> str:
    """The model card, from the model file alone (re-rendered byte for byte in tests)."""
    v, d, u = spec["validation"], spec["data"], spec["uncertainty"]
    lon, val, mcv = v["kfold"], v["mebeauty_val"] or {}, v["mebeauty_cv"] or {}
    ws = v["within_sex_pearson_r"]
    lines = [
        f"# Model card: `{spec['id']}` (the default attractiveness model)",
        "",
        f"**Terms: {spec['terms']['text']}.**",
        "",
        f"Trained on: {d['name']}; {d['n_train']} photos in training, {d['n_val']} "
        "MEBeauty val photos held out of training and of the choice. "
        f"Attribution: {d['attribution']}.",
        "",
        "## What the score means",
        "",
        f"{spec['target']['text']}. {spec['calibration']['text']}. The JSON "
        "(`attractiveness.panels`) gives the estimate on each panel's scale; the "
        "`uncertainty.text` names the panel and scale.",
        "",
        "| panel | scale | training mean | SD |",
        "| --- | --- | --- | --- |",
    ]
    for t in spec["target"]["sets"].values():
        lines.append(f"| {t['panel']} | {t['scale'][0]:g}-{t['scale'][1]:g} | "
                     f"{t['mean']:.3f} | {t['sd']:.3f} |")
    lines += [
        "",
        "## Validity",
        "",
        f"- London, {lon['scheme']}: Pearson r **{_f(lon['pearson_r'])}** (SD "
        f"{_f(lon['pearson_r_sd'], 3)}), Spearman {_f(lon['spearman_rho'])}, MAE "
        f"{_f(lon['mae'])} rating points; women {_f(ws['female'])}, men {_f(ws['male'])}.",
        f"- MEBeauty train, same grouped CV: r **{_f(mcv.get('pearson_r'))}**; women "
        f"{_f(mcv.get('within_sex_pearson_r', {}).get('female'))}, men "
        f"{_f(mcv.get('within_sex_pearson_r', {}).get('male'))}.",
        f"- MEBeauty val ({val.get('n')} photos, model fitted without any photo of their "
        f"people): r **{_f(val.get('pearson_r'))}**, Spearman {_f(val.get('spearman_rho'))}, "
        f"MAE {_f(val.get('mae_rating'))} on the 1-10 scale; women "
        f"{_f(val.get('within_sex_pearson_r', {}).get('female'))}, men "
        f"{_f(val.get('within_sex_pearson_r', {}).get('male'))}.",
        "",
        "## Candidates (every one, with the rule fixed before the run)",
        "",
        f"Rule: {v['selection_rule']}.",
        "",
        f"{RULE_HISTORY}.",
        "",
        "| candidate | criterion (SD) | London r (women / men) | MEBeauty CV r (women / "
        "men) | MEBeauty val r (women / men) | smiling | fairness min Holm p | eligible |",
        "| --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for name, c in v["candidates"].items():
        f = c["figures"]
        lc, mc, mv = f["london_cv"], f.get("mebeauty_cv", {}), f.get("mebeauty_val", {})

        def trio(x: dict[str, Any]) -> str:
            w = x.get("within_sex_pearson_r", {})
            return f"{_f(x.get('pearson_r'))} ({_f(w.get('female'))} / {_f(w.get('male'))})"

        ph = min(c["fairness_p_holm"].values()) if c["fairness_p_holm"] else None
        mark = " **chosen**" if name == v["chosen_candidate"] else ""
        lines.append(f"| {name}{mark} | {_f(f['criterion'], 3)} ({_f(f['criterion_sd'], 3)})"
                     f" | {trio(lc)} | {trio(mc)} | {trio(mv)} | "
                     f"{_f(c['smiling']['mean_abs_change'])} | {_f(ph, 3)} | "
                     f"{'yes' if c['failed_checks'] == 0 else 'no'} |")
    lines += ["", "## Interval (calibrated per panel)", "", f"{u['method']}.", "",
              "| panel | +- (rating) | CV coverage (women / men) | MEBeauty val coverage "
              "(women / men) |", "| --- | --- | --- | --- |"]
    for k, p in u["panels"].items():
        cs = p["coverage_cv_by_sex"]
        vs = p.get("coverage_val_by_sex") or {}
        cv_txt = (f"{_f(p.get('coverage_val'))} ({_f(vs.get('female'))} / "
                  f"{_f(vs.get('male'))})") if "coverage_val" in p else "n/a"
        lines.append(f"| {k} | {_f(p['half_width_rating'])} | {_f(p['coverage_cv'])} "
                     f"({_f(cs['female'])} / {_f(cs['male'])}) | {cv_txt} |")
    fam = v["fairness"]
    lines += ["", "## Fairness, within sex, judged as a family (Holm, alpha "
              f"{fam['holm']['alpha']})", "",
              "Spread (max - min) of group means in 0-100 points against shuffling the "
              "labels within sex (5,000 shuffles); p = share of shuffles with a spread as "
              "large.", "",
              "| test | groups | spread | chance 95 % | p | Holm p |",
              "| --- | --- | --- | --- | --- | --- |"]
    for k, t in fam["tests"].items():
        lines.append(f"| {k} | {len(t.get('groups') or {})} | {_f(t.get('spread'))} | "
                     f"{_f(t.get('chance_95'))} | {_f(t.get('p'), 4)} | "
                     f"{_f(fam['holm']['p_holm'].get(k), 4)} |")
    lines += ["", f"Family: {'passes' if fam['holm']['passed'] else 'fails'} "
              f"({len(fam['holm']['rejected'])} of {fam['holm']['m']} rejected).", "",
              "## Stability", "",
              f"- Smiling: London people's smiling photo moves the score by "
              f"{_f(v['smiling']['mean_abs_change'])} points on average (limit "
              f"{SMILING_LIMIT}; r neutral vs smiling "
              f"{_f(v['smiling']['pearson_r_neutral_vs_smiling'])}).",
              "", "## Data handling", "",
              f"- Photo rule: {d['photo_rule']}.",
              f"- People: {d['grouping']}; {json.dumps(d['people'])}.",
              f"- Photos that gave no face descriptor: {len(d['failures'])}.",
              "- No photo, crop or descriptor is committed; features are cached outside "
              "the repository (`AURUM_FEATURE_CACHE`).",
              "", "## The London-only model", "",
              "`attractiveness_v1.json` (card: `MODEL_CARD_london.md`) is trained on the "
              "London set only (CC BY 4.0 data). Pick it with "
              "`AURUM_ATTRACTIVENESS_MODEL=london` for a commercial deployment.", ""]
    return "\n".join(lines)


def main(argv: Sequence[str] | None, shared: Path, keys: Sequence[str], out: Path,
         faces: Path | None, repeats: int, say: Callable[[str], None]) -> int:
    """The `--sets` path of `python -m aurum train-attractiveness`."""
    t0 = time.perf_counter()
    spec, card, _ = train(shared, keys, seeds=tuple(range(repeats)), faces=faces,
                          progress=say)
    out.mkdir(parents=True, exist_ok=True)
    (out / MODEL_FILE_MULTI).write_text(json.dumps(spec, indent=1, allow_nan=False) + "\n",
                                        encoding="utf-8")
    (out / CARD_FILE_MULTI).write_text(card, encoding="utf-8")
    v = spec["validation"]
    print(json.dumps({"model": spec["id"], "out": str(out / MODEL_FILE_MULTI),
                      "london_r": v["kfold"]["pearson_r"],
                      "mebeauty_val_r": (v["mebeauty_val"] or {}).get("pearson_r"),
                      "seconds": round(time.perf_counter() - t0, 1)}))
    return 0 if spec else 1


if __name__ == "__main__":
    sys.exit(1)
