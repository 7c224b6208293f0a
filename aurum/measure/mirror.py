"""The face mesh's left-right partner table: which landmark mirrors which.

Its own module because everything that averages a face with its mirror image needs
it (the symmetry component, appearance, the landmark reader's mirrored views, the
shape model) and none of them should import the geometric score to get it. The table
is data (`aurum/data/mesh_pairs.json`), derived once by `compute_mirror_pairs`.
"""

from __future__ import annotations

import json
from functools import lru_cache
from pathlib import Path

import numpy as np

PAIRS_FILE = Path(__file__).resolve().parent.parent / "data" / "mesh_pairs.json"


@lru_cache(maxsize=1)
def mirror_pairs() -> np.ndarray:
    """Index of each landmark's mirror partner (midline points map to themselves)."""
    return np.asarray(json.loads(PAIRS_FILE.read_text())["partner"], dtype=np.int64)


def compute_mirror_pairs(front_shapes: np.ndarray) -> np.ndarray:
    """Derive the partner table from frontalised shapes (N, 478, 3): a bijection
    between the mean shape and its mirror image (Hungarian assignment)."""
    from scipy.optimize import linear_sum_assignment

    mean = front_shapes[:, :, :2].mean(axis=0)
    mirrored = mean * np.array([-1.0, 1.0])
    cost = np.linalg.norm(mean[:, None, :] - mirrored[None, :, :], axis=2)
    rows, cols = linear_sum_assignment(cost)
    partner = np.empty(len(mean), dtype=np.int64)
    partner[rows] = cols
    return partner
