"""The several-set training pool: its photos in a canonical order, per-set targets,
people as groups, the representations, and the SFHQ faces measured the same way.

Why a canonical order: every fit, fold and the MLP's dropout masks follow the pool's
order, so the order photos arrive in must change nothing.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from aurum.analysers.attractiveness import DESCRIPTOR_NAMES
from aurum.tools.training.common.features import APPEARANCE_GROUPS, feature_names
from aurum.tools.training.common.recording import sfhq_manifest
from aurum.tools.training.multiset.rated_sets import (
    SETS,
    Extractor,
    SetData,
    person_groups,
    standardise_ratings,
)

DISPLAY_SET = "london"


def appearance_names() -> list[str]:
    return feature_names(APPEARANCE_GROUPS)


# ------------------------------------------------------------ representations ------

def _unit(d: np.ndarray) -> np.ndarray:
    return d / np.linalg.norm(d, axis=1, keepdims=True)


REPRESENTATIONS: dict[str, str] = {
    "descriptor": "the L2-normalised 128-D face descriptor",
    "descriptor, photo + mirror": "the descriptor averaged over the photo and its mirror "
                                  "image (then L2-normalised)",
    "descriptor + appearance": "the descriptor and the 15 expression, skin, age and "
                               "contrast features",
}


def features(sd: SetData, rep: str) -> tuple[np.ndarray, list[str]]:
    """The feature matrix of one representation (NaN where a feature is hidden)."""
    if rep == "descriptor":
        return sd.desc.copy(), list(DESCRIPTOR_NAMES)
    if rep == "descriptor, photo + mirror":
        return _unit((sd.desc + sd.desc_mirror) / 2.0), list(DESCRIPTOR_NAMES)
    if rep == "descriptor + appearance":
        names = appearance_names()
        extra = np.array([[s.get(n, math.nan) for n in names] for s in sd.scalars])
        return np.hstack([sd.desc, extra]), list(DESCRIPTOR_NAMES) + names
    raise KeyError(rep)


@dataclass
class Pool:
    """The training pool (London + MEBeauty train) and MEBeauty val, with targets."""

    sd: SetData
    groups: np.ndarray
    target: np.ndarray  # per-set standardised rating
    sets: np.ndarray  # set key per photo
    val: np.ndarray  # bool: MEBeauty val
    norms: dict[str, dict[str, float]]

    def to_rating(self, z: np.ndarray, key: str) -> np.ndarray:
        n = self.norms[key]
        return n["mean"] + n["sd"] * z


def make_pool(sd: SetData) -> Pool:
    """The pool in a canonical order (set, then photo id): every fit, fold and the MLP's
    dropout masks follow this order, so the order photos arrive in changes nothing."""
    order = sorted(range(len(sd.photos)),
                   key=lambda i: (sd.photos[i].set_key, sd.photos[i].photo_id))
    if order != list(range(len(sd.photos))):
        sd = sd.take(np.array(order, dtype=int))
    groups = person_groups(sd)
    norms = standardise_ratings(sd)
    sets = np.array([p.set_key for p in sd.photos])
    target = np.array([(p.rating - norms[p.set_key]["mean"]) / norms[p.set_key]["sd"]
                       for p in sd.photos])
    val = np.array([p.split == "val" for p in sd.photos])
    return Pool(sd, groups, target, sets, val, norms)


def oof_mean(oof: np.ndarray) -> np.ndarray:
    """Mean over CV repeats (NaN for the val photos, which no fold predicts)."""
    out = np.full(oof.shape[1], np.nan)
    ok = np.all(np.isfinite(oof), axis=0)
    out[ok] = oof[:, ok].mean(axis=0)
    return out


def smiling_features(sd: SetData, rep: str) -> np.ndarray:
    """Smiling photos' features in a representation (London only; NaN elsewhere).
    The smiling photo's mirror and appearance are not cached: the mirror candidate uses
    the smiling descriptor for both halves, the appearance one the neutral photo's
    appearance (a conservative reading: only the descriptor moves)."""
    x, _ = features(sd, rep)
    s = sd.smiling_desc
    out = np.full_like(x, np.nan)
    ok = np.all(np.isfinite(s), axis=1)
    out[ok, :128] = s[ok]
    if x.shape[1] > 128:
        out[ok, 128:] = x[ok, 128:]
    return out


@dataclass
class Sfhq:
    labels: list[str]
    sexes: list[str]
    desc: np.ndarray
    x: dict[str, np.ndarray]  # representation -> features


def collect_sfhq(faces: Path | None, extractor: Extractor) -> Sfhq | None:
    """The shared synthetic faces (no ratings): their group labels and features."""
    rows = sfhq_manifest(faces)
    if rows is None:
        return None
    labels, sexes, desc, mirror, scal = [], [], [], [], []
    for path, label, sex in rows:
        m = extractor.measure(path)
        if m.error or not np.all(np.isfinite(m.desc)):
            continue
        labels.append(label)
        sexes.append(sex)
        desc.append(m.desc)
        mirror.append(m.desc_mirror if np.all(np.isfinite(m.desc_mirror)) else m.desc)
        scal.append(m.scalars)
    fake = SetData([], np.array(desc), np.array(mirror), scal, np.zeros(len(desc)))
    return Sfhq(labels, sexes, np.array(desc),
                {rep: features(fake, rep)[0] for rep in REPRESENTATIONS})


def display_points(pool: Pool) -> float:
    """0-100 points per standardised rating unit on the display panel's scale."""
    lo, hi = SETS[DISPLAY_SET].scale
    return 100.0 * pool.norms[DISPLAY_SET]["sd"] / (hi - lo)
