"""Stress check of the same-person rule (docs/compare.md): a London person's neutral
photo against a degraded copy of their smiling photo (darker, blurred, JPEG q40, rotated
5 degrees, all four at once). Prints distances only (dlib, faceres, the rule's), never
descriptors; photos and copies stay in memory.

    .venv/bin/python scripts/compare_stress.py [N_PEOPLE]
"""

from __future__ import annotations

import io
import json
import os
import sys

import cv2
import numpy as np
from PIL import Image

from aurum.compare import Photo, analyze_photo, load_calibration, pair_matrix
from aurum.engine import Engine
from aurum.paths import shared_dir


def _jpeg(rgb: np.ndarray, q: int) -> np.ndarray:
    buf = io.BytesIO()
    Image.fromarray(rgb).save(buf, "JPEG", quality=q)
    return np.asarray(Image.open(io.BytesIO(buf.getvalue())).convert("RGB"))


def _rotate(rgb: np.ndarray, deg: float) -> np.ndarray:
    h, w = rgb.shape[:2]
    m = cv2.getRotationMatrix2D((w / 2, h / 2), deg, 1.0)
    return cv2.warpAffine(rgb, m, (w, h), borderMode=cv2.BORDER_REFLECT)


def _dark(rgb: np.ndarray) -> np.ndarray:
    return np.clip(255 * (rgb / 255.0) ** 1.8 * 0.7, 0, 255).astype(np.uint8)


def _blur(rgb: np.ndarray) -> np.ndarray:
    k = max(3, int(round(rgb.shape[1] / 200)) | 1)
    return cv2.GaussianBlur(rgb, (k, k), 0)


CHANGES = {"darker": _dark, "blurred": _blur, "jpeg_q40": lambda im: _jpeg(im, 40),
           "rotated_5deg": lambda im: _rotate(im, 5.0),
           "all_four": lambda im: _rotate(_jpeg(_blur(_dark(im)), 40), 5.0)}


def _distances(a: Photo, b: Photo, cal: dict) -> dict | None:
    """The pair's distance under each candidate rule, and under the committed one
    (None when the degraded copy gave no face or no descriptor)."""
    if a.descriptor is None or b.descriptor is None or a.faceres is None or b.faceres is None:
        return None
    dd = float(np.linalg.norm(a.descriptor - b.descriptor))
    df = float(np.linalg.norm(a.faceres - b.faceres))
    d, t, basis = pair_matrix([a, b], cal)
    return {"dlib": dd, "faceres": df, "mean": (dd + df) / 2, "rule": float(d[0, 1]),
            "threshold": float(t[0, 1]), "basis": basis[0][1]}


def _summary(v: list[dict]) -> dict:
    out = {"pairs": len(v), "bases": sorted({x["basis"] for x in v}),
           "over_threshold": sum(x["rule"] > x["threshold"] for x in v),
           "threshold": sorted({x["threshold"] for x in v})}
    for k in ("dlib", "faceres", "mean", "rule"):
        vals = [x[k] for x in v]
        out[k + "_p50_max"] = [round(float(np.median(vals)), 3), round(max(vals), 3)]
    out["dlib_over_0.305_old_rule"] = sum(x["dlib"] > 0.305 for x in v)
    return out


def main(n: int) -> dict:
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    engine = Engine()
    engine.finder.warm_up()
    cal = load_calibration(engine.models)
    root = shared_dir() / "london"
    out: dict[str, list] = {k: [] for k in CHANGES}
    print("rule:", cal.get("same_person", {}).get("rule_distance", "dlib"),
          cal.get("same_person", {}).get("threshold"), file=sys.stderr)
    for path in sorted((root / "neutral_front").glob("*.jpg"))[:n]:
        pid = path.stem.split("_")[0]
        smile = next((root / "smiling_front").glob(f"{pid}_*.jpg"), None)
        if smile is None:
            continue
        base = analyze_photo(engine, path, path.name)
        rgb = np.asarray(Image.open(smile).convert("RGB"))
        for name, change in CHANGES.items():
            other = analyze_photo(engine, change(rgb), name)
            out[name].append(_distances(base, other, cal))
    summary = {k: _summary([x for x in v if x is not None]) | {
        "no_descriptor": sum(x is None for x in v)} for k, v in out.items() if v}
    print(json.dumps(summary, indent=1, sort_keys=True))
    return summary


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 30)
