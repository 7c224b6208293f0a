"""Facial proportions measured on the frontalised mesh, and the geometric score.

`measure` runs once per image (in `Engine.analyze`); `score` is pure arithmetic on
those numbers under a `Config`, so designers' sliders never re-run a model.
Every left/right measure averages both sides, so a mirrored photo measures the same.
"""

from __future__ import annotations

import json
import math
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np

from aurum.config import Config

# Landmark indices (MediaPipe face mesh; "L"/"R" = image left/right on a frontal face).
EYE_OUT_L, EYE_IN_L, EYE_OUT_R, EYE_IN_R = 33, 133, 263, 362
LID_UP_L, LID_LO_L, LID_UP_R, LID_LO_R = 159, 145, 386, 374
IRIS_L, IRIS_R = 468, 473
CHEEK_L, CHEEK_R = 234, 454
JAW_L, JAW_R = 58, 288  # gonion region, for jaw width
GONION_L, GONION_R = 172, 397  # lower jaw corner, for the jaw angle
ALAR_L, ALAR_R = 102, 331
MOUTH_L, MOUTH_R = 61, 291
LIP_TOP, STOMION_UP, STOMION_LO, LIP_BOTTOM = 0, 13, 14, 17
SUBNASALE, MENTON, FOREHEAD_TOP, GLABELLA = 2, 152, 10, 9
FACE_OVAL = (10, 338, 297, 332, 284, 251, 389, 356, 454, 323, 361, 288, 397, 365, 379, 378, 400,
             377, 152, 148, 176, 149, 150, 136, 172, 58, 132, 93, 234, 127, 162, 21, 54, 103, 67,
             109)
MIDLINE = (10, 151, 9, 8, 168, 6, 197, 195, 5, 4, 1, 19, 94, 2, 164, 0, 11, 12, 13, 14, 15, 16,
           17, 18, 200, 199, 175, 152)

# What each component measures, for people (the UI and README show these).
DESCRIPTIONS: dict[str, str] = {
    "ipd_cheek_ratio": "interpupillary distance / cheekbone width",
    "pupil_mouth_face_ratio": "pupil line to mouth / face height (forehead top to chin)",
    "facial_thirds_ratio": "middle third (glabella-subnasale) / lower third (subnasale-chin)",
    "cheek_jaw_ratio": "cheekbone width / jaw width",
    "face_eye_width_ratio": "cheekbone width / eye width",
    "intercanthal_eye_ratio": "inner-eye gap / eye width",
    "nose_intercanthal_ratio": "nose width / inner-eye gap",
    "nose_face_ratio": "nose width / cheekbone width",
    "mouth_nose_ratio": "mouth width / nose width",
    "face_height_width_ratio": "face height (forehead top to chin) / cheekbone width",
    "lip_ratio": "lower lip height / upper lip height",
    "canthal_tilt_deg": "outer eye corner above inner corner, degrees",
    "jaw_angle_deg": "jaw corner angle seen from the front, degrees",
    "symmetry_index": "left-right landmark mismatch / cheekbone width (0 = perfect mirror)",
}

# Where each default ideal comes from: a published canon, or (where the canon needs
# points a frontal mesh lacks) the median of the 102 London reference faces.
IDEAL_SOURCES: dict[str, str] = {
    "ipd_cheek_ratio": "canon 0.46",
    "pupil_mouth_face_ratio": "reference median (canon 0.36 needs the hairline; the mesh has none)",
    "facial_thirds_ratio": "canon: equal thirds",
    "cheek_jaw_ratio": "canon 1.13 (men) to 1.17 (women)",
    "face_eye_width_ratio": "canon: the face is five eye-widths wide",
    "intercanthal_eye_ratio": "canon 0.95-1.15",
    "nose_intercanthal_ratio": "canon: nose as wide as the inner-eye gap",
    "nose_face_ratio": "canon 0.25",
    "mouth_nose_ratio": "canon 1.5-1.62",
    "face_height_width_ratio": "reference median (canon 1.3-1.6 uses the hairline)",
    "lip_ratio": "canon 1.6",
    "canthal_tilt_deg": "canon: a few degrees upward",
    "jaw_angle_deg": "reference median (the 125 degree canon is a profile measure)",
    "symmetry_index": "perfect mirror symmetry",
}

PAIRS_FILE = Path(__file__).with_name("data") / "mesh_pairs.json"


@lru_cache(maxsize=1)
def mirror_pairs() -> np.ndarray:
    """Index of each landmark's mirror partner (midline points map to themselves)."""
    return np.asarray(json.loads(PAIRS_FILE.read_text())["partner"], dtype=np.int64)


def compute_mirror_pairs(front_shapes: np.ndarray) -> np.ndarray:
    """Derive the partner table from frontalised shapes (N, 478, 3): a bijection
    between the mean shape and its mirror image (Hungarian assignment)."""
    from scipy.optimize import linear_sum_assignment

    mean = front_shapes[:, :, :2].mean(axis=0)
    mirrored = mean * np.array([-1.0, 1.0])
    cost = np.linalg.norm(mean[:, None, :] - mirrored[None, :, :], axis=2)
    rows, cols = linear_sum_assignment(cost)
    partner = np.empty(len(mean), dtype=np.int64)
    partner[rows] = cols
    return partner


def _d(p: np.ndarray, a: int, b: int) -> float:
    return float(np.hypot(*(p[a, :2] - p[b, :2])))


def _angle(p: np.ndarray, at: int, a: int, b: int) -> float:
    u, v = p[a, :2] - p[at, :2], p[b, :2] - p[at, :2]
    c = np.dot(u, v) / (np.linalg.norm(u) * np.linalg.norm(v) + 1e-12)
    return math.degrees(math.acos(float(np.clip(c, -1.0, 1.0))))


