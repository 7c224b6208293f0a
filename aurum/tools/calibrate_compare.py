"""`python -m aurum calibrate-compare`: the numbers Compare rests on (models/compare.json).

1. The same-person rule, chosen on the London set (102 people, each in a neutral and a
   smiling photo: 102 genuine pairs; every pair of photos of two different people:
   20,604 impostor pairs). Three candidate distances, all between L2-normalised
   descriptors: dlib's, faceres' and the mean of the two. The rule is the candidate with
   the largest d' on London (the gap between the largest genuine and smallest impostor
   distance, raw and in pooled SDs, is stated beside it). Its threshold is not the
   middle of London's error-free gap (the first release's 0.305 on dlib: London's
   genuine pairs were shot minutes apart, so a visitor's photos from other days fall
   off a thin gap first): it is the largest 0.01 step at which at most 0.1 % of
   London's impostor pairs match, as far from the genuine pairs as that false match
   rate allows. A pair where a photo has no faceres descriptor is judged on dlib's
   distance with dlib's threshold chosen the same way. Error rates with counts for the
   rule, the fallback and the old rule, on London and on MEBeauty's repeated people.
   MEBeauty has no person ids: its "people" are connected components of dlib distance
   below 0.25 (`rated_sets.SAME_PERSON`), so its genuine pairs were found by dlib's
   distance (circular: they favour dlib and can only confirm a threshold above 0.25)
   and London decides; its impostor pairs still measure false matches, up to the
   repeated people the grouping missed.
2. The tie margin: the final score's test-retest p95 at blend weights 0, 0.1, ..., 1,
   from the signed geometric and attractiveness changes of `aurum.tools.retest`'s 40
   faces under its four small changes (JPEG q85, 80 % resize, 3 % crop shift, gamma
   0.9), and the geometric score's own p95.
3. For the docs: how far a person's neutral and smiling London photos are apart in
   final score, and how often their intervals overlap (why the intervals are shown
   but do not define ties).

Descriptors live in memory only, for the run; only the threshold and the figures are
written. Deterministic: same photos, same file.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from aurum.compare import (
    CALIBRATION_FILE,
    CompareSet,
    analyze_photos,
    identify,
    rank,
    rule_distance,
)
from aurum.engine import Engine
from aurum.paths import models_dir, shared_dir
from aurum.tools import retest

RULES = ("dlib", "faceres", "mean")  # candidate distances (aurum.compare.rule_distance)
TARGET_FMR = 0.001  # the threshold: at most this share of London's impostor pairs match
STEP = 0.01  # the threshold's grid: a coarse step keeps it off the noise scale
OLD = {"rule": "dlib", "threshold": 0.305}  # the first release's rule, for the figures
MEBEAUTY_GROUPING = 0.25  # aurum/tools/training/multiset/rated_sets.py SAME_PERSON (dlib)
WEIGHTS = [round(w, 1) for w in np.arange(0.0, 1.0001, 0.1)]


def _descriptors(engine: Engine, paths: Sequence[Path]
                 ) -> tuple[list[int], np.ndarray, np.ndarray, Any]:
    """(indices of the photos with both descriptors, their dlib and faceres unit
    descriptors, the CompareSet). Memory only."""
    cset = analyze_photos(engine, list(paths), [p.name for p in paths],
                          calibration={"status": "unavailable: calibrating"})
    keep = [i for i, p in enumerate(cset.photos)
            if p.descriptor is not None and p.faceres is not None]
    return (keep, np.stack([cset.photos[i].descriptor for i in keep]),
            np.stack([cset.photos[i].faceres for i in keep]), cset)


def _dist(v: np.ndarray) -> np.ndarray:
    g = (v * v).sum(1)
    return np.sqrt(np.maximum(g[:, None] + g[None, :] - 2 * v @ v.T, 0.0))


def rule_pairs(vd: np.ndarray, vf: np.ndarray, person: Sequence[str]
               ) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Each candidate rule's (genuine, impostor) distances over every unordered pair."""
    dd, df = _dist(vd), _dist(vf)
    iu = np.triu_indices(len(person), 1)
    lab = np.asarray(person, dtype=object)
    same = lab[iu[0]] == lab[iu[1]]
    out = {}
    for rule in RULES:
        d = rule_distance(dd, df, rule)[iu]
        out[rule] = (np.sort(d[same]), np.sort(d[~same]))
    return out


def separation(genuine: np.ndarray, impostor: np.ndarray) -> dict[str, float]:
    """d' (difference of means over the pooled SD) and the gap between the largest
    genuine and the smallest impostor distance, raw and in pooled SDs."""
    sd = float(np.sqrt((genuine.var() + impostor.var()) / 2))
    gap = float(impostor.min() - genuine.max())
    return {"d_prime": round(float(impostor.mean() - genuine.mean()) / sd, 2),
            "gap": round(gap, 3), "gap_in_sd": round(gap / sd, 2)}


