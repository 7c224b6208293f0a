"""Compare 2-12 photos of one person: which is best under the current config, and why.

Two phases, like the engine's: `analyze_photos` runs the models once per photo (in
threads: the engine's face-mesh pool and the descriptor's locks make it thread-safe)
and decides once which photos show the same person; `rank` turns the cached analyses
into the ranking under any `Config` with no model run, so a Tune slider re-ranks in
milliseconds. The CLI (`python -m aurum compare`), the API (`api_name="compare"`) and
the Compare tab all call these two and print/return/draw the same object.

Same person: the dlib face descriptors of the photos are compared in memory (Euclidean
distance between the L2-normalised descriptors) against the threshold calibrated by
`python -m aurum calibrate-compare` (models/compare.json). A descriptor is an identity
template: it lives in a `Photo` (its repr withheld) while the set is in memory (a CLI
run, an API request, a visitor's Compare session) and never enters the JSON, a log or
a file; only the verdict and the distance to the set's anchor do.

Ties: two photos whose final scores differ by no more than the final score's
test-retest p95 at the config's blend weight (models/compare.json, measured on the
retest faces) share a rank. docs/compare.md states every rule.
"""

from __future__ import annotations

import json
import logging
import os
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from aurum.compare_reasons import reasons_against
from aurum.config import Config
from aurum.engine import Analysis, Engine, FaceContext
from aurum.errors import AurumError

log = logging.getLogger("aurum.compare")

MIN_PHOTOS, MAX_PHOTOS = 2, 12
CALIBRATION_FILE = "compare.json"


@dataclass
class Photo:
    """One photo of the set: its cached analysis and, in memory only, its descriptor."""

    file: str | None
    analysis: Analysis
    descriptor: np.ndarray | None = field(default=None, repr=False)
    descriptor_status: str = "unavailable: not computed"
    faceres: np.ndarray | None = field(default=None, repr=False)  # unit 1024-D, memory only
    faceres_status: str = "unavailable: not computed"

    def __repr__(self) -> str:  # never the descriptor's values
        return f"Photo({self.file!r}, ok={self.analysis.ok}, descriptors withheld)"


@dataclass
class Identity:
    """Which photos show the set's person: config-independent, decided once."""

    same_person: list[bool | None]
    distance: list[float | None]
    anchor: int | None
    threshold: float | None
    status: str
    # Each photo's threshold and distance basis against the anchor (the rule, or
    # "dlib fallback" when either photo has no faceres descriptor).
    thresholds: list[float | None] = field(default_factory=list)
    basis: list[str | None] = field(default_factory=list)


@dataclass
class CompareSet:
    """What the ranking is computed from: the photos and the identity verdict."""

    photos: list[Photo]
    identity: Identity
    analyze_ms: float = 0.0


# When no photo could be ranked (every one failed, or none is the set's person).
NO_RANKING = {"code": "nothing_to_rank",
              "message": "No photo could be ranked: see each photo's error."}


def check_count(n: int) -> None:
    """Compare takes 2 to 12 photos: fewer is not a comparison, more than 12 is beyond
    the time and memory targets (docs/compare.md)."""
    if not MIN_PHOTOS <= n <= MAX_PHOTOS:
        raise AurumError("bad_photo_count", f"Compare takes {MIN_PHOTOS} to {MAX_PHOTOS} "
                                            f"photos; got {n}.")

# ---------------------------------------------------------------- calibration -------

def load_calibration(models: Path) -> dict[str, Any]:
    """models/compare.json (the same-person threshold, its error rates, the final
    score's test-retest p95 by blend weight), or {"status": "unavailable: ..."}."""
    path = Path(models) / CALIBRATION_FILE
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        float(data["same_person"]["threshold"])
        data["tie"]["final_retest_p95"]  # noqa: B018  (checked for presence)
    except (OSError, ValueError, KeyError, TypeError) as exc:
        return {"status": f"unavailable: {path.name} not readable ({type(exc).__name__}); "
                          f"rebuild with `python -m aurum calibrate-compare`"}
    return {**data, "status": "ok"}


def tie_margin(calibration: dict[str, Any], blend_weight: float) -> float | None:
    """The final score's test-retest p95 at this blend weight (linear between the
    measured weights), or None when the calibration is missing."""
    table = (calibration.get("tie") or {}).get("final_retest_p95")
    if not table:
        return None
    ws = np.array([float(w) for w in table])
    ps = np.array([float(table[w]) for w in table])
    order = np.argsort(ws)
    return round(float(np.interp(blend_weight, ws[order], ps[order])), 3)

# ---------------------------------------------------------------- analysis ----------


