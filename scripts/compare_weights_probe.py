"""One-off probe behind docs/compare.md's same-person choice: on London's 204 photos,
d' and the genuine/impostor gap of a weighted mean of the dlib and faceres distances
(each divided by its impostor median), weight 0 (faceres alone) to 1 (dlib alone), and
each descriptor's rank-1. Prints distances' figures only; descriptors stay in memory.

    PYTHONPATH=. .venv/bin/python scripts/compare_weights_probe.py
"""

from __future__ import annotations

import os

import numpy as np

from aurum.compare import analyze_photos
from aurum.engine import Engine
from aurum.paths import shared_dir
from aurum.tools.calibrate_compare import _dist, separation


def main() -> None:
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    engine = Engine()
    engine.finder.warm_up()
    root = shared_dir() / "london"
    paths = sorted((root / "neutral_front").glob("*.jpg")) + \
        sorted((root / "smiling_front").glob("*.jpg"))
    cs = analyze_photos(engine, paths, [p.name for p in paths],
                        calibration={"status": "unavailable: probing"})
    keep = [i for i, p in enumerate(cs.photos)
            if p.descriptor is not None and p.faceres is not None]
    print("photos", len(keep), "faceres mirror-averaged", engine.faceres_mirror)
    person = np.array([paths[i].stem.split("_")[0] for i in keep], dtype=object)
    dd = _dist(np.stack([cs.photos[i].descriptor for i in keep]))
    df = _dist(np.stack([cs.photos[i].faceres for i in keep]))
    iu = np.triu_indices(len(keep), 1)
    same = person[iu[0]] == person[iu[1]]
    a, b = dd[iu], df[iu]
    sa, sb = np.median(a[~same]), np.median(b[~same])
    print("faceres genuine p50, max", round(float(np.median(b[same])), 3),
          round(float(b[same].max()), 3), "impostor min, p50", round(float(b[~same].min()), 3),
          round(float(sb), 3))
    for w in np.arange(0, 1.01, 0.1):
        c = w * a / sa + (1 - w) * b / sb
        print(f"weight on dlib {w:.1f}", separation(np.sort(c[same]), np.sort(c[~same])))
    for name, d in (("dlib", dd), ("faceres", df)):
        m = d.copy()
        np.fill_diagonal(m, 9.0)
        r1 = np.mean([person[np.argmin(m[i])] == person[i] for i in range(len(keep))])
        print(name, "rank-1", r1)


if __name__ == "__main__":
    main()
