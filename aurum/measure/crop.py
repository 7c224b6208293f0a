"""One padded, aligned face crop used everywhere (appearance features, CLIP, thumbnails).

The systems Aurum replaces cropped differently at reference time and at query
time, so a face was compared with a population measured on other pixels. Every
consumer calls `aligned_face` with the same defaults instead.
"""

from __future__ import annotations

import cv2
import numpy as np

from aurum.measure.landmark_names import IRIS_L, IRIS_R, MENTON

DEFAULT_SIZE = 224
# Inter-pupil distance as a share of the crop side, and where the pupils sit
# vertically: leaves forehead, chin and a margin of background in frame.
IPD_SHARE = 0.30
EYE_Y_SHARE = 0.40


def alignment(lm: np.ndarray, size: int = DEFAULT_SIZE) -> np.ndarray:
    """2x3 similarity transform: level pupils, fixed pupil distance and position."""
    left, right = lm[IRIS_L, :2], lm[IRIS_R, :2]
    centre = (left + right) / 2.0
    dx, dy = right - left
    ipd = float(np.hypot(dx, dy))
    if ipd < 1e-6:  # degenerate mesh: fall back to the chin for scale
        ipd = max(float(np.hypot(*(lm[MENTON, :2] - centre))) / 1.5, 1.0)
    angle = np.degrees(np.arctan2(dy, dx))
    scale = IPD_SHARE * size / ipd
    m = cv2.getRotationMatrix2D((float(centre[0]), float(centre[1])), float(angle), scale)
    m[0, 2] += size / 2.0 - centre[0]
    m[1, 2] += EYE_Y_SHARE * size - centre[1]
    return m


def aligned_face(rgb: np.ndarray, lm: np.ndarray, size: int = DEFAULT_SIZE) -> np.ndarray:
    """RGB uint8 (size, size, 3) crop; outside the photo is filled by edge reflection."""
    m = alignment(lm, size)
    return cv2.warpAffine(rgb, m, (size, size), flags=cv2.INTER_AREA
                          if m[0, 0] ** 2 + m[0, 1] ** 2 < 1 else cv2.INTER_LINEAR,
                          borderMode=cv2.BORDER_REFLECT_101)


def transform_points(lm: np.ndarray, m: np.ndarray) -> np.ndarray:
    """Landmarks (N, >=2) mapped into the crop's pixel coordinates."""
    pts = np.c_[lm[:, :2], np.ones(len(lm))]
    return pts @ m.T
