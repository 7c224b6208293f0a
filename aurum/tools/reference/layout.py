"""The 2-D map: the UMAP layout, and how well the run-time placement reproduces it.

Apart because it is the build's only chaotic step (UMAP) and the only one that needs
umap-learn and numba; the app never imports it.
"""

from __future__ import annotations

import os

import numpy as np

from aurum.analysers import population
from aurum.measure.canonical import canonical_order

UMAP_PARAMS = {"n_neighbors": 15, "min_dist": 0.3, "metric": "euclidean"}
FOLDS = 10


def fit_layout(emb: np.ndarray, seed: int) -> np.ndarray:
    """2-D UMAP layout that any CPU rebuilds the same.

    UMAP's optimisation is chaotic: an ulp of difference in one input distance moves
    an edge's sampling epoch and, within a few epochs, whole clusters. So every input
    it sees is made exact: the embedding is quantised to 1e-3 (a thousandth of 1 % of
    face size), distances come from integer arithmetic (no BLAS), rows go in in their
    canonical order, the start is the first two shape components, and numba compiles
    UMAP's kernels for a generic x86-64 (no FMA contraction that differs by CPU)."""
    os.environ.setdefault("NUMBA_CPU_NAME", "generic")
    import umap  # build time only: its numba JIT never runs on the request path

    order = canonical_order(emb)
    q = np.round(np.asarray(emb, dtype=np.float64)[order] * 1000.0).astype(np.int64)
    d2 = ((q[:, None, :] - q[None, :, :]) ** 2).sum(axis=2)
    dist = np.sqrt(d2.astype(np.float64)) / 1000.0
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
    positions (the ceiling the placement is compared against)."""
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
    d = ((layout[:, None, :] - layout[None]) ** 2).sum(axis=2)
    np.fill_diagonal(d, np.inf)
    self_share = float(np.mean(labels[np.argmin(d, axis=1)] == labels))
    sizes = np.bincount(labels)
    chance = float(((sizes / n) ** 2).sum())
    return {"heldout_same_cluster_share": round(hits / max(total, 1), 4),
            "layout_self_share": round(self_share, 4), "chance_share": round(chance, 4),
            "n_placed": total}
