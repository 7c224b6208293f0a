"""Photo-quality measures (OFIQ vocabulary) and the pass/fail gate.

`measure` runs in analyze and keeps each raw value; `evaluate` maps raw values to
[0, 1] and applies the thresholds, so moving a threshold slider re-evaluates
without touching pixels. Each failed check comes with a one-line fix. What each
metric is (label, raw keys, normaliser, fix, default threshold) lives in its spec in
`quality_metrics`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import cv2
import numpy as np

from aurum import landmark_names as n
from aurum import quality_metrics as qm
from aurum.config import QUALITY_METRICS, Thresholds  # noqa: F401  (re-exported: build_reference)
from aurum.pose import Pose

CANON_IED = 64.0  # the face is resampled to this inter-eye distance before sharpness


def measure(rgb: np.ndarray, lm: np.ndarray, pose: Pose, confidence: float | None,
            symmetry_index: float, bbox: tuple[float, float, float, float]) -> dict[str, Any]:
    """Raw quality values of one face (pixels and degrees, not yet normalised)."""
    h, w = rgb.shape[:2]
    ied = float(_gap(lm, n.IRIS_L, n.IRIS_R))
    face_gray, mask = _face_crop(rgb, lm, ied)
    lap = cv2.Laplacian(face_gray, cv2.CV_64F, ksize=3)
    luma = face_gray[mask].astype(np.float64) if mask.any() else np.zeros(1)
    # Laplacian energy relative to the face's own contrast, so a darker photo of
    # the same sharpness is not called blurry (exposure has its own check).
    lap_var = float(lap[mask].var()) if mask.any() else 0.0
    sharp = lap_var / max(float(luma.var()), 1.0)
    under = float(np.mean(luma <= 25))
    over = float(np.mean(luma >= 245))
    ear_l = _gap(lm, n.LID_UP_L, n.LID_LO_L) / (_gap(lm, n.EYE_OUT_L, n.EYE_IN_L) + 1e-9)
    ear_r = _gap(lm, n.LID_UP_R, n.LID_LO_R) / (_gap(lm, n.EYE_OUT_R, n.EYE_IN_R) + 1e-9)
    x0, y0, bw, bh = bbox
    crop_margin = min(x0, y0, w - (x0 + bw), h - (y0 + bh)) / max(bw, bh, 1.0)
    return {
        "confidence": confidence,
        "yaw": pose.yaw,
        "pitch": pose.pitch,
        "roll": pose.roll,
        "symmetry_index": symmetry_index,
        "inter_eye_px": ied,
        "face_height_px": float(bh),
        "laplacian_var": lap_var,
        "sharpness_ratio": sharp,
        "mean_luma": float(luma.mean()),
        "luma_p5": float(np.percentile(luma, 5)),
        "luma_p95": float(np.percentile(luma, 95)),
        "under_share": under,
        "over_share": over,
        "eye_aspect": float(min(ear_l, ear_r)),
        "crop_margin": float(crop_margin),
    }


def _gap(lm: np.ndarray, a: int, b: int) -> float:
    """Image-plane distance between two landmarks, in pixels."""
    return float(np.hypot(*(lm[a, :2] - lm[b, :2])))


def _face_crop(rgb: np.ndarray, lm: np.ndarray, ied: float) -> tuple[np.ndarray, np.ndarray]:
    """Grayscale face region resampled to a canonical inter-eye distance, with a mask
    of the skin inside the face oval (so sharpness does not depend on image size)."""
    h, w = rgb.shape[:2]
    pts = lm[list(n.FACE_OVAL), :2]
    x0, y0 = np.floor(pts.min(axis=0)).astype(int)
    x1, y1 = np.ceil(pts.max(axis=0)).astype(int)
    x0, y0 = max(0, x0), max(0, y0)
    x1, y1 = min(w, max(x1, x0 + 2)), min(h, max(y1, y0 + 2))
    crop = rgb[y0:y1, x0:x1]
    f = CANON_IED / max(ied, 1.0)
    size = (max(2, round((x1 - x0) * f)), max(2, round((y1 - y0) * f)))
    interp = cv2.INTER_AREA if f < 1 else cv2.INTER_LINEAR
    gray = cv2.cvtColor(cv2.resize(crop, size, interpolation=interp), cv2.COLOR_RGB2GRAY)
    mask = np.zeros(gray.shape, dtype=np.uint8)
    poly = np.round((pts - [x0, y0]) * f).astype(np.int32)
    cv2.fillPoly(mask, [poly], 1)
    mask = cv2.erode(mask, np.ones((5, 5), np.uint8))
    return gray, mask.astype(bool)


def normalise(raw: dict[str, Any]) -> dict[str, float | None]:
    """Each metric in [0, 1], 1 = ideal for analysis (each spec's normaliser)."""
    return {m.name: m.normalise(raw) for m in qm.METRICS}


def fix(metric: str, raw: dict[str, Any]) -> str:
    """The one-line fix for a failed check (from the metric's spec)."""
    return qm.OVERALL_FIX if metric == qm.OVERALL else qm.get(metric).fix_text(raw)


_fix = fix  # the name older callers (and tests) use


def evaluate(raw: dict[str, Any], th: Thresholds) -> dict[str, Any]:
    """Pass/fail per metric and overall, with a fix for each failure."""
    norm = normalise(raw)
    metrics: dict[str, dict[str, Any]] = {}
    failed = []
    present = [v for v in norm.values() if v is not None]
    overall = float(np.mean(present)) if present else 0.0
    for spec in qm.METRICS:
        value = norm[spec.name]
        threshold = getattr(th, spec.name)
        passed = value is not None and value >= threshold
        entry = {"value": None if value is None else round(value, 4), "threshold": threshold,
                 "passed": passed, "raw": _raw_of(spec, raw), "fix": None}
        if not passed:
            entry["fix"] = spec.fix_text(raw) if value is not None else qm.NO_VALUE_FIX
            failed.append(spec.name)
        metrics[spec.name] = entry
    q_pass = overall >= th.quality
    metrics[qm.OVERALL] = {"value": round(overall, 4), "threshold": th.quality,
                           "passed": q_pass, "raw": {"mean_of": list(qm.NAMES)},
                           "fix": None if q_pass else qm.OVERALL_FIX}
    if not q_pass:
        failed.append(qm.OVERALL)
    return {"metrics": metrics, "passed": not failed, "failed": failed,
            "fixes": [metrics[m]["fix"] for m in failed]}


def _raw_of(spec: qm.QualityMetric, raw: dict[str, Any]) -> dict[str, Any]:
    return {k: (None if raw[k] is None else round(float(raw[k]), 4)) for k in spec.raw_keys}


def norm_vector(raw: dict[str, Any]) -> np.ndarray:
    """Normalised metrics in `QUALITY_METRICS` order plus their mean (NaN = missing);
    config-independent, so a population can store it and re-gate in bulk."""
    norm = normalise(raw)
    vals = [np.nan if norm[m] is None else float(norm[m]) for m in qm.NAMES]
    present = [v for v in vals if not np.isnan(v)]
    return np.array(vals + [float(np.mean(present)) if present else 0.0])


def passes(norm_matrix: np.ndarray, th: Thresholds, names: Sequence[str] | None = None
           ) -> np.ndarray:
    """Which rows of `norm_vector`s (N, len(names) + 1) pass every check under `th`,
    exactly as `evaluate` decides (a missing metric fails). `names` are the metrics of
    the matrix's columns (a built population records its own; default: the specs)."""
    cols = list(qm.NAMES if names is None else names)
    limits = np.array([getattr(th, m) for m in cols] + [th.quality])
    m = np.asarray(norm_matrix, dtype=np.float64)
    with np.errstate(invalid="ignore"):
        ok = np.where(np.isnan(m), False, m >= limits)
    return ok.all(axis=-1)
