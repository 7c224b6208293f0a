"""Measuring a photo exactly as a request measures it, for both trainers.

Used by `london.data`, `london.robustness` and `multiset.rated_sets`. Why through the
engine: training must see exactly the features a request computes, so each photo goes
through `aurum.engine.Engine` with a `Recorder` in the attractiveness slot. Descriptors
(identity templates) stay in memory for the run only.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from aurum.analysers.descriptor import DescriptorModel
from aurum.engine import Engine
from aurum.measure.appearance import FeatureError, RawFeatures, raw_features


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
    engine = Engine(load_optional=False, pool_size=1)
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