def analyze_photo(engine: Engine, image: Any, file: str | None = None, *,
                  keep_image: bool = False) -> Photo:
    """One photo: the engine's analysis, and its descriptor taken from the face
    context in memory (never put into the Analysis)."""
    held: dict[str, Any] = {}

    def take(ctx: FaceContext) -> None:
        held["d"], held["status"] = ctx.descriptor, ctx.descriptor_status
        held["f"], held["fstatus"] = ctx.faceres, ctx.faceres_status

    analysis = engine.analyze(image, keep_image=keep_image, on_context=take,
                              source=file)
    d = held.get("d")
    vec = d.normalised() if d is not None else None
    status = held.get("status") or (f"unavailable: {analysis.error.code}"
                                    if analysis.error else "unavailable: not computed")
    f = held.get("f")
    fstatus = held.get("fstatus") or status
    return Photo(file=file, analysis=analysis, descriptor=vec, descriptor_status=status,
                 faceres=f.normalised() if f is not None else None, faceres_status=fstatus)


def default_workers() -> int:
    """Two analyses at once where there are cores for them: the engine's face-mesh pool
    holds two graph pairs, and MediaPipe and OpenCV release the GIL while they run."""
    return max(1, min(2, os.cpu_count() or 1))


def analyze_photos(engine: Engine, images: Sequence[Any], files: Sequence[str | None],
                   *, workers: int | None = None, keep_image: bool = False,
                   calibration: dict[str, Any] | None = None) -> CompareSet:
    """Analyse every photo (in threads) and decide who is the same person."""
    t0 = time.perf_counter()
    n = workers or default_workers()
    if n <= 1 or len(images) <= 1:
        photos = [analyze_photo(engine, im, f, keep_image=keep_image)
                  for im, f in zip(images, files, strict=True)]
    else:
        with ThreadPoolExecutor(max_workers=n, thread_name_prefix="aurum-compare") as pool:
            photos = list(pool.map(lambda pair: analyze_photo(
                engine, pair[0], pair[1], keep_image=keep_image), zip(images, files,
                                                                      strict=True)))
    cal = calibration if calibration is not None else load_calibration(engine.models)
    cset = CompareSet(photos, identify(photos, cal))
    cset.analyze_ms = round((time.perf_counter() - t0) * 1000, 1)
    return cset


def add_photos(cset: CompareSet, photos: Sequence[Photo], calibration: dict[str, Any]
               ) -> CompareSet:
    """The set with more photos (the tab adds uploads and Live captures one by one);
    the identity verdict is decided again over all of them."""
    every = [*cset.photos, *photos]
    return CompareSet(every, identify(every, calibration), cset.analyze_ms)

# ---------------------------------------------------------------- same person -------


def _l2(vecs: np.ndarray) -> np.ndarray:
    return np.sqrt(np.maximum(((vecs[:, None, :] - vecs[None, :, :]) ** 2).sum(-1), 0.0))


def rule_distance(dlib: np.ndarray, faceres: np.ndarray | None, rule: str) -> np.ndarray:
    """The calibrated rule's distance from the two descriptors' distances: "dlib",
    "faceres", or "mean" (the mean of the two L2 distances of unit vectors)."""
    if rule == "dlib" or faceres is None:
        return dlib
    return faceres if rule == "faceres" else (dlib + faceres) / 2.0


def pair_matrix(photos: Sequence[Photo], calibration: dict[str, Any]
                ) -> tuple[np.ndarray, np.ndarray, list[list[str]]]:
    """(distance, threshold, basis) for every pair of `photos` (all with a dlib
    descriptor): the calibrated rule where both photos have a faceres descriptor, else
    dlib's own rule (its own threshold, "dlib fallback"). Memory only."""
    sp = calibration["same_person"]
    rule = sp.get("rule_distance", "dlib")
    t_rule = float(sp["threshold"])
    t_dlib = float(sp.get("dlib_fallback_threshold", t_rule))
    d_dlib = _l2(np.stack([p.descriptor for p in photos]))  # type: ignore[misc]
    has_f = np.array([p.faceres is not None for p in photos])
    both = has_f[:, None] & has_f[None, :]
    if rule == "dlib" or not both.any():
        n = len(photos)
        return d_dlib, np.full((n, n), t_dlib), [["dlib"] * n for _ in range(n)]
    zero = np.zeros_like(next(p.faceres for p in photos if p.faceres is not None))
    d_f = _l2(np.stack([p.faceres if p.faceres is not None else zero for p in photos]))
    dist = np.where(both, rule_distance(d_dlib, d_f, rule), d_dlib)
    thr = np.where(both, t_rule, t_dlib)
    basis = [[rule if b else "dlib fallback" for b in row] for row in both]
    return dist, thr, basis


