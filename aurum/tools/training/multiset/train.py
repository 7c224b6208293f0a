"""Attractiveness learned from several rated sets (London 1-7, MEBeauty 1-10, ...).

    python -m aurum train-attractiveness --sets london,mebeauty [--out models/]

The sets are declared in `multiset.rated_sets`. What this adds to the London-only
training of `aurum.tools.training.london`:

- **Scales.** Each set's mean ratings are standardised with its own training photos'
  mean and SD; the model predicts that standardised rating. The shown score maps it back
  to one panel's scale (the display set, London's 1-7, so a score means the same as the
  London-only model's), and the JSON also gives it on every other panel's scale.
- **People, not photos, are held out** (`multiset.cv`). Cross-validation folds are drawn
  over people: a set with person ids (London) uses them; MEBeauty's are recovered as
  connected components of descriptor distance (`rated_sets.person_groups`). London's CV
  keeps every other set in training. MEBeauty's val split is held out of all selection
  and is predicted by a model fitted without any photo of its people.
- **A learner chosen by a rule fixed before the run** (`multiset.select`) among ridge,
  kernel ridge, a small MLP head (`common.learners`), the descriptor averaged over a
  photo and its mirror, and the descriptor with appearance features.
- **Intervals per panel**: split-conformal quantiles of the grouped-CV residuals,
  checked on MEBeauty val.
- **Fairness as a family**: within-sex group spreads against shuffle nulls, judged with
  Holm's step-down at alpha 0.05.

Deterministic: fixed seeds, closed-form solvers; the MLP trains full-batch on one
thread with torch's deterministic algorithms.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from aurum.analysers.attractiveness import MULTI_MODEL_FILE
from aurum.tools.training.common.output import write_model
from aurum.tools.training.multiset.card import build_spec, earlier_table, render_card
from aurum.tools.training.multiset.data import Pool, Sfhq, collect_sfhq, make_pool
from aurum.tools.training.multiset.rated_sets import Extractor, SetData, collect_sets
from aurum.tools.training.multiset.select import CANDIDATES, Candidate, evaluate, rule_pick, select

SEEDS = (0, 1, 2)
JOBS_ENV = "AURUM_TRAIN_JOBS"  # candidates evaluated in this many processes
CARD_FILE_MULTI = "MODEL_CARD.md"


def train(shared: Path, keys: Sequence[str], *, seeds: Sequence[int] = SEEDS,
          faces: Path | None = None, extractor: Extractor | None = None,
          progress: Callable[[str], None] = lambda s: None,
          candidates: Sequence[tuple[str, str, str, str]] | None = None,
          sd: SetData | None = None) -> tuple[dict[str, Any], str, list[Candidate]]:
    ex = extractor or Extractor()
    if sd is None:
        sd = collect_sets(shared, keys, ex, progress)
    pool = make_pool(sd)
    sfhq = collect_sfhq(faces, ex)
    cands = evaluate_all(pool, list(candidates or CANDIDATES), seeds, sfhq, progress)
    chosen = select(cands)
    progress(f"  chosen: {chosen.name} (rule's pick without the record: "
             f"{rule_pick(cands).name})")
    spec = build_spec(pool, chosen, cands, seeds, sd)
    return spec, render_card(json.loads(json.dumps(spec))), cands


def _quiet(_: str) -> None:
    """Progress inside a worker process: its lines would interleave; the parent prints
    each candidate's summary instead."""


def evaluate_all(pool: Pool, cands: list[tuple[str, str, str, str]], seeds: Sequence[int],
                 sfhq: Sfhq | None, progress: Callable[[str], None]) -> list[Candidate]:
    """Every candidate, in `JOBS_ENV` worker processes (default 2; 0 or 1: in this one).
    Each candidate is an independent, deterministic computation, so the results do not
    depend on the number of processes; the list keeps the candidates' order."""
    jobs = int(os.environ.get(JOBS_ENV, "2"))
    if jobs <= 1 or len(cands) < 2:
        return [evaluate(pool, n, r, lr, wt, seeds, sfhq, progress) for n, r, lr, wt in cands]
    from concurrent.futures import ProcessPoolExecutor
    from multiprocessing import get_context

    out = []
    with ProcessPoolExecutor(max_workers=jobs, mp_context=get_context("spawn")) as ex:
        futures = [ex.submit(evaluate, pool, n, r, lr, wt, tuple(seeds), sfhq, _quiet)
                   for n, r, lr, wt in cands]
        for fut in futures:
            c = fut.result()
            progress(f"  -> {c.name}: criterion {c.cv.criterion:.3f}, London "
                     f"{c.figures['london_cv']['pearson_r']:.3f}, val "
                     f"{c.figures.get('mebeauty_val', {}).get('pearson_r', float('nan')):.3f}"
                     f", smiling {c.smiling['mean_abs_change']:.2f}, Holm "
                     f"{c.fairness['holm']['passed']}")
            out.append(c)
    return out


def run(shared: Path, keys: Sequence[str], out: Path, faces: Path | None, repeats: int,
        say: Callable[[str], None],
        candidates: Sequence[tuple[str, str, str, str]] | None = None) -> int:
    """The `--sets` path of `python -m aurum train-attractiveness` (`candidates`: only
    these of CANDIDATES, `--candidate`)."""
    t0 = time.perf_counter()
    spec, card, _ = train(shared, keys, seeds=tuple(range(repeats)), faces=faces,
                          progress=say, candidates=candidates)
    previous = out / MULTI_MODEL_FILE
    if candidates is not None and previous.is_file():  # keep the table the rule chose on
        kept = earlier_table(json.loads(previous.read_text(encoding="utf-8")), spec)
        if kept is not None:
            spec["validation"]["earlier_table"] = kept
            card = render_card(json.loads(json.dumps(spec)))
    v = spec["validation"]
    write_model(out, MULTI_MODEL_FILE, CARD_FILE_MULTI, spec, card,
                {"london_r": v["kfold"]["pearson_r"],
                 "mebeauty_val_r": (v["mebeauty_val"] or {}).get("pearson_r")}, t0)
    return 0
