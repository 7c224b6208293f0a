"""The learned attractiveness model's face features: shape, expression and appearance.

Everything here is measured from one face (at run time by the attractiveness analyser,
and offline by the trainers) and normalised so that the photo's size, the face's size
and (as far as a ratio can) the lighting drop out:

* shape: the frontalised landmarks (`ctx.front`, x and y only), which
  `aurum.measure.shape.ShapeSpace` Procrustes-aligns, symmetrises and projects;
  and the 14 proportions of `aurum.measure.geometry`;
* expression (`aurum.measure.expression`);
* appearance, on the one aligned crop `aurum.measure.crop.aligned_face` (224 px, fixed
  pupil distance) that every consumer uses, after a per-channel photometric
  normalisation (exposure, gamma and white balance cancel): skin evenness and
  texture, facial contrast (eyes, brows, lips against the skin around them, in
  lightness and redness), age cues (wrinkle energy in the forehead, eye-corner,
  under-eye and nasolabial areas, relative to the same band's energy around the
  lips so the camera's sharpness cancels); and, on the photo as it is, skin colour
  (CIE Lab) and lighting, which are reported but not modelled (camera-dependent).

Every left/right measure is the mean of both sides or an absolute difference, so a
mirrored photo gets the same features. Extraction takes a few milliseconds.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import cv2
import numpy as np

from aurum.errors import FeatureError
from aurum.measure.crop import DEFAULT_SIZE, aligned_face, alignment, transform_points
from aurum.measure.expression import expression
from aurum.measure.landmark_names import (
    ALAR_L,
    ALAR_R,
    BROW_CONTOUR_L,
    BROW_CONTOUR_R,
    CHEEK_PATCH_L,
    CHEEK_PATCH_R,
    EYE_CONTOUR_L,
    EYE_CONTOUR_R,
    EYE_IN_L,
    EYE_IN_R,
    EYE_OUT_L,
    EYE_OUT_R,
    FACE_OVAL,
    FOREHEAD_PATCH,
    IRIS_L,
    IRIS_R,
    LID_LO_L,
    LID_LO_R,
    LIPS_INNER_CONTOUR,
    LIPS_OUTER_CONTOUR,
    MOUTH_L,
    MOUTH_R,
    NOSE_TIP,
)
from aurum.measure.shape import shape2d

# Landmark points and regions are named once, in aurum.measure.landmark_names: a point and a
# region never share a name (CHEEK_L is the zygion point, CHEEK_PATCH_L the skin patch).

# Measured on the photometrically normalised crop: robust to exposure, gamma, white
# balance and (at these scales) resolution; these enter the model.
SKIN_NAMES: tuple[str, ...] = ("skin_unevenness", "skin_texture")
AGE_NAMES: tuple[str, ...] = ("wrinkle_forehead", "wrinkle_eye_corner", "wrinkle_under_eye",
                              "wrinkle_nasolabial", "under_eye_darkness")
CONTRAST_NAMES: tuple[str, ...] = ("eye_contrast_L", "brow_contrast_L", "lip_contrast_L",
                                   "lip_contrast_a")
# Measured on the photo as it is: they move with the camera (white balance, exposure,
# light direction) as much as with the face, so they are reported, not modelled.
PHOTO_NAMES: tuple[str, ...] = ("skin_L", "skin_a", "skin_b", "face_L_spread",
                                "lighting_lr_asymmetry", "lighting_vertical")
APPEARANCE_NAMES: tuple[str, ...] = SKIN_NAMES + AGE_NAMES + CONTRAST_NAMES + PHOTO_NAMES
# ------------------------------------------------------------- appearance --------

@dataclass
class _Regions:
    cheeks: np.ndarray
    forehead: np.ndarray
    skin: np.ndarray
    cheek_l: np.ndarray
    cheek_r: np.ndarray
    eyes: np.ndarray
    eye_ring: np.ndarray
    brows: np.ndarray
    brow_ring: np.ndarray
    lips: np.ndarray
    lip_ring: np.ndarray
    face: np.ndarray
    eye_corner: np.ndarray
    under_eye: np.ndarray
    nasolabial: np.ndarray
    upper_face: np.ndarray
    lower_face: np.ndarray


def _poly(shape: tuple[int, int], pts: np.ndarray) -> np.ndarray:
    m = np.zeros(shape, np.uint8)
    cv2.fillPoly(m, [np.round(pts).astype(np.int32)], 1)
    return m


def _box(shape: tuple[int, int], x0: float, y0: float, x1: float, y1: float) -> np.ndarray:
    m = np.zeros(shape, np.uint8)
    h, w = shape
    xa, xb = sorted((int(round(x0)), int(round(x1))))
    ya, yb = sorted((int(round(y0)), int(round(y1))))
    m[max(0, ya):min(h, yb), max(0, xa):min(w, xb)] = 1
    return m


def _ring(mask: np.ndarray, width: int) -> np.ndarray:
    k = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * width + 1, 2 * width + 1))
    return (cv2.dilate(mask, k) > 0) & ~(mask > 0)


def _regions(p: np.ndarray, shape: tuple[int, int]) -> _Regions:
    """Region masks in crop pixels from landmarks mapped into the crop."""
    ipd = float(np.hypot(*(p[IRIS_L] - p[IRIS_R])))
    u = ipd / 10.0  # one "unit": a tenth of the pupil distance (about 6.7 px at 224)
    face = _poly(shape, p[list(FACE_OVAL)])
    ek = np.ones((3, 3), np.uint8)
    eye_l, eye_r = _poly(shape, p[list(EYE_CONTOUR_L)]), _poly(shape, p[list(EYE_CONTOUR_R)])
    eyes = eye_l | eye_r
    brows = _poly(shape, p[list(BROW_CONTOUR_L)]) | _poly(shape, p[list(BROW_CONTOUR_R)])
    lips = _poly(shape, p[list(LIPS_OUTER_CONTOUR)]) & ~_poly(shape, p[list(LIPS_INNER_CONTOUR)])
    features = cv2.dilate(eyes | brows | _poly(shape, p[list(LIPS_OUTER_CONTOUR)]),
                          np.ones((5, 5), np.uint8))
    cheek_l = cv2.erode(_poly(shape, p[list(CHEEK_PATCH_L)]), ek) & ~features
    cheek_r = cv2.erode(_poly(shape, p[list(CHEEK_PATCH_R)]), ek) & ~features
    forehead = cv2.erode(_poly(shape, p[list(FOREHEAD_PATCH)]), ek) & ~features & face
    corner = np.zeros(shape, np.uint8)
    under = np.zeros(shape, np.uint8)
    naso = np.zeros(shape, np.uint8)
    for out_i, in_i, lo_i, alar_i, mouth_i, sign in (
            (EYE_OUT_L, EYE_IN_L, LID_LO_L, ALAR_L, MOUTH_L, -1.0),
            (EYE_OUT_R, EYE_IN_R, LID_LO_R, ALAR_R, MOUTH_R, 1.0)):
        ox, oy = p[out_i]
        corner |= _box(shape, ox + sign * 0.5 * u, oy - 1.5 * u, ox + sign * 3.0 * u, oy + 1.2 * u)
        ix = p[in_i, 0]
        ly = p[lo_i, 1]
        under |= _box(shape, ix + sign * 0.3 * u, ly + 0.8 * u, ox - sign * 0.3 * u, ly + 2.4 * u)
        ax, ay = p[alar_i]
        mx, my = p[mouth_i]
        naso |= _box(shape, ax + sign * 0.2 * u, ay, mx + sign * 1.2 * u, my - 0.5 * u)
    corner &= face & ~cv2.dilate(eyes, np.ones((3, 3), np.uint8))
    under &= face & ~eyes
    naso &= face & ~features
    eye_ring = (_ring(eyes, max(2, int(round(1.2 * u)))) & ~cv2.dilate(brows, ek)).astype(bool)
    brow_ring = _ring(brows, max(2, int(round(1.0 * u)))) & ~cv2.dilate(eyes, np.ones((5, 5),
                                                                                       np.uint8))
    lip_ring = (_ring(_poly(shape, p[list(LIPS_OUTER_CONTOUR)]), max(2, int(round(1.2 * u))))
                & (face > 0))
    mid_y = p[NOSE_TIP, 1]
    rows = np.arange(shape[0])[:, None]
    upper = (face > 0) & (rows < mid_y) & ~(features > 0)
    lower = (face > 0) & (rows >= mid_y) & ~(features > 0)
    b = lambda m: np.asarray(m, dtype=bool)  # noqa: E731
    return _Regions(cheeks=b(cheek_l | cheek_r), forehead=b(forehead),
                    skin=b(cheek_l | cheek_r | forehead), cheek_l=b(cheek_l), cheek_r=b(cheek_r),
                    eyes=b(eyes), eye_ring=b(eye_ring), brows=b(brows), brow_ring=b(brow_ring),
                    lips=b(lips), lip_ring=b(lip_ring), face=b(face), eye_corner=b(corner),
                    under_eye=b(under), nasolabial=b(naso), upper_face=b(upper),
                    lower_face=b(lower))


def _mean(img: np.ndarray, mask: np.ndarray, what: str, min_px: int = 12) -> float:
    """Mean over a region; NaN when too little of it is visible skin (a fringe over the
    forehead, a beard around the lips): the model imputes that feature."""
    n = int(mask.sum())
    if n < min_px:
        return math.nan
    return float(img[mask].mean())


def _michelson(skin: float, feature: float) -> float:
    return (skin - feature) / (skin + feature + 1e-6)


# Per-channel targets (sRGB, 0-1) that the cheeks' median is mapped to before the
# texture and contrast features are measured (see `normalise_photometry`).
SKIN_TARGET = np.array([0.72, 0.56, 0.47], dtype=np.float32)
# Band of the wrinkle/texture gradient, in crop pixels (224 px crop: the pupils are
# 67 px apart); coarse enough to survive a photo with the eyes ~40 px apart. The
# energies are relative to the same band's energy around the lips.
WRINKLE_SIGMAS = (1.5, 4.0)


def _lab(rgb: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """CIE L (0-100), a and b of an RGB uint8 image, float32 planes (OpenCV's 8-bit
    Lab, rescaled: a tenth of the cost of the float conversion, within 0.3 units)."""
    lab = cv2.cvtColor(rgb, cv2.COLOR_RGB2Lab)
    L, A, B = cv2.split(lab)
    return (L.astype(np.float32) * np.float32(100.0 / 255.0),
            A.astype(np.float32) - np.float32(128.0), B.astype(np.float32) - np.float32(128.0))


def normalise_photometry(rgb: np.ndarray, skin: np.ndarray) -> np.ndarray:
    """Per-channel power law (a lookup table on uint8) mapping the skin's median onto
    `SKIN_TARGET`.

    A global exposure, gamma or colour-cast change of the photo is, to first order, a
    per-channel power law, so it cancels: texture and contrast features measured
    after this depend on the face, not on the camera's tone curve or white balance.
    It also removes skin tone itself, which is measured separately (before it)."""
    med = np.median(rgb[skin], axis=0).astype(np.float64) / 255.0
    med = np.clip(med, 0.02, 0.98)
    expo = np.clip(np.log(SKIN_TARGET) / np.log(med), 0.25, 4.0)
    levels = np.clip(np.arange(256) / 255.0, 1e-4, 1.0)
    out = np.empty_like(rgb)
    for c in range(3):
        lut = np.round(255.0 * levels ** expo[c]).astype(np.uint8)
        out[..., c] = cv2.LUT(rgb[..., c], lut)
    return out


def _blur_coarse(img: np.ndarray, sigma: float) -> np.ndarray:
    """A wide Gaussian blur computed at quarter resolution (same result to within the
    blur's own smoothness, at a fraction of the cost)."""
    h, w = img.shape
    small = cv2.resize(img, (w // 4, h // 4), interpolation=cv2.INTER_AREA)
    small = cv2.GaussianBlur(small, (0, 0), sigma / 4.0)
    return cv2.resize(small, (w, h), interpolation=cv2.INTER_LINEAR)


def appearance(crop: np.ndarray, crop_landmarks: np.ndarray) -> dict[str, float]:
    """Appearance features of the aligned crop (RGB uint8) and landmarks in crop pixels.

    Skin colour and lighting are measured on the photo as it is; every texture,
    wrinkle and contrast feature on the photometrically normalised crop. A region
    that is hidden (a fringe over the forehead, a beard around the lips) gives NaN
    for its features; the model imputes them."""
    if crop.ndim != 3 or crop.shape[2] != 3 or crop.dtype != np.uint8:
        raise FeatureError("the face crop is not an RGB uint8 image")
    shape = crop.shape[:2]
    p = np.asarray(crop_landmarks, dtype=np.float64)[:, :2]
    if not np.all(np.isfinite(p)):
        raise FeatureError("landmarks contain non-finite values")
    reg = _regions(p, shape)
    if int(reg.cheeks.sum()) < 30:
        raise FeatureError("the cheeks are not visible enough to measure skin")
    rL, rA, rB = _lab(crop)
    # Skin pixels: cheeks and forehead, gated by colour near the cheeks' median so
    # a fringe of hair, a beard or a glint does not count as skin. Lightness counts
    # a third: shading is not a reason to drop skin.
    dL = (rL - np.median(rL[reg.cheeks])) / 3.0
    da = rA - np.median(rA[reg.cheeks])
    db = rB - np.median(rB[reg.cheeks])
    dist = np.sqrt(dL * dL + da * da + db * db)
    gate = dist < max(12.0, 3.0 * float(np.median(dist[reg.cheeks])))
    skin = reg.skin & gate
    if int(skin.sum()) < 40:
        raise FeatureError("too little visible skin to measure")
    cheek_skin = reg.cheeks & gate

    # --- the photo as it is: skin colour and lighting (diagnostics; camera-dependent)
    cl = float(np.median(rL[reg.cheek_l])) if reg.cheek_l.sum() >= 12 else math.nan
    cr = float(np.median(rL[reg.cheek_r])) if reg.cheek_r.sum() >= 12 else math.nan
    face_L = rL[reg.face]
    upper = _mean(rL, reg.upper_face, "upper face")
    lower = _mean(rL, reg.lower_face, "lower face")
    skin_L_raw = float(np.mean(rL[skin]))
    out: dict[str, float] = {
        "skin_L": skin_L_raw,
        "skin_a": float(np.mean(rA[skin])),
        "skin_b": float(np.mean(rB[skin])),
        "face_L_spread": float(np.std(face_L)) / (float(np.mean(face_L)) + 1e-6),
        "lighting_lr_asymmetry": abs(cl - cr) / (cl + cr + 1e-6) * 2,
        "lighting_vertical": (upper - lower) / (upper + lower + 1e-6) * 2,
    }

    out.update(_normalised_features(crop, reg, skin, cheek_skin, gate))
    return {k: float(out[k]) for k in APPEARANCE_NAMES}


def _normalised_features(crop: np.ndarray, reg: _Regions, skin: np.ndarray,
                         cheek_skin: np.ndarray, gate: np.ndarray) -> dict[str, float]:
    """Texture, age cues and contrast, on the photometrically normalised crop."""
    L, A, _ = _lab(normalise_photometry(crop, cheek_skin))
    skin_L = float(np.mean(L[skin]))
    s_lo, s_hi = WRINKLE_SIGMAS
    ga = cv2.GaussianBlur(L, (0, 0), s_lo)
    band = ga - cv2.GaussianBlur(L, (0, 0), s_hi)
    gx = cv2.Sobel(band, cv2.CV_32F, 1, 0, ksize=3)
    gy = cv2.Sobel(band, cv2.CV_32F, 0, 1, ksize=3)
    # Relative to the same band's energy on the lips and their outline, an edge every
    # face has: sharpening, blur and resolution scale both alike and cancel (the
    # London studio photos are softer than most cameras' output).
    lip_zone = reg.lips | reg.lip_ring
    grad = np.sqrt(gx * gx + gy * gy)
    grad = grad / max(float(grad[lip_zone].mean()), 1e-6)
    agy = np.abs(gy)
    agy = agy / max(float(agy[lip_zone].mean()), 1e-6)
    blotch = ga - _blur_coarse(L, 8.0)
    forehead = reg.forehead & gate
    ring_eye, ring_brow, ring_lip = reg.eye_ring & gate, reg.brow_ring & gate, reg.lip_ring & gate
    ncl = float(np.median(L[reg.cheeks]))
    return {
        "skin_unevenness": float(np.sqrt(np.mean(blotch[skin] ** 2))) / skin_L,
        "skin_texture": _mean(grad, cheek_skin, "cheek skin"),
        "wrinkle_forehead": _mean(agy, forehead, "forehead"),
        "wrinkle_eye_corner": _mean(grad, reg.eye_corner & gate, "eye corners"),
        "wrinkle_under_eye": _mean(grad, reg.under_eye & gate, "under-eye"),
        "wrinkle_nasolabial": _mean(grad, reg.nasolabial & gate, "nasolabial"),
        "under_eye_darkness": 1.0 - _mean(L, reg.under_eye, "under-eye") / ncl,
        "eye_contrast_L": _michelson(_mean(L, ring_eye, "skin around the eyes"),
                                     _mean(L, reg.eyes, "eyes")),
        "brow_contrast_L": _michelson(_mean(L, ring_brow, "skin around the brows"),
                                      _mean(L, reg.brows, "brows")),
        "lip_contrast_L": _michelson(_mean(L, ring_lip, "skin around the lips"),
                                     _mean(L, reg.lips, "lips")),
        "lip_contrast_a": _mean(A, reg.lips, "lips") - _mean(A, ring_lip, "lip skin"),
    }


def crop_and_landmarks(rgb: np.ndarray, landmarks: np.ndarray,
                       size: int = DEFAULT_SIZE) -> tuple[np.ndarray, np.ndarray]:
    """The shared aligned crop and the landmarks mapped into it."""
    crop = aligned_face(rgb, landmarks, size)
    pts = transform_points(landmarks, alignment(landmarks, size))
    return crop, pts


@dataclass
class RawFeatures:
    """What one face gives before any training-set statistic is applied."""

    shape: np.ndarray  # (478, 2) frontalised x, y
    scalars: dict[str, float]  # proportions, expression, appearance (NaN = hidden)


def raw_features(ctx: Any) -> RawFeatures:
    """Everything the model needs from one `FaceContext`: the 2-D shape, the 14
    proportions (`ctx.geometry`), expression and appearance on the shared crop."""
    shape = shape2d(ctx.front)
    scalars: dict[str, float] = {f"prop_{k}": float(v) for k, v in ctx.geometry.items()}
    crop, pts = crop_and_landmarks(ctx.rgb, ctx.face.landmarks)
    scalars.update(expression(ctx.front))
    scalars.update(appearance(crop, pts))
    return RawFeatures(shape=shape, scalars=scalars)
