"""One spec per photo-quality metric: everything about a metric in one place.

The raw values (`quality.measure` calls each spec's `measure` on one `FaceSample`),
config thresholds and presets, the quality report (`quality.evaluate`), the
population's bulk re-gating (`quality.norm_vector` / `passes`) and the checklist
are all generated from `METRICS`. Adding a metric is one `QualityMetric(...)` entry
here and a rebuild of the reference population, whose artefacts record the metric
list (a stale build is refused with a clear reason).

Raw values are measured once per photo (pixels, degrees); each spec's `normalise`
maps them to [0, 1] (1 = ideal for analysis), so a threshold move re-evaluates
without touching pixels. Vocabulary follows OFIQ (ISO/IEC 29794-5).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

import cv2
import numpy as np

from aurum.measure import landmark_names as n
from aurum.measure.spec_registry import SpecRegistry

Raw = dict[str, Any]
CANON_IED = 64.0  # the face is resampled to this inter-eye distance before sharpness

FRONTALITY_FULL_SCALE_DEG = 30.0
OVERALL = "quality"  # the mean of every metric, gated by its own threshold
OVERALL_LABEL = "Overall quality"
OVERALL_FIX = "Fix the failed checks above; together they pull quality under the bar."
# The overall pass mark per preset ("strict" and "demo" are the legacy engine's).
OVERALL_THRESHOLDS: dict[str, float] = {"strict": 0.6, "default": 0.45, "demo": 0.3}
NO_VALUE_FIX = "The face detector did not confirm this face; use a clearer photo."


class FaceSample:
    """One face in its photo, and the pieces several metrics read (the face crop at a
    canonical scale, its luma), each computed once, on first use."""

    def __init__(self, rgb: np.ndarray, lm: np.ndarray, pose: Any, confidence: float | None,
                 symmetry_index: float, bbox: tuple[float, float, float, float]) -> None:
        self.rgb, self.lm, self.pose, self.confidence = rgb, lm, pose, confidence
        self.symmetry_index, self.bbox = symmetry_index, bbox

    def gap(self, a: int, b: int) -> float:
        """Image-plane distance between two landmarks, in pixels."""
        return float(np.hypot(*(self.lm[a, :2] - self.lm[b, :2])))

    @cached_property
    def inter_eye_px(self) -> float:
        return float(self.gap(n.IRIS_L, n.IRIS_R))

    @cached_property
    def face_crop(self) -> tuple[np.ndarray, np.ndarray]:
        """Grayscale face region resampled to a canonical inter-eye distance, with a mask
        of the skin inside the face oval (so sharpness does not depend on image size)."""
        rgb, lm = self.rgb, self.lm
        h, w = rgb.shape[:2]
        pts = lm[list(n.FACE_OVAL), :2]
        x0, y0 = np.floor(pts.min(axis=0)).astype(int)
        x1, y1 = np.ceil(pts.max(axis=0)).astype(int)
        x0, y0 = max(0, x0), max(0, y0)
        x1, y1 = min(w, max(x1, x0 + 2)), min(h, max(y1, y0 + 2))
        crop = rgb[y0:y1, x0:x1]
        f = CANON_IED / max(self.inter_eye_px, 1.0)
        size = (max(2, round((x1 - x0) * f)), max(2, round((y1 - y0) * f)))
        interp = cv2.INTER_AREA if f < 1 else cv2.INTER_LINEAR
        gray = cv2.cvtColor(cv2.resize(crop, size, interpolation=interp), cv2.COLOR_RGB2GRAY)
        mask = np.zeros(gray.shape, dtype=np.uint8)
        poly = np.round((pts - [x0, y0]) * f).astype(np.int32)
        cv2.fillPoly(mask, [poly], 1)
        mask = cv2.erode(mask, np.ones((5, 5), np.uint8))
        return gray, mask.astype(bool)

    @cached_property
    def luma(self) -> np.ndarray:
        gray, mask = self.face_crop
        return gray[mask].astype(np.float64) if mask.any() else np.zeros(1)

    def eye_aspect(self) -> float:
        ear_l = self.gap(n.LID_UP_L, n.LID_LO_L) / (self.gap(n.EYE_OUT_L, n.EYE_IN_L) + 1e-9)
        ear_r = self.gap(n.LID_UP_R, n.LID_LO_R) / (self.gap(n.EYE_OUT_R, n.EYE_IN_R) + 1e-9)
        return float(min(ear_l, ear_r))

    def crop_margin(self) -> float:
        """The face box's smallest margin to the photo's edge, in face heights."""
        h, w = self.rgb.shape[:2]
        x0, y0, bw, bh = self.bbox
        return float(min(x0, y0, w - (x0 + bw), h - (y0 + bh)) / max(bw, bh, 1.0))


def _sharpness_raw(s: FaceSample) -> Raw:
    """Laplacian energy relative to the face's own contrast, so a darker photo of the
    same sharpness is not called blurry (exposure has its own check)."""
    gray, mask = s.face_crop
    lap = cv2.Laplacian(gray, cv2.CV_64F, ksize=3)
    lap_var = float(lap[mask].var()) if mask.any() else 0.0
    return {"sharpness_ratio": lap_var / max(float(s.luma.var()), 1.0), "laplacian_var": lap_var}


def _exposure_raw(s: FaceSample) -> Raw:
    luma = s.luma
    return {"mean_luma": float(luma.mean()), "under_share": float(np.mean(luma <= 25)),
            "over_share": float(np.mean(luma >= 245)),
            "luma_p5": float(np.percentile(luma, 5)), "luma_p95": float(np.percentile(luma, 95))}


@dataclass(frozen=True)
class QualityMetric:
    """A quality check: `normalise(raw) -> [0, 1] or None` (None = not measured, fails),
    passed when >= the threshold. `measure` is its formula: a `FaceSample` -> its raw
    values (keys `raw_keys`). `fix` says how to pass (text, or a function of the raw
    values); `detail` is the human reading of the raw values for the checklist.
    `presets` gives the pass mark under named presets other than "default"."""

    name: str
    label: str
    raw_keys: tuple[str, ...]
    normalise: Callable[[Raw], float | None]
    fix: str | Callable[[Raw], str]
    threshold: float
    detail: Callable[[Raw], str] | None = None
    presets: dict[str, float] = field(default_factory=dict)
    measure: Callable[[FaceSample], Raw] | None = None

    def fix_text(self, raw: Raw) -> str:
        return self.fix(raw) if callable(self.fix) else self.fix

    def threshold_for(self, preset: str) -> float:
        return self.presets.get(preset, self.threshold)


def _clip01(x: float) -> float:
    return max(0.0, min(1.0, x))


def _sigmoid(x: float) -> float:
    return 1.0 / (1.0 + math.exp(-max(-60.0, min(60.0, x))))


def _frontality(raw: Raw) -> float:
    return max(0.0, 1.0 - math.hypot(raw["yaw"], raw["pitch"]) / FRONTALITY_FULL_SCALE_DEG)


def _exposure(raw: Raw) -> float:
    under = _clip01(1 - raw["under_share"] / 0.35) * min(1.0, raw["mean_luma"] / 70.0)
    over = _clip01(1 - raw["over_share"] / 0.35) * min(1.0, (255.0 - raw["mean_luma"]) / 50.0)
    return max(0.0, min(under, over))


def _frontality_fix(raw: Raw) -> str:
    parts = []
    if abs(raw["yaw"]) >= 5:
        side = "left" if raw["yaw"] > 0 else "right"
        parts.append(f"your head is turned {abs(raw['yaw']):.0f}° to your {side}")
    if abs(raw["pitch"]) >= 5:
        parts.append(f"your chin is {abs(raw['pitch']):.0f}° "
                     f"{'up' if raw['pitch'] > 0 else 'down'}")
    detail = " and ".join(parts) if parts else "your head is turned"
    return f"Turn your head toward the camera: {detail}."


def _exposure_fix(raw: Raw) -> str:
    if raw["mean_luma"] < 128:
        return "More light: the face is too dark (face the light, avoid backlight)."
    return "Less light: the face is over-exposed (avoid direct flash or sun)."


METRICS: list[QualityMetric] = [
    QualityMetric(
        "confidence", "Face detector confidence", ("confidence",),
        normalise=lambda r: r["confidence"],
        fix="Use a clearer photo: one face, in focus, not covered.",
        threshold=0.7, presets={"strict": 0.7, "demo": 0.7},
        measure=lambda s: {"confidence": s.confidence}),
    QualityMetric(
        "frontality", "Facing the camera", ("yaw", "pitch", "roll"),
        normalise=_frontality, fix=_frontality_fix, threshold=0.3,
        detail=lambda r: f"yaw {r['yaw']:+.0f}°, pitch {r['pitch']:+.0f}°, "
                         f"roll {r['roll']:+.0f}°",
        presets={"strict": 0.5, "demo": 0.1},
        measure=lambda s: {"yaw": s.pose.yaw, "pitch": s.pose.pitch, "roll": s.pose.roll}),
    QualityMetric(
        "symmetry", "Even, neutral expression", ("symmetry_index",),
        normalise=lambda r: max(0.0, 1.0 - r["symmetry_index"] / 0.04),
        fix="Look straight at the camera with a neutral expression and even light.",
        threshold=0.3, detail=lambda r: f"asymmetry {r['symmetry_index']:.3f}",
        presets={"strict": 0.4, "demo": 0.1},
        measure=lambda s: {"symmetry_index": s.symmetry_index}),
    QualityMetric(
        # OFIQ's inter-eye distance sigmoid: centred at 70 px, width 20 px.
        "resolution", "Resolution (eye distance)", ("inter_eye_px", "face_height_px"),
        normalise=lambda r: _sigmoid((r["inter_eye_px"] - 70.0) / 20.0),
        fix="Move closer or use a higher-resolution photo (eyes at least 70 px apart).",
        threshold=0.3, detail=lambda r: f"{r['inter_eye_px']:.0f} px between pupils",
        presets={"strict": 0.4, "demo": 0.1},
        measure=lambda s: {"inter_eye_px": s.inter_eye_px,
                           "face_height_px": float(s.bbox[3])}),
    QualityMetric(
        # log scale between a ratio of 0.05 (a Gaussian blur of sigma 4 % of the
        # inter-eye distance) and 0.6 (sharper than 90 % of the shared faces).
        "sharpness", "Sharpness", ("sharpness_ratio", "laplacian_var"),
        normalise=lambda r: _clip01(math.log10(max(r["sharpness_ratio"], 1e-6) / 0.05)
                                    / math.log10(0.6 / 0.05)),
        fix="Hold the camera still and focus on the face.",
        threshold=0.2, detail=lambda r: f"detail ratio {r['sharpness_ratio']:.2f}",
        presets={"strict": 0.3, "demo": 0.1},
        measure=_sharpness_raw),
    QualityMetric(
        "exposure", "Exposure", ("mean_luma", "under_share", "over_share", "luma_p5",
                                 "luma_p95"),
        normalise=_exposure, fix=_exposure_fix, threshold=0.3,
        detail=lambda r: f"mean brightness {r['mean_luma']:.0f}/255",
        presets={"strict": 0.5, "demo": 0.1},
        measure=_exposure_raw),
    QualityMetric(
        "eyes_open", "Eyes open", ("eye_aspect",),
        normalise=lambda r: _clip01((r["eye_aspect"] - 0.08) / 0.14),
        fix="Open your eyes and look at the camera.",
        threshold=0.3, detail=lambda r: f"eye opening {r['eye_aspect']:.2f}",
        presets={"strict": 0.4, "demo": 0.1},
        measure=lambda s: {"eye_aspect": s.eye_aspect()}),
]


def _check(spec: QualityMetric) -> None:
    """The overall check's name is taken; a metric without a formula measures nothing."""
    problem = ("is the overall check's name" if spec.name == OVERALL else
               "needs a `measure` formula" if spec.measure is None else None)
    if problem:
        raise ValueError(f"quality metric {spec.name!r} {problem}")


