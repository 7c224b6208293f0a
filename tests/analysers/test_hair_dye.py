"""Dyeing the hair must not move the score: the same face with its hair's hue rotated
(hair only: not the forehead, temples, ears or background) moves the attractiveness score
by at most 1.5 points and the final by at most 1.0 (p95)."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from aurum.engine import Engine
from aurum.measure.imaging import load_image
from aurum.measure.landmark_names import CHEEK_PATCH_L, CHEEK_PATCH_R, FACE_OVAL, MOUTH_L, MOUTH_R
from tests.conftest import FACES, FIXTURES

ATTRACTIVENESS_LIMIT = 1.5
FINAL_LIMIT = 1.0
HUE_TURNS = (30, 60, 90, 120)  # OpenCV hue units (0-180): 60, 120, 180 and 240 degrees
SKIN_DISTANCE = 4.0  # Mahalanobis units (Lab) from the cheeks' skin: nearer is skin
# Measured (2026-12-06) with this hair-only mask, 32 pairs, shipped model
# london-mebeauty-descriptor-appearance-ridge-balanced-v1:
#   attractiveness p95 0.77 (max 0.92): within 1.5;
#   geometric      p95 2.56 (max 2.84; its test-retest p95 is 0.69);
#   final          p95 1.45 (max 1.73): over 1.0, because of the geometric score, which
#                  no attractiveness model changes; hence the strict xfail below, any model.
# Why the geometric score moves: the mesh's points next to the hair move. Most: the top of
# the face oval (10 = FOREHEAD_TOP, 109, 338, 67, 297: 0.8 % of the face width on average),
# then the zygion (234/454) and the jaw corners (~0.35 %); the eye corners move 0.1 % like
# every inner point. The face height 10-152 changes by 0.70 % on average (p95 2.0 %), the
# cheekbone width 234-454 by 0.41 % (p95 1.2 %), and every component dividing by them
# follows: in score points (weight x sub-score), pupil_mouth_face_ratio (tolerance 0.02)
# mean 0.44 / max 1.29, nose_face_ratio 0.30 / 1.04, symmetry_index 0.28 / 1.04,
# cheek_jaw_ratio 0.24 / 1.41, face_height_width_ratio 0.17 / 1.03. The dye also widens the
# mesh's nose (alar width +0.8-0.9 % of the pupil distance, against 0.2 % under retest;
# scripts/geohair_probe.py): no landmark-level fix tried (pass medians, 3-D distances, the
# oval predicted from inner points by the shape model, other face-height points, wider
# tolerances, a grey surround) brought the final under 1.0 without hurting retest.
# The previous mask (a box minus the oval: the forehead above the oval, temples, ears and
# background recoloured) gave attractiveness p95 1.55, geometric 4.24, final 2.25.
GEOMETRY_MOVES = ("the mesh's oval top (10), zygion (234/454) and alar points move with the "
                  "dyed hair, and the geometric score with them: final p95 2.76 on this "
                  "test's 300 pairs (limit 1.0; 2026-12-06)")


def _polygon(shape: tuple[int, ...], points: np.ndarray) -> np.ndarray:
    m = np.zeros(shape[:2], np.uint8)
    cv2.fillPoly(m, [np.round(points).astype(np.int32)], 255)
    return m > 0


def _skin_distance(lab: np.ndarray, sample: np.ndarray) -> np.ndarray:
    """Mahalanobis distance of every pixel to the skin sample, trimmed to its middle 70 %
    on each channel (the cheek patches catch some lashes, shadow and highlight)."""
    lo, hi = np.percentile(sample, 15, axis=0), np.percentile(sample, 85, axis=0)
    core = sample[np.all((sample >= lo) & (sample <= hi), axis=1)]
    inv = np.linalg.inv(np.cov(core.T) + np.eye(3) * 4.0)
    d = lab.reshape(-1, 3) - core.mean(axis=0)
    return np.sqrt(np.einsum("ij,jk,ik->i", d, inv, d)).reshape(lab.shape[:2])


def _person(rgb: np.ndarray, face: np.ndarray, box: np.ndarray) -> np.ndarray:
    """GrabCut on a 256-px copy: the face oval is the person, the image's border strip
    the background, the hair box probably the person, the rest probably not."""
    height, width = rgb.shape[:2]
    s = 256 / max(height, width)
    small = cv2.resize(rgb, (round(width * s), round(height * s)), interpolation=cv2.INTER_AREA)
    size = small.shape[1::-1]
    m = np.full(small.shape[:2], cv2.GC_PR_BGD, np.uint8)
    m[cv2.resize(box.astype(np.uint8), size, interpolation=cv2.INTER_NEAREST) > 0] = cv2.GC_PR_FGD
    m[cv2.resize(face.astype(np.uint8), size, interpolation=cv2.INTER_NEAREST) > 0] = cv2.GC_FGD
    m[:4] = cv2.GC_BGD
    m[:, :4] = cv2.GC_BGD
    m[:, -4:] = cv2.GC_BGD
    cv2.setRNGSeed(0)
    bgd, fgd = np.zeros((1, 65)), np.zeros((1, 65))
    cv2.grabCut(cv2.cvtColor(small, cv2.COLOR_RGB2BGR), m, None, bgd, fgd, 5,
                cv2.GC_INIT_WITH_MASK)
    fg = ((m == cv2.GC_FGD) | (m == cv2.GC_PR_FGD)).astype(np.uint8)
    return cv2.resize(fg, (width, height), interpolation=cv2.INTER_NEAREST) > 0


def hair_mask(rgb: np.ndarray, landmarks: np.ndarray) -> np.ndarray:
    """The hair, as a dye would colour it: within the face's box widened by half its width
    on each side and raised by its height (down to the mouth), outside the face oval
    (dilated by 3 % of its width), not skin-coloured (the cheeks' own colour), part of
    the person (GrabCut against the image border), and touching the face. Checked by eye
    on the 8 faces below (overlays, 2026-12-06): it leaves the background and, but for
    small patches (parts of three ears, one forehead highlight on the brown-haired man),
    the skin of the forehead and temples as they are; it misses hair whose colour is near
    the skin's (much of the red and the yellow-green bob, the left of the blond bob, the
    brown crop) and the fringe inside the oval."""
    lm = np.asarray(landmarks)[:, :2]
    oval = lm[list(FACE_OVAL)]
    (x0, y0), (x1, y1) = oval.min(axis=0), oval.max(axis=0)
    w, h = x1 - x0, y1 - y0
    box = np.zeros(rgb.shape[:2], np.uint8)
    low = max(lm[MOUTH_L, 1], lm[MOUTH_R, 1])
    cv2.rectangle(box, (int(x0 - w / 2), int(y0 - h)), (int(x1 + w / 2), int(low)), 255, -1)
    k = max(3, int(round(w * 0.03))) | 1
    face = cv2.dilate(_polygon(rgb.shape, oval).astype(np.uint8), np.ones((k, k), np.uint8)) > 0
    lab = cv2.cvtColor(rgb, cv2.COLOR_RGB2LAB).astype(np.float32)
    cheeks = _polygon(rgb.shape, lm[list(CHEEK_PATCH_L)]) | _polygon(rgb.shape,
                                                                    lm[list(CHEEK_PATCH_R)])
    hair = (box > 0) & ~face & (_skin_distance(lab, lab[cheeks]) > SKIN_DISTANCE)
    hair &= _person(rgb, face, box > 0)
    hair = cv2.morphologyEx(hair.astype(np.uint8), cv2.MORPH_OPEN, np.ones((5, 5), np.uint8))
    rim = cv2.dilate(face.astype(np.uint8), np.ones((2 * k + 1, 2 * k + 1), np.uint8)) > 0
    _, parts = cv2.connectedComponents(hair)
    touching = np.unique(parts[rim & (hair > 0)])
    return np.isin(parts, touching[touching > 0])


def dye(rgb: np.ndarray, mask: np.ndarray, turn: int) -> np.ndarray:
    """The hue of the masked pixels rotated by `turn` (OpenCV units), the rest as is."""
    hsv = cv2.cvtColor(rgb, cv2.COLOR_RGB2HSV)
    h = hsv[:, :, 0].astype(np.int32)
    hsv[:, :, 0] = ((h + turn) % 180).astype(np.uint8)
    out = rgb.copy()
    out[mask] = cv2.cvtColor(hsv, cv2.COLOR_HSV2RGB)[mask]  # the round trip is not exact
    return out


def score_changes(engine: Engine, paths: list) -> tuple[np.ndarray, np.ndarray]:
    """|change| of the attractiveness and final scores, every dyeable face x every hue
    turn; a face with almost no hair to dye (under 0.5 % of the photo) is left out."""
    d_attr, d_final = [], []
    for path in paths:
        rgb = load_image(path)
        base = engine.run(rgb).to_dict()
        assert base["ok"] and base["attractiveness"]["status"] == "ok", base["attractiveness"]
        mask = hair_mask(rgb, engine.finder.find(rgb).landmarks)
        if mask.mean() <= 0.005:  # nothing to dye (a brown crop had 0.6 %)
            continue
        for turn in HUE_TURNS:
            rep = engine.run(dye(rgb, mask, turn)).to_dict()
            assert rep["ok"]
            d_attr.append(abs(rep["attractiveness"]["score"] - base["attractiveness"]["score"]))
            d_final.append(abs(rep["final"]["score"] - base["final"]["score"]))
    return np.array(d_attr), np.array(d_final)


def test_the_dye_changes_the_hair_and_not_the_face():
    rgb = load_image(FIXTURES[0])
    engine = Engine(pool_size=1, load_optional=False)
    lm = engine.finder.find(rgb).landmarks
    mask = hair_mask(rgb, lm)
    out = dye(rgb, mask, 60)
    assert np.array_equal(out[~mask], rgb[~mask])
    moved = np.abs(out.astype(int) - rgb.astype(int)).sum(axis=2)[mask]
    assert np.mean(moved > 30) > 0.3  # most hair pixels visibly recoloured


# The first version's four shared faces (blond, green, blue, pink hair): the scripts that
# reproduce its 32-pair figures (scripts/faceres_crop_probe.py, geohair_collect.py) use them.
SHARED_HAIR = {"sfhq_variability_hair_color_014", "sfhq_variability_hair_color_030",
               "sfhq_variability_hair_color_041", "sfhq_variability_hair_color_062"}


@pytest.fixture(scope="module")
def ungated() -> Engine:
    """Every model, no adults-only gate: the faces are adults by declaration, and the
    gate is a decision, not a score (it withholds about 2 % of adults; a face it
    withheld would leave a hole in the pairs). How often a dye or a re-save flips the
    gate is measured apart (scripts/gate_resave.py)."""
    return Engine(age_gate=False)


@pytest.fixture(scope="module")
def changes(ungated) -> tuple[np.ndarray, np.ndarray]:
    """The four committed SFHQ faces and every face of the shared SFHQ hair-colour grid
    (72: white, blond, green, blue, pink, red hair; women and men), four hue turns each.

    Why so many: with 8 faces (32 pairs, the first version) p95 was about the
    second-largest change, and one face swapped moved it from 1.48 to 1.67 points."""
    hair = [p for p in FACES if p.stem.startswith("sfhq_variability_hair_color_")]
    assert len(hair) == 72
    d_attr, d_final = score_changes(ungated, list(FIXTURES) + hair)
    assert len(d_attr) >= 4 * 70  # at most a few faces without hair to dye
    return d_attr, d_final


# Measured (2026-12-06). First, 8 faces (32 pairs): the dlib-only model shipped before issue
# 33 moved p95 0.77; dlib + faceres with faceres' chip at 1.3x the mesh's box 1.82; at 1.2x
# 1.48, then 1.67 once one fixture face was swapped. On the 71 dyeable hair-colour faces
# (284 pairs, scripts/hair_dye_wide.py): dlib-only 1.46; faceres at 1.2, 2.30. faceres
# now sees the face only (grey outside the mesh's face oval, `faceres.MASK_MARGIN`),
# refitted: 284 pairs p95 1.22 (median 0.37, max 1.79). HAIR_FIGURES: this test's own
# set (the 284 pairs plus the fixtures), with the shipped model.
HAIR_FIGURES = ("this test's 300 pairs, shipped model (2026-12-06): attractiveness median 0.36, "
                "p95 1.20, max 1.79; final median 0.80, p95 2.76, max 4.20")


@pytest.mark.shared
@pytest.mark.slow
def test_hair_dye_moves_the_attractiveness_within_limits(changes):
    d_attr, _ = changes
    p95 = np.percentile(d_attr, 95)
    assert p95 <= ATTRACTIVENESS_LIMIT, (round(float(p95), 2), HAIR_FIGURES)


@pytest.mark.shared
@pytest.mark.slow
@pytest.mark.xfail(strict=True, reason=GEOMETRY_MOVES)
def test_hair_dye_moves_the_final_within_limits(changes):
    _, d_final = changes
    assert np.percentile(d_final, 95) <= FINAL_LIMIT, np.round(d_final, 2)
