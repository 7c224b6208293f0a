"""Photo-quality measures (OFIQ vocabulary) and the pass/fail gate.

`measure` runs in analyze and keeps each raw value; `evaluate` maps raw values to
[0, 1] and applies the thresholds, so moving a threshold slider re-evaluates
without touching pixels. Each failed check comes with a one-line fix.
"""

from __future__ import annotations

import math
from typing import Any

import cv2
import numpy as np

from aurum.config import QUALITY_METRICS, Thresholds
from aurum.geometry import FACE_OVAL, IRIS_L, IRIS_R
from aurum.pose import Pose

CANON_IED = 64.0  # the face is resampled to this inter-eye distance before sharpness
FRONTALITY_FULL_SCALE_DEG = 30.0


def measure(rgb: np.ndarray, lm: np.ndarray, pose: Pose, confidence: float | None,
            symmetry_index: float, bbox: tuple[float, float, float, float]) -> dict[str, Any]:
    """Raw quality values of one face (pixels and degrees, not yet normalised)."""
    h, w = rgb.shape[:2]
    ied = float(np.hypot(*(lm[IRIS_L, :2] - lm[IRIS_R, :2])))
    face_gray, mask = _face_crop(rgb, lm, ied)
    lap = cv2.Laplacian(face_gray, cv2.CV_64F, ksize=3)
    luma = face_gray[mask].astype(np.float64) if mask.any() else np.zeros(1)
    # Laplacian energy relative to the face's own contrast, so a darker photo of
    # the same sharpness is not called blurry (exposure has its own check).
    lap_var = float(lap[mask].var()) if mask.any() else 0.0
    sharp = lap_var / max(float(luma.var()), 1.0)
    under = float(np.mean(luma <= 25))
    over = float(np.mean(luma >= 245))
    ear_l = np.hypot(*(lm[159, :2] - lm[145, :2])) / (np.hypot(*(lm[33, :2] - lm[133, :2])) + 1e-9)
    ear_r = np.hypot(*(lm[386, :2] - lm[374, :2])) / (np.hypot(*(lm[263, :2] - lm[362, :2])) + 1e-9)
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


def _face_crop(rgb: np.ndarray, lm: np.ndarray, ied: float) -> tuple[np.ndarray, np.ndarray]:
    """Grayscale face region resampled to a canonical inter-eye distance, with a mask
    of the skin inside the face oval (so sharpness does not depend on image size)."""
    h, w = rgb.shape[:2]
    pts = lm[list(FACE_OVAL), :2]
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


def _sigmoid(x: float) -> float:
    return 1.0 / (1.0 + math.exp(-max(-60.0, min(60.0, x))))


def normalise(raw: dict[str, Any]) -> dict[str, float | None]:
    """Each metric in [0, 1], 1 = ideal for analysis."""
    angle = math.hypot(raw["yaw"], raw["pitch"])
    exp_under = min(1.0, max(0.0, 1 - raw["under_share"] / 0.35)) * min(
        1.0, raw["mean_luma"] / 70.0)
    exp_over = min(1.0, max(0.0, 1 - raw["over_share"] / 0.35)) * min(
        1.0, (255.0 - raw["mean_luma"]) / 50.0)
    return {
        "confidence": raw["confidence"],
        "frontality": max(0.0, 1.0 - angle / FRONTALITY_FULL_SCALE_DEG),
        "symmetry": max(0.0, 1.0 - raw["symmetry_index"] / 0.04),
        # OFIQ's inter-eye distance sigmoid: centred at 70 px, width 20 px.
        "resolution": _sigmoid((raw["inter_eye_px"] - 70.0) / 20.0),
        # log scale between a ratio of 0.05 (a Gaussian blur of sigma 4 % of the
        # inter-eye distance) and 0.6 (sharper than 90 % of the shared faces).
        "sharpness": max(0.0, min(1.0, math.log10(max(raw["sharpness_ratio"], 1e-6) / 0.05)
                                  / math.log10(0.6 / 0.05))),
        "exposure": max(0.0, min(exp_under, exp_over)),
        "eyes_open": max(0.0, min(1.0, (raw["eye_aspect"] - 0.08) / 0.14)),
    }


