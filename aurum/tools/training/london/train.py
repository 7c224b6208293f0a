"""The London-only model: candidates, the fixed selection rule, the final fit, the card.

1. `london.data` runs the engine's own analysis (decode, mesh, pose, proportions,
   quality) once on each of the 102 neutral London faces and the 102 smiling photos of
   the same people, and extracts the features of `aurum.measure.appearance` from its
   `FaceContext`.
2. `london.validation` compares small regularised learners (`common.learners`: ridge,
   PLS, elastic net, RBF kernel ridge) by repeated 10-fold cross-validation with fixed
   seeds (per-fold tables: `london.folds`); every
   hyper-parameter, the shape space (Procrustes mean, PCA) and the standardisation are
   fitted inside each training fold, so no held-out face ever informs its own prediction.
3. Ablates the feature groups with the chosen learner, runs leave-one-out, measures
   neutral-vs-smiling stability, scores by sex and ethnicity (`london.fairness`), photo
   perturbations and per-request time (`london.robustness`).
4. Fits the chosen learner on all 102 faces; `common.output` writes `attractiveness_v1.json`
   (plain data) and `MODEL_CARD_london.md`.

Deterministic: fixed seeds, closed-form or deterministic solvers; re-running the
command reproduces the figures.
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from aurum.analysers.attractiveness import (
    ATTRIBUTION,
    CALIBRATION,
    FORMAT,
    MODEL_FILE,
    LearnedAttractiveness,
)
from aurum.analysers.descriptor import LICENCES, SHA256, alignment
from aurum.measure.appearance import ShapeSpace
from aurum.tools.training.common.checks import MIN_GROUP, N_SHUFFLES, SMILING_LIMIT
from aurum.tools.training.common.features import (
    APPEARANCE_GROUPS,
    GROUPS,
    MODEL_GROUPS,
    N_SHAPE_PCS,
    Z_CLIP,
    feature_names,
    standardiser,
    zscore,
)
from aurum.tools.training.common.learners import LONDON_LEARNER_TEXT, LONDON_LEARNERS
from aurum.tools.training.common.output import learner_block, rounded, significant
from aurum.tools.training.london.data import Dataset, SharedFaces, collect_shared
from aurum.tools.training.london.fairness import (
    below_chance,
    london_age_rating_r,
    london_residuals,
    score_shared,
    shared_fairness,
    shared_label_table,
)
from aurum.tools.training.london.folds import FeatureCache, matrix, shape_table
from aurum.tools.training.london.robustness import request_timing, robustness
from aurum.tools.training.london.validation import (
    choose_learner,
    group_table,
    interval,
    oof_predictions,
    prediction_stats,
    repeated_cv,
    smiling_augmented_cv,
    smiling_stability,
    within_sex_r,
)

MODEL_ID_PREFIX = "london"
# Bumped when the same data would give a different model: 3 = chips aligned on the mesh.
MODEL_VERSION = 3
SEEDS = (0, 1, 2, 3, 4)
# The London-only model's card (MODEL_CARD.md describes the default, several-set model)
CARD_FILE = "MODEL_CARD_london.md"


# Candidate representations, in order of simplicity (fixed before any run).
CANDIDATES: dict[str, list[str]] = {
    "descriptor": ["descriptor"],
    "descriptor + features": ["descriptor", *MODEL_GROUPS],
    "features": list(MODEL_GROUPS),
}
CANDIDATE_TEXT = {
    "descriptor": "the L2-normalised 128-D face descriptor alone",
    "descriptor + features": "the descriptor and the 41 landmark/appearance features",
    "features": "the 41 landmark/appearance features alone (the previous model's set)",
}
SELECTION_RULE = (
    "fixed before the run. (1) For each candidate representation the learner is chosen "
    "by the one-standard-error rule: the simplest of ridge, PLS, elastic net and RBF "
    "kernel ridge (in that order) whose mean 10-fold r is within one SD over repeats of "
    "the best. (2) A candidate is eligible when it passes every invariance and fairness "
    f"check: smiling-vs-neutral mean absolute change <= {SMILING_LIMIT} points; the "
    "spread of the SFHQ 'typical adult <ethnicity>' means among men and of the SFHQ "
    "hair-colour means among women each below its chance level; the spread of London's "
    "cross-validated residual means by ethnic group below its chance level. (3) Among "
    "the eligible candidates, in order of simplicity (descriptor alone; descriptor + "
    "features; features alone), the first whose mean 10-fold r is within one SD of the "
    "best eligible candidate's is chosen, so features are added to the descriptor only "
    "when nested CV shows a gain beyond the noise of repeats. (4) If none is eligible, "
    "the candidate failing the fewest checks, then the highest r")


@dataclass
class Candidate:
    name: str
    names: list[str]
    learners: dict[str, dict[str, Any]]
    learner: str
    cv: dict[str, Any]
    within_sex: dict[str, float | None]
    smiling: dict[str, Any]
    residuals: dict[str, Any]
    model: LearnedAttractiveness
    spec: dict[str, Any]
    shared_scores: np.ndarray | None
    shared_clipped: list[bool]
    fairness: dict[str, Any]
    checks: dict[str, bool | None]

    @property
    def failed(self) -> int:
        return sum(1 for v in self.checks.values() if v is False)


def fit_final(cache: FeatureCache, names: list[str], learner: str, model_id: str,
              data_block: dict[str, Any]) -> dict[str, Any]:
    """Fit on every face; the model spec (without its validation block)."""
    ds = cache.ds
    uses_shape = any(n in names for n in GROUPS["shape"])
    space = ShapeSpace.fit(cache.shapes, N_SHAPE_PCS) if uses_shape else None
    table = {**(shape_table(space, ds.raw) if space is not None else {}), **cache.scalars}
    x = matrix(table, names)
    mean, scale = standardiser(x)
    fitted = LONDON_LEARNERS[learner](zscore(x, mean, scale), ds.y)
    learner_spec = learner_block(learner, LONDON_LEARNER_TEXT[learner], fitted)
    groups = {n: g for g, ns in GROUPS.items() for n in ns if n in set(names)}
    spec: dict[str, Any] = {
        "format": FORMAT,
        "id": model_id,
        "created_by": "python -m aurum train-attractiveness",
        "data": data_block,
        "features": {
            "names": names, "groups": groups,
            "mean": significant(mean), "scale": significant(scale), "clip_z": Z_CLIP,
            "excluded": {n: "photo-dependent (camera white balance, exposure, light)"
                         for n in GROUPS["photo"]},
            "imputation": "a landmark/appearance feature that cannot be measured (hidden "
                          "region) takes the training mean; the descriptor is never imputed",
        },
        "shape_space": None,
        "learner": learner_spec,
        "calibration": {"kind": "linear_rating_scale", "text": CALIBRATION,
                        "score": "100 * (rating_estimate - 1) / 6, clipped to 0-100"},
    }
    if "descriptor" in groups.values():
        spec["descriptor"] = {
            "source": "aurum.analysers.descriptor: dlib face-recognition ResNet v1, chip aligned "
                      "on five face-mesh points where dlib's 5-point landmarks fall, 150 px, "
                      "padding 0.25; L2-normalised before standardisation",
            "alignment": alignment(),
            "weights_sha256": dict(SHA256), "licences": dict(LICENCES)}
    if space is not None:
        spec["shape_space"] = space.to_dict()
        spec["shape_space"]["n_components"] = N_SHAPE_PCS
    return spec


def _data_block(ds: Dataset) -> dict[str, Any]:
    """The spec's `data` block: what the model was fitted on, down to each rating."""
    return {
        "name": "Face Research Lab London Set (102 neutral frontal faces, mean of "
                "2,513 raters, 1-7 scale)",
        "attribution": ATTRIBUTION,
        "n_faces": len(ds.faces),
        "target": "rating_mean (london_faces_scores.csv)",
        "face_ids": [f.face_id for f in ds.faces],
        "ratings": [f.rating for f in ds.faces],
        "rating_means_sorted": sorted(f.rating for f in ds.faces),
        "failures": ds.failures,
    }


