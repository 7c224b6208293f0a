"""faceres features of the rated (and SFHQ) photos, cached beside the dlib features.

Why a cache of its own: the dlib features' files (`<sha256>-v1.npz`) predate faceres;
faceres outputs go in `<sha256>-faceres-v<VERSION>-<alignment tag>.npz` in the same
folder, so an old file is never read as if it held them, and either can be rebuilt
alone. The tag is a digest of `aurum.analysers.faceres.alignment` (crop scale, chip
size, weights): a crop change makes new files rather than reading chips of another
crop (files from before the tag, `-faceres-v1.npz`, were made at crop 1.3). Bump
VERSION when what is stored changes.

Per photo: the engine's face choice on the same upright, size-capped photo as the dlib
features (`common.recording.load_upright`), the faceres chip of that face, and the network's
outputs for the chip and for its mirror image (the runtime's mirror average flips the
chip, so the training features are exactly what a request computes). The raw 1024-D
outputs are stored (normalised where used), with the age and sex heads' estimates.
Like the dlib cache, it lives outside the repository: descriptors are identity
templates.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from aurum.paths import sha256_file

VERSION = "1"
DIM = 1024


@dataclass
class FaceresMeasured:
    """faceres on one photo (NaN vectors when it failed)."""

    desc: np.ndarray  # (1024,) raw, the chip
    flip: np.ndarray  # (1024,) raw, the chip's mirror image
    age: float
    sex: float
    error: str | None


def alignment_tag() -> str:
    """12 hex digits naming the chip the cached outputs were computed from."""
    from aurum.analysers.faceres import alignment

    text = json.dumps(alignment(), sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()[:12]


class FaceresExtractor:
    """Runs the engine's face choice and faceres on photos; caches by SHA-256."""

    def __init__(self, cache: Path) -> None:
        self.cache = Path(cache)
        self._engine: Any = None
        self._model: Any = None
        self._box: dict[str, Any] = {}

    def _setup(self) -> None:
        if self._engine is not None:
            return
        from aurum.analysers.faceres import FaceresModel
        from aurum.engine import AnalyserStep, Engine

        # only the face choice is needed: no descriptors, and no adults-only gate (it
        # needs the descriptors, and would refuse every photo without them)
        eng = Engine(load_optional=False, pool_size=1, age_gate=False)
        eng.descriptor, eng.faceres = None, None

        def capture(ctx: Any, result: Any) -> None:
            self._box["landmarks"] = ctx.face.landmarks

        eng.extra_analysers = [AnalyserStep("capture", capture)]
        self._model = FaceresModel()
        if not self._model.load():
            raise RuntimeError(f"faceres: {self._model.status()}")
        self._engine = eng

    def _compute(self, path: Path) -> FaceresMeasured:
        from aurum.analysers.faceres import crop
        from aurum.tools.training.common.recording import load_upright

        nan = np.full(DIM, np.nan)
        try:
            rgb = load_upright(path)
            self._box.clear()
            analysis = self._engine.analyze(rgb)
            if not analysis.ok:
                return FaceresMeasured(nan, nan, np.nan, np.nan,
                                       analysis.error.message if analysis.error
                                       else "analysis failed")
            chip = crop(rgb, self._box["landmarks"])
            one = self._model.compute_chip(chip)
            flip = self._model.compute_chip(np.ascontiguousarray(chip[:, ::-1]))
            return FaceresMeasured(one.values, flip.values, one.age_years, one.sex, None)
        except Exception as exc:  # an unreadable photo is recorded, never fatal
            return FaceresMeasured(nan, nan, np.nan, np.nan,
                                   f"failed ({type(exc).__name__}: {exc})")

    def measure(self, path: Path) -> FaceresMeasured:
        f = self.cache / f"{sha256_file(path)}-faceres-v{VERSION}-{alignment_tag()}.npz"
        if f.is_file():
            z = np.load(f, allow_pickle=False)
            return FaceresMeasured(z["desc"], z["desc_flip"], float(z["age"]),
                                   float(z["sex"]), str(z["error"]) or None)
        self._setup()
        m = self._compute(path)
        self.cache.mkdir(parents=True, exist_ok=True)
        tmp = f.with_suffix(".tmp.npz")
        np.savez(tmp, desc=m.desc, desc_flip=m.flip, age=m.age, sex=m.sex,
                 faces_found=0, error=m.error or "")
        tmp.replace(f)
        return m
