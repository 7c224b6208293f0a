"""Everything the build decides from the analysed numbers: shape space, k, clusters and
their names, the map. Pure (no images, no engine), so the processor-noise tests re-run
it on perturbed landmarks.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from threadpoolctl import threadpool_limits

from aurum.analysers import population
from aurum.measure import geometry, shape
from aurum.measure.mirror import mirror_pairs
from aurum.tools.reference.clusters import (
    BOOTSTRAPS,
    FIT_SAMPLE,
    K_MARGIN,
    K_RANGE,
    choose_k,
    cluster,
    k_range,
    settle_k,
)
from aurum.tools.reference.earlier import LAYOUT_KEEP, earlier_layout, earlier_orders
from aurum.tools.reference.layout import FOLDS, UMAP_PARAMS, fit_layout, heldout_placement

N_COMPONENTS = 8  # about 94 % of the symmetric shape variance of the shared faces


def from_landmarks(landmarks: np.ndarray) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """Frontalised landmarks and the proportions, exactly as `Engine.analyze` derives
    them from the mesh (the same two calls)."""
    from aurum.measure.pose import frontalise

    fronts = np.array([frontalise(lm) for lm in landmarks])
    rows = [geometry.measure(f) for f in fronts]
    names = list(rows[0]) if rows else []
    return fronts, np.array([[r[n] for n in names] for r in rows]), names


def fit_shape(fronts: np.ndarray, n_components: int) -> tuple[shape.ShapeModel, np.ndarray,
                                                                np.ndarray]:
    """The shape model (rounded so that no -0.0 or last-bit sign leaks into the file),
    its explained variance ratios, and every face's embedding."""
    dim = min(n_components, len(fronts) - 1)
    model, ratio = shape.fit(fronts, mirror_pairs(), dim)
    model.mean = np.round(model.mean, 8) + 0.0  # no -0.0: its sign is the kernel's
    model.basis = np.round(model.basis, 8) + 0.0
    return model, ratio, np.round(model.embed_many(fronts), 6)


def fit_population(data: dict[str, Any], *, seed: int = 0, n_components: int = N_COMPONENTS,
                   k: int | None = None, earlier: dict[str, Any] | None = None,
                   with_map: bool = True) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
    """Everything the build decides from the analysed numbers: shape space, k, clusters
    and their names, the map. Pure (no images, no engine), so the processor-noise tests
    re-run it on perturbed landmarks. `k` pins the number of clusters (the rule's own
    choice is still computed and recorded); `earlier` (`load_earlier`) settles k and
    the trait order of each cluster's name where these figures cannot tell them from
    an earlier build's; `with_map=False` skips the UMAP layout."""
    fronts, measures, names = from_landmarks(data["landmarks"])
    model, ratio, emb = fit_shape(fronts, n_components)
    arrays, meta = fit_numbers(data["ids"], emb, np.round(measures, 6), names, seed=seed,
                               k=k, earlier=earlier, with_map=with_map)
    arrays = {
        "measures": arrays.pop("measures"),
        "quality_norm": np.round(data["quality_norm"], 6),
        "attractiveness": np.round(np.asarray(data["attractiveness"], dtype=np.float64), 4),
        **arrays,
        "shape_mean": model.mean,
        "shape_basis": model.basis,
        "shape_partner": model.partner,
    }
    dim = len(model.basis)
    meta["shape"] = {
        "points": f"mesh points 0-{shape.N_MESH - 1} (irises left out), mirror-averaged, "
                  "Procrustes-aligned to the mean shape",
        "n_components": dim,
        "explained_variance_ratio": [round(float(v), 4) for v in ratio[:dim]],
        "explained_total": round(float(ratio[:dim].sum()), 4),
        "units": "1 unit = 1 % of the face's RMS landmark radius",
    }
    meta["shape_version"] = population.shape_version(model)
    return arrays, meta