def validate_candidate(cache: FeatureCache, cname: str, groups: Sequence[str],
                       seeds: Sequence[int], data_block: dict[str, Any],
                       sf: SharedFaces | None, progress: Callable[[str], None]) -> Candidate:
    """One candidate representation: its learner by nested CV, its invariance and
    fairness checks, and its model fitted on every face (so the checks that need a
    model, the SFHQ spreads, score the one that would ship)."""
    ds = cache.ds
    names = feature_names(groups)
    learners: dict[str, dict[str, Any]] = {}
    for lname in LONDON_LEARNERS:
        learners[lname] = repeated_cv(cache, names, lname, seeds)
        progress(f"  {cname:22s} {lname:13s} 10-fold r={learners[lname]['pearson_r']:.3f}"
                 f" (SD {learners[lname]['pearson_r_sd']:.3f})")
    winner = choose_learner(learners)
    cv = learners[winner]
    oof_mean = cv["oof"].mean(axis=0)
    oof0, smile0 = oof_predictions(cache, names, winner, seeds[0], with_smiling=True)
    smiling = smiling_stability(ds, oof0, smile0, seeds[0])
    residuals = london_residuals(ds, oof_mean)
    slug = cname.replace(" + ", "-").replace(" ", "-")
    spec = fit_final(cache, names, winner, f"{MODEL_ID_PREFIX}-{slug}-"
                     f"{winner.replace('_', '-')}-v{MODEL_VERSION}", data_block)
    spec["validation"] = rounded({"kfold": {"pearson_r": cv["pearson_r"],
                                       "spearman_rho": cv["spearman_rho"],
                                       "mae": cv["mae"], "scheme": "10-fold"},
                             "loo": {"pearson_r": math.nan, "spearman_rho": math.nan,
                                     "mae": math.nan}})
    model = LearnedAttractiveness(spec)
    scores, clipped = score_shared(model, sf) if sf is not None else (None, [])
    fairness = shared_fairness(sf, scores) if sf is not None else {}
    checks = {"smiling": smiling["mean_abs_change"] <= SMILING_LIMIT,
              "sfhq_ethnicity_men": below_chance(fairness.get("ethnicity_men")),
              "sfhq_hair_women": below_chance(fairness.get("hair_women")),
              "london_ethnicity_residuals": below_chance(residuals)}
    cand = Candidate(cname, names, learners, winner, cv, within_sex_r(ds, oof_mean), smiling,
                     residuals, model, spec, scores, clipped, fairness, checks)
    progress(f"  -> {cname}: {winner}, r={cv['pearson_r']:.3f}, within sex "
             f"{cand.within_sex}, smiling {smiling['mean_abs_change']:.2f}, checks {checks}")
    return cand


