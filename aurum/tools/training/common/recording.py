"""Measuring a photo exactly as a request measures it, for both trainers.

Used by `london.data`, `london.robustness` and `multiset.rated_sets`, and both
trainers read the shared SFHQ faces' manifest here (`sfhq_manifest`). Why through the
engine: training must see exactly the features a request computes, so each photo goes
through `aurum.engine.Engine` with a `Recorder` in the attractiveness slot. Descriptors
(identity templates) stay in memory for the run only.
"""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Any

import numpy as np

from aurum.analysers.descriptor import DescriptorModel
from aurum.engine import Engine
from aurum.errors import FeatureError
from aurum.measure.appearance import RawFeatures, raw_features


class Recorder:
    """Plugs into `Engine` as its attractiveness model to receive each FaceContext,
    so training measures faces exactly as a request does."""

    name = "recorder"

    def __init__(self) -> None:
        self.raw: RawFeatures | None = None
        self.desc: np.ndarray | None = None
        self.error: str | None = None
        self.ctx: Any = None
        self.keep = False

    def status(self) -> str:
        return "recording"

    def facts(self) -> dict[str, Any]:
        return {}  # a recorder is not a model: it states no figures

    def analyze(self, ctx: Any) -> dict[str, Any]:
        self.ctx = ctx if self.keep else None
        d = getattr(ctx, "descriptor", None)
        self.desc = d.normalised() if d is not None else None
        try:
            self.raw = raw_features(ctx)
        except FeatureError as exc:
            self.error = str(exc)
        return {"score": None, "status": "recorded"}


def recording_engine(backend: str | None = None) -> tuple[Engine, Recorder]:
    """An engine without optional models whose attractiveness slot is a `Recorder`.

    `backend` is the descriptor runtime: the London-only trainer asks for "dlib" (dlib's
    own kernels, the reference runtime, so its rebuilt artefacts do not depend on which
    CPU kernels OpenCV picks); the several-set trainer takes the one a request uses
    (None). The two agree within 1e-4."""
    # no adults-only gate: the rated sets are adults by declaration, and a model
    # must not change with the gate's threshold (the gate decides what a request scores)
    engine = Engine(load_optional=False, pool_size=1, age_gate=False)
    engine.descriptor = DescriptorModel(backend=backend)
    rec = Recorder()
    engine.attractiveness = rec
    return engine, rec


def measure(engine: Any, rec: Recorder, image: Any, keep: bool = False
             ) -> tuple[RawFeatures | None, str | None]:
    """The features of one photo (or None and why); `keep` holds on to its context."""
    rec.raw, rec.desc, rec.error, rec.keep = None, None, None, keep
    analysis = engine.analyze(image)
    if not analysis.ok:
        return None, analysis.error.message if analysis.error else "analysis failed"
    if rec.raw is None:
        return None, rec.error or "features unavailable"
    return rec.raw, None




def sfhq_manifest(faces: Path | None) -> list[tuple[Path, str, str]] | None:
    """The shared synthetic SFHQ faces (no ratings), in file order: each photo's path,
    group label and apparent sex; None when `faces` has no MANIFEST.csv."""
    manifest = faces / "MANIFEST.csv" if faces else None
    if manifest is None or not manifest.is_file():
        return None
    with manifest.open(newline="", encoding="utf-8") as fh:
        rows = sorted(csv.DictReader(fh), key=lambda r: r["file"])
    return [(manifest.parent / r["file"], r.get("query_label") or "unlabelled",
             r.get("apparent_sex") or "unknown") for r in rows]


# Photos are measured at most this large (MEBeauty has several-thousand-pixel photos;
# the face finder works on a 640 px copy anyway).
MAX_SIDE = 2000


def load_upright(path: Path) -> np.ndarray:
    """RGB, EXIF-upright, longer side at most MAX_SIDE (area-averaged)."""
    import cv2
    from PIL import Image, ImageOps

    Image.MAX_IMAGE_PIXELS = None  # trusted training data; some photos are huge
    with Image.open(path) as im:
        im.draft("RGB", (MAX_SIDE, MAX_SIDE))  # JPEG: decode at a reduced size
        rgb = np.asarray(ImageOps.exif_transpose(im).convert("RGB"))
    h, w = rgb.shape[:2]
    if max(h, w) > MAX_SIDE:
        f = MAX_SIDE / max(h, w)
        rgb = cv2.resize(rgb, (max(1, round(w * f)), max(1, round(h * f))),
                         interpolation=cv2.INTER_AREA)
    return np.ascontiguousarray(rgb)
