"""The attractiveness models: learned from human ratings, validated by CV.

`load_default(models_dir)` reads the model AURUM_ATTRACTIVENESS_MODEL names: by default
`attractiveness_multiset.json` (London + MEBeauty, research and non-commercial use;
`python -m aurum train-attractiveness --sets london,mebeauty`,
`aurum.tools.training.multiset`, `models/MODEL_CARD.md`), or `london`:
`attractiveness_v1.json` (London only, CC BY 4.0 data; `aurum.tools.training.london`,
`models/MODEL_CARD_london.md`). A several-set model
predicts a standardised rating and maps it to each panel's scale (`target`). The file
is plain data: feature names, standardisation, the shape space (when shape features
are used), the learner's coefficients, the calibration, the cross-validated figures
that every result carries with it and the interval half-width taken from the
cross-validated residuals. No pickles.

Features may include the 128 values of the L2-normalised face descriptor
(`aurum.analysers.descriptor`, names `descriptor_000`...) and the 1024 of faceres
(`aurum.analysers.faceres`, `faceres_0000`...): they come from `ctx.descriptor` and
`ctx.faceres`, are used for one dot product and are never copied into the result.

The 0-100 score is a linear map of the predicted mean rating on the raters' 1-7
scale: 0 = every rater would answer 1, 50 = 4 (the middle of the scale),
100 = every rater would answer 7. It is an estimate of what the London raters
would have said, with the validity stated next to it, not a verdict.
"""

from __future__ import annotations

import json
import math
import os
from bisect import bisect_left
from pathlib import Path
from typing import Any

import numpy as np

from aurum.errors import FeatureError
from aurum.measure.appearance import RawFeatures, raw_features
from aurum.measure.shape import ShapeSpace

MODEL_FILE = "attractiveness_v1.json"  # the London-only model (CC BY 4.0 data)
MULTI_MODEL_FILE = "attractiveness_multiset.json"  # London + MEBeauty (non-commercial)
# The models a deployment can pick (AURUM_ATTRACTIVENESS_MODEL, or Engine(attractiveness=)):
# the key, or a path to a model file.
MODELS = {"london+mebeauty": MULTI_MODEL_FILE, "london": MODEL_FILE}
DEFAULT_MODEL = "london+mebeauty"
MODEL_ENV = "AURUM_ATTRACTIVENESS_MODEL"
FORMAT = "aurum.attractiveness/2"
FORMAT_MULTI = "aurum.attractiveness/3"  # several rated sets, standardised targets
FORMATS = ("aurum.attractiveness/1", FORMAT, FORMAT_MULTI)
LONDON_TERMS = "trained on the London set only (CC BY 4.0 data: commercial use allowed " \
               "with attribution)"
DESCRIPTOR_PREFIX = "descriptor_"
DESCRIPTOR_NAMES = [f"{DESCRIPTOR_PREFIX}{i:03d}" for i in range(128)]
# The faceres descriptor (`aurum.analysers.faceres`, 1024-D, L2-normalised): read from
# `ctx.faceres` like dlib's from `ctx.descriptor`, never copied into the result.
FACERES_PREFIX = "faceres_"
FACERES_NAMES = [f"{FACERES_PREFIX}{i:04d}" for i in range(1024)]
IDENTITY_PREFIXES = (DESCRIPTOR_PREFIX, FACERES_PREFIX)
SCALE_MIN, SCALE_MAX = 1.0, 7.0
# More hidden features than this and the estimate would lean on imputation too much.
MAX_IMPUTED = 4
ATTRIBUTION = ("Face Research Lab London Set: DeBruine, L., & Jones, B. (2017). Face Research "
               "Lab London Set (Version 5). figshare. "
               "https://doi.org/10.6084/m9.figshare.5047666.v5, CC BY 4.0")
