"""Aurum's web app: `python app.py` serves it (also on Hugging Face Spaces).

This file only launches. The UI lives in `aurum_ui/` (one module per tab, see
`aurum_ui/__init__.py`); every number comes from `aurum.engine.Engine` and every
picture from `aurum_ui.render`, so the CLI, the API and the UI can never disagree.

Privacy: uploads are read into memory as they arrive and their temporary file is
deleted seconds later; overlays go to the browser as inline images, never as files;
Gradio's cache lives in a private folder that is purged on a schedule and removed at
exit.
"""

from __future__ import annotations

import argparse
import logging
import os
import signal
import sys
import threading
import time
from pathlib import Path

from aurum_ui import TEMP_DIR  # first: gives Gradio its private cache folder
from aurum_ui.blocks import build_demo, launch_kwargs
from aurum_ui.state import LATENCY

__all__ = ["LATENCY", "TEMP_DIR", "build_demo", "launch_kwargs", "main"]


def _limit_malloc_arenas(arenas: int = 2, trim_every_s: float = 15.0) -> None:
    """glibc gives each busy thread its own malloc arena and rarely hands their memory
    back: under 20 concurrent clients the server grew 303 -> 763 MB over four rounds,
    against 301 -> 481 MB (then flat) with two arenas. A periodic `malloc_trim` then
    returns the freed pages after a burst. No-op off glibc."""
    try:
        import ctypes

        libc = ctypes.CDLL("libc.so.6")
        libc.mallopt(-8, arenas)  # M_ARENA_MAX
    except (OSError, AttributeError):
        return

    def trim() -> None:
        while True:
            time.sleep(trim_every_s)
            libc.malloc_trim(0)

    threading.Thread(target=trim, daemon=True, name="aurum-malloc-trim").start()


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """`--reference DIR` serves a population built with `build-reference --out DIR`
    (percentiles, Tune's pass rates and histograms, vibes, the map); it is passed on
    as AURUM_REFERENCE, which the engine reads, so the two ways agree."""
    parser = argparse.ArgumentParser(prog="python app.py", description="Serve Aurum's app.")
    parser.add_argument("--reference", type=Path, default=None,
                        help="population folder (default: AURUM_REFERENCE, else the "
                             "built-in reference)")
    args = parser.parse_args(argv)
    if args.reference is not None:
        if not args.reference.is_dir():
            parser.error(f"--reference {args.reference}: not a folder")
        os.environ["AURUM_REFERENCE"] = str(args.reference.resolve())
    return args


def main(argv: list[str] | None = None) -> None:
    parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    # Containers and Spaces stop the server with SIGTERM, which skips atexit handlers:
    # turn it into a normal exit so the private cache folder is still removed.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    if os.environ.get("AURUM_MALLOC_TUNING", "1") != "0":  # 0: a bench lever only
        _limit_malloc_arenas()
    demo = build_demo()
    demo.launch(server_name=os.environ.get("GRADIO_SERVER_NAME", "0.0.0.0"),
                server_port=int(os.environ.get("GRADIO_SERVER_PORT", "7860")),
                **launch_kwargs())


if __name__ == "__main__":
    main()
