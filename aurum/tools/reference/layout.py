"""The 2-D map: the UMAP layout, and how well the run-time placement reproduces it.

Apart because it is the build's only chaotic step (UMAP) and the only one that needs
umap-learn and numba; the app never imports it.
"""

from __future__ import annotations

import os

import numpy as np

from aurum.analysers import population
from aurum.measure.canonical import canonical_order
from aurum.tools.reference.clusters import fit_sample

UMAP_PARAMS = {"n_neighbors": 15, "min_dist": 0.3, "metric": "euclidean"}
FOLDS = 10
# How many nearest sample faces place each face UMAP did not see (above FIT_SAMPLE).
CARRY_K = population.PLACE_K
ROW_BLOCK = 512  # rows of a distance matrix computed at once: memory O(n), not O(n^2)


def fit_layout(emb: np.ndarray, seed: int) -> np.ndarray:
    """2-D UMAP layout that any CPU rebuilds the same: UMAP on every face up to
    FIT_SAMPLE (`umap_exact`), else on a fixed-seed sample of FIT_SAMPLE faces, the
    others placed from their nearest sample faces by the run-time rule
    (`population.place_on_map`, batched in `place_many`).

    Why a sample rather than UMAP's approximate neighbours over every face: on 100,000
    resampled faces the sample fits in a fraction of the time and memory, every face
    still gets a position, and held-out real faces land in their own cluster as often
    (docs/scale.md has the figures)."""
    idx = fit_sample(emb, seed)
    if len(idx) == len(emb):
        return umap_exact(emb, seed)
    layout = np.empty((len(emb), 2))
    layout[idx] = umap_exact(emb[idx], seed)
    rest = np.setdiff1d(np.arange(len(emb)), idx)
    layout[rest] = np.round(place_many(emb[rest], emb[idx], layout[idx], k=CARRY_K), 4)
    return layout


def place_many(emb: np.ndarray, ref_emb: np.ndarray, ref_xy: np.ndarray,
               k: int = population.PLACE_K) -> np.ndarray:
    """`population.place_on_map` for many faces at once (a KD-tree finds the k nearest
    reference faces; the same inverse-distance weights, and a face equal to a reference
    face lands on it)."""
    from scipy.spatial import cKDTree

    d, j = cKDTree(ref_emb).query(emb, k=min(k, len(ref_emb)))
    d, j = d.reshape(len(emb), -1), j.reshape(len(emb), -1)
    w = 1.0 / np.maximum(d, 1e-300)
    xy = (ref_xy[j] * w[:, :, None]).sum(axis=1) / w.sum(axis=1)[:, None]
    exact = d[:, 0] < 1e-9
    xy[exact] = ref_xy[j[exact, 0]]
    return xy


def umap_exact(emb: np.ndarray, seed: int) -> np.ndarray:
    """2-D UMAP layout of every row on exact distances.

    UMAP's optimisation is chaotic: an ulp of difference in one input distance moves
    an edge's sampling epoch and, within a few epochs, whole clusters. So every input
    it sees is made exact: the embedding is quantised to 1e-3 (a thousandth of 1 % of
    face size), distances come from integer arithmetic (no BLAS), rows go in in their
    canonical order, the start is the first two shape components, and numba compiles
    UMAP's kernels for a generic x86-64 (no FMA contraction that differs by CPU). The
    distances are computed ROW_BLOCK rows at a time (n x n floats, not n x n x d
    integers: 42 MB rather than 340 MB for 2,303 faces; the same numbers)."""
    os.environ.setdefault("NUMBA_CPU_NAME", "generic")
    import umap  # build time only: its numba JIT never runs on the request path

    order = canonical_order(emb)
    q = np.round(np.asarray(emb, dtype=np.float64)[order] * 1000.0).astype(np.int64)
    dist = np.empty((len(q), len(q)))
    for a in range(0, len(q), ROW_BLOCK):
        d2 = ((q[a:a + ROW_BLOCK, None, :] - q[None, :, :]) ** 2).sum(axis=2)
        dist[a:a + ROW_BLOCK] = np.sqrt(d2.astype(np.float64)) / 1000.0
    start = q[:, :2].astype(np.float64)
    start = 10.0 * start / max(float(np.abs(start).max()), 1.0)
    params = dict(UMAP_PARAMS, metric="precomputed",
                  n_neighbors=min(UMAP_PARAMS["n_neighbors"], len(emb) - 1))
    reducer = umap.UMAP(n_components=2, random_state=seed, n_jobs=1, init=start, **params)
    layout = np.empty((len(emb), 2))
    layout[order] = reducer.fit_transform(dist).astype(np.float64)
    return np.round(layout, 4)


def heldout_placement(emb: np.ndarray, layout: np.ndarray, labels: np.ndarray, *,
                      folds: int = FOLDS, seed: int = 0, only_folds: int | None = None,
                      k: int = population.PLACE_K) -> dict[str, float]:
    """Place each held-out face on the layout from the other folds' faces only
    (`population.place_on_map`) and check that its nearest reference point on the
    map is in its own cluster. `layout_self_share` is the same check for umap's own
    positions (the ceiling the placement is compared against). Above FIT_SAMPLE faces
    both are measured on the sample UMAP was fitted on."""
    idx = fit_sample(emb, seed)
    emb, layout, labels = emb[idx], layout[idx], labels[idx]
    n = len(emb)
    perm = canonical_order(emb)[np.random.default_rng(seed).permutation(n)]
    parts = np.array_split(perm, folds)[: only_folds or folds]
    hits = total = 0
    for held in parts:
        rest = np.setdiff1d(np.arange(n), held)
        for i in held:
            xy = population.place_on_map(emb[i], emb[rest], layout[rest], k=k)
            j = rest[int(np.argmin(((layout[rest] - xy) ** 2).sum(axis=1)))]
            hits += int(labels[j] == labels[i])
            total += 1
    nearest = np.empty(n, dtype=np.int64)
    for a in range(0, n, ROW_BLOCK):
        d = ((layout[a:a + ROW_BLOCK, None, :] - layout[None]) ** 2).sum(axis=2)
        d[np.arange(len(d)), np.arange(a, a + len(d))] = np.inf
        nearest[a:a + ROW_BLOCK] = np.argmin(d, axis=1)
    self_share = float(np.mean(labels[nearest] == labels))
    sizes = np.bincount(labels)
    chance = float(((sizes / n) ** 2).sum())
    return {"heldout_same_cluster_share": round(hits / max(total, 1), 4),
            "layout_self_share": round(self_share, 4), "chance_share": round(chance, 4),
            "n_placed": total}