CALIBRATION = ("linear map of the predicted mean rating on the raters' 1-7 scale: "
               "score = (rating - 1) / 6 * 100, so 0 = all raters answer 1, 50 = 4 "
               "(the scale's middle), 100 = all answer 7; the London faces' mean ratings "
               "span 1.6-5.7 (scores 9-78)")


def interval_text(rating: float, half_width: float, coverage: float,
                  panel: str = "London", scale: str = "1-7",
                  basis: str = "the London faces' mean ratings") -> str:
    """The honest reading of one estimate, e.g. 'London panel rating about 3.2 +- 0.6
    on its 1-7 scale': which panel, which scale, and how often such an interval held."""
    return (f"{panel} panel rating about {rating:.1f} \u00b1 {half_width:.1f} on its "
            f"{scale} scale ({coverage * 100:.0f} % of {basis} fell within this "
            "distance of their cross-validated prediction)")


def rating_to_score(rating: float) -> float:
    """The calibration: position of a mean rating on the 1-7 scale, as 0-100."""
    r = min(SCALE_MAX, max(SCALE_MIN, float(rating)))
    return (r - SCALE_MIN) / (SCALE_MAX - SCALE_MIN) * 100.0


class LearnedAttractiveness:
    """A linear (or RBF-kernel) model of mean ratings on standardised face features."""

    def __init__(self, spec: dict[str, Any], source: str | None = None) -> None:
        if spec.get("format") not in FORMATS:
            raise ValueError(f"not an {FORMAT} model file (format={spec.get('format')!r})")
        self.spec = spec
        self.source = source
        self.name: str = str(spec["id"])
        self._read_features(spec)
        self._read_learner(spec["learner"])
        if self.mean.shape != (len(self.names),) or self.scale.shape != (len(self.names),):
            raise ValueError("standardisation does not match the feature list")
        self._read_validity(spec)
        self._read_uncertainty(spec)
        self.calibration = str(spec["calibration"]["text"])
        self._ratings = sorted(float(v) for v in spec["data"]["rating_means_sorted"])

    # -- reading the file: each step refuses a file this code would misread -----------
    def _read_features(self, spec: dict[str, Any]) -> None:
        """Which features, in which order, from where (shape space, scalars, descriptor),
        and their standardisation."""
        feats = spec["features"]
        self.names: list[str] = list(feats["names"])
        self.groups: dict[str, str] = dict(feats["groups"])
        self.mean = np.asarray(feats["mean"], dtype=np.float64)
        self.scale = np.asarray(feats["scale"], dtype=np.float64)
        self.clip_z = float(feats.get("clip_z", math.inf))
        self.space = ShapeSpace.from_dict(spec["shape_space"]) \
            if spec.get("shape_space") else None
        self.shape_names = self.space.names() if self.space is not None else []
        self._desc_idx = [i for i, n in enumerate(self.names)
                          if n.startswith(DESCRIPTOR_PREFIX)]
        if self._desc_idx and [self.names[i] for i in self._desc_idx] != DESCRIPTOR_NAMES:
            raise ValueError("the descriptor features must be descriptor_000..127 in order")
        self.uses_descriptor = bool(self._desc_idx)
        self._check_descriptor(spec)
        self._fr_idx = [i for i, n in enumerate(self.names) if n.startswith(FACERES_PREFIX)]
        if self._fr_idx and [self.names[i] for i in self._fr_idx] != FACERES_NAMES:
            raise ValueError("the faceres features must be faceres_0000..1023 in order")
        self.uses_faceres = bool(self._fr_idx)
        self.faceres_mirror = self._check_faceres(spec)
        self.scalar_names = [n for n in self.names if n not in set(self.shape_names)
                             and not n.startswith(IDENTITY_PREFIXES)]
        self.uses_raw = bool(self.scalar_names) or any(n in self.names
                                                       for n in self.shape_names)
        self._shape_idx = [self.names.index(n) for n in self.shape_names if n in self.names]
        self._shape_pick = [i for i, n in enumerate(self.shape_names) if n in self.names]
        self._scalar_idx = [self.names.index(n) for n in self.scalar_names]

    def _check_descriptor(self, spec: dict[str, Any]) -> None:
        """Refuse a model trained on a descriptor this code does not compute: it would
        load and quietly score something else."""
        if spec["features"].get("mirror_average"):  # averaged with the mirror image's
            raise ValueError("this model needs the mirror-averaged descriptor, which this "
                             "app does not compute")
        if self.uses_descriptor:
            from aurum.analysers.descriptor import alignment

            trained = (spec.get("descriptor") or {}).get("alignment")
            if trained != alignment():
                raise ValueError("the model was trained on face chips aligned differently "
                                 "from this code's (descriptor alignment); rebuild it with "
                                 "`bash scripts/build_models.sh`")

    def _check_faceres(self, spec: dict[str, Any]) -> bool:
        """Refuse a model trained on faceres chips cut another way; return whether it
        reads the mirror-averaged faceres descriptor (the engine then computes it)."""
        if not self.uses_faceres:
            return False
        from aurum.analysers.faceres import alignment

        trained = dict((spec.get("faceres") or {}).get("alignment") or {})
        mirror = bool(trained.pop("mirror_average", False))
        if trained != alignment():
            raise ValueError("the model was trained on faceres chips cut differently from "
                             "this code's; rebuild it with `bash scripts/build_models.sh`")
        return mirror

    def _read_learner(self, learner: dict[str, Any]) -> None:
        """The learner's parameters, checked against the feature list."""
        self.kind: str = learner["kind"]
        self.intercept = float(learner["intercept"])
        if self.kind == "linear":
            self.coef = np.asarray(learner["coef"], dtype=np.float64)
            if self.coef.shape != (len(self.names),):
                raise ValueError("coefficients do not match the feature list")
        elif self.kind == "mlp":
            self.layers = [(np.asarray(w, dtype=np.float64), np.asarray(b, dtype=np.float64))
                           for w, b in learner["layers"]]
            if self.layers[0][0].shape[0] != len(self.names):
                raise ValueError("the MLP's input does not match the feature list")
        elif self.kind == "rbf":
            self.gamma = float(learner["gamma"])
            self.dual = np.asarray(learner["dual_coef"], dtype=np.float64)
            self.support = np.asarray(learner["support"], dtype=np.float64)
            if self.support.shape != (len(self.dual), len(self.names)):
                raise ValueError("kernel support does not match the feature list")
        else:
            raise ValueError(f"unknown learner kind {self.kind!r}")

    def _read_validity(self, spec: dict[str, Any]) -> None:
        """The cross-validated figures every result carries, the panels' target scales
        and the data's terms of use."""
        val = spec["validation"]
        # Several rated sets: the learner predicts a standardised rating; `target` maps
        # it to each panel's scale, and the display panel's scale gives the 0-100.
        self.target = spec.get("target")
        self.terms = str(spec.get("terms", {}).get("text", LONDON_TERMS)) \
            if spec.get("terms") else LONDON_TERMS
        self.commercial = bool((spec.get("terms") or {}).get("commercial", True))
        self.validity = {
            "pearson_r_10fold": val["kfold"]["pearson_r"],
            "spearman_rho_10fold": val["kfold"]["spearman_rho"],
            "mae_10fold": val["kfold"]["mae"],
            "pearson_r_loo": (val.get("loo") or {}).get("pearson_r"),
            "n_faces": int(spec["data"]["n_faces"]),
            "data": spec["data"]["name"],
            "cv": val["kfold"]["scheme"],
        }
        sex_r = val.get("within_sex_pearson_r")
        if sex_r:
            self.validity["within_sex_pearson_r"] = dict(sex_r)
        if val.get("mebeauty_val"):
            self.validity["mebeauty_val"] = dict(val["mebeauty_val"])

    def _read_uncertainty(self, spec: dict[str, Any]) -> None:
        """The interval half-width (from cross-validated residuals) on the display
        panel's scale, and how often such an interval held."""
        unc = spec.get("uncertainty") or {}
        if self.target is not None:
            self.panel_widths = {k: float(v["half_width_rating"])
                                 for k, v in unc.get("panels", {}).items()}
            unc = {"half_width_rating": self.panel_widths.get(self.target["display"]),
                   "coverage": unc.get("coverage", 0.8), "method": unc.get("method", "")}
        self.half_width = float(unc["half_width_rating"]) if unc else None
        self.coverage = float(unc.get("coverage", 0.8)) if unc else None
        self.uncertainty_method = str(unc.get("method", "")) if unc else ""

    # -- features -----------------------------------------------------------------
    def vector(self, raw: RawFeatures | None, descriptor: Any = None, faceres: Any = None
               ) -> tuple[np.ndarray, list[str]]:
        """Feature vector in `self.names` order and the names that were imputed
        (descriptor values are never imputed: the caller checks they exist)."""
        x = np.full(len(self.names), np.nan)
        if raw is not None:
            if self.space is not None and self._shape_idx:
                x[self._shape_idx] = self.space.transform(raw.shape)[self._shape_pick]
            for i, name in zip(self._scalar_idx, self.scalar_names, strict=True):
                x[i] = raw.scalars.get(name, math.nan)
        if self.uses_descriptor and descriptor is not None:
            x[self._desc_idx] = descriptor.normalised()
        if self.uses_faceres and faceres is not None:
            x[self._fr_idx] = faceres.normalised()
        missing = [self.names[i] for i in np.flatnonzero(~np.isfinite(x))]
        return x, missing

    def standardise(self, x: np.ndarray) -> np.ndarray:
        """z-scores, clipped to +-clip_z training SDs: a photo unlike the training
        ones (another camera, a broad smile, a beard) cannot push one feature's
        contribution past what the training range supports."""
        z = np.clip((x - self.mean) / self.scale, -self.clip_z, self.clip_z)
        return np.where(np.isfinite(z), z, 0.0)  # imputed = the training mean

    def predict_z(self, z: np.ndarray) -> np.ndarray:
        """Predicted mean rating(s) from standardised features, (n, k) or (k,)."""
        z2 = np.atleast_2d(z)
        if self.kind == "linear":
            out = z2 @ self.coef + self.intercept
        elif self.kind == "mlp":
            h = z2
            for i, (w, b) in enumerate(self.layers):
                h = h @ w + b
                if i < len(self.layers) - 1:
                    h = np.maximum(h, 0.0)
            out = h[:, 0] + self.intercept
        else:
            d2 = ((z2[:, None, :] - self.support[None, :, :]) ** 2).sum(axis=2)
            out = np.exp(-self.gamma * d2) @ self.dual + self.intercept
        return out

    def contributions(self, z: np.ndarray) -> dict[str, float] | None:
        """Each feature group's share of (prediction - average), in rating points."""
        if self.kind != "linear":
            return None
        parts: dict[str, float] = {}
        for name, value in zip(self.names, z * self.coef, strict=True):
            group = self.groups.get(name, "other")
            parts[group] = parts.get(group, 0.0) + float(value)
        return {k: round(v, 3) for k, v in parts.items()}

    def percentile(self, rating: float) -> float:
        """Share of the London faces whose mean rating is below this one, 0-100."""
        return 100.0 * bisect_left(self._ratings, rating) / len(self._ratings)

    # -- the AttractivenessModel protocol ----------------------------------------
    def status(self) -> str:
        v = self.validity
        extra = ""
        if v.get("mebeauty_val"):
            extra = f", MEBeauty val r={v['mebeauty_val']['pearson_r']:.2f}"
        return (f"ready: {self.name} (London 10-fold r={v['pearson_r_10fold']:.2f}, "
                f"rho={v['spearman_rho_10fold']:.2f}{extra}, n={v['n_faces']}; "
                f"terms: {self.terms})")

    def facts(self) -> dict[str, Any]:
        """What the app states about this model (the About tab), from its own spec, so
        no text can drift from the model card after a retraining."""
        smile = ((self.spec.get("validation") or {}).get("smiling") or {}).get(
            "mean_abs_change")
        return {"learner": str((self.spec.get("learner") or {}).get("description", "")),
                "uses_descriptor": self.uses_descriptor, "uses_faceres": self.uses_faceres,
                "uses_measurements": self.uses_raw,
                "validity": dict(self.validity),
                "interval_rating": self.half_width, "coverage": self.coverage,
                "smiling_mean_abs_change": smile, "terms": self.terms,
                "commercial": self.commercial, "model": self.name,
                "data": self.validity.get("data")}

    def analyze(self, ctx: Any) -> dict[str, Any]:
        descriptor = getattr(ctx, "descriptor", None)
        faceres = getattr(ctx, "faceres", None)
        for needed, value, what, attr in (
                (self.uses_descriptor, descriptor, "the face descriptor", "descriptor_status"),
                (self.uses_faceres, faceres, "the faceres descriptor", "faceres_status")):
            if needed and value is None:
                reason = str(getattr(ctx, attr, "unavailable: not computed"))
                reason = reason.removeprefix("unavailable: ")
                return {"score": None, "model": self.name,
                        "status": f"unavailable: {what} is unavailable ({reason})"}
        try:
            raw = raw_features(ctx) if self.uses_raw else None
            return self.analyze_raw(raw, descriptor, faceres)
        except FeatureError as exc:
            return {"score": None, "status": f"unavailable: {exc}", "model": self.name}
        except Exception as exc:  # never take the request down
            return {"score": None, "model": self.name,
                    "status": f"unavailable: feature extraction failed ({type(exc).__name__})"}

    def analyze_raw(self, raw: RawFeatures | None, descriptor: Any = None,
                    faceres: Any = None) -> dict[str, Any]:
        """The prediction from measured features (what `analyze` and the trainers'
        checks share): the score, its interval, and what it rests on."""
        if (self.uses_descriptor and descriptor is None) or (self.uses_faceres
                                                             and faceres is None):
            return {"score": None, "model": self.name,
                    "status": "unavailable: the face descriptor is unavailable"}
        x, missing = self.vector(raw, descriptor, faceres)
        if len(missing) > MAX_IMPUTED:
            return {"score": None, "model": self.name,
                    "status": f"unavailable: {len(missing)} features could not be measured "
                              f"({', '.join(missing[:6])})"}
        z = self.standardise(x)
        rating = float(self.predict_z(z)[0])
        panels = None
        if self.target is not None:  # several rated sets: z -> each panel's own scale
            panels = self._panel_ratings(rating)
            d = self.target["sets"][self.target["display"]]
            rating = d["mean"] + d["sd"] * rating
        if not math.isfinite(rating):
            return {"score": None, "model": self.name,
                    "status": "unavailable: the prediction is not a number"}
        rating = min(SCALE_MAX, max(SCALE_MIN, rating))
        out = {
            "score": round(rating_to_score(rating), 2),
            "status": "ok",
            "model": self.name,
            "rating_estimate": round(rating, 3),
            "rating_scale": "1-7 (mean of the London raters' answers)",
            "terms": self.terms,
            "london_percentile": round(self.percentile(rating), 1),
            "calibration": self.calibration,
            "validity": dict(self.validity),
            "contributions": self.contributions(z),
            "imputed": missing,
            "out_of_range": self._out_of_range(x),
            "attribution": ATTRIBUTION,
        }
        if panels is not None:
            out["panels"] = panels
            out["attribution"] = str(self.spec["data"].get("attribution", ATTRIBUTION))
        if self.half_width is not None and self.coverage is not None:
            out["uncertainty"] = self._uncertainty(rating, several_sets=panels is not None)
        return out

    def _panel_ratings(self, zhat: float) -> dict[str, Any]:
        """The prediction on each rated set's own scale, with its panel's interval."""
        assert self.target is not None
        panels = {}
        for key, t in self.target["sets"].items():
            lo_s, hi_s = t["scale"]
            r = min(hi_s, max(lo_s, t["mean"] + t["sd"] * zhat))
            hw = self.panel_widths.get(key)
            panels[key] = {"rating": round(r, 3), "scale": f"{lo_s:g}-{hi_s:g}",
                           "panel": t["panel"],
                           "plus_minus": None if hw is None else round(hw, 2)}
        return panels

    def _out_of_range(self, x: np.ndarray) -> list[str]:
        """Features beyond the training range (clipped); the descriptors only as counts:
        which of its dimensions would describe the person."""
        beyond = np.abs((x - self.mean) / self.scale) > self.clip_z
        clipped = [self.names[i] for i in np.flatnonzero(beyond)
                   if not self.names[i].startswith(IDENTITY_PREFIXES)]
        for idx, what in ((self._desc_idx, "descriptor"), (self._fr_idx, "faceres")):
            n_out = int(beyond[idx].sum()) if idx else 0
            if n_out:  # a count only: which dimensions would describe the person
                clipped.append(f"{what} ({n_out} of {len(idx)} dimensions)")
        return clipped

    def _uncertainty(self, rating: float, several_sets: bool) -> dict[str, Any]:
        """The conformal interval around `rating`, on the rating and the 0-100 scales."""
        hw, coverage = self.half_width, self.coverage
        assert hw is not None and coverage is not None
        lo, hi = max(SCALE_MIN, rating - hw), min(SCALE_MAX, rating + hw)
        return {
            "rating_plus_minus": round(hw, 2),
            "rating_interval": [round(lo, 2), round(hi, 2)],
            "score_plus_minus": round(hw / (SCALE_MAX - SCALE_MIN) * 100.0, 1),
            "score_interval": [round(rating_to_score(lo), 1), round(rating_to_score(hi), 1)],
            "coverage": coverage,
            "method": self.uncertainty_method,
            "text": interval_text(rating, hw, coverage) if not several_sets else
            interval_text(rating, hw, coverage,
                          basis="London people's mean ratings in grouped CV"),
        }


