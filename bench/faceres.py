"""faceres speed: the network a face on OpenCV dnn, with and without its mirror image.

    .venv/bin/python bench/faceres.py [--faces 40] [--repeats 3] [--json out.json]

Times `FaceresModel.compute_chip` on the chips of the first N London neutral photos
(the crop is timed apart: it is a warp and a resize), interleaving the plain and the
mirror-averaged call so both see the same machine load. Targets (issue 33): <= 12 ms a
face, <= 25 ms with the mirror. It also prints the process CPU time per call, the honest
figure on an oversubscribed machine (wall time then counts waiting for a core).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from aurum.analysers.faceres import FaceresModel, crop  # noqa: E402
from aurum.measure.imaging import load_image  # noqa: E402
from aurum.measure.landmarks import FaceFinder  # noqa: E402
from aurum.paths import shared_dir  # noqa: E402

TARGETS_MS = {"faceres": 12.0, "faceres_mirror": 25.0}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--faces", type=int, default=40)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--json", type=Path)
    a = ap.parse_args(argv)
    photos = sorted((shared_dir() / "london" / "neutral_front").glob("*.jpg"))[:a.faces]
    model = FaceresModel()
    if not model.load():
        print(model.status())
        return 1
    finder = FaceFinder(pool_size=1)
    chips, crop_ms = [], []
    for p in photos:
        rgb = load_image(p)
        lm = finder.find(rgb).landmarks
        t0 = time.perf_counter()
        chips.append(crop(rgb, lm))
        crop_ms.append((time.perf_counter() - t0) * 1000)
    model.compute_chip(chips[0])  # first inference allocates
    wall: dict[str, list[float]] = {"faceres": [], "faceres_mirror": []}
    cpu: dict[str, list[float]] = {"faceres": [], "faceres_mirror": []}
    for _ in range(a.repeats):
        for chip in chips:
            for key, mirror in (("faceres", False), ("faceres_mirror", True)):
                c0, t0 = time.process_time(), time.perf_counter()
                model.compute_chip(chip, mirror_average=mirror)
                wall[key].append((time.perf_counter() - t0) * 1000)
                cpu[key].append((time.process_time() - c0) * 1000)
    out = {"faces": len(chips), "calls": len(wall["faceres"]),
           "load_average": os.getloadavg()[0], "crop_ms_p50": float(np.median(crop_ms))}
    for key in wall:
        p50, p95 = np.percentile(wall[key], [50, 95])
        out[key] = {"p50_ms": round(float(p50), 2), "p95_ms": round(float(p95), 2),
                    "cpu_p50_ms": round(float(np.median(cpu[key])), 2),
                    "target_ms": TARGETS_MS[key],
                    "met": bool(p95 <= TARGETS_MS[key])}
        print(f"{key:16s} p50 {p50:6.2f} ms  p95 {p95:6.2f} ms  (CPU p50 "
              f"{out[key]['cpu_p50_ms']:.2f} ms; target p95 <= {TARGETS_MS[key]:g} ms: "
              f"{'MET' if out[key]['met'] else 'MISSED'})")
    print(f"crop p50 {out['crop_ms_p50']:.2f} ms; load average {out['load_average']:.1f}")
    if a.json:
        a.json.write_text(json.dumps(out, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
