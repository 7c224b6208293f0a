"""The London-only trainer's data: the rated London faces and the shared SFHQ faces,
measured as a request measures them (`common.recording`).

Used by every module of `london`. Descriptors (identity templates) stay in memory for
the run only.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from aurum.analysers.descriptor import Descriptor
from aurum.measure.appearance import RawFeatures
from aurum.tools.training.common.ratings import LONDON, read_rows
from aurum.tools.training.common.recording import measure, recording_engine, sfhq_manifest

# dlib's own kernels, the reference runtime: the London model's rebuilt artefacts do not
# depend on which CPU kernels OpenCV picks (the runtimes agree within 1e-4 anyway)
DESCRIPTOR_BACKEND = "dlib"


@dataclass
class Face:
    face_id: str
    rating: float
    sex: str
    eth: str
    age: float | None
    neutral: Path
    smiling: Path | None


@dataclass
class Dataset:
    faces: list[Face]
    raw: list[RawFeatures]
    smiling: list[RawFeatures | None]
    # L2-normalised descriptors (identity templates): held in memory for the run only,
    # never written anywhere; NaN rows where a photo had none
    desc: np.ndarray = field(default_factory=lambda: np.zeros((0, 128)))
    desc_smiling: np.ndarray = field(default_factory=lambda: np.zeros((0, 128)))
    contexts: list[Any] = field(default_factory=list)  # a few, for timing
    failures: list[str] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def y(self) -> np.ndarray:
        return np.array([f.rating for f in self.faces])


def read_faces(data: Path) -> list[Face]:
    """The London faces, read from `data` (the London set folder) by the rated sets'
    reader and declaration, so both trainers read the CSV one way; in a canonical order
    (by id), so that shuffling the CSV's rows changes nothing: the folds, the inner
    folds and so the fitted model follow this order."""
    scores = data / LONDON.csv
    if not scores.is_file():
        raise FileNotFoundError(f"{scores} not found: --data must be the London set folder")
    return [Face(face_id=p.photo_id, rating=p.rating, sex=p.sex, eth=p.group, age=p.age,
                 neutral=p.path, smiling=p.smiling) for p in read_rows(LONDON, data)]


def collect(data: Path, keep_contexts: int = 8) -> Dataset:
    """Analyse every neutral and smiling photo once (the run's cache of analyses)."""
    t0 = time.perf_counter()
    engine, rec = recording_engine(DESCRIPTOR_BACKEND)
    faces, raws, smiles, ctxs, failures = [], [], [], [], []
    descs, descs_s = [], []
    nan = np.full(128, np.nan)
    for face in read_faces(data):
        raw, err = measure(engine, rec, face.neutral, keep=len(ctxs) < keep_contexts)
        if raw is None or rec.desc is None:
            failures.append(f"{face.neutral.name}: {err or 'no face descriptor'}")
            continue
        if rec.ctx is not None:
            ctxs.append(rec.ctx)
        desc = rec.desc
        smile, desc_s = None, nan
        if face.smiling is not None:
            smile, err = measure(engine, rec, face.smiling)
            if smile is None or rec.desc is None:
                failures.append(f"{face.smiling.name}: {err or 'no face descriptor'}")
                smile = None
            else:
                desc_s = rec.desc
        faces.append(face)
        raws.append(raw)
        smiles.append(smile)
        descs.append(desc)
        descs_s.append(desc_s)
    return Dataset(faces=faces, raw=raws, smiling=smiles, contexts=ctxs, failures=failures,
                   seconds=time.perf_counter() - t0, desc=np.array(descs),
                   desc_smiling=np.array(descs_s))


def as_descriptor(values: np.ndarray | None) -> Descriptor | None:
    """Wrap a stored (normalised) descriptor for `analyze_raw`."""
    if values is None or not np.all(np.isfinite(values)):
        return None
    return Descriptor(np.asarray(values, dtype=np.float64))


@dataclass
class SharedFaces:
    """The shared synthetic SFHQ faces (no ratings), measured once per run."""

    labels: list[str]
    sexes: list[str]
    raw: list[RawFeatures | None]
    desc: list[np.ndarray | None]


def collect_shared(faces: Path | None) -> SharedFaces | None:
    """Measure the shared SFHQ faces (None without a manifest)."""
    rows = sfhq_manifest(faces)
    if rows is None:
        return None
    engine, rec = recording_engine(DESCRIPTOR_BACKEND)
    out = SharedFaces([], [], [], [])
    for path, label, sex in rows:
        raw, _ = measure(engine, rec, path)
        out.labels.append(label)
        out.sexes.append(sex)
        out.raw.append(raw)
        out.desc.append(rec.desc if raw is not None else None)
    return out
