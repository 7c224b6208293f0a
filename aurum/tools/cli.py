"""Command line: `python -m aurum score PATH ...` prints one JSON object per image.

PATH is a file or a folder (searched recursively for images). Files alone are scored
in this process, in the order given; a folder, `--out`, `--jobs` or `--engine` runs the
parallel, resumable path in `aurum.tools.batch` (worker processes or Ray), whose lines also
carry the file's `sha256`. Exit status 0 when every input was answered (a per-image
failure is reported in its own line), 2 on usage errors such as a bad `--config`,
130 when interrupted (the output file then holds whole lines only).
"""

from __future__ import annotations

import argparse
import importlib
import json
import logging
import sys
from collections.abc import Sequence
from pathlib import Path

from aurum.config import PRESETS, Config, preset
from aurum.errors import AurumError

# Sub-commands implemented by other modules: name -> (module, help). Each module has
# `main(argv) -> int` and owns its own arguments.
DELEGATED = {
    "train-attractiveness": ("aurum.tools.training.command",
                             "fit the attractiveness model on rated faces"),
    "build-reference": ("aurum.tools.reference.build",
                        "build the reference population (percentiles, vibes, map)"),
    "train-age-gate": ("aurum.tools.age_gate.command",
                       "fit the adults-only gate on the shared minors and adults"),
    "bench": ("aurum.tools.bench", "run the benchmarks and print one table"),
    "compare": ("aurum.tools.compare", "rank 2-12 photos of one person (one JSON object)"),
    "calibrate-compare": ("aurum.tools.calibrate_compare",
                          "measure compare's same-person threshold and tie margin"),
}


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m aurum", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    p_score = sub.add_parser("score", help="analyse and score images (JSON Lines)")
    p_score.add_argument("images", nargs="+", metavar="PATH",
                         help="image files and folders (folders: recursively, images only)")
    p_score.add_argument("--out", type=Path, help="append JSON Lines to this file; photos "
                         "already in it (same path and SHA-256) are skipped")
    p_score.add_argument("--jobs", type=int, default=None,
                         help="worker processes (default: every core; 0: this process)")
    p_score.add_argument("--engine", choices=("local", "ray"), default="local",
                         help="local worker processes, or Ray (optional dependency)")
    p_score.add_argument("--address", default=None,
                         help="Ray cluster address (default: start a local Ray)")
    p_score.add_argument("--reference", type=Path, default=None,
                         help="population folder from build-reference --out "
                              "(default: AURUM_REFERENCE, else the built-in one)")
    p_score.add_argument("--quiet", action="store_true",
                         help="no progress bar and no summary on stderr")
    p_score.add_argument("--config", help="a JSON config (see `config`)")
    p_score.add_argument("--preset", choices=sorted(PRESETS), help="start from a preset")
    p_score.add_argument("--verbose", action="store_true", help="log to stderr")
    p_cfg = sub.add_parser("config", help="print a config to start from")
    p_cfg.add_argument("--preset", choices=sorted(PRESETS), default="default")
    for name, (_, help_text) in DELEGATED.items():
        sub.add_parser(name, help=help_text, add_help=False)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run one command; returns the exit status (see the module docstring)."""
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv and argv[0] in DELEGATED:
        module = importlib.import_module(DELEGATED[argv[0]][0])
        return int(module.main(argv[1:]) or 0)
    args = _parser().parse_args(argv)
    if args.command == "config":
        print(preset(args.preset).to_json())
        return 0
    logging.basicConfig(level=logging.INFO if args.verbose else logging.ERROR,
                        stream=sys.stderr)
    try:
        cfg = _config(args)
    except AurumError as exc:
        print(f"error: {exc.message}", file=sys.stderr)
        return 2
    problem = _usage_problem(args)
    if problem:
        print(f"error: {problem}", file=sys.stderr)
        return 2
    batch_mode = (args.out is not None or args.jobs is not None or args.engine != "local"
                  or args.address is not None or any(Path(p).is_dir() for p in args.images))
    return _score_batch(args, cfg) if batch_mode else _score_here(args, cfg)


def _config(args: argparse.Namespace) -> Config:
    """The file's config (or the default), with a preset's thresholds on top."""
    cfg = Config.load(args.config) if args.config else Config()
    if args.preset:  # the preset's thresholds, on top of the file's other settings
        cfg = Config.from_dict({**cfg.to_dict(), "preset": args.preset,
                                "thresholds": preset(args.preset).to_dict()["thresholds"]})
    return cfg


def _usage_problem(args: argparse.Namespace) -> str | None:
    if args.reference is not None and not args.reference.is_dir():
        return f"--reference {args.reference}: not a folder"
    if args.jobs is not None and args.jobs < 0:
        return "--jobs must be 0 or more"
    if args.engine == "ray":
        from aurum.tools.ray_runner import ray_missing

        return ray_missing() or None
    return None


def _score_batch(args: argparse.Namespace, cfg: Config) -> int:
    """Folders, --out, --jobs or Ray: the parallel, resumable path."""
    from aurum.tools import batch
    from aurum.tools.workers import JobSpec

    spec = JobSpec(kind="score", config_json=cfg.to_json(),
                   reference=str(args.reference) if args.reference else None)
    return batch.score_paths(args.images, spec=spec, jobs=args.jobs, out=args.out,
                             engine=args.engine, address=args.address, quiet=args.quiet)


def _score_here(args: argparse.Namespace, cfg: Config) -> int:
    """Files alone: scored in this process, in the order given."""
    from aurum.engine import Engine

    engine = Engine(reference=args.reference)
    for path in args.images:
        report = engine.run(path, cfg)
        print(json.dumps(report.to_dict(), allow_nan=False), flush=True)
    return 0
