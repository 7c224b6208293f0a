"""Dyeing the hair must not move the score: the same face with its hair's hue rotated
(the region outside the face oval, above the eyes, where a wider crop sees hair) moves
the attractiveness score by at most 1.5 points and the final by at most 1.0 (p95)."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from aurum.engine import Engine
from aurum.measure.imaging import load_image
from aurum.measure.landmark_names import FACE_OVAL, IRIS_L, IRIS_R
from tests.conftest import FACES, FIXTURES

ATTRACTIVENESS_LIMIT = 1.5
FINAL_LIMIT = 1.0
HUE_TURNS = (30, 60, 90, 120)  # OpenCV hue units (0-180): 60, 120, 180 and 240 degrees
# Measured (2026-12-06) on the model shipped before faceres, these 32 pairs:
# attractiveness p95 1.55 points (max 1.66, mean 0.73), final p95 2.25 (max 2.51): the
# final moves more than the attractiveness, so the geometric score moves with the hair's
# colour too (the mesh's face-oval points sit next to the dyed pixels). Marked as a
# known failure of that model only, so the test asserts for any other.
KNOWN_FAILING_MODEL = "london-mebeauty-descriptor-appearance-ridge-balanced-v1"


def hair_mask(shape: tuple[int, ...], landmarks: np.ndarray) -> np.ndarray:
    """Where the hair is: inside the face's box widened by half its width on each side
    and raised by its height, above the irises, outside the face oval."""
    lm = np.asarray(landmarks)[:, :2]
    oval = lm[list(FACE_OVAL)]
    x0, y0 = oval.min(axis=0)
    x1, y1 = oval.max(axis=0)
    w, h = x1 - x0, y1 - y0
    eyes = min(lm[IRIS_L, 1], lm[IRIS_R, 1])
    box = np.zeros(shape[:2], np.uint8)
    cv2.rectangle(box, (int(x0 - w / 2), int(y0 - h)), (int(x1 + w / 2), int(eyes)), 255, -1)
    face = np.zeros(shape[:2], np.uint8)
    cv2.fillPoly(face, [np.round(oval).astype(np.int32)], 255)
    return (box > 0) & (face == 0)


def dye(rgb: np.ndarray, mask: np.ndarray, turn: int) -> np.ndarray:
    """The hue of the masked pixels rotated by `turn` (OpenCV units), the rest as is."""
    hsv = cv2.cvtColor(rgb, cv2.COLOR_RGB2HSV)
    h = hsv[:, :, 0].astype(np.int32)
    hsv[:, :, 0] = ((h + turn) % 180).astype(np.uint8)
    out = rgb.copy()
    out[mask] = cv2.cvtColor(hsv, cv2.COLOR_HSV2RGB)[mask]  # the round trip is not exact
    return out


def score_changes(engine: Engine, paths: list) -> tuple[np.ndarray, np.ndarray]:
    """|change| of the attractiveness and final scores, every face x every hue turn."""
    d_attr, d_final = [], []
    for path in paths:
        rgb = load_image(path)
        base = engine.run(rgb).to_dict()
        assert base["ok"] and base["attractiveness"]["status"] == "ok", base["attractiveness"]
        mask = hair_mask(rgb.shape, engine.finder.find(rgb).landmarks)
        assert mask.mean() > 0.02  # there is a hair region to dye
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
    mask = hair_mask(rgb.shape, lm)
    out = dye(rgb, mask, 60)
    assert np.array_equal(out[~mask], rgb[~mask])
    moved = np.abs(out.astype(int) - rgb.astype(int)).sum(axis=2)[mask]
    assert np.mean(moved > 30) > 0.3  # most hair pixels visibly recoloured


@pytest.mark.shared
def test_hair_dye_moves_the_scores_within_limits(engine, request):
    """Four committed SFHQ faces and four shared ones with blond, green, blue and pink
    hair (two women, two men), four hue turns each (32 pairs)."""
    shared = [p for p in FACES if p.stem in {
        "sfhq_variability_hair_color_014", "sfhq_variability_hair_color_030",
        "sfhq_variability_hair_color_041", "sfhq_variability_hair_color_062"}]
    assert len(shared) == 4
    if engine.attractiveness is not None and engine.attractiveness.name == KNOWN_FAILING_MODEL:
        request.applymarker(pytest.mark.xfail(strict=True, reason="measured p95 1.55 > 1.5 "
                                              "(attractiveness) and 2.25 > 1.0 (final)"))
    d_attr, d_final = score_changes(engine, list(FIXTURES) + shared)
    assert len(d_attr) >= 16
    assert np.percentile(d_attr, 95) <= ATTRACTIVENESS_LIMIT, np.round(d_attr, 2)
    assert np.percentile(d_final, 95) <= FINAL_LIMIT, np.round(d_final, 2)
