"""The hair-dye check of tests/analysers/test_hair_dye.py on every SFHQ hair-colour face.

The test dyes 8 faces (32 pairs): its p95 is about the second largest change, so one
face more or less moves it by tenths of a point (1.48 -> 1.67 when one fixture face was
swapped, 2026-12-06). This script runs the same mask and dye on all 72 faces of the
shared SFHQ hair-colour grid (288 pairs), without the adults-only gate (the faces are
adults by declaration; the gate is a decision, not a score), and prints the
attractiveness and final changes' median, p95 and max.

    .venv/bin/python scripts/hair_dye_wide.py [--models DIR] [--crop 1.3]

--models/--crop measure an earlier model: its folder and the faceres crop it was fitted
on (the model refuses chips made another way).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))


def main(argv: list[str]) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--models", type=Path, default=None)
    ap.add_argument("--crop", type=float, default=None)
    a = ap.parse_args(argv)
    from aurum.analysers import faceres
    if a.crop is not None:
        faceres.CROP_SCALE = a.crop
    from aurum.engine import Engine
    from aurum.paths import shared_dir
    from tests.analysers.test_hair_dye import HUE_TURNS, score_changes

    faces = sorted((shared_dir() / "faces").glob("sfhq_variability_hair_color_*.jpg"))
    engine = Engine(models=a.models, age_gate=False) if a.models else Engine(age_gate=False)
    d_attr, d_final = score_changes(engine, faces)  # skips faces with no hair to dye
    used = len(d_attr) // len(HUE_TURNS)
    out = {"faces": len(faces), "dyed": used, "pairs": len(d_attr), "crop": faceres.CROP_SCALE,
           "model": engine.status().get("attractiveness", "")[:90]}
    for name, d in (("attractiveness", d_attr), ("final", d_final)):
        out[name] = {q: round(float(np.percentile(d, p)), 3)
                     for q, p in (("median", 50), ("p95", 95), ("max", 100))}
    print(json.dumps(out))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
