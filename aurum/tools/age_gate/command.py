"""`python -m aurum train-age-gate`: fit the adults-only gate and write its model and card.

    python -m aurum train-age-gate [--shared ../shared] [--out models/] [--mebeauty-every N]

Measures the shared minors and adults (cached outside the repository), fits the
regularised logistic gate, chooses C and the threshold by the rules fixed in
`aurum.tools.age_gate.train`, and writes models/age_gate.json (coefficients, SHA-256,
provenance, the curve) and models/AGE_GATE_CARD.md. Deterministic: a re-run on the same
photos writes the same bytes.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np

from aurum.analysers.age_gate import GATE_FILE, PROPORTION_NAMES, gate_features, payload_sha256
from aurum.analysers.faceres import alignment as faceres_alignment
from aurum.paths import models_dir, shared_dir
from aurum.tools.age_gate import card
from aurum.tools.age_gate.data import (
    EXTRACTION_VERSION,
    GatePhoto,
    Measured,
    measure_all,
    read_photos,
)
from aurum.tools.age_gate.train import (
    ADULT_SETS,
    ALL_GROUPS,
    Fitted,
    Folds,
    Table,
    choose_threshold,
    curve,
    fit,
    out_of_fold,
    rates,
    select,
)

CARD_FILE = "AGE_GATE_CARD.md"
CURVE_POINTS = np.round(np.arange(-6.0, 6.01, 0.5), 2)


def table(photos: list[GatePhoto], measured: list[Measured]) -> Table:
    x = np.array([gate_features(ALL_GROUPS, m.desc, m.front, m.faceres, m.age_probs)
                  for m in measured])
    return Table(x, np.array([p.minor for p in photos]),
                 np.array([p.set_key for p in photos]),
                 np.array([p.group if p.minor else "" for p in photos]),
                 np.array([p.age_class for p in photos]),
                 np.array([f"{p.set_key}/{p.ethnicity}/{p.sex}" if p.set_key == "mebeauty"
                           else p.set_key for p in photos]))


def per_fold(t: Table, folds: Folds, threshold: float) -> list[dict[str, object]]:
    """Each (held-out grid, held-out adult fold) fit's held-out shares at the chosen
    threshold: the minors of a grid it never saw, the adults (a third of every group)
    it never saw."""
    rows = []
    for (g, k), (held, logit) in folds.items():
        grid = t.minor & (t.grid == g)
        rows.append({"grid": g, "adult_fold": k,
                     **{c: float(np.mean(logit[grid & (t.age_class == c)] >= threshold))
                        for c in ("under13", "teen16")},
                     "adults": float(np.mean(logit[held & ~t.minor] >= threshold))})
    return rows


def groups_table(photos: list[GatePhoto], logit: np.ndarray, threshold: float,
                 set_key: str) -> list[dict[str, object]]:
    """Share of one adult set withheld by ethnic group x sex (out of fold)."""
    rows = []
    keys = sorted({(p.ethnicity, p.sex) for p in photos if p.set_key == set_key})
    for eth, sex in keys:
        idx = [i for i, p in enumerate(photos)
               if p.set_key == set_key and p.ethnicity == eth and p.sex == sex]
        rows.append({"ethnicity": eth, "sex": sex, "n": len(idx),
                     "withheld": float(np.mean(logit[idx] >= threshold))})
    return rows


FEATURE_NAMES = {"descriptor": [f"descriptor_{i:03d}" for i in range(128)],
                 "proportions": list(PROPORTION_NAMES),
                 "faceres": [f"faceres_{i:04d}" for i in range(1024)],
                 "age": ["faceres_age_years", "faceres_p_under_18", "faceres_p_under_13"]}


def _round_up(v: float) -> float:
    """`v` to 6 significant digits, never below it: rounding down would withhold the
    adult the rule put just under the threshold (the first fit's file did: 0.499193)."""
    r = float(f"{v:.6g}")
    if r >= v:
        return r
    step = 10.0 ** (np.floor(np.log10(abs(v))) - 5)  # one unit in the 6th digit
    return float(f"{r + step:.6g}")


def payload(final: Fitted, threshold: float) -> dict[str, object]:
    """The part of the model file the runtime reads (and the SHA-256 covers)."""
    spec = final.spec
    return {"groups": list(spec.groups),
            "group_weight": dict(zip(spec.groups, spec.weight, strict=True)),
            "feature_names": [n for g in spec.groups for n in FEATURE_NAMES[g]],
            "mean": final.mean.tolist(), "scale": final.scale.tolist(),
            "coef": final.coef.tolist(), "intercept": final.intercept,
            "threshold": _round_up(threshold), "C": spec.c}


THRESHOLD_KEYS = ("threshold", "t_adult", "t_child")


def reported(x: object) -> object:
    """The figures as written: every threshold (`THRESHOLD_KEYS`) to 6 significant digits,
    as the model's own threshold (`payload`). Why: they are logits of fits that another
    processor's BLAS reaches by another path (measured with OPENBLAS_CORETYPE=Sandybridge:
    the shipped fit's thresholds moved in the 15th digit, an out-of-fold minimum in the
    9th; the model itself did not move). The rates beside them were computed at the
    exact values."""
    if isinstance(x, dict):
        return {k: float(f"{v:.6g}") if k in THRESHOLD_KEYS and isinstance(v, float)
                else reported(v) for k, v in x.items()}
    if isinstance(x, list):
        return [reported(v) for v in x]
    return x


def build(shared: Path, progress: Callable[[str], None], mebeauty_every: int = 1
          ) -> dict[str, object]:
    """Measure, cross-validate, choose, fit: the model file's content."""
    photos, measured, fails = measure_all(read_photos(shared, mebeauty_every),
                                          progress=progress)
    t = table(photos, measured)
    progress(f"{len(photos)} photos measured, {len(fails)} without a face")
    spec, by_spec = select(t, progress)
    logit, folds = out_of_fold(t, spec)
    _, oof_parts = choose_threshold(logit, t)
    final = fit(t, spec)
    shipped = final.logit(t.x)
    threshold, parts = choose_threshold(shipped, t)
    model = payload(final, threshold)
    counts = {k: int(np.sum(t.set_key == k)) for k in ("minors", *ADULT_SETS)}
    return {
        "model": model, "sha256": payload_sha256(model),
        "provenance": {
            "command": "python -m aurum train-age-gate", "extraction_version":
            EXTRACTION_VERSION, "descriptor_runtime": "dlib (reference kernels)",
            "faceres_alignment": faceres_alignment(),
            "photos": counts, "failures": fails, "mebeauty_every": mebeauty_every,
            "data": "shared/minors (synthetic SFHQ under-18s, gate only), shared/faces, "
                    "shared/london/neutral_front, shared/mebeauty"},
        "figures": reported({
            "candidates": [{"groups": list(k.groups), "weight": list(k.weight), "C": k.c,
                            **v} for k, v in by_spec.items()],
            "threshold_rule": parts, "in_sample": rates(shipped, t, threshold),
            "curve": curve(shipped, t, np.unique(np.append(CURVE_POINTS, threshold))),
            "oof_threshold_rule": oof_parts,
            "out_of_fold": rates(logit, t, oof_parts["t_adult"]),
            "oof_at_t_child": rates(logit, t, oof_parts["t_child"]),
            "per_fold": per_fold(t, folds, oof_parts["t_adult"]),
            "oof_curve": curve(logit, t, np.unique(np.append(CURVE_POINTS,
                                                             oof_parts["t_adult"]))),
            "mebeauty_groups": groups_table(photos, logit, oof_parts["t_adult"], "mebeauty"),
            "london_groups": groups_table(photos, logit, oof_parts["t_adult"], "london"),
            "mebeauty_groups_shipped": groups_table(photos, shipped, threshold, "mebeauty")})}


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m aurum train-age-gate",
                                     description=__doc__.split("\n\n")[0])
    parser.add_argument("--shared", type=Path, default=shared_dir(),
                        help="the shared data folder (default: AURUM_SHARED or ../shared)")
    parser.add_argument("--out", type=Path, default=None, help="default: models/")
    parser.add_argument("--mebeauty-every", type=int, default=1,
                        help="fit on every Nth MEBeauty photo (from the second, in file-name "
                             "order) instead of all 1,944 (default 1: all)")
    parser.add_argument("--quiet", action="store_true")
    args = parser.parse_args(argv)
    out = args.out or models_dir()

    def progress(s: str) -> None:
        if not args.quiet:
            print(s, file=sys.stderr, flush=True)

    model = build(args.shared, progress, max(1, args.mebeauty_every))
    out.mkdir(parents=True, exist_ok=True)
    (out / GATE_FILE).write_text(json.dumps(model, indent=1, allow_nan=False) + "\n",
                                 encoding="utf-8")
    (out / CARD_FILE).write_text(card.render(model), encoding="utf-8")
    progress(f"wrote {out / GATE_FILE} and {out / CARD_FILE}")
    return 0
