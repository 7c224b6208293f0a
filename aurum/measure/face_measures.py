"""The one measurement path: pose -> frontalise -> measure -> expression -> quality.

`Engine.analyze` (a still photo) and `live.LiveTracker.process` (a webcam frame) find
the face their own way, then both call `measure_face`, so a photo and a frame of the
same face are measured by the same code.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

import numpy as np

from aurum.errors import FeatureError
from aurum.measure import geometry, quality
from aurum.measure.expression import expression
from aurum.measure.pose import Pose, estimate_pose, frontalise


class FaceMeasures(NamedTuple):
    """Every config-independent number of one face (no pixels)."""

    pose: Pose
    front: np.ndarray  # frontalised landmarks (478, 3)
    geometry: dict[str, float]
    expression: dict[str, float] | None
    quality_raw: dict[str, Any]


def _no_lap(name: str) -> None:
    return None


def measure_face(rgb: np.ndarray, landmarks: np.ndarray, confidence: float | None,
                 bbox: tuple[float, float, float, float],
                 lap: Callable[[str], None] = _no_lap) -> FaceMeasures:
    """Measure one found face; `lap(stage)` is called after "pose", "geometry" and
    "quality" (the per-stage timings bench and the Status tab report)."""
    pose = estimate_pose(landmarks)
    front = frontalise(landmarks)
    lap("pose")
    geo = geometry.measure(front)
    expression = expression_cues(front)
    lap("geometry")
    qraw = quality.measure(rgb, landmarks, pose, confidence, geo["symmetry_index"], bbox)
    lap("quality")
    return FaceMeasures(pose, front, geo, expression, qraw)


def expression_cues(front: np.ndarray) -> dict[str, float] | None:
    """Mouth-corner lift and mouth opening (scale-free), or None for a degenerate mesh."""
    try:
        cues = expression(front)
    except FeatureError:
        return None
    return {k: cues[k] for k in ("mouth_corner_lift", "mouth_opening")}
