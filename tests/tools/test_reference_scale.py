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


def _bench_module():
    import importlib.util

    from aurum.paths import REPO_DIR

    spec = importlib.util.spec_from_file_location("reference_scale",
                                                  REPO_DIR / "bench" / "reference_scale.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_the_bench_population_is_one_neighbourhood_graph_not_clumps_of_copies():
    """The bench draws N faces from the real faces' kernel density (Silverman's
    bandwidth), so UMAP's 15-nearest-neighbour graph is one piece, as the real faces'
    is; copies with 0.1 SD of jitter fell apart (13 pieces at 20,000 faces, 1,591 at
    100,000), and their map measured the copies, not the build."""
    from scipy.sparse.csgraph import connected_components
    from sklearn.neighbors import NearestNeighbors

    bench = _bench_module()
    ref, _ = bench.committed()
    pieces = {}
    for jitter in (None, 0.1):
        data, held, used = bench.resample(ref, 20000, 0, jitter)
        emb = data["embedding"]
        graph = NearestNeighbors(n_neighbors=15).fit(emb).kneighbors_graph(emb)
        pieces[jitter] = connected_components(graph, directed=False)[0]
        assert len(emb) == 20000 and len(held) == bench.HELD_OUT
    assert used["embedding"] == 0.1
    assert pieces[None] == 1 and pieces[0.1] > 1
    again = bench.resample(ref, 20000, 0, None)[0]["embedding"]
    assert np.array_equal(again, bench.resample(ref, 20000, 0, None)[0]["embedding"])  # seeded
    assert abs(bench.silverman(2057, 8) - 0.491) < 1e-3
