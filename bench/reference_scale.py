"""How the reference build and the app scale with the population: N faces from numbers.

No photos: the analysis is linear and measured elsewhere (`python -m aurum bench`). This
bench RESAMPLES the committed reference's stored numbers (models/reference.npz: shape
embedding, proportions, quality, attractiveness) with replacement and adds Gaussian
jitter (a smoothed bootstrap: Silverman's bandwidth per array, about half an SD for the
8-D embedding; quality values copied; `--jitter` sets a fixed one), so a population of
100,000 faces is drawn from the kernel density of 2,103 real faces' numbers. The
build's shape space is the committed one (no landmarks are stored, so the shape fit is
not re-run: it is linear in the faces). It then runs the build's own fit from numbers
(`reference.fit.fit_numbers`: k rule, k-means, cluster names, map), writes the
artefacts, and in a fresh process loads an Engine on them and times one face's
percentile + vibe + map.

`held_out_placement`: 200 real reference faces are held out of the resampling; each is
placed on the N-face map by the run-time rule (`population.place_on_map`, from its
stored embedding) and counts as placed when the nearest map point belongs to its own
cluster (nearest centre). This is the build's `heldout_same_cluster_share` (89.5 % in
models/reference.json, 10-fold on the 2,303 real faces) on 200 faces the fit never saw.

    .venv/bin/python bench/reference_scale.py --faces 100000 --json

Targets at 100,000 faces on 2 cores: peak RSS <= 4 GB, fit <= 20 min, app load <= 10 s,
score <= 5 ms (p50), placement >= 85 %.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from aurum.analysers import population  # noqa: E402
from aurum.paths import models_dir  # noqa: E402
from aurum.tools.reference.build import versions  # noqa: E402
from aurum.tools.reference.fit import fit_numbers  # noqa: E402

HELD_OUT = 200
SCORES = 200


def committed() -> tuple[dict[str, np.ndarray], dict[str, Any]]:
    """The committed reference's arrays and metadata (the numbers resampled)."""
    folder = models_dir()
    with np.load(folder / population.NPZ_NAME, allow_pickle=False) as z:
        arrays = {k: z[k] for k in z.files}
    meta = json.loads((folder / population.JSON_NAME).read_text(encoding="utf-8"))
    return arrays, meta


def silverman(n: int, d: int) -> float:
    """Silverman's rule-of-thumb bandwidth, in SDs, for a Gaussian kernel density of n
    points in d dimensions: the jitter of a smoothed bootstrap, i.e. drawing new faces
    from the real faces' kernel density estimate rather than copying them."""
    return (4.0 / (d + 2)) ** (1.0 / (d + 4)) * n ** (-1.0 / (d + 4))


def resample(arrays: dict[str, np.ndarray], n: int, seed: int, jitter: float | None = None
             ) -> tuple[dict[str, np.ndarray], np.ndarray, dict[str, float]]:
    """N faces drawn with replacement from all but HELD_OUT real faces, jittered; the
    indices of the held-out faces; and the jitter used per array (in SDs).

    jitter None (the default): a smoothed bootstrap, each array (embedding 8-D,
    measures 14-D, attractiveness 1-D) jittered by Silverman's bandwidth for its own
    dimension (0.49, 0.61 and 0.23 SD on 2,103 faces). Why not a small fixed jitter:
    with 0.1 SD (the first version) the 100,000 faces were 2,103 tight clumps of about
    48 near-copies, whose 15-nearest-neighbour graph (UMAP's) fell apart into 1,591
    pieces (the real 2,257 faces: one piece; median nearest-neighbour distance 0.31
    against the real 1.60, where a real population of 100,000 would sit near 1.0). The
    map of such a population measures the copies, not the build (docs/scale.md)."""
    rng = np.random.default_rng(seed)
    total = len(arrays["embedding"])
    held = np.sort(rng.choice(total, HELD_OUT, replace=False))
    pool = np.setdiff1d(np.arange(total), held)
    pick = rng.choice(pool, n, replace=True)
    out, used = {}, {}
    for key, decimals in (("embedding", 6), ("measures", 6), ("attractiveness", 4)):
        x = arrays[key][pick].astype(np.float64)
        sd = np.nanstd(arrays[key][pool], axis=0)
        dim = 1 if x.ndim == 1 else x.shape[1]
        used[key] = silverman(len(pool), dim) if jitter is None else jitter
        out[key] = np.round(x + rng.normal(size=x.shape) * used[key] * sd, decimals)
    out["quality_norm"] = arrays["quality_norm"][pick].copy()
    return out, held, used


def fit(data: dict[str, np.ndarray], ref: dict[str, np.ndarray], meta: dict[str, Any],
        out: Path, seed: int) -> dict[str, Any]:
    """The build's fit from numbers, written as a reference folder; returns its meta."""
    n = len(data["embedding"])
    ids = [f"bench/{i:06d}" for i in range(n)]
    arrays, fitted = fit_numbers(ids, data["embedding"], data["measures"],
                                 list(meta["measure_names"]), seed=seed)
    arrays.update(quality_norm=data["quality_norm"], attractiveness=data["attractiveness"],
                  shape_mean=ref["shape_mean"], shape_basis=ref["shape_basis"],
                  shape_partner=ref["shape_partner"])
    new = {**{k: meta[k] for k in ("format", "quality_names", "shape", "shape_version")},
           **fitted, "ids": ids, "sources": {"bench": n}, "failures": [],
           "attractiveness": {"n_scored": int(np.isfinite(data["attractiveness"]).sum()),
                              "model_status": "resampled by bench/reference_scale.py"},
           "name": f"bench: {n} resampled faces", "versions": versions()}
    out.mkdir(parents=True, exist_ok=True)
    population.write_npz(out / population.NPZ_NAME, arrays)
    (out / population.JSON_NAME).write_text(json.dumps(new, sort_keys=True), encoding="utf-8")
    return new


