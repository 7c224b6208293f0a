"""The faces the age gate learns from, measured exactly as a request measures them.

Labelled sets (all under the shared data folder):
- `minors/`: 104 synthetic faces generated as under 18 (SFHQ age grids; babies,
  toddlers, small children, 16-year-olds). Used ONLY for the gate (minors/README.md).
- adults: `faces/` (257 synthetic SFHQ adults), `london/neutral_front` (102 real adults,
  ages 18-61 in london_faces_info.csv), `mebeauty/` (1,944 rated real adults).

What is kept per photo: the L2-normalised face descriptor, the frontalised mesh and the
engine's geometry. They are cached OUTSIDE the repository (the descriptor is an identity
template and the minors' meshes are theirs), keyed by the photo's SHA-256, like the
attractiveness trainer's cache (`rated_sets.cache_dir`). The descriptor is computed with
dlib's own kernels, the reference runtime, so the fitted gate does not depend on which
CPU kernels OpenCV picks (a request's runtime agrees within 1e-4).
"""

from __future__ import annotations

import csv
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from aurum.paths import sha256_file
from aurum.tools.training.common.recording import load_upright
from aurum.tools.training.multiset.faceres_cache import alignment_tag
from aurum.tools.training.multiset.rated_sets import cache_dir

EXTRACTION_VERSION = "2"  # 2: with faceres (descriptor, age and sex heads)
UNDER_13 = ("10 month old baby", "2.5 year old toddler", "small child")


@dataclass
class GatePhoto:
    """One labelled photo: which set, whether it shows a minor, and the groups the
    cross-validation and the fairness tables need."""

    set_key: str  # "minors", "faces", "london", "mebeauty"
    path: Path
    minor: bool
    group: str  # CV group: the minors' grid, an adult set's person or photo
    age_class: str  # "under13", "teen16", "adult"
    sex: str = ""
    ethnicity: str = ""
    age: float | None = None


def _rows(path: Path) -> list[dict[str, str]]:
    with path.open(newline="", encoding="utf-8") as fh:
        return list(csv.DictReader(fh))


def read_photos(shared: Path, mebeauty_every: int = 1) -> list[GatePhoto]:
    """Every labelled photo, in a canonical order (set, then file name), so a shuffled
    CSV changes nothing downstream. `mebeauty_every` N > 1 keeps MEBeauty's photos at
    positions 1, 1 + N, 1 + 2N... of that order (every Nth from the second: the subset
    the committed gate was fitted on, when measuring all 1,944 took too long)."""
    out: list[GatePhoto] = []
    for r in _rows(shared / "minors" / "MANIFEST.csv"):
        label = r["query_label"].replace("asian female ", "")
        cls = "under13" if label in UNDER_13 else "teen16"
        out.append(GatePhoto("minors", shared / "minors" / r["file"], True, r["grid"], cls))
    for r in _rows(shared / "faces" / "MANIFEST.csv"):
        out.append(GatePhoto("faces", shared / "faces" / r["file"], False,
                             f"faces/{r['grid']}", "adult", sex=r.get("apparent_sex", "")))
    for r in _rows(shared / "london" / "london_faces_info.csv"):
        p = shared / "london" / "neutral_front" / f"{r['face_id'].lstrip('X')}_03.jpg"
        out.append(GatePhoto("london", p, False, f"london/{r['face_id']}", "adult",
                             sex=r["face_sex"], ethnicity=r["face_eth"],
                             age=float(r["face_age"]) if r["face_age"] else None))
    rows = sorted(_rows(shared / "mebeauty" / "scores.csv"), key=lambda r: r["file"])
    for r in rows[1::mebeauty_every] if mebeauty_every > 1 else rows:
        out.append(GatePhoto("mebeauty", shared / "mebeauty" / r["file"], False,
                             f"mebeauty/{r['file']}", "adult", sex=r["sex"],
                             ethnicity=r["ethnicity"]))
    return sorted(out, key=lambda p: (p.set_key, p.path.name))


