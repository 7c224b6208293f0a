"""`python -m aurum build-reference`: measure the reference faces once and store numbers.

Runs `Engine.analyze` on every image (the same code path a user's photo takes) in
the worker processes of `aurum.tools.workers`, so a population of tens of thousands of photos uses
every core and keeps only numbers in memory; then fits the shape embedding, picks
the number of vibe clusters by silhouette and bootstrap stability, names each
cluster from its measurable deviations, fits the 2-D UMAP layout and checks how
well the run-time placement (neighbours on the stored layout, no umap at run time)
reproduces it on held-out faces.

Writes `reference.npz` (plain arrays, loadable with `allow_pickle=False`) and
`reference.json` (ids, names, metadata). No image and no pixel is written. Seeds
are fixed, inputs sorted and floats rounded, so a rebuild on the same inputs is
byte-identical and shows no diff.
"""

from __future__ import annotations

import argparse
import importlib.metadata as md
import json
import logging
import math
import os
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

from aurum.analysers import population
from aurum.measure import geometry, quality, shape
from aurum.measure.canonical import canonical_order, reference_vector
from aurum.measure.geometry import mirror_pairs
from aurum.paths import models_dir, shared_dir

N_COMPONENTS = 8  # about 94 % of the symmetric shape variance of the shared faces
K_RANGE = range(3, 9)  # two groups would be a binary label, not a set of vibes
BOOTSTRAPS = 20
# The smallest stability gap the k rule treats as real: below it the fewer clusters win.
K_MARGIN = 0.05
# An earlier map is kept for embeddings within this of the earlier ones: twice the largest
# cross-processor change measured (0.045; tests/processor_noise.py).
LAYOUT_KEEP = 0.1
UMAP_PARAMS = {"n_neighbors": 15, "min_dist": 0.3, "metric": "euclidean"}
FOLDS = 10
log = logging.getLogger("aurum.tools.build_reference")


def source_name(folder: Path) -> str:
    """Folder label used in ids: its path under the shared folder, else its name."""
    try:
        return folder.resolve().relative_to(shared_dir()).as_posix()
    except ValueError:
        return folder.name


def collect(folders: list[Path], limit: int | None) -> list[tuple[str, Path]]:
    """(id, file) for every image under the folders, recursively, sorted by id.

    An id is the folder's label (`source_name`) and the file's path under it without
    its extension: stable across machines and runs, and unique: two folders with the
    same label are refused, a file reached through two arguments is kept once, and
    files that differ only by extension keep it in their ids."""
    from aurum.tools.batch import walk_images

    items: list[tuple[str, Path]] = []
    labels: dict[str, Path] = {}
    seen: set[Path] = set()
    for folder in folders:
        src = source_name(folder)
        if src in labels and labels[src] != folder.resolve():
            raise SystemExit(f"error: two folders are both labelled '{src}' "
                             f"({labels[src]} and {folder.resolve()}); rename one")
        labels[src] = folder.resolve()
        files = list(walk_images(folder))
        if limit:
            files = files[:limit]
        for p in files:
            real = p.resolve()
            if real in seen:
                continue
            seen.add(real)
            rel = p.relative_to(folder).with_suffix("").as_posix()
            items.append((f"{src}/{rel}", p))
    counts: dict[str, int] = {}
    for face_id, _ in items:
        counts[face_id] = counts.get(face_id, 0) + 1
    items = [(f"{face_id}{p.suffix.lower()}" if counts[face_id] > 1 else face_id, p)
             for face_id, p in items]
    return sorted(items)