def fit_numbers(ids: list[str], emb: np.ndarray, measures: np.ndarray, names: list[str], *,
                seed: int = 0, k: int | None = None, earlier: dict[str, Any] | None = None,
                with_map: bool = True) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
    """The decisions taken from the faces' numbers alone (shape embedding and
    proportions): k, the clusters and their names, the map. Apart from the shape fit so
    that `bench/reference_scale.py` can fit a population of any size from stored numbers
    (no landmarks), through the same code as the build."""
    n = len(emb)
    # k-means on one thread: its OpenMP threads add their partial sums in the order
    # they finish, and on a busy machine spin for a core (measured at load 26 on 2
    # cores: 2.6 CPU s for one KMeans(n_init=10) on 2,303 faces, 0.05 s on one thread).
    with threadpool_limits(limits=1):
        rule_k, per_k = choose_k(emb, seed, k_range(n))
        if k is None:
            k = settle_k(rule_k, per_k, earlier["k"] if earlier else None)
            k_source = "the rule" if k == rule_k else \
                "the earlier build's, within the rule's margin"
        else:
            k_source = "pinned by the build command (--k)"
        labels, centres = cluster(emb, k, seed)
    orders = earlier_orders(ids, labels, k, earlier) if earlier else None
    clusters = population.describe_clusters(measures, names, labels, k, orders)
    arrays = {"measures": measures, "embedding": emb, "labels": labels, "centres": centres}
    meta: dict[str, Any] = {
        "n": n,
        "measure_names": names,
        "clustering": clustering_meta(k, seed, rule_k, k_source, per_k, n),
        "clusters": clusters,
    }
    if with_map:
        kept = earlier_layout(ids, emb, earlier)
        layout = fit_layout(emb, seed) if kept is None else kept
        arrays["layout"] = layout
        for c in clusters:
            c["centre_xy"] = [round(float(v), 4)
                              for v in np.median(layout[labels == c["id"]], axis=0)]
        meta["map"] = map_meta(emb, layout, labels, seed, kept is not None)
    return arrays, meta


def clustering_meta(k: int, seed: int, rule_k: int, k_source: str,
                    per_k: list[dict[str, float]], n: int) -> dict[str, Any]:
    """How k was chosen and the clusters fitted, as written to reference.json."""
    out: dict[str, Any] = {
        "method": "k-means (scikit-learn, n_init=20)", "k": k, "seed": seed,
        "rule": f"the smallest k in {K_RANGE.start}..{K_RANGE.stop - 1} whose "
                "bootstrap stability (mean ARI of "
                f"{BOOTSTRAPS} fits on 80 % subsamples vs the full fit) is "
                "within max(" f"{K_MARGIN}, 2 standard errors of the "
                "difference) of the most stable k",
        "rule_k": rule_k, "k_source": k_source, "per_k": per_k}
    if n > FIT_SAMPLE:  # absent for smaller builds: their files stay as they were
        out["k_sample"] = (f"the k rule's figures on {FIT_SAMPLE} of the {n} faces "
                           f"(fixed seed, canonical order); k-means itself on all {n}")
    return out


def map_meta(emb: np.ndarray, layout: np.ndarray, labels: np.ndarray, seed: int,
             kept: bool) -> dict[str, Any]:
    """How the map was made and how well the run-time placement reproduces it."""
    n = len(emb)
    placement = heldout_placement(emb, layout, labels, seed=seed, folds=min(FOLDS, n))
    out: dict[str, Any] = {
        "method": "umap-learn", "params": UMAP_PARAMS, "random_state": seed,
        "init": "first two shape components, scaled to +-10",
        "inputs": "embedding quantised to 1e-3, exact integer distances, "
                  "canonical row order, numba for a generic CPU",
        "placement": f"inverse-distance weighted mean of the {population.PLACE_K} "
                     "nearest reference faces' positions (shape embedding)",
        "layout_source": "fitted" if not kept else
                         "the earlier build's (the same faces, embeddings within "
                         f"{LAYOUT_KEEP})",
        "folds": min(FOLDS, n), **placement}
    if n > FIT_SAMPLE:
        out["sample"] = (f"umap with its nearest-neighbour descent on all {n} faces "
                         "(approximate neighbours, the embedding quantised to 1e-3, one "
                         f"thread); held-out figures on {FIT_SAMPLE} of them (fixed seed)")
    return out
