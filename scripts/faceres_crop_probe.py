"""How much of faceres' descriptor is hair, per crop scale (issue: the hair-dye test).

Why: the shipped attractiveness model reads faceres' descriptor; at CROP_SCALE 1.3 the
chip sees the hair and a hair dye moves the score past the test's limit. A tighter chip
should see less hair, but it may also tell people apart less well. This measures both,
on identity and hair only (never on ratings), for each scale:
- hair: the 8 faces x 4 hue turns of tests/analysers/test_hair_dye.py (same mask, same
  dye; the mesh found again on the dyed photo, as a request would): the L2 distance
  between the unit descriptors of the photo and its dyed copy;
- smile: London, all 102 people, the same distance between neutral and smiling;
- identity: d' of same-person (neutral vs smiling) against different-person cosine
  similarities, and rank-1 (each neutral photo's nearest smiling photo).
The plain chip is measured (the shipped model does not mirror-average faceres).

Run: .venv/bin/python scripts/faceres_crop_probe.py [--scales 1.0,1.1,1.2,1.3]
Needs the shared data (AURUM_SHARED). Prints one table; writes nothing.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from aurum.analysers.faceres import crop, get_model  # noqa: E402
from aurum.engine import Engine  # noqa: E402
from aurum.measure.imaging import load_image  # noqa: E402
from tests.analysers.test_hair_dye import HUE_TURNS, SHARED_HAIR, dye, hair_mask  # noqa: E402
from tests.conftest import FACES, FIXTURES, LONDON, LONDON_SMILING  # noqa: E402


def descriptors(engine: Engine, rgb: np.ndarray, scales: list[float],
                lm: np.ndarray | None = None) -> np.ndarray:
    """Unit faceres descriptors of the photo's face (its mesh found, unless given), one
    row per scale."""
    lm = engine.finder.find(rgb).landmarks if lm is None else lm
    model = get_model()
    return np.array([model.compute_chip(crop(rgb, lm, s)).normalised() for s in scales])


def hair_moves(engine: Engine, scales: list[float]) -> np.ndarray:
    """(3, pairs, scales): unit-descriptor L2 distance, photo vs its hair-dyed copy:
    [0] as a request sees it (the mesh found again on the dyed photo), [1] the dyed
    pixels through the photo's own mesh (what the chip sees of the hair), [2] the
    photo's pixels through the dyed photo's mesh (what the moved mesh does alone)."""
    paths = list(FIXTURES) + [p for p in FACES if p.stem in SHARED_HAIR]
    rows = []
    for path in paths:
        rgb = load_image(path)
        lm = engine.finder.find(rgb).landmarks
        base = descriptors(engine, rgb, scales, lm)
        mask = hair_mask(rgb, lm)
        for turn in HUE_TURNS:
            dyed = dye(rgb, mask, turn)
            lm_dyed = engine.finder.find(dyed).landmarks
            rows.append([np.linalg.norm(descriptors(engine, img, scales, m) - base, axis=1)
                         for img, m in ((dyed, lm_dyed), (dyed, lm), (rgb, lm_dyed))])
    return np.transpose(np.array(rows), (1, 0, 2))


def identity(engine: Engine, scales: list[float]) -> list[dict[str, float]]:
    """Per scale: smile distance (median, p95), d' and rank-1 over the London pairs."""
    neu = np.array([descriptors(engine, load_image(p), scales) for p in LONDON])
    smi = np.array([descriptors(engine, load_image(p), scales) for p in LONDON_SMILING])
    out = []
    for j in range(len(scales)):
        sim = neu[:, j] @ smi[:, j].T
        same, other = np.diag(sim), sim[~np.eye(len(sim), dtype=bool)]
        dprime = (same.mean() - other.mean()) / np.sqrt((same.var() + other.var()) / 2)
        dist = np.linalg.norm(neu[:, j] - smi[:, j], axis=1)
        out.append({"smile_median": float(np.median(dist)),
                    "smile_p95": float(np.percentile(dist, 95)), "dprime": float(dprime),
                    "rank1": float(np.mean(np.argmax(sim, axis=1) == np.arange(len(sim))))})
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--scales", default="1.0,1.1,1.2,1.3")
    scales = [float(s) for s in ap.parse_args().scales.split(",")]
    engine = Engine(pool_size=1, load_optional=False)
    hair = hair_moves(engine, scales)
    ids = identity(engine, scales)
    print("hair: median / p95 / max; request = pixels + mesh, pixels = own mesh, "
          "mesh = own pixels")
    print("scale  request             pixels              mesh                "
          "smile med/p95  hair/smile  dprime  rank1")
    for j, s in enumerate(scales):
        cols = "  ".join(f"{np.median(h[:, j]):.3f}/{np.percentile(h[:, j], 95):.3f}/"
                         f"{h[:, j].max():.3f}" for h in hair)
        i = ids[j]
        print(f"{s:5.2f}  {cols}  {i['smile_median']:.3f}/{i['smile_p95']:.3f}    "
              f"{np.median(hair[0][:, j]) / i['smile_median']:10.2f}  {i['dprime']:6.2f}  "
              f"{i['rank1']:5.3f}")


if __name__ == "__main__":
    main()
