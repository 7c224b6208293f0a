"""Per-fold feature tables of the London-only trainer.

Used by `london.validation` and `london.train`. Why per fold: the shape space
(Procrustes mean, PCA) and the standardisation are fitted on each training fold's faces
only, so no held-out face ever informs its own prediction; `FeatureCache` memoises
those fits because every learner and repeat reuses the same folds.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from aurum.analysers.attractiveness import DESCRIPTOR_NAMES
from aurum.measure.appearance import RawFeatures, ShapeSpace
from aurum.tools.training.common.features import GROUPS, N_SHAPE_PCS
from aurum.tools.training.london.data import Dataset


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