def select(candidates: dict[str, Candidate]) -> Candidate:
    """The selection rule (SELECTION_RULE, steps 3 and 4), fixed before the run."""
    eligible = [c for c in candidates.values() if c.failed == 0]
    if eligible:
        best = max(eligible, key=lambda c: c.cv["pearson_r"])
        bar = best.cv["pearson_r"] - best.cv["pearson_r_sd"]
        return next(c for c in eligible if c.cv["pearson_r"] >= bar)
    return min(candidates.values(), key=lambda c: (c.failed, -c.cv["pearson_r"]))


def feature_set_table(cache: FeatureCache, chosen: Candidate, seeds: Sequence[int],
                      progress: Callable[[str], None]) -> dict[str, dict[str, Any]]:
    """Ablation-style comparisons with the chosen learner: leads for the next round,
    never a choice of this one (they were not checked for fairness or invariance)."""
    names, winner, main_cv = chosen.names, chosen.learner, chosen.cv
    sets: dict[str, list[str]] = {
        "descriptor": feature_names(["descriptor"]),
        "descriptor + shape": feature_names(["descriptor", "shape"]),
        "descriptor + appearance (skin, age, contrast, expression)":
            feature_names(["descriptor", *APPEARANCE_GROUPS]),
        "descriptor + features": feature_names(["descriptor", *MODEL_GROUPS]),
        "features (shape + proportions + appearance)": feature_names(MODEL_GROUPS),
        "shape only (PCs + averageness + asymmetry)": feature_names(["shape"]),
        "features + photo-dependent colour/lighting (excluded)":
            feature_names([*MODEL_GROUPS, "photo"]),
    }
    feature_sets: dict[str, dict[str, Any]] = {}
    for label, fnames in sets.items():
        res = main_cv if fnames == names else repeated_cv(cache, fnames, winner, seeds)
        feature_sets[label] = {k: res[k] for k in ("pearson_r", "pearson_r_sd",
                                                    "spearman_rho", "mae")}
        feature_sets[label]["n_features"] = len(fnames)
        feature_sets[label]["within_sex_pearson_r"] = within_sex_r(cache.ds,
                                                                  res["oof"].mean(axis=0))
        progress(f"  {label:60s} r={res['pearson_r']:.3f}")
    return feature_sets


def _cand_summary(c: Candidate) -> dict[str, Any]:
    """A candidate's row of the card: its figures and which checks it passed."""
    return {"features": CANDIDATE_TEXT[c.name], "n_features": len(c.names),
            "learner": c.learner,
            "learners": {k: {m: v[m] for m in ("pearson_r", "pearson_r_sd",
                                               "spearman_rho", "mae")}
                         for k, v in c.learners.items()},
            "pearson_r": c.cv["pearson_r"], "pearson_r_sd": c.cv["pearson_r_sd"],
            "within_sex_pearson_r": c.within_sex,
            "smiling_mean_abs_change": c.smiling["mean_abs_change"],
            "sfhq": c.fairness, "london_residuals_by_ethnicity": c.residuals,
            "checks": c.checks, "failed_checks": c.failed}