def choose_threshold(genuine: np.ndarray, impostor: np.ndarray,
                     fmr: float = TARGET_FMR) -> tuple[float, float]:
    """(threshold, the impostor distance it stays under): the largest grid point below
    the (k+1)-th smallest impostor distance, k = floor(fmr x impostor pairs), so at most
    k impostor pairs match (a pair at or under the threshold is a match). Far above the
    genuine pairs when the rule separates well: room for photos farther apart than
    London's one-session pairs. `genuine` is unused by the choice, kept for the call."""
    i = np.sort(impostor)
    k = int(np.floor(fmr * len(i) + 1e-9))
    edge = float(i[min(k, len(i) - 1)])
    t = np.floor(edge / STEP - 1e-6) * STEP
    return round(float(t), 3), round(edge, 4)


def rates(genuine: np.ndarray, impostor: np.ndarray, t: float) -> dict[str, Any]:
    fnm, fm = int((genuine > t).sum()), int((impostor <= t).sum())
    others = [round(t + dt, 3) for dt in (-0.1, -0.05, 0.05, 0.1)]
    return {"threshold": t, "genuine_pairs": int(len(genuine)), "false_non_matches": fnm,
            "false_non_match_rate": round(fnm / max(1, len(genuine)), 4),
            "impostor_pairs": int(len(impostor)), "false_matches": fm,
            "false_match_rate": round(fm / max(1, len(impostor)), 6),
            "genuine_distance_p50_p95_max": [round(float(np.percentile(genuine, q)), 3)
                                             for q in (50, 95, 100)] if len(genuine) else None,
            "impostor_distance_min_p01_p1_p50": [round(float(np.percentile(impostor, q)), 3)
                                                 for q in (0, 0.1, 1, 50)],
            "at_other_thresholds": {f"{x:.3f}": [int((genuine > x).sum()),
                                                 int((impostor <= x).sum())] for x in others},
            **separation(genuine, impostor)}


def london(engine: Engine) -> dict[str, Any]:
    root = shared_dir() / "london"
    paths = sorted((root / "neutral_front").glob("*.jpg")) + \
        sorted((root / "smiling_front").glob("*.jpg"))
    keep, vd, vf, cset = _descriptors(engine, paths)
    person = [paths[i].stem.split("_")[0] for i in keep]
    return {"pairs": rule_pairs(vd, vf, person), "cset": cset, "paths": paths,
            "failed": len(paths) - len(keep)}


def _groups(v: np.ndarray, threshold: float) -> list[str]:
    """Connected components of 'closer than threshold' (single linkage), as in
    rated_sets.person_groups."""
    d = _dist(v)
    parent = list(range(len(v)))

    def find(a: int) -> int:
        while parent[a] != a:
            parent[a] = parent[parent[a]]
            a = parent[a]
        return a

    for a, b in zip(*np.nonzero(np.triu(d < threshold, 1)), strict=True):
        ra, rb = find(int(a)), find(int(b))
        if ra != rb:
            parent[max(ra, rb)] = min(ra, rb)
    return [str(find(i)) for i in range(len(v))]


def mebeauty(engine: Engine) -> dict[str, Any]:
    paths = sorted((shared_dir() / "mebeauty").glob("*.jpg"))
    keep, vd, vf, _ = _descriptors(engine, paths)
    return {"pairs": rule_pairs(vd, vf, _groups(vd, MEBEAUTY_GROUPING)),
            "photos": len(keep), "failed": len(paths) - len(keep)}


def same_person(lon: dict[str, Any], meb: dict[str, Any]) -> dict[str, Any]:
    """The rule with the largest d' on London, its threshold at London's target false
    match rate, dlib's own threshold by the same policy (the fallback), and every
    candidate's and the old rule's error rates with counts."""
    sep = {r: separation(*lon["pairs"][r]) for r in RULES}
    rule = max(RULES, key=lambda r: (sep[r]["d_prime"], -RULES.index(r)))
    t, edge = choose_threshold(*lon["pairs"][rule])
    t_dlib, _ = choose_threshold(*lon["pairs"]["dlib"])

    def both(r: str, thr: float) -> dict[str, Any]:
        return {"london": {**rates(*lon["pairs"][r], thr),
                           "photos_without_both_descriptors": lon["failed"]},
                "mebeauty": {**rates(*meb["pairs"][r], thr), "photos": meb["photos"],
                             "photos_without_both_descriptors": meb["failed"]}}

    return {
        "rule_distance": rule, "threshold": t, "threshold_below_impostor_distance": edge,
        "dlib_fallback_threshold": t_dlib,
        "distance": DISTANCES[rule],
        "rule": f"the candidate with the largest d' on London; its threshold the largest "
                f"{STEP} step at which at most {TARGET_FMR:.1%} of London's impostor pairs "
                "match; a pair where a photo has no faceres descriptor uses dlib's distance "
                "with dlib_fallback_threshold (chosen the same way)",
        "at_other_thresholds_means": "[false non-matches, false matches]",
        "mebeauty_note": f"people grouped by dlib distance < {MEBEAUTY_GROUPING}: circular "
                         "for genuine pairs (weighs less than London)",
        "error_rates": both(rule, t),
        "dlib_fallback_error_rates": both("dlib", t_dlib),
        "old_rule": {**OLD, "error_rates": both(OLD["rule"], OLD["threshold"])},
        "candidates_london": sep,
        "candidates_mebeauty": {r: separation(*meb["pairs"][r]) for r in RULES},
    }


