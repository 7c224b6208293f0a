"""The 2-D map: the UMAP layout, and how well the run-time placement reproduces it.

Apart because it is the build's only chaotic step (UMAP) and the only one that needs
umap-learn and numba; the app never imports it.
"""

from __future__ import annotations

import os

import numpy as np

from aurum.analysers import population
from aurum.measure.canonical import canonical_order
from aurum.tools.reference import clusters
from aurum.tools.reference.clusters import fit_sample

UMAP_PARAMS = {"n_neighbors": 15, "min_dist": 0.3, "metric": "euclidean"}
FOLDS = 10
ROW_BLOCK = 512  # rows of a distance matrix computed at once: memory O(n), not O(n^2)


def fit_layout(emb: np.ndarray, seed: int) -> np.ndarray:
    """2-D UMAP layout that any CPU rebuilds the same: on exact distances up to
    FIT_SAMPLE faces (`umap_exact`, O(n^2) memory), above it with UMAP's own
    nearest-neighbour descent over every face (`umap_approx`, O(n)).

    Chosen over a UMAP fit on a sample with the rest placed from neighbours on a
    comparison at k = 3 (held-out placement 85.5 % against 80.5 % at 100,000 faces).
    On a bench population drawn from the real faces' kernel density it places 89-95 %
    at 100,000 (docs/scale.md; the 73.5 % first measured came from 0.1-SD copies whose
    neighbour graph fell apart into 1,591 islands)."""
    return umap_exact(emb, seed) if len(emb) <= clusters.FIT_SAMPLE else umap_approx(emb, seed)


def umap_approx(emb: np.ndarray, seed: int) -> np.ndarray:
    """UMAP with its approximate nearest neighbours (NN-descent) on every face: the
    same parameters, start and row order as `umap_exact`, a fixed seed and one thread,
    so one machine rebuilds it the same; another processor's rounding may move it
    (NN-descent is float32), which `--like` covers by keeping an earlier layout."""
    os.environ.setdefault("NUMBA_CPU_NAME", "generic")
    import umap  # build time only

    order = canonical_order(emb)
    q = np.round(np.asarray(emb, dtype=np.float64)[order] * 1000.0)
    start = 10.0 * q[:, :2] / max(float(np.abs(q[:, :2]).max()), 1.0)
    reducer = umap.UMAP(n_components=2, random_state=seed, n_jobs=1, init=start,
                        **UMAP_PARAMS)
    layout = np.empty((len(emb), 2))
    layout[order] = reducer.fit_transform(q / 1000.0).astype(np.float64)
    return np.round(layout, 4)


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
