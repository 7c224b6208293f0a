"""Rated face sets the attractiveness model learns from: one declaration each.

A set is a folder under the shared data with a CSV of mean ratings. Adding the next set
means appending one `RatedSet(...)` (`common.ratings`) to `SETS` (its folder, CSV
columns, rating scale, panel and terms); loading, feature extraction, the per-set rating
standardisation, the grouped cross-validation and the card's tables follow from the
declaration.

Features are measured by the engine a request uses (`aurum.engine.Engine`), once per
photo and once per mirrored photo, and cached OUTSIDE the repository (they include the
face descriptor, an identity template: it must never be committed). The cache is keyed
by the photo's SHA-256 and the extraction rule's version, so a renamed or re-ordered set
reuses it and a changed photo is measured again.

Photo rule (recorded in the model card): the photo is turned upright (EXIF), scaled down
so its longer side is at most `common.recording.MAX_SIDE` pixels (MEBeauty has photos
several thousand pixels a side; the face mesh runs on a fixed-size crop anyway), and the
engine's own face choice applies: the largest detected face (for MEBeauty photos of
couples, which face was rated is not recorded; the largest is the usual subject).
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from aurum.paths import sha256_file
from aurum.tools.training.common.ratings import LONDON, Photo, RatedSet, read_set
from aurum.tools.training.common.recording import load_upright, recording_engine

if TYPE_CHECKING:
    from aurum.tools.training.multiset.faceres_cache import FaceresMeasured

EXTRACTION_VERSION = "1"  # bump when the measured features would change

# London's declaration (and RatedSet, Photo, the CSV reader) live in common.ratings: the
# London-only trainer reads the same CSV.
MEBEAUTY = RatedSet(
    key="mebeauty", title="MEBeauty (train and val splits)", folder="mebeauty",
    csv="scores.csv", image_col="file", rating_col="score", sex_col="sex",
    group_col="ethnicity", split_col="split", holdout_splits=("val",),
    scale=(1.0, 10.0), panel="the MEBeauty panel (about 300 raters a photo)",
    terms="research and non-commercial use (no licence stated; photos from web sources)",
    commercial=False,
    attribution=("MEBeauty database: Lebedeva, I., Guo, Y., & Ying, F. (2022). MEBeauty: a "
                 "multi-ethnic facial beauty dataset in-the-wild. Neural Computing and "
                 "Applications. github.com/fbplab/MEBeauty-database; research and "
                 "non-commercial use"))

SETS: dict[str, RatedSet] = {s.key: s for s in (LONDON, MEBEAUTY)}


# ---------------------------------------------------------------- features ----------

def cache_dir() -> Path:
    """Where measured features are cached: `AURUM_FEATURE_CACHE`, else the user's cache
    folder. Never inside the repository (descriptors are identity templates)."""
    env = os.environ.get("AURUM_FEATURE_CACHE")
    base = Path(env) if env else Path(os.environ.get("XDG_CACHE_HOME",
                                                     Path.home() / ".cache")) / "aurum-features"
    return base


@dataclass
class Measured:
    """What the engine measured on one photo (NaN descriptor when it failed)."""

    desc: np.ndarray  # (128,) L2-normalised
    desc_mirror: np.ndarray  # (128,) of the mirrored photo
    scalars: dict[str, float]
    shape: np.ndarray | None
    faces_found: int
    error: str | None

    @property
    def mirror_or_self(self) -> np.ndarray:
        """The mirrored photo's descriptor; where the mirror failed, the photo's own, so
        one failed mirror never drops a photo the model can learn from."""
        return self.desc_mirror if np.all(np.isfinite(self.desc_mirror)) else self.desc


class Extractor:
    """Runs the engine on photos and caches the results by SHA-256."""

    def __init__(self, cache: Path | None = None) -> None:
        from aurum.tools.training.multiset.faceres_cache import FaceresExtractor

        self.cache = Path(cache) if cache is not None else cache_dir()
        self._engine: Any = None
        self._rec: Any = None
        # faceres outputs, cached in their own files beside these (faceres_cache)
        self.faceres = FaceresExtractor(self.cache)

    def _setup(self) -> None:
        if self._engine is None:
            # the descriptor runtime a request uses (OpenCV's kernels on dlib's weights;
            # equal to dlib's own within 1e-4, far below the processor-perturbation
            # scale the selection is tested against)
            self._engine, self._rec = recording_engine()

    def usable(self, path: Path) -> tuple[Measured, FaceresMeasured] | str:
        """Both networks' measures of a photo a model can learn from, or why it cannot
        (the first network whose descriptor failed or is not finite): one rule for the
        rated sets and the SFHQ faces."""
        m = self.measure(path)
        if m.error or not np.all(np.isfinite(m.desc)):
            return m.error or "no face descriptor"
        fm = self.faceres.measure(path)
        if fm.error or not np.all(np.isfinite(fm.desc)):
            return f"faceres: {fm.error or 'not finite'}"
        return m, fm

    def measure(self, path: Path) -> Measured:
        digest = sha256_file(path)
        f = self.cache / f"{digest}-v{EXTRACTION_VERSION}.npz"
        if f.is_file():
            z = np.load(f, allow_pickle=False)
            names = [str(n) for n in z["names"]]
            return Measured(desc=z["desc"], desc_mirror=z["desc_mirror"],
                            scalars=dict(zip(names, z["values"].tolist(), strict=True)),
                            shape=z["shape"] if z["shape"].size else None,
                            faces_found=int(z["faces_found"]),
                            error=str(z["error"]) or None)
        self._setup()
        nan = np.full(128, np.nan)
        err: str | None = None
        try:
            rgb = load_upright(path)
        except Exception as exc:  # unreadable photo: recorded, never fatal
            rgb, err = None, f"unreadable ({type(exc).__name__})"
        desc, desc_m, scalars, shape, faces = nan, nan, {}, None, 0
        if rgb is not None:
            self._rec.raw, self._rec.desc, self._rec.error = None, None, None
            analysis = self._engine.analyze(rgb)
            if not analysis.ok:
                err = analysis.error.message if analysis.error else "analysis failed"
            else:
                faces = int(analysis.face["faces_found"])
                if self._rec.desc is None:
                    err = "no face descriptor"
                else:
                    desc = np.asarray(self._rec.desc, dtype=np.float64)
                if self._rec.raw is not None:
                    scalars = {k: float(v) for k, v in self._rec.raw.scalars.items()}
                    shape = np.asarray(self._rec.raw.shape, dtype=np.float64)
                self._rec.desc = None
                mirror = self._engine.analyze(np.ascontiguousarray(rgb[:, ::-1]))
                if mirror.ok and self._rec.desc is not None:
                    desc_m = np.asarray(self._rec.desc, dtype=np.float64)
        self.cache.mkdir(parents=True, exist_ok=True)
        names = sorted(scalars)
        tmp = f.with_suffix(".tmp.npz")
        np.savez(tmp, desc=desc, desc_mirror=desc_m, names=np.array(names, dtype=str),
                 values=np.array([scalars[n] for n in names], dtype=np.float64),
                 shape=shape if shape is not None else np.zeros(0),
                 faces_found=faces, error=err or "")
        tmp.replace(f)
        return Measured(desc, desc_m, scalars, shape, faces, err)


@dataclass
class SetData:
    """Every photo of the declared sets with its measured features, in one table."""

    photos: list[Photo]
    desc: np.ndarray  # (n, 128)
    desc_mirror: np.ndarray  # (n, 128)
    scalars: list[dict[str, float]]
    faces_found: np.ndarray
    failures: list[str] = field(default_factory=list)
    smiling_desc: np.ndarray | None = None  # (n, 128), NaN where no smiling photo
    seconds: float = 0.0
    # faceres (raw 1024-D outputs) of the chip, of its mirror image, and of the smiling
    # photo's chip and mirror (NaN where no smiling photo); None when not measured
    fr: np.ndarray | None = None
    fr_flip: np.ndarray | None = None
    smiling_fr: np.ndarray | None = None
    smiling_fr_flip: np.ndarray | None = None

    @property
    def y(self) -> np.ndarray:
        return np.array([p.rating for p in self.photos])

    def take(self, keep: np.ndarray) -> SetData:
        """The photos where `keep` is true (a boolean mask) or at `keep` (indices, in
        that order)."""
        keep = np.asarray(keep)
        idx = np.flatnonzero(keep) if keep.dtype == bool else keep

        def rows(a: np.ndarray | None) -> np.ndarray | None:
            return None if a is None else a[idx]

        return SetData([self.photos[i] for i in idx], self.desc[idx], self.desc_mirror[idx],
                       [self.scalars[i] for i in idx], self.faces_found[idx],
                       list(self.failures), rows(self.smiling_desc), self.seconds,
                       rows(self.fr), rows(self.fr_flip), rows(self.smiling_fr),
                       rows(self.smiling_fr_flip))


@dataclass
class Columns:
    """The features `SetData` keeps of each usable photo, gathered one photo at a time:
    one way for the rated sets and the SFHQ faces."""

    desc: list[np.ndarray] = field(default_factory=list)
    mirror: list[np.ndarray] = field(default_factory=list)
    scalars: list[dict[str, float]] = field(default_factory=list)
    fr: list[np.ndarray] = field(default_factory=list)
    fr_flip: list[np.ndarray] = field(default_factory=list)

    def add(self, m: Measured, fm: FaceresMeasured) -> None:
        self.desc.append(m.desc)
        self.mirror.append(m.mirror_or_self)
        self.scalars.append(m.scalars)
        self.fr.append(fm.desc)
        self.fr_flip.append(fm.flip)

    def set_data(self, photos: list[Photo], faces_found: np.ndarray, **rest: Any) -> SetData:
        return SetData(photos, np.array(self.desc), np.array(self.mirror), self.scalars,
                       faces_found, fr=np.array(self.fr), fr_flip=np.array(self.fr_flip),
                       **rest)


def collect_sets(shared: Path, keys: Sequence[str], extractor: Extractor | None = None,
                 progress: Callable[[str], None] = lambda s: None,
                 limit: int | None = None) -> SetData:
    """Measure (or read from the cache) every photo of the named sets; photos without
    a descriptor are dropped and listed in `failures`. `limit` takes the first N photos
    of each set (tests)."""
    t0 = time.perf_counter()
    ex = extractor or Extractor()
    cols, photos, faces, smiles, fails = Columns(), [], [], [], []
    smile_frs: list[list[np.ndarray]] = [[], []]  # the smiling photo's chip, its mirror
    nan_fr = np.full(1024, np.nan)
    for key in keys:
        rows = read_set(SETS[key], shared)
        if limit is not None:
            rows = rows[:limit]
        for i, p in enumerate(rows):
            got = ex.usable(p.path)
            if i % 100 == 0:
                progress(f"  {key}: {i}/{len(rows)} photos measured")
            if isinstance(got, str):
                fails.append(f"{key}/{p.path.name}: {got}")
                continue
            m, fm = got
            sd, sfr = np.full(128, np.nan), (nan_fr, nan_fr)
            if p.smiling is not None:
                ms = ex.measure(p.smiling)
                fs = ex.faceres.measure(p.smiling)
                if not ms.error and np.all(np.isfinite(ms.desc)) and not fs.error:
                    sd, sfr = ms.desc, (fs.desc, fs.flip)
            for lst, v in zip(smile_frs, sfr, strict=True):
                lst.append(v)
            cols.add(m, fm)
            photos.append(p)
            faces.append(m.faces_found)
            smiles.append(sd)
    return cols.set_data(photos, np.array(faces), failures=fails,
                         smiling_desc=np.array(smiles), seconds=time.perf_counter() - t0,
                         smiling_fr=np.array(smile_frs[0]),
                         smiling_fr_flip=np.array(smile_frs[1]))


# ---------------------------------------------------------------- grouping ----------

# Two photos whose L2-normalised descriptors lie closer than this are taken to show the
# same person. Measured on MEBeauty train/val: unrelated photos' median distance is 0.57,
# nearest neighbours mostly 0.30-0.40 (different people in a crowded space); 26 photos
# have a neighbour within 0.10 (re-posts, re-crops), none within 0.10-0.15. 0.25 joins
# those and every pair up to the 5th percentile of nearest-neighbour distances (1,896
# people, 39 in 2 photos, 4 in 3-4); single linkage chains past 0.28 (a group of 22).
# Erring towards joining only makes CV more conservative.
SAME_PERSON = 0.25


def _find(parent: list[int], a: int) -> int:
    while parent[a] != a:
        parent[a] = parent[parent[a]]
        a = parent[a]
    return a


def person_groups(sd: SetData, threshold: float = SAME_PERSON) -> np.ndarray:
    """A person label per photo: declared ids where the set has them, else connected
    components of the 'closer than threshold' graph within the set (single linkage),
    so every photo of one person lands in the same fold."""
    labels = np.empty(len(sd.photos), dtype=object)
    for key in sorted({p.set_key for p in sd.photos}):
        idx = np.array([i for i, p in enumerate(sd.photos) if p.set_key == key])
        if all(sd.photos[i].person is not None for i in idx):
            for i in idx:
                labels[i] = f"{key}:{sd.photos[i].person}"
            continue
        d = sd.desc[idx]
        parent = list(range(len(idx)))

        g2 = (d * d).sum(1)
        dist2 = g2[:, None] + g2[None, :] - 2 * d @ d.T
        ii, jj = np.nonzero(np.triu(dist2 < threshold ** 2, 1))
        for a, b in zip(ii.tolist(), jj.tolist(), strict=True):
            ra, rb = _find(parent, a), _find(parent, b)
            if ra != rb:
                parent[max(ra, rb)] = min(ra, rb)
        roots: dict[int, list[int]] = {}
        for k in range(len(idx)):
            roots.setdefault(_find(parent, k), []).append(k)
        for members in roots.values():
            # named by the group's first photo id: independent of row order
            name = min(sd.photos[idx[k]].photo_id for k in members)
            for k in members:
                labels[idx[k]] = f"{key}:{name}"
    return labels


def group_sizes(labels: np.ndarray) -> dict[str, int]:
    """How many people appear in 1, 2, 3+ photos (for the card)."""
    _, counts = np.unique(labels.astype(str), return_counts=True)
    return {"people": int(len(counts)), "in_2_photos": int((counts == 2).sum()),
            "in_3_or_more": int((counts >= 3).sum()), "largest": int(counts.max())}


def standardise_ratings(sd: SetData) -> dict[str, dict[str, float]]:
    """Each set's rating mean and SD over its training photos (val excluded): the
    explicit mapping between scales. A rating r of set s becomes (r - mean_s) / sd_s."""
    out = {}
    for key in sorted({p.set_key for p in sd.photos}):
        y = np.array([p.rating for p in sd.photos if p.set_key == key and p.split == "train"])
        out[key] = {"mean": float(y.mean()), "sd": float(y.std()), "n_train": int(len(y)),
                    "scale": list(SETS[key].scale)}
    return out

