"""`python -m aurum build-reference`: measure the reference faces once and store numbers.

The command: collect and analyse the faces (`faces`), fit (`fit`), write
`reference.npz` and `reference.json`. The steps are described in
`aurum.tools.reference`.
"""

from __future__ import annotations

import argparse
import importlib.metadata as md
import json
import logging
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

from aurum.analysers import population
from aurum.errors import GATE_CODES
from aurum.measure import quality_metrics
from aurum.paths import models_dir, shared_dir
from aurum.tools.reference.earlier import load_earlier
from aurum.tools.reference.faces import analyse_all, collect
from aurum.tools.reference.fit import N_COMPONENTS, fit_population


def versions() -> dict[str, str]:
    """The fitting packages' versions, stored with the artefacts: a rebuild that differs
    under other versions says why."""
    out = {}
    for pkg in ("numpy", "scikit-learn", "umap-learn", "mediapipe"):
        try:
            out[pkg] = md.version(pkg)
        except md.PackageNotFoundError:
            out[pkg] = "missing"
    return out


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
        # Faces the adults-only gate stopped (or could not check) are never part of the
        # population: no number of theirs is kept, only this count and their ids above.
        "age_gate": {"skipped": sum(f["error"] in GATE_CODES for f in failures),
                     "withheld_as_minor": sum(f["error"] == "apparent_minor"
                                              for f in failures)},
        "quality_names": [*quality_metrics.NAMES, quality_metrics.OVERALL],
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
    print(f"adults-only gate: {meta['age_gate']['skipped']} faces skipped, "
          f"{meta['age_gate']['withheld_as_minor']} of them as looking under 18")
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
