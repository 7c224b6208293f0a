"""The reference build above FIT_SAMPLE faces: the k rule on a fixed sample, UMAP with
its nearest-neighbour descent on every face. Figures at 2,303 / 10,000 / 100,000 faces
are measured by bench/reference_scale.py (docs/scale.md), never here."""

from __future__ import annotations

import numpy as np
import pytest

from aurum.analysers import population
from aurum.measure.canonical import smallest
from aurum.paths import models_dir
from aurum.tools.reference import clusters, fit


@pytest.fixture(scope="module")
def stored() -> dict[str, np.ndarray]:
    with np.load(models_dir() / population.NPZ_NAME, allow_pickle=False) as z:
        return {k: z[k] for k in ("embedding", "measures", "layout")}


def test_smallest_is_the_stable_argsort_head():
    rng = np.random.default_rng(0)
    for _ in range(300):
        v = np.round(rng.normal(size=int(rng.integers(1, 40))), 1)  # many ties
        for m in (1, 5, 50):
            assert np.array_equal(smallest(v, m), np.argsort(v, kind="stable")[:m])


def test_fit_sample_is_every_row_up_to_the_size_and_order_free(stored):
    emb = stored["embedding"]
    assert np.array_equal(clusters.fit_sample(emb, 0), np.arange(len(emb)))  # 2,303 faces
    perm = np.random.default_rng(1).permutation(len(emb))
    a = clusters.fit_sample(emb, 0, size=500)
    b = perm[clusters.fit_sample(emb[perm], 0, size=500)]
    assert len(a) == 500 and np.array_equal(np.sort(a), np.sort(b))


@pytest.mark.slow
def test_above_the_sample_every_face_is_placed_and_a_shuffle_changes_nothing(stored,
                                                                          monkeypatch):
    monkeypatch.setattr(clusters, "FIT_SAMPLE", 150)
    monkeypatch.setattr(fit, "FIT_SAMPLE", 150)
    emb, meas = stored["embedding"][:400], stored["measures"][:400]
    names = [f"m{i}" for i in range(meas.shape[1])]
    monkeypatch.setattr(population, "describe_clusters",
                        lambda m, n, labels, k, orders=None: [
                            {"id": c, "name": str(c), "size": int((labels == c).sum())}
                            for c in range(k)])
    ids = [f"t/{i:03d}" for i in range(400)]
    arrays, meta = fit.fit_numbers(ids, emb, meas, names)
    assert np.isfinite(arrays["layout"]).all() and arrays["layout"].shape == (400, 2)
    assert meta["map"]["n_placed"] == 150 and "sample" in meta["map"]
    assert "k_sample" in meta["clustering"]
    perm = np.random.default_rng(2).permutation(400)
    again, _ = fit.fit_numbers([ids[i] for i in perm], emb[perm], meas[perm], names)
    assert np.array_equal(again["labels"], arrays["labels"][perm])
    assert np.array_equal(again["layout"], arrays["layout"][perm])
