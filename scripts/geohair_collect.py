"""Collect what `scripts/geohair_probe.py` needs, once, so it scores every geometric
variant without MediaPipe: per image its 8 mesh passes (photo pixels; NaN where a pass
found nothing) and the mean the engine uses, for

* the 32 hair-dye pairs of tests/analysers/test_hair_dye.py (8 faces x 4 hue turns of the
  hair only), with the shipped attractiveness score of each image (the final blends it);
* the `aurum.tools.retest` subset (40 faces: original, jpeg85, resize80, crop3, gamma09,
  mirror);
* the 257 shared SFHQ faces and London's 102 neutral fronts.

Options: `--attr` instead scores the dye images with the dlib-only model shipped before
faceres (models/attractiveness_multiset.json at e95d4da, read from git) and the London
model; `--masked M` runs the experiment where each canonical view's pixels outside the
first mesh's face oval, widened by M of its width, are mid-grey (the hair unseen by 6 of
the 8 passes). Writes landmarks and scores only (/tmp/geohair/*.npz), never a photo.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
from pathlib import Path

import cv2
import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from aurum.engine import Engine  # noqa: E402
from aurum.measure import landmarks as lmmod  # noqa: E402
from aurum.measure.framing import canonical_warps  # noqa: E402
from aurum.measure.imaging import load_image  # noqa: E402
from aurum.measure.landmark_names import FACE_OVAL  # noqa: E402
from aurum.tools import retest  # noqa: E402

OUT = Path("/tmp/geohair")
PREVIOUS_MODEL = "e95d4da"  # the last commit whose multiset model was dlib-only
_PASSES: list[np.ndarray] = []


_ORIGINAL_PASSES = lmmod.FaceFinder._mesh_passes


def _recording_mesh_passes(self, g, rgb, box):
    """`FaceFinder._mesh_passes`, keeping each pass in _PASSES."""
    passes = _ORIGINAL_PASSES(self, g, rgb, box)
    _PASSES[:] = passes or []
    return passes


def _masked_views(margin: float):
    """`landmarks._canonical_views` with a grey surround outside the widened oval."""
    def views(g, rgb, lm):
        out = []
        for crop, inv, scale in canonical_warps(rgb, lm):
            fwd = np.linalg.inv(np.vstack([inv, [0.0, 0.0, 1.0]]))[:2]
            oval = lm[list(FACE_OVAL), :2] @ fwd[:, :2].T + fwd[:, 2]
            mask = np.zeros(crop.shape[:2], np.uint8)
            cv2.fillPoly(mask, [np.round(oval).astype(np.int32)], 255)
            k = max(1, int(round(margin * (oval[:, 0].max() - oval[:, 0].min())))) * 2 + 1
            mask = cv2.dilate(mask, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (k, k)))
            crop = crop.copy()
            crop[mask == 0] = 128
            out += lmmod.view_meshes(g, crop, inv, scale)
        return out
    return views


def _dye_images():
    """(key, rgb) of the hair-dye test's 40 images, in its order."""
    from tests.analysers.test_hair_dye import HUE_TURNS, SHARED_HAIR, dye, hair_mask
    from tests.conftest import FACES, FIXTURES

    finder = Engine(age_gate=False, load_optional=False).finder
    for path in list(FIXTURES) + [p for p in FACES if p.stem in SHARED_HAIR]:
        rgb = load_image(path)
        yield f"dye/{path.stem}/0", rgb
        mask = hair_mask(rgb, finder.find(rgb).landmarks)
        for turn in HUE_TURNS:
            yield f"dye/{path.stem}/{turn}", dye(rgb, mask, turn)


def collect(out: Path) -> None:
    from tests.conftest import FACES, LONDON

    engine = Engine(age_gate=False)
    keys, lms, stacks, attr = [], [], [], []

    def add(key: str, rgb: np.ndarray, score: float = np.nan) -> None:
        _PASSES.clear()
        lm = engine.finder.find(rgb).landmarks
        stack = np.full((8, 478, 3), np.nan)
        for i, p in enumerate(_PASSES[:8]):
            stack[i] = p
        keys.append(key)
        lms.append(lm)
        stacks.append(stack)
        attr.append(score)

    for key, rgb in _dye_images():
        add(key, rgb, engine.run(rgb).to_dict()["attractiveness"]["score"])
    for path in retest.subset():
        rgb = load_image(path)
        add(f"retest/{path.stem}/original", rgb)
        for kind, fn in retest.CHANGES.items():
            add(f"retest/{path.stem}/{kind}", fn(rgb))
        add(f"retest/{path.stem}/mirror", retest.mirror(rgb))
    for path in list(FACES) + list(LONDON):
        add(f"pop/{path.parent.name}/{path.stem}", load_image(path))
    np.savez_compressed(out, keys=np.array(keys), landmarks=np.array(lms),
                        passes=np.array(stacks), attractiveness=np.array(attr))


def collect_attr(out: Path) -> None:
    """The dye images' attractiveness under the previous dlib-only and the London models."""
    vals: dict[str, float] = {}
    with tempfile.TemporaryDirectory() as tmp:
        previous = Path(tmp) / "attractiveness_previous.json"
        previous.write_bytes(subprocess.run(
            ["git", "show", f"{PREVIOUS_MODEL}:models/attractiveness_multiset.json"],
            cwd=ROOT, check=True, capture_output=True).stdout)
        for name, choice in (("appearance", str(previous)), ("london", "london")):
            engine = Engine(age_gate=False, attractiveness_model=choice)
            for key, rgb in _dye_images():
                vals[f"{name}/{key}"] = engine.run(rgb).to_dict()["attractiveness"]["score"]
    np.savez(out, keys=np.array(list(vals)), vals=np.array(list(vals.values()), dtype=float))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--attr", action="store_true")
    ap.add_argument("--masked", type=float, default=None)
    args = ap.parse_args()
    OUT.mkdir(parents=True, exist_ok=True)
    if args.attr:
        collect_attr(OUT / "attr_alt.npz")
        return
    lmmod.FaceFinder._mesh_passes = _recording_mesh_passes
    if args.masked is None:
        collect(OUT / "passes.npz")
    else:
        lmmod._canonical_views = _masked_views(args.masked)
        collect(OUT / f"masked_{args.masked:.2f}.npz")


if __name__ == "__main__":
    main()