def train(ds: Dataset, *, seeds: Sequence[int] = SEEDS, robustness_faces: int = 20,
          faces: Path | None = None,
          progress: Callable[[str], None] = lambda s: None) -> tuple[dict[str, Any], str]:
    """Validate each candidate, choose by the fixed rule, fit on everything; returns
    (model spec, model card)."""
    t0 = time.perf_counter()
    y = ds.y
    cache = FeatureCache(ds)
    data_block = _data_block(ds)
    progress("  measuring the shared SFHQ faces ...")
    sf = collect_shared(faces)
    candidates = {cname: validate_candidate(cache, cname, groups, seeds, data_block, sf,
                                            progress)
                  for cname, groups in CANDIDATES.items()}
    chosen = select(candidates)
    progress(f"  chosen: {chosen.name} ({chosen.learner})")
    names, winner, main_cv = chosen.names, chosen.learner, chosen.cv

    feature_sets = feature_set_table(cache, chosen, seeds, progress)
    tried = {"smiling_augmentation": smiling_augmented_cv(cache, names, winner, seeds)}
    loo_pred, _ = oof_predictions(cache, names, winner, None)
    loo = prediction_stats(loo_pred, y)
    oof_mean = main_cv["oof"].mean(axis=0)
    by_sex = group_table(ds, oof_mean, lambda f: f.sex)
    by_eth = group_table(ds, oof_mean, lambda f: f.eth)
    spec = chosen.spec
    spec["uncertainty"] = interval(ds, main_cv, seeds)
    within_sex = {row["group"]: row["r_within"] for row in by_sex}
    model = chosen.model
    progress("  robustness and timing ...")
    robust = robustness(ds, model, robustness_faces)
    timing = request_timing(model, ds.contexts)
    shared = shared_label_table(sf, chosen.shared_scores, chosen.shared_clipped) \
        if sf is not None else []

    spec["validation"] = rounded({
        "kfold": {"scheme": f"10-fold CV repeated {len(seeds)} times (KFold shuffle seeds "
                            f"{', '.join(map(str, seeds))}, faces in face_id order); "
                            "hyper-parameters, shape space and standardisation fitted "
                            "inside each training fold",
                  "pearson_r": main_cv["pearson_r"], "pearson_r_sd": main_cv["pearson_r_sd"],
                  "spearman_rho": main_cv["spearman_rho"], "mae": main_cv["mae"],
                  "per_repeat": main_cv["per_repeat"], "seeds": list(seeds)},
        "loo": {**loo, "scheme": "leave-one-out, same nesting"},
        "within_sex_pearson_r": within_sex,
        "baseline_mae_predict_mean": float(np.mean(np.abs(y - y.mean()))),
        "learners": {k: {m: v[m] for m in ("pearson_r", "pearson_r_sd", "spearman_rho", "mae")}
                     for k, v in chosen.learners.items()},
        "chosen_learner": winner,
        "candidates": {k: _cand_summary(c) for k, c in candidates.items()},
        "chosen_candidate": chosen.name,
        "selection_rule": SELECTION_RULE,
        "tried": tried,
        "feature_sets": feature_sets,
        "smiling": chosen.smiling,
        "by_sex": by_sex,
        "by_ethnicity": by_eth,
        "london_residuals_by_ethnicity": chosen.residuals,
        "sfhq_fairness": chosen.fairness,
        "london_age_rating_r": london_age_rating_r(ds),
        "robustness": robust,
        "shared_faces": shared,
        "oof_kfold": main_cv["oof"],
        "oof_loo": loo_pred,
    })
    # Timings vary run to run: they are reported, never written into the artefacts,
    # so re-running the command reproduces the committed files byte for byte.
    progress(f"training took {time.perf_counter() - t0 + ds.seconds:.0f} s; features + "
             f"prediction per request: {timing}")
    # render from the JSON form so the card describes exactly what ships
    return spec, render_card(json.loads(json.dumps(spec)))


# --------------------------------------------------------------- the card ----------

def render_card(spec: dict[str, Any]) -> str:
    """The model card for `spec` (the model JSON as written to models/).

    Everything the card says comes from the spec and this script's constants, so the
    committed card can be re-rendered from the committed JSON without retraining
    (tests/tools/test_model_card.py checks it byte for byte)."""
    from aurum.tools import model_card

    return model_card.render(
        spec, failures=spec["data"]["failures"], candidate_text=CANDIDATE_TEXT,
        selection_rule=SELECTION_RULE, learners=list(LONDON_LEARNERS), n_shuffles=N_SHUFFLES,
        min_group=MIN_GROUP, z_clip=Z_CLIP, model_file=MODEL_FILE,
        attribution=ATTRIBUTION, calibration=CALIBRATION, sha256=SHA256)
