"""Facial proportions measured on the frontalised mesh, and the geometric score.

`measure` runs once per image (in `Engine.analyze`); `score` is pure arithmetic on
those numbers under a `Config`, so designers' sliders never re-run a model.
Every left/right measure averages both sides, so a mirrored photo measures the same.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator, Mapping
from typing import Any, Protocol

import numpy as np

from aurum.measure import geometric_components as gc


class _Weighted(Protocol):
    ideal: float
    tolerance: float
    weight: float


class ScoringConfig(Protocol):
    """What the scores read of `aurum.config.Config` (its components' ideals,
    tolerances and weights): described here, so measure/ never imports the config
    layer above it."""

    @property
    def components(self) -> Mapping[str, _Weighted]: ...

# Landmark names live in `landmark_names`; what each component means and where its
# ideal comes from are generated from its spec in `geometric_components`.


class _SpecField(Mapping[str, str]):
    """name -> one field of each component spec, read live (registered ones included)."""

    def __init__(self, read: Callable[[gc.GeometricComponent], str]) -> None:
        self._read = read

    def __getitem__(self, name: str) -> str:
        try:
            return self._read(gc.get(name))
        except KeyError:
            raise KeyError(name) from None

    def __iter__(self) -> Iterator[str]:
        return iter(gc.NAMES)

    def __len__(self) -> int:
        return len(gc.NAMES)


DESCRIPTIONS: Mapping[str, str] = _SpecField(lambda c: c.description)
IDEAL_SOURCES: Mapping[str, str] = _SpecField(lambda c: c.ideal_source)

def measure(front: np.ndarray) -> dict[str, float]:
    """Raw proportions from frontalised landmarks (478, 3): x right, y up, pixels;
    one value per component spec, by its own formula, in spec order."""
    return {c.name: c.measure(front) for c in gc.COMPONENTS}


def component_scores(values: np.ndarray, names: list[str], config: ScoringConfig
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


def score(measures: dict[str, float], config: ScoringConfig) -> dict[str, Any]:
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
