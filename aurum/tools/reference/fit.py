"""Everything the build decides from the analysed numbers: shape space, k, clusters and
their names, the map. Pure (no images, no engine), so the processor-noise tests re-run
it on perturbed landmarks.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from aurum.analysers import population
from aurum.measure import geometry, shape
from aurum.measure.mirror import mirror_pairs
from aurum.tools.reference.clusters import (
    BOOTSTRAPS,
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
    n = len(fronts)
    model, ratio, emb = fit_shape(fronts, n_components)
    rule_k, per_k = choose_k(emb, seed, k_range(n))
    if k is not None:
        k_source = "pinned by the build command (--k)"
    else:
        k = settle_k(rule_k, per_k, earlier["k"] if earlier else None)
        k_source = "the rule" if k == rule_k else "the earlier build's, within the rule's margin"
    labels, centres = cluster(emb, k, seed)
    measures = np.round(measures, 6)
    orders = earlier_orders(data["ids"], labels, k, earlier) if earlier else None
    clusters = population.describe_clusters(measures, names, labels, k, orders)
    attr = np.round(np.asarray(data["attractiveness"], dtype=np.float64), 4)
    arrays = {
        "measures": measures,
        "quality_norm": np.round(data["quality_norm"], 6),
        "attractiveness": attr,
        "embedding": emb,
        "labels": labels,
        "centres": centres,
        "shape_mean": model.mean,
        "shape_basis": model.basis,
        "shape_partner": model.partner,
    }
    dim = len(model.basis)
    meta: dict[str, Any] = {
        "n": n,
        "measure_names": names,
        "shape": {
            "points": f"mesh points 0-{shape.N_MESH - 1} (irises left out), mirror-averaged, "
                      "Procrustes-aligned to the mean shape",
            "n_components": dim,
            "explained_variance_ratio": [round(float(v), 4) for v in ratio[:dim]],
            "explained_total": round(float(ratio[:dim].sum()), 4),
            "units": "1 unit = 1 % of the face's RMS landmark radius",
        },
        "shape_version": population.shape_version(model),
        "clustering": {"method": "k-means (scikit-learn, n_init=20)", "k": k, "seed": seed,
                       "rule": f"the smallest k in {K_RANGE.start}..{K_RANGE.stop - 1} whose "
                               "bootstrap stability (mean ARI of "
                               f"{BOOTSTRAPS} fits on 80 % subsamples vs the full fit) is "
                               "within max(" f"{K_MARGIN}, 2 standard errors of the "
                               "difference) of the most stable k",
                       "rule_k": rule_k,
                       "k_source": k_source,
                       "per_k": per_k},
        "clusters": clusters,
    }
    if with_map:
        kept = earlier_layout(data["ids"], emb, earlier)
        layout = fit_layout(emb, seed) if kept is None else kept
        arrays["layout"] = layout
        for c in clusters:
            c["centre_xy"] = [round(float(v), 4)
                              for v in np.median(layout[labels == c["id"]], axis=0)]
        placement = heldout_placement(emb, layout, labels, seed=seed, folds=min(FOLDS, n))
        meta["map"] = {
            "method": "umap-learn", "params": UMAP_PARAMS, "random_state": seed,
            "init": "first two shape components, scaled to +-10",
            "inputs": "embedding quantised to 1e-3, exact integer distances, "
                      "canonical row order, numba for a generic CPU",
            "placement": f"inverse-distance weighted mean of the {population.PLACE_K} "
                         "nearest reference faces' positions (shape embedding)",
            "layout_source": "fitted" if kept is None else
                             "the earlier build's (the same faces, embeddings within "
                             f"{LAYOUT_KEEP})",
            "folds": min(FOLDS, n), **placement}
    return arrays, meta
