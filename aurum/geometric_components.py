"""One spec per geometric component (a facial proportion of the geometric score).

`config.DEFAULT_COMPONENTS` (ideal, tolerance, weight), `geometry.DESCRIPTIONS` and
`geometry.IDEAL_SOURCES` (what the UI, the report and the README show) and
`population.TRAITS` (the words the vibe clusters are described with) are all generated
from `COMPONENTS`. The value itself is computed in `geometry.measure`, whose keys must
be these names (a test checks it); a built reference records the list and refuses to
load for another one.

Ideals are cultural canons quoted by public tools, never laws. Three canons need
points the mesh does not have (the hairline; a profile view of the jaw), so their
ideal is the London reference median instead, and `ideal_source` says so.
"""

from __future__ import annotations

from dataclasses import dataclass


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
    the trait words for the vibe (None: not a trait a person reads)."""

    name: str
    description: str
    landmarks: tuple[str, ...]
    ideal: float
    tolerance: float
    ideal_source: str
    trait: Trait | None = None
    weight: float = 1.0


_EYES = ("EYE_OUT_L", "EYE_IN_L", "EYE_OUT_R", "EYE_IN_R")
_CHEEKS = ("CHEEK_L", "CHEEK_R")

COMPONENTS: tuple[GeometricComponent, ...] = (
    GeometricComponent(
        "ipd_cheek_ratio", "interpupillary distance / cheekbone width",
        ("IRIS_L", "IRIS_R", *_CHEEKS), 0.46, 0.03, "canon 0.46",
        Trait("eyes wide across the cheekbones", "broad cheekbones",
              "pupil distance/cheekbone width")),
    GeometricComponent(
        "pupil_mouth_face_ratio", "pupil line to mouth / face height (forehead top to chin)",
        ("IRIS_L", "IRIS_R", "MOUTH_L", "MOUTH_R", "STOMION_UP", "STOMION_LO", "FOREHEAD_TOP",
         "MENTON"), 0.41, 0.02,
        "reference median (canon 0.36 needs the hairline; the mesh has none)",
        Trait("low-set mouth", "high-set mouth", "eyes-to-mouth/face height")),
    GeometricComponent(
        "facial_thirds_ratio",
        "middle third (glabella-subnasale) / lower third (subnasale-chin)",
        ("GLABELLA", "SUBNASALE", "MENTON"), 1.0, 0.12, "canon: equal thirds",
        Trait("long midface", "long lower face", "middle/lower third")),
    GeometricComponent(
        "cheek_jaw_ratio", "cheekbone width / jaw width", (*_CHEEKS, "JAW_L", "JAW_R"),
        1.15, 0.05, "canon 1.13 (men) to 1.17 (women)",
        Trait("tapered jaw", "strong jaw", "cheekbone/jaw width")),
    GeometricComponent(
        "face_eye_width_ratio", "cheekbone width / eye width", (*_CHEEKS, *_EYES), 5.0, 0.35,
        "canon: the face is five eye-widths wide",
        Trait("small eyes for the face", "large eyes for the face", "face/eye width")),
    GeometricComponent(
        "intercanthal_eye_ratio", "inner-eye gap / eye width", _EYES, 1.05, 0.15,
        "canon 0.95-1.15",
        Trait("wide-set eyes", "close-set eyes", "inner-eye gap/eye width")),
    GeometricComponent(
        "nose_intercanthal_ratio", "nose width / inner-eye gap",
        ("ALAR_L", "ALAR_R", "EYE_IN_L", "EYE_IN_R"), 1.0, 0.15,
        "canon: nose as wide as the inner-eye gap"),
    GeometricComponent(
        "nose_face_ratio", "nose width / cheekbone width", ("ALAR_L", "ALAR_R", *_CHEEKS),
        0.25, 0.03, "canon 0.25", Trait("broad nose", "narrow nose", "nose/face width")),
    GeometricComponent(
        "mouth_nose_ratio", "mouth width / nose width",
        ("MOUTH_L", "MOUTH_R", "ALAR_L", "ALAR_R"), 1.56, 0.2, "canon 1.5-1.62",
        Trait("wide mouth", "small mouth", "mouth/nose width")),
    GeometricComponent(
        "face_height_width_ratio", "face height (forehead top to chin) / cheekbone width",
        ("FOREHEAD_TOP", "MENTON", *_CHEEKS), 1.19, 0.08,
        "reference median (canon 1.3-1.6 uses the hairline)",
        Trait("long face", "wide face", "face height/width")),
    GeometricComponent(
        "lip_ratio", "lower lip height / upper lip height",
        ("LIP_TOP", "STOMION_UP", "STOMION_LO", "LIP_BOTTOM"), 1.6, 0.35, "canon 1.6",
        Trait("full lower lip", "full upper lip", "lower/upper lip height")),
    GeometricComponent(
        "canthal_tilt_deg", "outer eye corner above inner corner, degrees", _EYES, 4.0, 3.0,
        "canon: a few degrees upward",
        Trait("upturned eyes", "downturned eyes", "canthal tilt")),
    GeometricComponent(
        "jaw_angle_deg", "jaw corner angle seen from the front, degrees",
        ("GONION_L", "GONION_R", *_CHEEKS, "MENTON"), 132.7, 4.0,
        "reference median (the 125 degree canon is a profile measure)",
        Trait("soft jaw angle", "sharp jaw angle", "jaw angle")),
    # Not a trait: the shape embedding is mirror-averaged, and "asymmetric" is no vibe.
    GeometricComponent(
        "symmetry_index", "left-right landmark mismatch / cheekbone width (0 = perfect mirror)",
        ("MIDLINE", *_CHEEKS), 0.0, 0.01, "perfect mirror symmetry", weight=1.5),
)

NAMES: tuple[str, ...] = tuple(c.name for c in COMPONENTS)


def get(name: str) -> GeometricComponent:
    for c in COMPONENTS:
        if c.name == name:
            return c
    raise KeyError(name)
