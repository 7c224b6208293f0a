"""Photo-quality measures (OFIQ vocabulary) and the pass/fail gate.

`measure` runs in analyze and keeps each raw value; `evaluate` maps raw values to
[0, 1] and applies the thresholds, so moving a threshold slider re-evaluates
without touching pixels. Each failed check comes with a one-line fix. What each
metric is (label, formula, raw keys, normaliser, fix, default threshold) lives in its
spec in `quality_metrics`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from aurum.measure import quality_metrics as qm
from aurum.measure.pose import Pose
from aurum.measure.quality_metrics import Thresholds


def measure(rgb: np.ndarray, lm: np.ndarray, pose: Pose, confidence: float | None,
            symmetry_index: float, bbox: tuple[float, float, float, float]) -> dict[str, Any]:
    """Raw quality values of one face (pixels and degrees, not yet normalised): each
    metric spec's own formula on one shared `FaceSample`."""
    sample = qm.FaceSample(rgb, lm, pose, confidence, symmetry_index, bbox)
    raw: dict[str, Any] = {}
    for spec in qm.METRICS:
        if spec.measure is None:
            raise ValueError(f"quality metric {spec.name!r} has no measure formula")
        raw.update(spec.measure(sample))
    return raw


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