def _status(photos: Sequence[Photo], have: list[int], rule: str) -> str:
    """"ok", or which photos were judged by dlib's rule alone, and why."""
    if rule == "dlib":
        return "ok"
    missing = [f"{photos[i].file or i} ({photos[i].faceres_status})"
               for i in have if photos[i].faceres is None]
    if not missing:
        return "ok"
    return ("ok: dlib fallback (its own threshold) for pairs with a photo that has no "
            "faceres descriptor: " + "; ".join(missing))


def identify(photos: Sequence[Photo], calibration: dict[str, Any]) -> Identity:
    """The anchor is the photo within the threshold of the most others (the first on a
    tie); a photo is the same person when it lies within the threshold of the anchor.
    Photos with no dlib descriptor (failed, or dlib missing) get None."""
    n = len(photos)
    if calibration.get("status") != "ok":
        return Identity([None] * n, [None] * n, None, None, calibration["status"])
    t = float(calibration["same_person"]["threshold"])
    have = [i for i, p in enumerate(photos) if p.descriptor is not None and p.analysis.ok]
    if not have:
        reasons = {p.descriptor_status for p in photos if p.analysis.ok}
        why = sorted(reasons)[0] if reasons else "unavailable: no photo was analysed"
        return Identity([None] * n, [None] * n, None, t, why)
    dist, thr, bas = pair_matrix([photos[i] for i in have], calibration)
    matches = (dist <= thr).sum(axis=1)
    a = int(np.argmax(matches))  # argmax takes the first of equals: the earliest photo
    same: list[bool | None] = [None] * n
    dists: list[float | None] = [None] * n
    thrs: list[float | None] = [None] * n
    basis: list[str | None] = [None] * n
    for k, i in enumerate(have):
        same[i] = bool(dist[a, k] <= thr[a, k])
        dists[i], thrs[i] = round(float(dist[a, k]), 3), float(thr[a, k])
        basis[i] = bas[a][k] if k != a else bas[a][a]
    rule = calibration["same_person"].get("rule_distance", "dlib")
    return Identity(same, dists, have[a], t, _status(photos, have, rule), thrs, basis)


# ---------------------------------------------------------------- ranking -----------


def _entry(i: int, p: Photo, rep: dict[str, Any], ident: Identity) -> dict[str, Any]:
    """One photo's line in the ranking: scores with intervals, checks, expression."""
    ok = bool(rep["ok"])
    attr = rep.get("attractiveness") or {}
    unc = attr.get("uncertainty") or {}
    qual = rep.get("quality") or {}
    return {
        "file": p.file, "index": i, "rank": None, "ok": ok, "error": rep.get("error"),
        "same_person": ident.same_person[i], "same_person_distance": ident.distance[i],
        "same_person_basis": ident.basis[i] if ident.basis else None,
        "final": {k: (rep.get("final") or {}).get(k) for k in ("score", "status", "basis")},
        "geometric": {"score": (rep.get("geometric") or {}).get("score")},
        "attractiveness": {"score": attr.get("score"),
                           "score_interval": unc.get("score_interval")},
        "quality": {"passed": qual.get("passed"), "failed": qual.get("failed", []),
                    "values": {k: m["value"] for k, m in (qual.get("metrics") or {}).items()}}
        if ok else None,
        "expression": rep.get("expression"), "pose": rep.get("pose"),
        "tied_with": [], "behind_best": None, "reasons": [],
    }


def _intervals(e: dict[str, Any], g_noise: float | None, w: float) -> None:
    """Geometric: ± its test-retest p95 (a formula: its only error is measurement);
    attractiveness: the model's interval; final: the two blended by the weight."""
    g = e["geometric"]["score"]
    if g is not None and g_noise is not None:
        e["geometric"]["interval"] = [round(g - g_noise, 1), round(g + g_noise, 1)]
    a_iv = e["attractiveness"]["score_interval"]
    g_iv = e["geometric"].get("interval")
    basis = e["final"]["basis"]
    if basis == "blend" and g_iv and a_iv:
        e["final"]["interval"] = [round(w * g_iv[k] + (1 - w) * a_iv[k], 1) for k in (0, 1)]
    elif basis == "geometric_only" and g_iv:
        e["final"]["interval"] = g_iv
    elif basis == "attractiveness_only" and a_iv:
        e["final"]["interval"] = a_iv


