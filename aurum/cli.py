"""Command line: `python -m aurum score IMAGE ...` prints one JSON object per image.

Exit status 0 when every input was answered (a per-image failure is reported in
its own line), 2 on usage errors such as a bad `--config`.
"""

from __future__ import annotations

import argparse
import importlib
import json
import logging
import sys
from collections.abc import Sequence

from aurum.config import PRESETS, Config, preset
from aurum.errors import AurumError

# Sub-commands implemented by other modules: name -> (module, help). Each module has
# `main(argv) -> int` and owns its own arguments.
DELEGATED = {
    "train-attractiveness": ("aurum.train_attractiveness",
                             "fit the attractiveness model on rated faces"),
    "build-reference": ("aurum.build_reference",
                        "build the reference population (percentiles, vibes, map)"),
    "bench": ("aurum.bench", "run the benchmarks and print one table"),
}


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv and argv[0] in DELEGATED:
        module = importlib.import_module(DELEGATED[argv[0]][0])
        return int(module.main(argv[1:]) or 0)
    parser = argparse.ArgumentParser(prog="python -m aurum", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    p_score = sub.add_parser("score", help="analyse and score images (JSON Lines)")
    p_score.add_argument("images", nargs="+", help="image files")
    p_score.add_argument("--config", help="a JSON config (see `config`)")
    p_score.add_argument("--preset", choices=sorted(PRESETS), help="start from a preset")
    p_score.add_argument("--verbose", action="store_true", help="log to stderr")
    p_cfg = sub.add_parser("config", help="print a config to start from")
    p_cfg.add_argument("--preset", choices=sorted(PRESETS), default="default")
    for name, (_, help_text) in DELEGATED.items():
        sub.add_parser(name, help=help_text, add_help=False)
    args = parser.parse_args(argv)

    if args.command == "config":
        print(preset(args.preset).to_json())
        return 0
    logging.basicConfig(level=logging.INFO if args.verbose else logging.ERROR,
                        stream=sys.stderr)
    try:
        cfg = Config.load(args.config) if args.config else Config()
        if args.preset:  # the preset's thresholds, on top of the file's other settings
            cfg = Config.from_dict({**cfg.to_dict(), "preset": args.preset,
                                    "thresholds": preset(args.preset).to_dict()["thresholds"]})
    except AurumError as exc:
        print(f"error: {exc.message}", file=sys.stderr)
        return 2
    from aurum.engine import Engine

    engine = Engine()
    for path in args.images:
        report = engine.run(path, cfg)
        print(json.dumps(report.to_dict(), allow_nan=False), flush=True)
    return 0
