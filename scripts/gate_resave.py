"""How often a re-saved copy of a photo flips the adults-only gate (issue 34's open figure).

Each shared face (257 SFHQ adults, 104 SFHQ minors; London with --london) is run through
the engine as stored and as JPEG re-saves (quality 90, 75, 50, in memory only), and its
gate decision (withheld or passed) compared. Prints one JSON object: per quality, the
flips in each direction by set.

    .venv/bin/python scripts/gate_resave.py [--london] [--limit N]
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import cv2
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from aurum.engine import Engine  # noqa: E402
from aurum.measure.imaging import load_image  # noqa: E402
from aurum.paths import shared_dir  # noqa: E402

QUALITIES = (90, 75, 50)


def resave(rgb: np.ndarray, quality: int) -> bytes:
    ok, buf = cv2.imencode(".jpg", cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR),
                           [cv2.IMWRITE_JPEG_QUALITY, quality])
    assert ok
    return buf.tobytes()


def withheld(engine: Engine, image: object) -> bool | None:
    """True withheld by the gate, False scored, None another failure (no face...)."""
    d = engine.run(image).to_dict()
    if d.get("ok"):
        return False
    code = (d.get("error") or {}).get("code")
    return True if code == "apparent_minor" else None


def main(argv: list[str]) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--london", action="store_true")
    ap.add_argument("--limit", type=int, default=0)
    a = ap.parse_args(argv)
    sets = {"adults_sfhq": sorted((shared_dir() / "faces").glob("*.jpg")),
            "minors_sfhq": sorted((shared_dir() / "minors").rglob("*.jpg"))}
    if a.london:
        sets["london"] = sorted((shared_dir() / "london" / "neutral_front").glob("*.jpg"))
    engine = Engine()
    out: dict[str, dict] = {}
    for name, paths in sets.items():
        paths = paths[:a.limit] if a.limit else paths
        rows = {"faces": 0, "withheld_as_stored": 0}
        rows.update({f"q{q}": {"to_withheld": 0, "to_passed": 0} for q in QUALITIES})
        for p in paths:
            rgb = load_image(p)
            base = withheld(engine, rgb)
            if base is None:
                continue
            rows["faces"] += 1
            rows["withheld_as_stored"] += base
            for q in QUALITIES:
                now = withheld(engine, resave(rgb, q))
                if now is not None and now != base:
                    rows[f"q{q}"]["to_withheld" if now else "to_passed"] += 1
        out[name] = rows
        print(name, json.dumps(rows), file=sys.stderr, flush=True)
    print(json.dumps(out))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