FIXES: dict[str, str] = {
    "confidence": "Use a clearer photo: one face, in focus, not covered.",
    "symmetry": "Look straight at the camera with a neutral expression and even light.",
    "resolution": "Move closer or use a higher-resolution photo (eyes at least 70 px apart).",
    "sharpness": "Hold the camera still and focus on the face.",
    "eyes_open": "Open your eyes and look at the camera.",
    "quality": "Fix the failed checks above; together they pull quality under the bar.",
}


def _fix(metric: str, raw: dict[str, Any]) -> str:
    if metric == "frontality":
        parts = []
        if abs(raw["yaw"]) >= 5:
            side = "left" if raw["yaw"] > 0 else "right"
            parts.append(f"your head is turned {abs(raw['yaw']):.0f}° to your {side}")
        if abs(raw["pitch"]) >= 5:
            parts.append(f"your chin is {abs(raw['pitch']):.0f}° "
                         f"{'up' if raw['pitch'] > 0 else 'down'}")
        detail = " and ".join(parts) if parts else "your head is turned"
        return f"Turn your head toward the camera: {detail}."
    if metric == "exposure":
        if raw["mean_luma"] < 128:
            return "More light: the face is too dark (face the light, avoid backlight)."
        return "Less light: the face is over-exposed (avoid direct flash or sun)."
    return FIXES[metric]


def evaluate(raw: dict[str, Any], th: Thresholds) -> dict[str, Any]:
    """Pass/fail per metric and overall, with a fix for each failure."""
    norm = normalise(raw)
    metrics: dict[str, dict[str, Any]] = {}
    failed = []
    present = [v for v in norm.values() if v is not None]
    overall = float(np.mean(present)) if present else 0.0
    for name in QUALITY_METRICS:
        value = norm[name]
        threshold = getattr(th, name)
        passed = value is not None and value >= threshold
        entry = {"value": None if value is None else round(value, 4), "threshold": threshold,
                 "passed": passed, "raw": _raw_of(name, raw), "fix": None}
        if not passed:
            entry["fix"] = (_fix(name, raw) if value is not None else
                            "The face detector did not confirm this face; use a clearer photo.")
            failed.append(name)
        metrics[name] = entry
    q_pass = overall >= th.quality
    metrics["quality"] = {"value": round(overall, 4), "threshold": th.quality, "passed": q_pass,
                          "raw": {"mean_of": list(QUALITY_METRICS)},
                          "fix": None if q_pass else FIXES["quality"]}
    if not q_pass:
        failed.append("quality")
    return {"metrics": metrics, "passed": not failed, "failed": failed,
            "fixes": [metrics[m]["fix"] for m in failed]}


def _raw_of(name: str, raw: dict[str, Any]) -> dict[str, Any]:
    keys = {
        "confidence": ("confidence",),
        "frontality": ("yaw", "pitch", "roll"),
        "symmetry": ("symmetry_index",),
        "resolution": ("inter_eye_px", "face_height_px"),
        "sharpness": ("sharpness_ratio", "laplacian_var"),
        "exposure": ("mean_luma", "under_share", "over_share", "luma_p5", "luma_p95"),
        "eyes_open": ("eye_aspect",),
    }[name]
    return {k: (None if raw[k] is None else round(float(raw[k]), 4)) for k in keys}


def norm_vector(raw: dict[str, Any]) -> np.ndarray:
    """Normalised metrics in `QUALITY_METRICS` order plus their mean (NaN = missing);
    config-independent, so a population can store it and re-gate in bulk."""
    norm = normalise(raw)
    vals = [np.nan if norm[m] is None else float(norm[m]) for m in QUALITY_METRICS]
    present = [v for v in vals if not np.isnan(v)]
    return np.array(vals + [float(np.mean(present)) if present else 0.0])


def passes(norm_matrix: np.ndarray, th: Thresholds) -> np.ndarray:
    """Which rows of `norm_vector`s (N, len(QUALITY_METRICS) + 1) pass every check
    under `th`, exactly as `evaluate` decides (a missing metric fails)."""
    limits = np.array([getattr(th, m) for m in QUALITY_METRICS] + [th.quality])
    m = np.asarray(norm_matrix, dtype=np.float64)
    with np.errstate(invalid="ignore"):
        ok = np.where(np.isnan(m), False, m >= limits)
    return ok.all(axis=-1)
