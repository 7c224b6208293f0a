"""`python -m aurum compare PHOTO... [--config F]`: rank 2-12 photos of one person.

Prints one JSON object (`aurum.compare.rank`; docs/compare.md describes each field).
`file` is each photo's file name (as the API gives it), `index` its place among the
arguments. Exit 0 when the set was answered (a photo that cannot be read or has no
face keeps its place with `ok: false` and its error code), 2 on usage errors: a bad
`--config`, or fewer than 2 or more than 12 photos.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
from collections.abc import Sequence
from pathlib import Path

from aurum.compare import MAX_PHOTOS, analyze_photos, check_count, rank
from aurum.config import PRESETS, Config, preset
from aurum.engine import Engine
from aurum.errors import AurumError


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m aurum compare", description=__doc__)
    p.add_argument("photos", nargs="+", metavar="PHOTO",
                   help=f"2 to {MAX_PHOTOS} image files of one person")
    p.add_argument("--config", help="a JSON config (see `python -m aurum config`)")
    p.add_argument("--preset", choices=sorted(PRESETS), help="start from a preset")
    p.add_argument("--reference", type=Path, default=None,
                   help="population folder from build-reference --out")
    p.add_argument("--jobs", type=int, default=None,
                   help="analyses at once (default: 2, or 1 on a single core)")
    p.add_argument("--verbose", action="store_true", help="log to stderr")
    return p


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(list(sys.argv[2:] if argv is None else argv))
    logging.basicConfig(level=logging.INFO if args.verbose else logging.ERROR,
                        stream=sys.stderr)
    os.environ.setdefault("HF_HUB_OFFLINE", "1")  # CLIP never counts here: no hub wait
    try:
        check_count(len(args.photos))
        cfg = Config.load(args.config) if args.config else Config()
        if args.preset:
            cfg = Config.from_dict({**cfg.to_dict(), "preset": args.preset,
                                    "thresholds": preset(args.preset).to_dict()["thresholds"]})
    except AurumError as exc:
        print(f"error: {exc.message}", file=sys.stderr)
        return 2
    if args.jobs is not None and args.jobs < 1:
        print("error: --jobs must be 1 or more", file=sys.stderr)
        return 2
    engine = Engine(reference=args.reference)
    cset = analyze_photos(engine, list(args.photos), [Path(p).name for p in args.photos],
                          workers=args.jobs)
    print(json.dumps(rank(engine, cset, cfg), allow_nan=False), flush=True)
    return 0
