"""Rated face sets, the part both trainers read: what a set's declaration holds, the
London set's declaration, and the one CSV reader.

Why here: the London-only trainer (`london.data`) and the several-set trainer
(`multiset.rated_sets`, which declares the other sets) read the same London CSV; one
declaration and one reader mean its columns, its canonical order and its rules (a
missing smiling photo, an "NA" age) cannot drift apart between the two models.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class RatedSet:
    """The declaration of one rated set (everything that differs between sets)."""

    key: str  # short id used in the model file ("london", "mebeauty")
    title: str
    folder: str  # under the shared data folder
    csv: str
    image_col: str
    rating_col: str
    sex_col: str
    group_col: str  # ethnicity (fairness tables)
    scale: tuple[float, float]  # the raters' scale
    panel: str  # who rated, for the displayed text
    terms: str  # what a model fitted on this set may be used for
    commercial: bool  # may a model fitted on it be used commercially?
    attribution: str
    image_dir: str = ""
    id_col: str | None = None  # one row = one person when set; else grouped by descriptor
    split_col: str | None = None  # rows with split in `holdout_splits` are validation
    holdout_splits: tuple[str, ...] = ()
    smiling_col: str | None = None
    smiling_dir: str = ""
    age_col: str | None = None

    @property
    def scale_text(self) -> str:
        return f"{self.scale[0]:g}-{self.scale[1]:g}"


LONDON = RatedSet(
    key="london", title="Face Research Lab London Set", folder="london",
    csv="london_faces_scores.csv", image_col="image", image_dir="neutral_front",
    rating_col="rating_mean", sex_col="face_sex", group_col="face_eth", id_col="face_id",
    smiling_col="smiling_image", smiling_dir="smiling_front", age_col="face_age",
    scale=(1.0, 7.0), panel="the London panel (2,513 raters)",
    terms="CC BY 4.0 (commercial use allowed with attribution)", commercial=True,
    attribution=("Face Research Lab London Set: DeBruine, L., & Jones, B. (2017). Face "
                 "Research Lab London Set (Version 5). figshare. "
                 "https://doi.org/10.6084/m9.figshare.5047666.v5, CC BY 4.0"))


@dataclass
class Photo:
    """One rated photo (paths and labels; its features live in `SetData`)."""

    set_key: str
    photo_id: str
    path: Path
    rating: float
    sex: str
    group: str
    split: str  # "train" or "val"
    person: str | None  # declared person id, when the set has one
    smiling: Path | None = None
    age: float | None = None


def read_set(rs: RatedSet, shared: Path) -> list[Photo]:
    """The declared set's rows from its folder under the shared data folder."""
    return read_rows(rs, Path(shared) / rs.folder)


def read_rows(rs: RatedSet, root: Path) -> list[Photo]:
    """The declared set's rows from `root` (the folder holding its CSV), in a canonical
    order (by photo id), so that shuffling the CSV changes nothing downstream."""
    table = Path(root) / rs.csv
    if not table.is_file():
        raise FileNotFoundError(f"{table} not found (rated set {rs.key!r})")
    out = []
    with table.open(newline="", encoding="utf-8") as fh:
        for row in csv.DictReader(fh):
            split = "train"
            if rs.split_col and row.get(rs.split_col, "") in rs.holdout_splits:
                split = "val"
            smile = None
            if rs.smiling_col and row.get(rs.smiling_col):
                p = root / rs.smiling_dir / row[rs.smiling_col]
                smile = p if p.is_file() else None
            age = row.get(rs.age_col, "") if rs.age_col else ""
            out.append(Photo(
                set_key=rs.key,
                photo_id=row[rs.id_col] if rs.id_col else row[rs.image_col],
                path=root / rs.image_dir / row[rs.image_col],
                rating=float(row[rs.rating_col]), sex=row[rs.sex_col],
                group=row[rs.group_col], split=split,
                person=row[rs.id_col] if rs.id_col else None, smiling=smile,
                age=float(age) if age not in ("", "NA", None) else None))
    return sorted(out, key=lambda p: p.photo_id)
