"""Test-retest (issue 10): the same photo, changed in ways nobody would notice, keeps its
scores. The faces and changes are `aurum.tools.retest`'s fixed ones (40 shared synthetic faces
that no other test uses; JPEG q85, 80 % resize, 3 % crop shift, gamma 0.9; the mirror
image; one London photo under the 8 EXIF orientations), the same as `bench --retest`.

The targets are the issue's; each assertion keeps a margin of a tenth below its target
so that a CPU whose MediaPipe kernels round differently does not flip the verdict.
Measured when written: geometric p95 0.69, mirror mean 0.31 and max 0.99, EXIF spread
0.20; attractiveness p95 0.45 (it was 1.06 while the descriptor's chip was aligned on
dlib's 5-point predictor, whose points move with brightness and size; the chip is now
aligned on the averaged mesh).
About 250 analyses: roughly half a minute on 2 cores.
"""

from __future__ import annotations

import numpy as np
import pytest

from aurum.engine import Engine
from aurum.measure.imaging import load_image
from aurum.tools import retest

pytestmark = pytest.mark.shared

MARGIN = 0.9  # assert at 90 % of each target


@pytest.fixture(scope="module")
def figures() -> dict:
    faces = retest.subset()
    assert len(faces) == retest.SUBSET_SIZE
    return retest.summary(retest.collect(retest.measuring_engine(), faces))


def test_four_changes_keep_the_geometric_score(figures: dict):
    four = figures["geometric_change"]["four_changes"]
    assert four["n"] == 4 * retest.SUBSET_SIZE
    assert four["p95"] <= 1.0 * MARGIN, figures["geometric_change"]


def test_four_changes_keep_the_attractiveness_score(figures: dict):
    four = figures["attractiveness_change"]["four_changes"]
    # Every pair must have been scored: a missing model would make this vacuous.
    assert four["n"] == 4 * retest.SUBSET_SIZE, figures["attractiveness_change"]
    assert four["p95"] <= 1.0 * MARGIN, figures["attractiveness_change"]


def test_mirror_image_keeps_the_geometric_score(figures: dict):
    mirror = figures["geometric_change"]["mirror"]
    assert mirror["n"] == retest.SUBSET_SIZE
    assert mirror["mean"] <= 0.5 * MARGIN, mirror
    assert mirror["max"] <= 2.0 * MARGIN, mirror


def test_exif_orientations_of_one_jpeg_agree(figures: dict):
    exif = figures["exif"]
    assert exif["orientations"] == 8
    assert exif["geometric_spread"] <= 1.0 * MARGIN, exif


def test_every_component_is_reliable(figures: dict):
    """Each proportion's test-retest ICC over the five versions of each face; a
    component that drops below this is mostly noise and should lose its weight."""
    rows = figures["components"]
    assert len(rows) >= 10
    for row in rows:
        assert row["icc"] >= 0.98, row
        assert 0.0 <= row["share_of_jitter"] <= 1.0
    assert sum(r["share_of_jitter"] for r in rows) == pytest.approx(1.0, abs=0.01)


def test_same_pixels_give_the_same_landmarks(engine: Engine):
    """The canonical views are fixed, not random jitter: a repeat is exact."""
    rgb = load_image(retest.subset(1)[0])
    a, b = engine.analyze(rgb), engine.analyze(rgb.copy())
    assert a.ok and b.ok
    np.testing.assert_array_equal(a.landmarks, b.landmarks)
    assert a.geometry == b.geometry
