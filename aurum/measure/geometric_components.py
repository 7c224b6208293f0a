"""One spec per geometric component (a facial proportion of the geometric score).

`config.DEFAULT_COMPONENTS` (ideal, tolerance, weight), `geometry.DESCRIPTIONS` and
`geometry.IDEAL_SOURCES` (what the UI, the report and the README show),
`population.TRAITS` (the words the vibe clusters are described with) and the value
itself (`geometry.measure` calls each spec's `formula`, in spec order) all come from
`COMPONENTS`. Adding a component is one entry here (or `register` at run time) and a
rebuild of the reference, which records the list and refuses to load for another one.

Ideals are cultural canons quoted by public tools, never laws. Three canons need
points the mesh does not have (the hairline; a profile view of the jaw), so their
ideal is the London reference median instead, and `ideal_source` says so.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from aurum.measure import landmark_names as ln
from aurum.measure.mirror import mirror_pairs
from aurum.measure.spec_registry import SpecRegistry

Points = np.ndarray  # frontalised landmarks (478, 3): x right, y up, pixels
EPS = 1e-9


@dataclass(frozen=True)
class Trait:
    """How a person reads a cluster that sits above / below the population mean."""

    high: str
    low: str
    label: str


@dataclass(frozen=True)
class GeometricComponent:
    """A proportion: which landmarks (names in `landmark_names`) it is measured from,
    what it means, its canon (`ideal`, where that comes from, and how far from it
    still scores well: `tolerance`, one SD of a Gaussian), its default weight, and
    the trait words for the vibe (None: not a trait a person reads), and its
    `formula`: frontalised landmarks -> the raw value (every left/right measure
    averages both sides, so a mirrored photo measures the same)."""

    name: str
    description: str
    landmarks: tuple[str, ...]
    ideal: float
    tolerance: float
    ideal_source: str
    trait: Trait | None = None
    weight: float = 1.0
    formula: Callable[[Points], float] | None = None

    def measure(self, front: Points) -> float:
        if self.formula is None:
            raise ValueError(f"component {self.name!r} has no formula")
        return self.formula(front)


# ---------------------------------------------------------------- formula helpers


def _d(p: Points, a: int, b: int) -> float:
    """Distance in the face plane between two landmarks."""
    return float(np.hypot(*(p[a, :2] - p[b, :2])))


def _angle(p: Points, at: int, a: int, b: int) -> float:
    u, v = p[a, :2] - p[at, :2], p[b, :2] - p[at, :2]
    c = np.dot(u, v) / (np.linalg.norm(u) * np.linalg.norm(v) + 1e-12)
    return math.degrees(math.acos(float(np.clip(c, -1.0, 1.0))))


def _cheek(p: Points) -> float:
    return _d(p, ln.CHEEK_L, ln.CHEEK_R)


def _eye_w(p: Points) -> float:
    return (_d(p, ln.EYE_OUT_L, ln.EYE_IN_L) + _d(p, ln.EYE_OUT_R, ln.EYE_IN_R)) / 2


def _inner(p: Points) -> float:
    return _d(p, ln.EYE_IN_L, ln.EYE_IN_R)


def _nose(p: Points) -> float:
    return _d(p, ln.ALAR_L, ln.ALAR_R)


def _face_h(p: Points) -> Any:
    return p[ln.FOREHEAD_TOP, 1] - p[ln.MENTON, 1]


def _pupil_mouth_face(p: Points) -> float:
    pupil_y = (p[ln.IRIS_L, 1] + p[ln.IRIS_R, 1]) / 2
    mouth_y = (p[ln.MOUTH_L, 1] + p[ln.MOUTH_R, 1] + p[ln.STOMION_UP, 1]
               + p[ln.STOMION_LO, 1]) / 4
    return (pupil_y - mouth_y) / (_face_h(p) + EPS)


def _thirds(p: Points) -> float:
    middle = p[ln.GLABELLA, 1] - p[ln.SUBNASALE, 1]
    lower = p[ln.SUBNASALE, 1] - p[ln.MENTON, 1]
    return middle / (lower + EPS)


def _lips(p: Points) -> float:
    upper_lip = p[ln.LIP_TOP, 1] - p[ln.STOMION_UP, 1]
    lower_lip = p[ln.STOMION_LO, 1] - p[ln.LIP_BOTTOM, 1]
    return lower_lip / max(upper_lip, EPS)


def _canthal_tilt(p: Points) -> float:
    """Rise of the outer corner over the inner one, each eye measured outward (the face
    frame is level, so no roll correction is needed)."""
    tilt_l = math.degrees(math.atan2(p[ln.EYE_OUT_L, 1] - p[ln.EYE_IN_L, 1],
                                     abs(p[ln.EYE_IN_L, 0] - p[ln.EYE_OUT_L, 0])))
    tilt_r = math.degrees(math.atan2(p[ln.EYE_OUT_R, 1] - p[ln.EYE_IN_R, 1],
                                     abs(p[ln.EYE_OUT_R, 0] - p[ln.EYE_IN_R, 0])))
    return (tilt_l + tilt_r) / 2


def _jaw_angle(p: Points) -> float:
    return (_angle(p, ln.GONION_L, ln.CHEEK_L, ln.MENTON)
            + _angle(p, ln.GONION_R, ln.CHEEK_R, ln.MENTON)) / 2


def _symmetry(p: Points) -> float:
    mirrored = p[mirror_pairs(), :2] * np.array([-1.0, 1.0])
    centre_x = float(np.mean(p[list(ln.MIDLINE), 0]))
    mirrored[:, 0] += 2 * centre_x
    asym = float(np.mean(np.linalg.norm(p[:, :2] - mirrored, axis=1)))
    return asym / (_cheek(p) + EPS)


_EYES = ("EYE_OUT_L", "EYE_IN_L", "EYE_OUT_R", "EYE_IN_R")
_CHEEKS = ("CHEEK_L", "CHEEK_R")

COMPONENTS: list[GeometricComponent] = [
    GeometricComponent(
        "ipd_cheek_ratio", "interpupillary distance / cheekbone width",
        ("IRIS_L", "IRIS_R", *_CHEEKS), 0.46, 0.03, "canon 0.46",
        Trait("eyes wide across the cheekbones", "broad cheekbones",
              "pupil distance/cheekbone width"),
        formula=lambda p: _d(p, ln.IRIS_L, ln.IRIS_R) / (_cheek(p) + EPS)),
    GeometricComponent(
        "pupil_mouth_face_ratio", "pupil line to mouth / face height (forehead top to chin)",
        ("IRIS_L", "IRIS_R", "MOUTH_L", "MOUTH_R", "STOMION_UP", "STOMION_LO", "FOREHEAD_TOP",
         "MENTON"), 0.41, 0.02,
        "reference median (canon 0.36 needs the hairline; the mesh has none)",
        Trait("low-set mouth", "high-set mouth", "eyes-to-mouth/face height"),
        formula=_pupil_mouth_face),
    GeometricComponent(
        "facial_thirds_ratio",
        "middle third (glabella-subnasale) / lower third (subnasale-chin)",
        ("GLABELLA", "SUBNASALE", "MENTON"), 1.0, 0.12, "canon: equal thirds",
        Trait("long midface", "long lower face", "middle/lower third"),
        formula=_thirds),
    GeometricComponent(
        "cheek_jaw_ratio", "cheekbone width / jaw width", (*_CHEEKS, "JAW_L", "JAW_R"),
        1.15, 0.05, "canon 1.13 (men) to 1.17 (women)",
        Trait("tapered jaw", "strong jaw", "cheekbone/jaw width"),
        formula=lambda p: _cheek(p) / (_d(p, ln.JAW_L, ln.JAW_R) + EPS)),
    GeometricComponent(
        "face_eye_width_ratio", "cheekbone width / eye width", (*_CHEEKS, *_EYES), 5.0, 0.35,
        "canon: the face is five eye-widths wide",
        Trait("small eyes for the face", "large eyes for the face", "face/eye width"),
        formula=lambda p: _cheek(p) / (_eye_w(p) + EPS)),
    GeometricComponent(
        "intercanthal_eye_ratio", "inner-eye gap / eye width", _EYES, 1.05, 0.15,
        "canon 0.95-1.15",
        Trait("wide-set eyes", "close-set eyes", "inner-eye gap/eye width"),
        formula=lambda p: _inner(p) / (_eye_w(p) + EPS)),
    GeometricComponent(
        "nose_intercanthal_ratio", "nose width / inner-eye gap",
        ("ALAR_L", "ALAR_R", "EYE_IN_L", "EYE_IN_R"), 1.0, 0.15,
        "canon: nose as wide as the inner-eye gap",
        formula=lambda p: _nose(p) / (_inner(p) + EPS)),
    GeometricComponent(
        "nose_face_ratio", "nose width / cheekbone width", ("ALAR_L", "ALAR_R", *_CHEEKS),
        0.25, 0.03, "canon 0.25", Trait("broad nose", "narrow nose", "nose/face width"),
        formula=lambda p: _nose(p) / (_cheek(p) + EPS)),
    GeometricComponent(
        "mouth_nose_ratio", "mouth width / nose width",
        ("MOUTH_L", "MOUTH_R", "ALAR_L", "ALAR_R"), 1.56, 0.2, "canon 1.5-1.62",
        Trait("wide mouth", "small mouth", "mouth/nose width"),
        formula=lambda p: _d(p, ln.MOUTH_L, ln.MOUTH_R) / (_nose(p) + EPS)),
    GeometricComponent(
        "face_height_width_ratio", "face height (forehead top to chin) / cheekbone width",
        ("FOREHEAD_TOP", "MENTON", *_CHEEKS), 1.19, 0.08,
        "reference median (canon 1.3-1.6 uses the hairline)",
        Trait("long face", "wide face", "face height/width"),
        formula=lambda p: _face_h(p) / (_cheek(p) + EPS)),
    GeometricComponent(
        "lip_ratio", "lower lip height / upper lip height",
        ("LIP_TOP", "STOMION_UP", "STOMION_LO", "LIP_BOTTOM"), 1.6, 0.35, "canon 1.6",
        Trait("full lower lip", "full upper lip", "lower/upper lip height"),
        formula=_lips),
    GeometricComponent(
        "canthal_tilt_deg", "outer eye corner above inner corner, degrees", _EYES, 4.0, 3.0,
        "canon: a few degrees upward",
        Trait("upturned eyes", "downturned eyes", "canthal tilt"),
        formula=_canthal_tilt),
    GeometricComponent(
        "jaw_angle_deg", "jaw corner angle seen from the front, degrees",
        ("GONION_L", "GONION_R", *_CHEEKS, "MENTON"), 132.7, 4.0,
        "reference median (the 125 degree canon is a profile measure)",
        Trait("soft jaw angle", "sharp jaw angle", "jaw angle"),
        formula=_jaw_angle),
    # Not a trait: the shape embedding is mirror-averaged, and "asymmetric" is no vibe.
    GeometricComponent(
        "symmetry_index", "left-right landmark mismatch / cheekbone width (0 = perfect mirror)",
        ("MIDLINE", *_CHEEKS), 0.0, 0.01, "perfect mirror symmetry", weight=1.5,
        formula=_symmetry),
]


def _check(spec: GeometricComponent) -> None:
    if spec.formula is None:
        raise ValueError(f"component {spec.name!r} needs a `formula`")


_REGISTRY = SpecRegistry(COMPONENTS, "geometric component", _check)
# NAMES reads the specs live: code that iterates it sees registered ones too.
NAMES, get, register, unregister, registered = _REGISTRY.exports()
