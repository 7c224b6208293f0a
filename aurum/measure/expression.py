"""Expression cues from the frontalised mesh: mouth-corner lift, eye aperture, mouth
opening and brow height, each a ratio (scale-free) and the mean of both sides
(mirror-invariant).

Two callers read them: every analysis (`face_measures`: the report's `expression`
block and the smiling flag) and the attractiveness model's features (`appearance.
raw_features`), so they sit apart from both, light to import (no image code).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from aurum.errors import FeatureError
from aurum.measure.landmark_names import (
    BROW_CONTOUR_L,
    BROW_CONTOUR_R,
    EYE_IN_L,
    EYE_IN_R,
    EYE_OUT_L,
    EYE_OUT_R,
    IRIS_L,
    IRIS_R,
    LID_LO_L,
    LID_LO_R,
    LID_UP_L,
    LID_UP_R,
    MOUTH_L,
    MOUTH_R,
    STOMION_LO,
    STOMION_UP,
)

EXPRESSION_NAMES: tuple[str, ...] = (
    "mouth_corner_lift", "eye_aperture", "mouth_opening", "brow_height",
)


def expression(front: np.ndarray) -> dict[str, float]:
    """Expression cues from the frontalised mesh (y up), scale-free."""
    p = np.asarray(front, dtype=np.float64)
    mouth_w = float(np.hypot(*(p[MOUTH_L, :2] - p[MOUTH_R, :2])))
    eye_w = (float(np.hypot(*(p[EYE_OUT_L, :2] - p[EYE_IN_L, :2])))
             + float(np.hypot(*(p[EYE_OUT_R, :2] - p[EYE_IN_R, :2])))) / 2
    ipd = float(np.hypot(*(p[IRIS_L, :2] - p[IRIS_R, :2])))
    if min(mouth_w, eye_w, ipd) < 1e-6:
        raise FeatureError("degenerate mouth or eye landmarks")
    centre_y = (p[STOMION_UP, 1] + p[STOMION_LO, 1]) / 2
    corners_y = (p[MOUTH_L, 1] + p[MOUTH_R, 1]) / 2
    gap_l = p[LID_UP_L, 1] - p[LID_LO_L, 1]
    gap_r = p[LID_UP_R, 1] - p[LID_LO_R, 1]
    brow_y = (p[list(BROW_CONTOUR_L), 1].mean() + p[list(BROW_CONTOUR_R), 1].mean()) / 2
    eye_y = (p[IRIS_L, 1] + p[IRIS_R, 1]) / 2
    return {
        "mouth_corner_lift": float((corners_y - centre_y) / mouth_w),
        "eye_aperture": float((gap_l + gap_r) / 2 / eye_w),
        "mouth_opening": float(max(0.0, p[STOMION_UP, 1] - p[STOMION_LO, 1]) / mouth_w),
        "brow_height": float((brow_y - eye_y) / ipd),
    }


# A neutral expression's cues, from the 102 neutral and 102 smiling London photos:
# these limits flag 5 % of the neutral photos and 69 % of the smiling ones.
SMILE_LIFT = 0.01  # mouth corners above the lip line, per mouth width
MOUTH_OPEN = 0.04  # lip gap per mouth width


def describe_expression(cues: dict[str, float] | None) -> dict[str, Any] | None:
    """Whether the photo looks neutral; not a quality gate (smiles are welcome), but the
    vibe and the attractiveness model were built on neutral faces and say so."""
    if cues is None:
        return None
    lift, opening = cues["mouth_corner_lift"], cues["mouth_opening"]
    return {"mouth_corner_lift": round(lift, 4), "mouth_opening": round(opening, 4),
            "neutral": bool(lift <= SMILE_LIFT and opening <= MOUTH_OPEN)}