def analyse_all(items: list[tuple[str, Path]], engine_models: Path, *,
                jobs: int | None = None, quiet: bool = True
                ) -> tuple[dict[str, Any], list[dict[str, str]], str]:
    """Analyse every image through the batch path (worker processes, progress on a
    terminal); returns per-face numbers (no pixels), failures and the attractiveness
    model's status. Results arrive in any order and are stored by id, so the arrays
    are the same for any number of workers; only the numbers are kept (about 12 kB a
    face), never an image. The landmarks are kept as MediaPipe's pipeline returned
    them: everything the fit derives from them (`from_landmarks`) can then be re-run on
    perturbed landmarks, as another processor's kernels would round them."""
    from aurum.tools import workers
    from aurum.tools.batch import Progress

    index = {str(path): face_id for face_id, path in items}
    spec = workers.JobSpec(kind="analyse", models=str(engine_models))
    n_jobs = workers.cpu_count() if jobs is None else jobs
    spec.threads = max(1, workers.cpu_count() // max(n_jobs, 1))
    paths = [str(path) for _, path in items]
    results = workers.run_local(paths, spec, n_jobs) if n_jobs > 0 else \
        workers.run_inline(paths, spec)
    show = not quiet and sys.stderr.isatty()
    progress = Progress(len(paths), show)
    got: dict[str, dict[str, Any]] = {}
    errors: dict[str, str] = {}
    attr_status = "unavailable: no face analysed"
    for r in results:
        face_id = index[r["path"]]
        if r.get("error") is None and r.get("numbers") is not None:
            got[face_id] = r["numbers"]
            attr_status = r.get("attractiveness_status", attr_status)
        else:
            errors[face_id] = r.get("error") or "incomplete"
        progress.update(r.get("error") is not None)
    progress.close()
    ids = [face_id for face_id, _ in items if face_id in got]
    failures = [{"id": face_id, "error": errors[face_id]}
                for face_id, _ in items if face_id in errors]
    return ({"ids": ids, "landmarks": np.array([got[i]["landmarks"] for i in ids]),
             "quality_norm": np.array([got[i]["quality_norm"] for i in ids]),
             "attractiveness": np.array([got[i]["attractiveness"] for i in ids])},
            failures, attr_status)


def from_landmarks(landmarks: np.ndarray) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """Frontalised landmarks and the proportions, exactly as `Engine.analyze` derives
    them from the mesh (the same two calls)."""
    from aurum.measure.pose import frontalise

    fronts = np.array([frontalise(lm) for lm in landmarks])
    rows = [geometry.measure(f) for f in fronts]
    names = list(rows[0]) if rows else []
    return fronts, np.array([[r[n] for n in names] for r in rows]), names


def choose_k(emb: np.ndarray, seed: int, ks: range) -> tuple[int, list[dict[str, float]]]:
    """Silhouette and bootstrap stability (mean adjusted Rand index between the full
    fit and fits on 80 % subsamples) per k, and the k the rule picks: the smallest k
    whose stability is within the noise margin of the most stable k.

    Why not the most stable k: its stability is a mean of BOOTSTRAPS noisy values, and
    neighbouring k often sit inside each other's noise. On the 359-face reference (SFHQ
    and London) k = 3 and k = 4 scored 0.902 (SD 0.105) and 0.892 (SD 0.049) here, and
    0.830 (0.182) and 0.880 (0.062) on a processor whose MediaPipe kernels round
    differently, so the old argmax flipped k with the last digits of the mesh. Among k
    that the bootstrap cannot tell apart, the fewest clusters is the simpler description
    and the one that reproduces."""
    from sklearn.cluster import KMeans
    from sklearn.metrics import adjusted_rand_score, silhouette_score

    emb = emb[canonical_order(emb)]  # index-based subsamples: same for any input order
    rng = np.random.default_rng(seed)
    rows = []
    for k in ks:
        full = KMeans(k, n_init=10, random_state=seed).fit(emb)
        sil = float(silhouette_score(emb, full.labels_))
        aris = []
        for b in range(BOOTSTRAPS):
            idx = np.sort(rng.choice(len(emb), int(0.8 * len(emb)), replace=False))
            sub = KMeans(k, n_init=10, random_state=seed + 1 + b).fit(emb[idx])
            aris.append(adjusted_rand_score(full.labels_[idx], sub.labels_))
        rows.append({"k": k, "silhouette": round(sil, 4),
                     "stability_ari_mean": round(float(np.mean(aris)), 4),
                     "stability_ari_sd": round(float(np.std(aris)), 4)})
    return pick_k(rows), rows


def stability_margin(a: dict[str, float], b: dict[str, float]) -> float:
    """How far apart two k's mean stabilities must be before the bootstrap can tell
    them apart: two standard errors of the difference of the means, at least K_MARGIN."""
    se = math.sqrt((a["stability_ari_sd"] ** 2 + b["stability_ari_sd"] ** 2) / BOOTSTRAPS)
    return max(K_MARGIN, 2.0 * se)


def pick_k(rows: list[dict[str, float]]) -> int:
    """The rule of `choose_k` on its per-k figures (rows in increasing k)."""
    best = max(rows, key=lambda r: r["stability_ari_mean"])
    for r in rows:
        if best["stability_ari_mean"] - r["stability_ari_mean"] <= stability_margin(r, best):
            return int(r["k"])
    return int(best["k"])  # unreachable: best is within its own margin


def cluster(emb: np.ndarray, k: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """k-means; clusters numbered by size (largest first, ties by the smallest centre
    projection) so ids are stable. k-means++ seeding picks rows by index, so it is fed
    the rows in their canonical order: shuffled inputs give the same clusters."""
    from sklearn.cluster import KMeans

    km = KMeans(k, n_init=20, random_state=seed).fit(emb[canonical_order(emb)])
    sizes = np.bincount(km.labels_, minlength=k)
    key = km.cluster_centers_ @ reference_vector(emb.shape[1])
    order = sorted(range(k), key=lambda c: (-sizes[c], key[c]))
    centres = np.round(km.cluster_centers_[order], 6)
    # Labels = nearest stored centre: exactly the rule `place` applies at run time.
    labels = np.argmin(((emb[:, None, :] - centres[None]) ** 2).sum(axis=2), axis=1)
    return labels.astype(np.int64), centres


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


def versions() -> dict[str, str]:
    out = {}
    for pkg in ("numpy", "scikit-learn", "umap-learn", "mediapipe"):
        try:
            out[pkg] = md.version(pkg)
        except md.PackageNotFoundError:
            out[pkg] = "missing"
    return out


def fit_shape(fronts: np.ndarray, n_components: int) -> tuple[shape.ShapeModel, np.ndarray,
                                                                np.ndarray]:
    """The shape model (rounded so that no -0.0 or last-bit sign leaks into the file),
    its explained variance ratios, and every face's embedding."""
    dim = min(n_components, len(fronts) - 1)
    model, ratio = shape.fit(fronts, mirror_pairs(), dim)
    model.mean = np.round(model.mean, 8) + 0.0  # no -0.0: its sign is the kernel's
    model.basis = np.round(model.basis, 8) + 0.0
    return model, ratio, np.round(model.embed_many(fronts), 6)


def k_range(n: int) -> range:
    """The k the rule considers: 3..8, at most one cluster per 8 faces."""
    return range(K_RANGE.start, min(K_RANGE.stop, max(K_RANGE.start + 1, n // 8)))


def load_earlier(folder: Path) -> dict[str, Any] | None:
    """The decisions of an earlier build in `folder` (its k, labels and trait orders),
    or None when there is none there."""
    json_path, npz_path = folder / population.JSON_NAME, folder / population.NPZ_NAME
    if not (json_path.is_file() and npz_path.is_file()):
        return None
    meta = json.loads(json_path.read_text(encoding="utf-8"))
    with np.load(npz_path, allow_pickle=False) as z:
        labels = z["labels"].astype(np.int64)
        emb, layout = z["embedding"], z["layout"]
    return {"k": int(meta["clustering"]["k"]), "labels": dict(zip(meta["ids"], labels.tolist(),
                                                                  strict=True)),
            "orders": [[d["measure"] for d in c["trait_details"]] for c in meta["clusters"]],
            "ids": list(meta["ids"]), "embedding": emb, "layout": layout}


def earlier_layout(ids: list[str], emb: np.ndarray, earlier: dict[str, Any] | None
                   ) -> np.ndarray | None:
    """The earlier build's map when it shows the same faces at the same place in shape
    space (every embedding within LAYOUT_KEEP of the earlier one), else None.

    Why: UMAP's optimisation is chaotic. Another processor's rounding of the mesh moves
    embeddings by up to 0.045, and a refit on such input moved points by a median of
    0.9-1.6 map units (of a 9.5-unit span) in the processor-noise test, keeping only
    73-78 % of each face's ten nearest map neighbours: the same data, a different
    picture. Keeping the earlier layout for the same faces keeps the picture users know."""
    if earlier is None or earlier["ids"] != ids or earlier["embedding"].shape != emb.shape:
        return None
    if float(np.abs(earlier["embedding"] - emb).max()) > LAYOUT_KEEP:
        return None
    return np.asarray(earlier["layout"], dtype=np.float64)


def earlier_orders(ids: list[str], labels: np.ndarray, k: int, earlier: dict[str, Any]
                   ) -> list[list[str] | None]:
    """Per new cluster, the trait order of the earlier cluster that holds most of its
    faces (None when no earlier cluster holds at least half of them)."""
    out: list[list[str] | None] = []
    for c in range(k):
        old = [earlier["labels"][i] for i, lab in zip(ids, labels, strict=True)
               if lab == c and i in earlier["labels"]]
        counts = np.bincount(old, minlength=len(earlier["orders"])) if old else np.zeros(1)
        best = int(np.argmax(counts))
        out.append(earlier["orders"][best] if counts[best] * 2 >= (labels == c).sum() else None)
    return out


def settle_k(rule_k: int, per_k: list[dict[str, float]], earlier_k: int | None) -> int:
    """The earlier build's k when the bootstrap cannot tell it from the most stable k
    (the same margin as the rule), else the rule's k: a rebuild on another processor
    keeps the committed k unless the new figures contradict it."""
    rows = {int(r["k"]): r for r in per_k}
    if earlier_k is None or earlier_k not in rows:
        return rule_k
    best = max(per_k, key=lambda r: r["stability_ari_mean"])
    gap = best["stability_ari_mean"] - rows[earlier_k]["stability_ari_mean"]
    return earlier_k if gap <= stability_margin(rows[earlier_k], best) else rule_k


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


def build(folders: list[Path], out: Path, *, engine_models: Path, limit: int | None = None,
          seed: int = 0, n_components: int = N_COMPONENTS, k: int | None = None,
          like: Path | None = None, jobs: int | None = None, quiet: bool = True,
          name: str | None = None) -> dict[str, Any]:
    """Build and write the artefacts; returns the metadata written to reference.json."""
    t0 = time.perf_counter()
    earlier = load_earlier(like) if like else None  # read before `out` is overwritten
    items = collect(folders, limit)
    data, failures, attr_status = analyse_all(items, engine_models, jobs=jobs, quiet=quiet)
    if len(data["ids"]) < 10:
        raise SystemExit(f"only {len(data['ids'])} faces analysed; need at least 10")
    t_an = time.perf_counter() - t0
    arrays, fitted = fit_population(data, seed=seed, n_components=n_components, k=k,
                                    earlier=earlier)
    n_attr = int(np.isfinite(arrays["attractiveness"]).sum())
    sources: dict[str, int] = {}
    for face_id in data["ids"]:
        src = face_id.rsplit("/", 1)[0]
        sources[src] = sources.get(src, 0) + 1
    meta: dict[str, Any] = {
        "format": population.FORMAT,
        "ids": data["ids"],
        "sources": sources,
        "failures": failures,
        "quality_names": [*quality.QUALITY_METRICS, "quality"],
        "attractiveness": {
            "n_scored": n_attr,
            "model_status": attr_status,
            "note": ("scores from the attractiveness model at build time" if n_attr else
                     "no attractiveness model at build time: scores are NaN; rebuild "
                     "when the model is in models/"),
        },
        **fitted,
        "versions": versions(),
    }
    if name:  # a population of one's own: Status, Score and Tune name it
        meta["name"] = name
    if name:  # a population of one's own: Status, Score and Tune name it
        meta["name"] = name
    out.mkdir(parents=True, exist_ok=True)
    population.write_npz(out / population.NPZ_NAME, arrays)
    (out / population.JSON_NAME).write_text(json.dumps(meta, indent=1, sort_keys=True,
                                                       allow_nan=False) + "\n",
                                            encoding="utf-8")
    timing = {"analyse_s": round(t_an, 1), "total_s": round(time.perf_counter() - t0, 1)}
    return {**meta, "_timing": timing}


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m aurum build-reference",
                                     description=__doc__.split("\n")[0])
    parser.add_argument("--faces", action="append", type=Path,
                        help="folder of reference photos (repeatable); default: the shared "
                             "synthetic faces and the London neutral fronts")
    parser.add_argument("--out", type=Path, default=None, help="output folder (models/)")
    parser.add_argument("--models", type=Path, default=None,
                        help="where the attractiveness model is (default models/)")
    parser.add_argument("--limit", type=int, default=None,
                        help="use only the first N images of each folder (tests)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--k", type=int, default=None, help="fix the number of clusters")
    parser.add_argument("--like", type=Path, default=None,
                        help="an earlier build's folder: keep its k and cluster names where "
                             "the new figures cannot tell them apart (scripts/build_models.sh "
                             "passes models/, so a rebuild on another processor reproduces "
                             "the committed decisions)")
    parser.add_argument("--jobs", type=int, default=None,
                        help="worker processes (default: every core; 0: this process)")
    parser.add_argument("--name", default=None,
                        help="a name for this population, shown by the app (default: none, "
                             "for the built-in reference)")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.ERROR, stream=sys.stderr)
    folders = args.faces or [shared_dir() / "faces", shared_dir() / "london" / "neutral_front"]
    missing = [str(f) for f in folders if not Path(f).is_dir()]
    if missing:
        print(f"error: not a folder: {', '.join(missing)}", file=sys.stderr)
        return 2
    meta = build(folders, args.out or models_dir(), engine_models=args.models or models_dir(),
                 limit=args.limit, seed=args.seed, k=args.k, like=args.like,
                 jobs=args.jobs, quiet=args.quiet, name=args.name)
    out = args.out or models_dir()
    print(f"reference: {meta['n']} faces {meta['sources']}, {len(meta['failures'])} failed; "
          f"attractiveness scored for {meta['attractiveness']['n_scored']}")
    print(f"shape: {meta['shape']['n_components']} components, "
          f"{meta['shape']['explained_total']:.1%} of variance")
    for row in meta["clustering"]["per_k"]:
        print(f"  k={row['k']}: silhouette {row['silhouette']:.3f}, stability ARI "
              f"{row['stability_ari_mean']:.3f} ± {row['stability_ari_sd']:.3f}")
    cl = meta["clustering"]
    print(f"clusters (k={cl['k']}, {cl['k_source']}; the rule picks k={cl['rule_k']}):")
    for c in meta["clusters"]:
        print(f"  {c['id']} {c['name']} (n={c['size']}): {'; '.join(c['traits'])}")
    m = meta["map"]
    print(f"map: held-out placement in own cluster {m['heldout_same_cluster_share']:.1%} "
          f"(umap's own layout {m['layout_self_share']:.1%}, chance {m['chance_share']:.1%})")
    print(f"wrote {out / population.NPZ_NAME} and {out / population.JSON_NAME} "
          f"in {meta['_timing']['total_s']} s (analysis {meta['_timing']['analyse_s']} s)")
    return 0