def placement(folder: Path, emb: np.ndarray) -> float:
    """Share of the held-out faces whose run-time map position has a face of their own
    cluster as its nearest map point."""
    pop = population.load_default(folder)
    hits = 0
    for e in emb:
        own = int(np.argmin(((pop.centres - e) ** 2).sum(axis=1)))
        xy = population.place_on_map(e, pop.embedding, pop.layout)
        j = int(np.argmin(((pop.layout - xy) ** 2).sum(axis=1)))
        hits += int(pop.labels[j] == own)
    return hits / len(emb)


def front_of(pop: population.ReferencePopulation, emb: np.ndarray) -> np.ndarray:
    """A frontal mesh (478 x 3) whose shape embeds to about `emb`: the mean shape plus
    the embedding along the basis (what `ShapeModel.embed` inverts)."""
    from aurum.measure import shape

    x = emb @ pop.shape.basis / (shape.SCALE / np.sqrt(shape.N_MESH))
    pts = pop.shape.mean + x.reshape(shape.N_MESH, 2)
    return np.vstack([np.c_[pts, np.zeros(len(pts))], np.zeros((10, 3))])


def app_side(folder: Path, emb_file: Path) -> dict[str, float]:
    """In a fresh process: an Engine on the built folder (load time), then one face's
    vibe + map (`place_front`) and percentile, SCORES times over the held-out faces."""
    from aurum.config import Config
    from aurum.engine import Engine

    t0 = time.perf_counter()
    engine = Engine(reference=folder)
    load_s = time.perf_counter() - t0
    pop = engine.population
    assert pop is not None, engine.population_status
    cfg = Config()
    embs = np.load(emb_file)
    fronts = [front_of(pop, e) for e in embs]
    t1 = time.perf_counter()
    pop.percentile({"final": 60.0, "geometric": 60.0, "attractiveness": 60.0}, cfg)
    first_ms = (time.perf_counter() - t1) * 1000
    times, cpu = [], []
    for i in range(SCORES):
        t, c = time.perf_counter(), time.process_time()
        place = pop.place_front(fronts[i % len(fronts)])
        pop.percentile({"final": 55.0 + i % 20, "geometric": 60.0, "attractiveness": 50.0}, cfg)
        times.append((time.perf_counter() - t) * 1000)
        cpu.append((time.process_time() - c) * 1000)
        assert place["status"] == "ok"
    return {"app_load_seconds": round(load_s, 2), "score_ms_p50": round(float(np.median(times)), 3),
            "score_ms_p95": round(float(np.percentile(times, 95)), 3),
            "score_cpu_ms_p50": round(float(np.median(cpu)), 3),
            "first_percentile_ms": round(first_ms, 1), "status": engine.population_status}


def cpu_seconds() -> float:
    """This process's CPU time (every thread): on a shared machine the wall time also
    counts the wait for a core, the CPU time does not."""
    ru = resource.getrusage(resource.RUSAGE_SELF)
    return ru.ru_utime + ru.ru_stime


def run(n: int, seed: int, jitter: float | None = None) -> dict[str, Any]:
    ref, meta = committed()
    data, held, used = resample(ref, n, seed, jitter)
    with tempfile.TemporaryDirectory(prefix="aurum-scale-") as tmp:
        folder = Path(tmp) / "ref"
        t0, c0 = time.perf_counter(), cpu_seconds()
        built = fit(data, ref, meta, folder, seed)
        fit_s, fit_cpu = time.perf_counter() - t0, cpu_seconds() - c0
        peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        share = placement(folder, ref["embedding"][held])
        np.save(Path(tmp) / "held.npy", ref["embedding"][held])
        proc = subprocess.run([sys.executable, __file__, "--app-side", str(folder),
                               str(Path(tmp) / "held.npy")], capture_output=True, text=True,
                              check=True, cwd=REPO)
        app = json.loads(proc.stdout.strip().splitlines()[-1])
    return {"faces": n, "fit_seconds": round(fit_s, 1), "fit_cpu_seconds": round(fit_cpu, 1),
            "peak_rss_mb": round(peak_mb),
            "app_load_seconds": app["app_load_seconds"], "score_ms_p50": app["score_ms_p50"],
            "held_out_placement": round(share, 4), "score_ms_p95": app["score_ms_p95"],
            "score_cpu_ms_p50": app["score_cpu_ms_p50"],
            "first_percentile_ms": app["first_percentile_ms"], "k": built["clustering"]["k"],
            "build_heldout_share": built["map"]["heldout_same_cluster_share"],
            "data": f"resampled from {len(ref['embedding']) - HELD_OUT} real reference faces' "
                    "stored numbers with Gaussian jitter per column of "
                    + ", ".join(f"{v:.3f} SD ({k})" for k, v in used.items())
                    + (" (a smoothed bootstrap, Silverman's bandwidth)" if jitter is None
                       else "") + f"; {HELD_OUT} real faces held out for the placement",
            "app_status": app["status"]}


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--faces", type=int, default=10000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--jitter", type=float, default=None,
                        help="a fixed jitter in SDs for every column (default: the "
                             "smoothed bootstrap's Silverman bandwidth per array)")
    parser.add_argument("--json", action="store_true", help="print one JSON object only")
    parser.add_argument("--app-side", nargs=2, type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.app_side:
        print(json.dumps(app_side(*args.app_side)))
        return 0
    res = run(args.faces, args.seed, args.jitter)
    if args.json:
        print(json.dumps(res))
    else:
        for key, value in res.items():
            print(f"{key:>22}: {value}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