def _tie_groups(ranked: list[dict[str, Any]], margin: float | None) -> None:
    """Best first; a photo within `margin` of its group's top score joins that group
    and shares its rank (competition ranking: 1, 1, 3)."""
    top: float | None = None
    group_rank = 0
    groups: list[list[dict[str, Any]]] = []
    for pos, e in enumerate(ranked, start=1):
        s = e["final"]["score"]
        if top is not None and margin is not None and top - s <= margin:
            e["rank"] = group_rank
            groups[-1].append(e)
        else:
            top, group_rank = s, pos
            e["rank"] = pos
            groups.append([e])
    for g in groups:
        for e in g:
            e["tied_with"] = [o["file"] if o["file"] is not None else o["index"]
                              for o in g if o is not e]


def rank(engine: Engine, cset: CompareSet, config: Config | None = None,
         calibration: dict[str, Any] | None = None) -> dict[str, Any]:
    """The compare JSON under `config`, from cached analyses only (no model runs)."""
    t0 = time.perf_counter()
    cfg = config or Config()
    cal = calibration if calibration is not None else load_calibration(engine.models)
    margin = tie_margin(cal, cfg.blend_weight)
    g_noise = (cal.get("tie") or {}).get("geometric_retest_p95")
    ident = cset.identity
    reports = [engine.score(p.analysis, cfg).to_dict() for p in cset.photos]
    entries = [_entry(i, p, r, ident) for i, (p, r) in enumerate(zip(cset.photos, reports,
                                                                      strict=True))]
    for e in entries:
        _intervals(e, g_noise, cfg.blend_weight)
    rankable = [e for e in entries if e["ok"] and e["same_person"] is not False
                and e["final"]["score"] is not None]
    rankable.sort(key=lambda e: (-e["final"]["score"], e["index"]))
    _tie_groups(rankable, margin)
    best = rankable[0] if rankable else None
    for e in entries:
        e["reasons"] = reasons_against(e, best, reports[e["index"]],
                                       reports[best["index"]] if best else None, margin,
                                       _threshold_of(ident, e["index"]))
        if best is not None and e in rankable:
            e["behind_best"] = round(best["final"]["score"] - e["final"]["score"], 2)
    apart = [e for e in entries if e["ok"] and e not in rankable]
    failed = [e for e in entries if not e["ok"]]
    return _document(cset, [*rankable, *apart, *failed], best, cal, margin, cfg, t0)


def _threshold_of(ident: Identity, i: int) -> float | None:
    """The threshold this photo was judged by (dlib's own for a fallback pair)."""
    return ident.thresholds[i] if ident.thresholds and ident.thresholds[i] is not None \
        else ident.threshold


def _document(cset: CompareSet, ordered: list[dict[str, Any]], best: dict[str, Any] | None,
              cal: dict[str, Any], margin: float | None, cfg: Config, t0: float
              ) -> dict[str, Any]:
    """The one JSON object (CLI, API, tab)."""
    ident = cset.identity
    ties: list[list[Any]] = []
    for e in ordered:
        if e["rank"] is not None and e["tied_with"]:
            group = sorted([e["file"] if e["file"] is not None else e["index"],
                            *e["tied_with"]], key=str)
            if group not in ties:
                ties.append(group)
    sp = cal.get("same_person") or {}
    different = [e["file"] for e in ordered if e["same_person"] is False]
    n = len(cset.photos)
    return {
        "ok": best is not None, "error": None if best is not None else NO_RANKING,
        "n_photos": n,
        "best": best["file"] if best else None,
        "ranking": ordered,
        "ties": ties,
        "tie_margin": margin,
        "tie_rule": TIE_RULE if margin is not None else f"no ties called: {cal['status']}",
        "same_person_threshold": ident.threshold,
        "same_person": {
            "status": ident.status,
            "anchor": cset.photos[ident.anchor].file if ident.anchor is not None else None,
            "different": different,
            "error_rates": sp.get("error_rates"),
            "rule": SAME_PERSON_RULE,
        },
        "config": {"preset": cfg.preset, "blend_weight": cfg.blend_weight},
        "timing_ms": {"analyze": cset.analyze_ms,
                      "rank": round((time.perf_counter() - t0) * 1000, 3)},
    }


TIE_RULE = ("Two photos tie when their final scores differ by no more than tie_margin: "
            "the final score's test-retest p95 at this blend weight (how far re-saving, "
            "resizing, shifting or brightening one photo moves it). A photo within the "
            "margin of its group's top score shares that rank.")
SAME_PERSON_RULE = ("The anchor is the photo whose face descriptor lies within the "
                    "threshold of the most others (the first photo on a tie); a photo "
                    "farther than the threshold from the anchor is another person: shown "
                    "apart, not ranked.")