DISTANCES = {
    "dlib": "Euclidean between L2-normalised dlib face descriptors",
    "faceres": "Euclidean between L2-normalised faceres descriptors",
    "mean": "mean of the Euclidean distances between the L2-normalised dlib and faceres "
            "descriptors"}


def final_retest(engine: Engine) -> dict[str, Any]:
    """The final score's test-retest p95 by blend weight, and the geometric p95. On an
    engine without the adults-only gate (`retest.measuring_engine`): the subset is
    adults by declaration, and a changed copy the gate withholds would break the pairs
    (it did, with the gate refitted on faceres' masked chip)."""
    res = retest.collect(engine, retest.subset(), exif=False, mirror_test=False)
    orig = res.versions["original"]
    dg, da = [], []
    for k in retest.CHANGES:
        for m, o in zip(res.versions[k], orig, strict=True):
            if m.attractiveness is not None and o.attractiveness is not None:
                dg.append(m.geometric - o.geometric)
                da.append(m.attractiveness - o.attractiveness)
    g, a = np.array(dg), np.array(da)
    table = {f"{w:.1f}": round(float(np.percentile(np.abs(w * g + (1 - w) * a), 95)), 3)
             for w in WEIGHTS}
    return {"pairs": int(len(g)), "faces": len(orig),
            "geometric_retest_p95": round(float(np.percentile(np.abs(g), 95)), 3),
            "final_retest_p95": table}


def london_pairs_figures(engine: Engine, lon: dict[str, Any], tie: dict[str, Any]
                         ) -> dict[str, Any]:
    """A person's neutral against smiling photo: |final difference| and how often their
    final intervals (as the JSON gives them) overlap."""
    photos, n = lon["cset"].photos, len(lon["paths"]) // 2
    gaps, overlap = [], 0
    margin = tie["final_retest_p95"]["0.6"]
    cal = {"status": "ok", "same_person": {"threshold": 9.0, "rule_distance": "dlib"},
           "tie": tie}

    for i in range(n):
        pair = [photos[i], photos[n + i]]
        doc = rank(engine, CompareSet(pair, identify(pair, cal)), calibration=cal)
        ents = [e for e in doc["ranking"] if e["ok"]]
        if len(ents) != 2 or any(e["final"].get("interval") is None for e in ents):
            continue
        gaps.append(abs(ents[0]["final"]["score"] - ents[1]["final"]["score"]))
        (a0, a1), (b0, b1) = ents[0]["final"]["interval"], ents[1]["final"]["interval"]
        overlap += a0 <= b1 and b0 <= a1
    g = np.array(gaps)
    return {"pairs": len(g), "final_gap_p50": round(float(np.median(g)), 2),
            "final_gap_p90": round(float(np.percentile(g, 90)), 2),
            "within_tie_margin": int((g <= margin).sum()), "intervals_overlap": int(overlap)}


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m aurum calibrate-compare",
                                     description=__doc__.split("\n")[0])
    parser.add_argument("--out", type=Path, default=None, help="folder (default: models/)")
    args = parser.parse_args(list(argv or []))
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    engine = Engine()
    engine.finder.warm_up()
    lon = london(engine)
    meb = mebeauty(engine)
    sp = same_person(lon, meb)
    tie = final_retest(retest.measuring_engine())  # ungated, as `aurum.tools.retest`
    out = {"same_person": sp, "tie": tie,
           "london_neutral_vs_smiling": london_pairs_figures(engine, lon, tie)}
    folder = args.out or models_dir()
    path = Path(folder) / CALIBRATION_FILE
    path.write_text(json.dumps(out, indent=1, sort_keys=True) + "\n", encoding="utf-8")
    print(json.dumps(out, indent=1, sort_keys=True))
    print(f"wrote {path}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