def load(path: Path) -> LearnedAttractiveness:
    spec = json.loads(Path(path).read_text(encoding="utf-8"))
    return LearnedAttractiveness(spec, source=str(path))


def model_path(models_dir: Path, which: str | None = None) -> Path:
    """The file of the chosen model: `which` (a key of MODELS or a path), else
    AURUM_ATTRACTIVENESS_MODEL, else the default (London + MEBeauty, non-commercial)."""
    which = which or os.environ.get(MODEL_ENV) or DEFAULT_MODEL
    if which in MODELS:
        return Path(models_dir) / MODELS[which]
    path = Path(which)
    if path.suffix == ".json":
        return path
    raise ValueError(f"unknown attractiveness model {which!r} ({MODEL_ENV}): choose "
                     f"{' or '.join(MODELS)}, or give a model file")


def load_default(models_dir: Path, which: str | None = None) -> LearnedAttractiveness:
    """The committed model; FileNotFoundError names the file and how to build it."""
    path = model_path(models_dir, which)
    if not path.is_file():
        sets = "--sets london,mebeauty" if path.name == MULTI_MODEL_FILE \
            else "--data ../shared/london"
        raise FileNotFoundError(
            f"no attractiveness model at {path} (build it with `python -m aurum "
            f"train-attractiveness {sets} --out {Path(models_dir)}`)")
    return load(path)
