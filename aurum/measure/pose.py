"""Head pose from the mesh's own 3-D geometry, and the face frame used everywhere else.

The face frame is built from the cheek-to-cheek axis and the chin-to-forehead axis
of the 478 points (x, y in pixels, z on the x scale). It needs no reference model
and is mirror-symmetric by construction, so a mirrored photo gets the mirrored pose.
Measurements are taken in this frame ("frontalised"), which makes proportions
robust to roll and to moderate yaw and pitch.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import numpy as np

# Landmarks that define the frame (pairs are image-left / image-right on a frontal face).
_LEFT = (234, 33, 127, 93)
_RIGHT = (454, 263, 356, 323)
_TOP, _CHIN = 10, 152

# The chin-to-forehead-top line of an upright, camera-facing head leans back by this
# much: the mean uncorrected pitch of the 102 frontal London photos.
PITCH_OFFSET_DEG = -1.26


@dataclass
class Pose:
    """Degrees. yaw > 0: face turned toward image right (the subject's left);
    pitch > 0: chin up; roll > 0: head tilted counter-clockwise in the image."""

    yaw: float
    pitch: float
    roll: float

    def to_dict(self) -> dict[str, float]:
        return {k: round(v, 2) for k, v in asdict(self).items()}


def face_frame(lm: np.ndarray) -> tuple[np.ndarray, np.ndarray, float]:
    """Rotation (columns = face x, y, z in camera coords with y up, z to viewer),
    origin (pixels, camera coords) and scale (cheek width in pixels)."""
    cam = lm * np.array([1.0, -1.0, -1.0])
    left = cam[list(_LEFT)].mean(axis=0)
    right = cam[list(_RIGHT)].mean(axis=0)
    ex = right - left
    scale = float(np.linalg.norm(cam[454] - cam[234]))
    ex /= np.linalg.norm(ex) + 1e-12
    up = cam[_TOP] - cam[_CHIN]
    ey = up - np.dot(up, ex) * ex
    ey /= np.linalg.norm(ey) + 1e-12
    ez = np.cross(ex, ey)
    rot = np.stack([ex, ey, ez], axis=1)
    origin = (left + right) / 2.0
    return rot, origin, max(scale, 1e-6)


def estimate_pose(lm: np.ndarray) -> Pose:
    rot, _, _ = face_frame(lm)
    ex, ez = rot[:, 0], rot[:, 2]
    roll = math.degrees(math.atan2(ex[1], ex[0]))
    yaw = math.degrees(math.atan2(ez[0], ez[2]))
    pitch = math.degrees(math.atan2(ez[1], math.hypot(ez[0], ez[2]))) - PITCH_OFFSET_DEG
    return Pose(yaw=yaw, pitch=pitch, roll=roll)


def frontalise(lm: np.ndarray) -> np.ndarray:
    """Landmarks in the face frame, in pixels: x to image right, y up, z to viewer."""
    rot, origin, _ = face_frame(lm)
    cam = lm * np.array([1.0, -1.0, -1.0])
    return (cam - origin) @ rot
