"""`python -m aurum train-attractiveness`: fit the attractiveness model on rated faces.

    python -m aurum train-attractiveness --data ../shared/london [--out models/]
    python -m aurum train-attractiveness --sets london,mebeauty [--out models/]

Why one command for both models: `scripts/build_models.sh` rebuilds every committed
model the same way. Without `--sets` it fits the London-only model
(`aurum.tools.training.london.train`); with it, the several-set default model
(`aurum.tools.training.multiset.train`).
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

from aurum.paths import models_dir, shared_dir
from aurum.tools.training.london import train as london
from aurum.tools.training.multiset import rated_sets
from aurum.tools.training.multiset import train as multiset
from aurum.tools.training.multiset.select import CANDIDATES


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m aurum train-attractiveness",
                                     description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, default=shared_dir() / "london",
                        help="the London set folder (default: shared/london)")
    parser.add_argument("--out", type=Path, default=None,
                        help="where to write the model and its card (default: models/)")
    parser.add_argument("--repeats", type=int, default=None,
                        help="10-fold CV repeats (seeds 0..N-1; default 5 for the London "
                             "model, 3 with --sets)")
    parser.add_argument("--robustness-faces", type=int, default=20,
                        help="faces for the perturbation check (0 to skip; default 20)")
    parser.add_argument("--faces", type=Path, default=shared_dir() / "faces",
                        help="unrated faces (MANIFEST.csv) to describe in the card "
                             "(default: shared/faces)")
    parser.add_argument("--no-faces", action="store_true",
                        help="skip the unrated-faces table")
    parser.add_argument("--sets", default=None,
                        help="learn from several rated sets (declared in "
                             "aurum.tools.training.multiset.rated_sets), e.g. "
                             "london,mebeauty: writes attractiveness_multiset.json and "
                             "MODEL_CARD.md instead of the London-only model")
    parser.add_argument("--candidate", default=None,
                        help="with --sets: evaluate and fit only this candidate of "
                             "aurum.tools.training.multiset.select.CANDIDATES (its name, "
                             "e.g. the recorded choice), to re-measure the shipped recipe "
                             "after a change of the features (the whole table takes hours "
                             "on two cores); the card's table then has that row only")
    parser.add_argument("--quiet", action="store_true")
    return parser


def _run_sets(args: argparse.Namespace, out: Path, say: Callable[[str], None]) -> int:
    keys = [k.strip() for k in args.sets.split(",") if k.strip()]
    unknown = [k for k in keys if k not in rated_sets.SETS]
    if unknown or not keys:
        print(f"error: unknown rated set(s) {unknown}; declared: "
              f"{', '.join(rated_sets.SETS)}", file=sys.stderr)
        return 2
    repeats = args.repeats or len(multiset.SEEDS)
    only = None
    if args.candidate is not None:
        only = [c for c in CANDIDATES if c[0] == args.candidate]
        if not only:
            print(f"error: no candidate named {args.candidate!r}; declared: "
                  f"{'; '.join(c[0] for c in CANDIDATES)}", file=sys.stderr)
            return 2
    try:
        return multiset.run(shared_dir(), keys, out,
                            None if args.no_faces else args.faces, repeats, say, only)
    except FileNotFoundError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2


def _run_london(args: argparse.Namespace, out: Path, say: Callable[[str], None]) -> int:
    seeds = tuple(range(args.repeats or len(london.SEEDS)))
    return london.run(args.data, out, seeds, args.robustness_faces,
                      None if args.no_faces else args.faces, say)


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of `python -m aurum train-attractiveness` (see `aurum.tools.cli`)."""
    args = _parser().parse_args(list(argv) if argv is not None else None)
    logging.basicConfig(level=logging.ERROR, stream=sys.stderr)
    out = (args.out or models_dir()).resolve()
    say = (lambda s: None) if args.quiet else (lambda s: print(s, file=sys.stderr, flush=True))
    if args.repeats is not None and args.repeats < 1:
        print("error: --repeats must be at least 1", file=sys.stderr)
        return 2
    if args.sets:
        return _run_sets(args, out, say)
    return _run_london(args, out, say)


if __name__ == "__main__":
    sys.exit(main())
