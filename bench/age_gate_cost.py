"""What the adults-only gate adds to a request, from the engine's own stage timings.

Targets (issue 34): at most 5 ms when the networks the gate reads already run for the
rating model (the gate's own step: proportions, the age head's cues, one dot product),
and at most 15 ms when faceres runs for the gate alone (faceres's stage + the gate's).
A third line times the case where the rating model averages faceres over the mirror
image and the gate needs its own plain-chip pass.

    .venv/bin/python bench/age_gate_cost.py [N_PHOTOS]
"""

from __future__ import annotations

import statistics
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from aurum.engine import Engine  # noqa: E402
from aurum.measure.imaging import load_image  # noqa: E402
from aurum.paths import shared_dir  # noqa: E402


def _row(name: str, values: list[float], target: float) -> str:
    med, p95 = statistics.median(values), sorted(values)[int(0.95 * (len(values) - 1))]
    verdict = "ok" if p95 <= target else "OVER"
    return f"| {name} | {med:.2f} | {p95:.2f} | {target:g} | {verdict} |"


def main(n: int = 20) -> int:
    photos = sorted((shared_dir() / "london" / "neutral_front").glob("*.jpg"))[:n]
    images = [load_image(p) for p in photos]
    engine = Engine(pool_size=1)
    engine.analyze(images[0])  # warm every graph
    gate, with_net, mirror_pass = [], [], []
    for rgb in images:
        t = engine.analyze(rgb).timing_ms
        gate.append(t["age_gate"])
        with_net.append(t["age_gate"] + t["faceres"])
        # what the gate adds when the rating model averages mirrors: a plain-chip pass
        face = engine.finder.find(rgb)
        t1 = time.perf_counter()
        engine.faceres.compute_safe(rgb, face.landmarks, False)
        mirror_pass.append((time.perf_counter() - t1) * 1000 + t["age_gate"])
    print(f"adults-only gate cost, {len(images)} London photos, ms")
    print("| case | median | p95 | target | |")
    print("|---|---|---|---|---|")
    print(_row("gate step (networks already run for the model)", gate, 5))
    print(_row("faceres + gate step (faceres runs for the gate alone)", with_net, 15))
    print(_row("plain-chip faceres pass + gate (model averages mirrors)", mirror_pass, 15))
    return 0


if __name__ == "__main__":
    raise SystemExit(main(int(sys.argv[1]) if len(sys.argv) > 1 else 20))