@dataclass
class Measured:
    """What the engine measured on one photo; `error` set when it found no face."""

    desc: np.ndarray  # (128,) L2-normalised, NaN when unavailable
    front: np.ndarray  # (478, 3) frontalised mesh, empty when unavailable
    error: str | None
    faceres: np.ndarray  # (1024,) L2-normalised faceres descriptor, NaN when unavailable
    age_probs: np.ndarray  # (100,) faceres's age head, NaN when unavailable
    sex: float  # faceres's sex head (near 1: looks male)


class GateExtractor:
    """Runs the request's measurement path (without the gate itself) and caches it."""

    def __init__(self, cache: Path | None = None) -> None:
        self.cache = (Path(cache) if cache is not None else cache_dir()) / "age-gate"
        self._engine: Any = None
        self._seen: dict[str, Any] = {}

    def _setup(self) -> None:
        from aurum.analysers.descriptor import DescriptorModel
        from aurum.engine import AnalyserStep, Engine

        def capture(ctx: Any, result: Any) -> None:
            d = ctx.descriptor
            self._seen["desc"] = None if d is None else d.normalised()
            self._seen["front"] = np.asarray(ctx.front, dtype=np.float64)
            self._seen["faceres"] = ctx.faceres

        self._engine = Engine(load_optional=False, pool_size=1, age_gate=False)
        self._engine.descriptor = DescriptorModel(backend="dlib")
        self._engine.extra_analysers.append(AnalyserStep("capture", capture))

    def measure(self, path: Path) -> Measured:
        # keyed by faceres' chip too: a crop change must not read outputs of another crop
        # (files from before the tag, `-v2.npz`, were made at crop 1.3)
        f = self.cache / f"{sha256_file(path)}-v{EXTRACTION_VERSION}-{alignment_tag()}.npz"
        if f.is_file():
            z = np.load(f, allow_pickle=False)
            return Measured(z["desc"], z["front"], str(z["error"]) or None, z["faceres"],
                            z["age_probs"], float(z["sex"]))
        if self._engine is None:
            self._setup()
        self._seen.clear()
        err = None
        try:
            analysis = self._engine.analyze(load_upright(path))
            err = None if analysis.ok else analysis.error.code
        except Exception as exc:  # unreadable photo: recorded, never fatal
            err = f"unreadable ({type(exc).__name__})"
        desc, fr = self._seen.get("desc"), self._seen.get("faceres")
        if err is None and (desc is None or fr is None):
            err = "no face descriptor"
        m = Measured(np.full(128, np.nan) if desc is None else np.asarray(desc, float),
                     self._seen.get("front", np.zeros((0, 3))), err,
                     np.full(1024, np.nan) if fr is None else fr.normalised(),
                     np.full(100, np.nan) if fr is None else np.asarray(fr.age_probs, float),
                     float("nan") if fr is None else float(fr.sex))
        self.cache.mkdir(parents=True, exist_ok=True)
        tmp = f.with_suffix(".tmp.npz")
        np.savez(tmp, desc=m.desc, front=m.front, error=err or "", faceres=m.faceres,
                 age_probs=m.age_probs, sex=m.sex)
        tmp.replace(f)
        return m


def measure_all(photos: list[GatePhoto], extractor: GateExtractor | None = None,
                progress: Callable[[str], None] = lambda s: None
                ) -> tuple[list[GatePhoto], list[Measured], list[str]]:
    """The photos the engine measured, their measurements, and the failures."""
    ex = extractor or GateExtractor()
    keep, meas, fails = [], [], []
    for i, p in enumerate(photos):
        if i % 200 == 0:
            progress(f"  {i}/{len(photos)} photos measured")
        m = ex.measure(p.path)
        if m.error or not np.all(np.isfinite(m.desc)):
            fails.append(f"{p.set_key}/{p.path.name}: {m.error}")
            continue
        keep.append(p)
        meas.append(m)
    return keep, meas, fails
