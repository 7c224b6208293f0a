"""Feature groups and the per-fold feature tables of the London-only trainer.

Why per fold: the shape space (Procrustes mean, PCA) and the standardisation are fitted
on each training fold's faces only, so no held-out face ever informs its own
prediction; `FeatureCache` memoises those fits because every learner and repeat reuses
the same folds.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from aurum.analysers.attractiveness import DESCRIPTOR_NAMES
from aurum.measure.appearance import (
    AGE_NAMES,
    CONTRAST_NAMES,
    PHOTO_NAMES,
    SKIN_NAMES,
    RawFeatures,
)
from aurum.measure.expression import EXPRESSION_NAMES
from aurum.measure.geometry import DESCRIPTIONS as PROPORTIONS
from aurum.measure.shape import ShapeSpace
from aurum.tools.training.data import Dataset

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


@dataclass
class FoldFeatures:
    """Features of every face under one training fold's shape space."""

    space: ShapeSpace
    table: dict[str, np.ndarray]  # name -> values for all faces (neutral)
    smiling: dict[str, np.ndarray]  # name -> values (NaN where no smiling photo)


def _scalar_table(raws: Sequence[RawFeatures | None]) -> dict[str, np.ndarray]:
    names = [n for g, ns in GROUPS.items() if g not in ("shape", "descriptor") for n in ns]
    return {n: np.array([r.scalars.get(n, math.nan) if r is not None else math.nan
                         for r in raws]) for n in names}


def _desc_table(desc: np.ndarray) -> dict[str, np.ndarray]:
    return {n: desc[:, i] for i, n in enumerate(DESCRIPTOR_NAMES)} if len(desc) else {}


def shape_table(space: ShapeSpace, raws: Sequence[RawFeatures | None]
                 ) -> dict[str, np.ndarray]:
    names = space.names()
    rows = np.array([space.transform(r.shape) if r is not None else np.full(len(names), np.nan)
                     for r in raws])
    return {n: rows[:, i] for i, n in enumerate(names)}


class FeatureCache:
    """Shape spaces fitted per training fold, memoised by the fold's members."""

    def __init__(self, ds: Dataset) -> None:
        self.ds = ds
        self.shapes = np.stack([r.shape for r in ds.raw])
        self.scalars = {**_scalar_table(ds.raw), **_desc_table(ds.desc)}
        self.smiling_scalars = {**_scalar_table(ds.smiling), **_desc_table(ds.desc_smiling)}
        self._memo: dict[bytes, FoldFeatures] = {}

    def fold(self, train: np.ndarray, with_smiling: bool = False) -> FoldFeatures:
        key = np.sort(train).tobytes() + (b"s" if with_smiling else b"")
        if key not in self._memo:
            space = ShapeSpace.fit(self.shapes[train], N_SHAPE_PCS)
            table = {**shape_table(space, self.ds.raw), **self.scalars}
            smiling = {**shape_table(space, self.ds.smiling), **self.smiling_scalars} \
                if with_smiling else {}
            self._memo[key] = FoldFeatures(space, table, smiling)
        return self._memo[key]


def matrix(table: dict[str, np.ndarray], names: Sequence[str]) -> np.ndarray:
    return np.column_stack([table[n] for n in names])


def standardiser(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    mean = np.nanmean(x, axis=0)
    scale = np.nanstd(x, axis=0)
    scale = np.where(scale > 1e-12, scale, 1.0)
    return mean, scale


def zscore(x: np.ndarray, mean: np.ndarray, scale: np.ndarray) -> np.ndarray:
    z = np.clip((x - mean) / scale, -Z_CLIP, Z_CLIP)
    return np.where(np.isfinite(z), z, 0.0)
