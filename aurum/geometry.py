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
from aurum.geometric_components import COMPONENTS
from aurum.landmark_names import (  # noqa: F401  (re-exported)
    ALAR_L,
    ALAR_R,
    CHEEK_L,
    CHEEK_R,
    EYE_IN_L,
    EYE_IN_R,
    EYE_OUT_L,
    EYE_OUT_R,
    FACE_OVAL,
    FOREHEAD_TOP,
    GLABELLA,
    GONION_L,
    GONION_R,
    IRIS_L,
    IRIS_R,
    JAW_L,
    JAW_R,
    LID_LO_L,
    LID_LO_R,
    LID_UP_L,
    LID_UP_R,
    LIP_BOTTOM,
    LIP_TOP,
    MENTON,
    MIDLINE,
    MOUTH_L,
    MOUTH_R,
    STOMION_LO,
    STOMION_UP,
    SUBNASALE,
)

# Landmark names live in `landmark_names` (re-exported here for older imports); what
# each component means and where its ideal comes from are generated from its spec in
# `geometric_components`.
DESCRIPTIONS: dict[str, str] = {c.name: c.description for c in COMPONENTS}
IDEAL_SOURCES: dict[str, str] = {c.name: c.ideal_source for c in COMPONENTS}

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