def measure(front: np.ndarray) -> dict[str, float]:
    """Raw proportions from frontalised landmarks (478, 3): x right, y up, pixels."""
    p = front
    cheek = _d(p, CHEEK_L, CHEEK_R)
    jaw = _d(p, JAW_L, JAW_R)
    ipd = _d(p, IRIS_L, IRIS_R)
    eye_w = (_d(p, EYE_OUT_L, EYE_IN_L) + _d(p, EYE_OUT_R, EYE_IN_R)) / 2
    inner = _d(p, EYE_IN_L, EYE_IN_R)
    nose = _d(p, ALAR_L, ALAR_R)
    mouth = _d(p, MOUTH_L, MOUTH_R)
    face_h = p[FOREHEAD_TOP, 1] - p[MENTON, 1]
    pupil_y = (p[IRIS_L, 1] + p[IRIS_R, 1]) / 2
    mouth_y = (p[MOUTH_L, 1] + p[MOUTH_R, 1] + p[STOMION_UP, 1] + p[STOMION_LO, 1]) / 4
    middle = p[GLABELLA, 1] - p[SUBNASALE, 1]
    lower = p[SUBNASALE, 1] - p[MENTON, 1]
    upper_lip = p[LIP_TOP, 1] - p[STOMION_UP, 1]
    lower_lip = p[STOMION_LO, 1] - p[LIP_BOTTOM, 1]
    # Canthal tilt: rise of the outer corner over the inner one, each eye measured
    # outward (the face frame is level, so no roll correction is needed).
    tilt_l = math.degrees(math.atan2(p[EYE_OUT_L, 1] - p[EYE_IN_L, 1],
                                     abs(p[EYE_IN_L, 0] - p[EYE_OUT_L, 0])))
    tilt_r = math.degrees(math.atan2(p[EYE_OUT_R, 1] - p[EYE_IN_R, 1],
                                     abs(p[EYE_OUT_R, 0] - p[EYE_IN_R, 0])))
    jaw_angle = (_angle(p, GONION_L, CHEEK_L, MENTON) + _angle(p, GONION_R, CHEEK_R, MENTON)) / 2
    partner = mirror_pairs()
    mirrored = p[partner, :2] * np.array([-1.0, 1.0])
    centre_x = float(np.mean(p[list(MIDLINE), 0]))
    mirrored[:, 0] += 2 * centre_x
    asym = float(np.mean(np.linalg.norm(p[:, :2] - mirrored, axis=1)))
    eps = 1e-9
    return {
        "ipd_cheek_ratio": ipd / (cheek + eps),
        "pupil_mouth_face_ratio": (pupil_y - mouth_y) / (face_h + eps),
        "facial_thirds_ratio": middle / (lower + eps),
        "cheek_jaw_ratio": cheek / (jaw + eps),
        "face_eye_width_ratio": cheek / (eye_w + eps),
        "intercanthal_eye_ratio": inner / (eye_w + eps),
        "nose_intercanthal_ratio": nose / (inner + eps),
        "nose_face_ratio": nose / (cheek + eps),
        "mouth_nose_ratio": mouth / (nose + eps),
        "face_height_width_ratio": face_h / (cheek + eps),
        "lip_ratio": lower_lip / max(upper_lip, eps),
        "canthal_tilt_deg": (tilt_l + tilt_r) / 2,
        "jaw_angle_deg": jaw_angle,
        "symmetry_index": asym / (cheek + eps),
    }


def component_scores(values: np.ndarray, names: list[str], config: Config
                     ) -> tuple[np.ndarray, np.ndarray]:
    """Vectorised scoring of many faces at once: `values` (N, K) in the order of
    `names` -> per-component sub-scores (N, K) and weighted totals (N,).

    The single-face `score` and the reference population's re-scoring under a
    designer's config both go through here, so they can never disagree.
    """
    comps = [config.components[n] for n in names]
    ideal = np.array([c.ideal for c in comps])
    tol = np.array([c.tolerance for c in comps])
    weight = np.array([c.weight for c in comps])
    values = np.asarray(values, dtype=np.float64)
    finite = np.isfinite(values)
    z = np.where(finite, (values - ideal) / tol, 0.0)
    sub = 100.0 * np.exp(-0.5 * z * z)
    w = np.where(finite, weight, 0.0)
    wsum = w.sum(axis=-1)
    with np.errstate(invalid="ignore", divide="ignore"):
        total = np.where(wsum > 0, (sub * w).sum(axis=-1) / np.where(wsum > 0, wsum, 1), np.nan)
    return np.where(finite, sub, np.nan), total


def score(measures: dict[str, float], config: Config) -> dict[str, Any]:
    """0-100 geometric score: weighted mean of Gaussian closeness to each ideal."""
    names = [n for n in config.components if n in measures]
    values = np.array([measures[n] for n in names], dtype=np.float64)
    sub, total = component_scores(values[None, :], names, config)
    components = []
    for i, name in enumerate(names):
        comp = config.components[name]
        if not math.isfinite(values[i]):
            continue
        components.append({
            "name": name,
            "description": DESCRIPTIONS[name],
            "ideal_source": IDEAL_SOURCES[name],
            "value": round(float(values[i]), 4),
            "ideal": comp.ideal,
            "tolerance": comp.tolerance,
            "weight": comp.weight,
            "score": round(float(sub[0, i]), 2),
        })
    value = float(total[0]) if names and math.isfinite(total[0]) else None
    return {
        "score": round(value, 2) if value is not None else None,
        "status": "ok" if value is not None else "unavailable: every component weight is 0",
        "components": components,
    }
