"""Feature groups and standardisation, shared by both trainers.

Used by `london` (every group, per-fold shape spaces in `london.folds`) and `multiset`
(the appearance groups beside the descriptor). Why one home: the names, the groups and
the clip at +-Z_CLIP training SDs are what the app's model file describes, so both
trainers must draw them from the same place.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from aurum.analysers.attractiveness import DESCRIPTOR_NAMES
from aurum.measure.appearance import (
    AGE_NAMES,
    CONTRAST_NAMES,
    EXPRESSION_NAMES,
    PHOTO_NAMES,
    SKIN_NAMES,
)
from aurum.measure.geometry import DESCRIPTIONS as PROPORTIONS

N_SHAPE_PCS = 10
# Standardised features are clipped to +-Z_CLIP training SDs, in training and at
# inference (other cameras put some features far outside the London range).
Z_CLIP = 3.0


# Feature groups. "photo" is measured but kept out of the model: it moves with the
# camera (white balance, exposure, light direction) as much as with the face.
GROUPS: dict[str, list[str]] = {
    "shape": [f"shape_pc{i + 1:02d}" for i in range(N_SHAPE_PCS)] + ["averageness", "asymmetry"],
    "proportions": [f"prop_{k}" for k in PROPORTIONS],
    "expression": list(EXPRESSION_NAMES),
    "skin": list(SKIN_NAMES),
    "age": list(AGE_NAMES),
    "contrast": list(CONTRAST_NAMES),
    "photo": list(PHOTO_NAMES),
    # the L2-normalised 128-D face descriptor (aurum.analysers.descriptor), memory only
    "descriptor": list(DESCRIPTOR_NAMES),
}
MODEL_GROUPS = ("shape", "proportions", "expression", "skin", "age", "contrast")
APPEARANCE_GROUPS = ("expression", "skin", "age", "contrast")


def feature_names(groups: Sequence[str]) -> list[str]:
    return [n for g in groups for n in GROUPS[g]]



def standardiser(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    mean = np.nanmean(x, axis=0)
    scale = np.nanstd(x, axis=0)
    scale = np.where(scale > 1e-12, scale, 1.0)
    return mean, scale


def zscore(x: np.ndarray, mean: np.ndarray, scale: np.ndarray) -> np.ndarray:
    z = np.clip((x - mean) / scale, -Z_CLIP, Z_CLIP)
    return np.where(np.isfinite(z), z, 0.0)