_REGISTRY = SpecRegistry(METRICS, "quality metric", _check)
# NAMES reads the specs live: code that iterates it sees registered ones too.
NAMES, get, register, unregister, registered = _REGISTRY.exports()

# Named threshold presets: the legacy engine's "strict" and "demo", kept so old settings
# mean the same thing. Each metric's spec gives its pass mark under each preset.
PRESETS: tuple[str, ...] = tuple(OVERALL_THRESHOLDS)


def preset_thresholds(name: str = "default") -> dict[str, float]:
    """Pass marks under a preset, generated from the metric specs."""
    return {OVERALL: OVERALL_THRESHOLDS[name],
            **{m.name: m.threshold_for(name) for m in METRICS}}


class Thresholds:
    """Pass marks in [0, 1] for each normalised quality metric and for their mean
    (`quality`), read as attributes (`th.frontality`). The set of names comes from the
    metric specs, so a new spec is a new threshold everywhere (JSON, sliders, presets)."""

    def __init__(self, **values: float) -> None:
        defaults = preset_thresholds("default")
        unknown = set(values) - set(defaults)
        if unknown:
            raise TypeError(f"unknown quality thresholds: {sorted(unknown)}")
        self.__dict__.update(defaults)
        self.__dict__.update(values)

    def to_dict(self) -> dict[str, float]:
        return dict(self.__dict__)

    def replace(self, **changes: float) -> Thresholds:
        return Thresholds(**{**self.to_dict(), **changes})

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Thresholds) and self.to_dict() == other.to_dict()

    __hash__ = None  # type: ignore[assignment]  (mutable)

    def __repr__(self) -> str:
        return f"Thresholds({', '.join(f'{k}={v!r}' for k, v in self.__dict__.items())})"


def labels() -> dict[str, str]:
    """Checklist label of every metric and of the overall mean."""
    return {**{m.name: m.label for m in METRICS}, OVERALL: OVERALL_LABEL}
