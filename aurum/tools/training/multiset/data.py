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

from aurum.analysers.attractiveness import DESCRIPTOR_NAMES, FACERES_NAMES
from aurum.tools.training.common.features import APPEARANCE_GROUPS, feature_names
from aurum.tools.training.common.recording import sfhq_manifest
from aurum.tools.training.multiset.rated_sets import (
    SETS,
    Columns,
    Extractor,
    SetData,
    person_groups,
    standardise_ratings,
)

DISPLAY_SET = "london"
FACERES_SET = frozenset(FACERES_NAMES)


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
    "faceres": "the L2-normalised 1024-D faceres descriptor",
    "faceres, mirror": "faceres averaged over its chip and the chip's mirror image "
                       "(then L2-normalised)",
    "faceres + appearance": "faceres and the 15 appearance features",
    "descriptor + faceres": "the dlib descriptor and faceres side by side (each "
                            "L2-normalised, every feature standardised)",
    "descriptor + faceres, mirror": "the dlib descriptor and faceres averaged with its "
                                    "chip's mirror image",
    "descriptor + faceres + appearance": "the dlib descriptor, faceres and the 15 "
                                         "appearance features",
    "descriptor + faceres, mirror, + appearance": "the dlib descriptor, mirror-averaged "
                                                  "faceres and the 15 appearance features",
    "descriptor + faceres, mirror, blocks equal": "the dlib descriptor and mirror-averaged "
                                                  "faceres, each block with the same total "
                                                  "variance",
    "descriptor + faceres, mirror, + appearance, blocks equal":
        "the dlib descriptor, mirror-averaged faceres (each block with the same total "
        "variance) and the 15 appearance features",
}
BLOCKS_EQUAL = ", blocks equal"


def column_weights(names: list[str], rep: str) -> np.ndarray | None:
    """Per-column weights of the z-scores: with "blocks equal", faceres' 1024 columns
    are scaled by sqrt(128 / 1024), so its block carries dlib's total variance."""
    if not rep.endswith(BLOCKS_EQUAL):
        return None
    w = np.ones(len(names))
    fr = np.array([n in FACERES_SET for n in names])
    w[fr] = math.sqrt(len(DESCRIPTOR_NAMES) / fr.sum())
    return w


def blocks(rep: str) -> tuple[str | None, str | None, bool]:
    """(dlib block, faceres block, appearance?) of a representation's name."""
    parts = rep.removesuffix(BLOCKS_EQUAL).replace(", +", " +").split(" + ")
    dlib = fr = None
    for part in parts:
        head, _, how = part.partition(", ")
        if head == "descriptor":
            dlib = "mirror" if how == "photo + mirror" else "photo"
        elif head == "faceres":
            fr = "mirror" if how == "mirror" else "photo"
    if rep == "descriptor, photo + mirror":
        dlib = "mirror"
    return dlib, fr, "appearance" in parts or rep.endswith("+ appearance")


def features(sd: SetData, rep: str) -> tuple[np.ndarray, list[str]]:
    """The feature matrix of one representation (NaN where a feature is hidden): the
    dlib block, then faceres, then the appearance features."""
    if rep not in REPRESENTATIONS:
        raise KeyError(rep)
    dlib, fr, appearance = blocks(rep)
    cols, names = [], []
    if dlib == "photo":
        cols.append(sd.desc.copy())
    elif dlib == "mirror":
        cols.append(_unit((sd.desc + sd.desc_mirror) / 2.0))
    if dlib:
        names += DESCRIPTOR_NAMES
    if fr:
        if sd.fr is None or sd.fr_flip is None:
            raise ValueError("faceres features were not measured for these photos")
        cols.append(_unit(sd.fr if fr == "photo" else (sd.fr + sd.fr_flip) / 2.0))
        names += FACERES_NAMES
    if appearance:
        extra = appearance_names()
        cols.append(np.array([[s.get(n, math.nan) for n in extra] for s in sd.scalars]))
        names += extra
    return np.hstack(cols), names


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
    The smiling photo's dlib mirror and appearance are not cached: the dlib mirror
    candidate uses the smiling descriptor for both halves, appearance comes from the
    neutral photo (a conservative reading: only the descriptors move). faceres of the
    smiling photo, and of its chip's mirror, are cached."""
    smile = SetData(sd.photos, sd.smiling_desc, sd.smiling_desc, sd.scalars,
                    sd.faces_found, fr=sd.smiling_fr, fr_flip=sd.smiling_fr_flip)
    ok = np.all(np.isfinite(sd.smiling_desc), axis=1)
    if sd.smiling_fr is not None:
        ok &= np.all(np.isfinite(sd.smiling_fr), axis=1)
    x, _ = features(sd, rep)
    out = np.full_like(x, np.nan)
    with np.errstate(invalid="ignore", divide="ignore"):
        xs, _ = features(smile, rep)
    out[ok] = xs[ok]
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
    labels, sexes, cols = [], [], Columns()
    for path, label, sex in rows:
        got = extractor.usable(path)
        if isinstance(got, str):
            continue
        labels.append(label)
        sexes.append(sex)
        cols.add(*got)
    fake = cols.set_data([], np.zeros(len(cols.desc)))
    return Sfhq(labels, sexes, np.array(cols.desc),
                {rep: features(fake, rep)[0] for rep in REPRESENTATIONS})


def display_points(pool: Pool) -> float:
    """0-100 points per standardised rating unit on the display panel's scale."""
    lo, hi = SETS[DISPLAY_SET].scale
    return 100.0 * pool.norms[DISPLAY_SET]["sd"] / (hi - lo)
