"""Cold start and memory of the app, measured as a visitor meets them.

Starts `python app.py` (the README's start command, on a free loopback port) and
reports: seconds to the first page served (HTTP 200 on /), seconds to the first
score answered through the API, and the server's RSS after 100 scores.

    .venv/bin/python bench/app_start.py [--scores 100] [--json OUT]

Targets (2-core CPU): first page < 5 s, first score < 8 s, RSS < 600 MB.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from aurum.paths import shared_dir  # noqa: E402
from bench.load import _free_port, _tree_rss, stop  # noqa: E402


def run(scores: int, env_extra: dict[str, str]) -> dict[str, float | None]:
    from gradio_client import Client, handle_file

    port = _free_port()
    env = {**os.environ, "GRADIO_SERVER_NAME": "127.0.0.1", "GRADIO_SERVER_PORT": str(port),
           "GRADIO_ANALYTICS_ENABLED": "False", **env_extra}
    url = f"http://127.0.0.1:{port}/"
    t0 = time.perf_counter()
    proc = subprocess.Popen([sys.executable, "app.py"], cwd=REPO, env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        first_page = None
        while time.perf_counter() - t0 < 120:
            if proc.poll() is not None:
                raise SystemExit(f"app.py exited with {proc.returncode}")
            try:
                with urllib.request.urlopen(url, timeout=2) as resp:
                    if resp.status == 200:
                        first_page = time.perf_counter() - t0
                        break
            except OSError:
                time.sleep(0.05)
        if first_page is None:
            raise SystemExit("no page within 120 s")
        faces = sorted((shared_dir() / "london" / "neutral_front").glob("*.jpg"))
        client = Client(url, verbose=False)
        report = client.predict(handle_file(str(faces[0])), api_name="/score")
        first_score = time.perf_counter() - t0
        assert report["ok"], report["error"]
        rss_first = _tree_rss(proc.pid)
        t1 = time.perf_counter()
        for i in range(scores):
            report = client.predict(handle_file(str(faces[i % len(faces)])), api_name="/score")
            assert report["ok"], report["error"]
        per_score = (time.perf_counter() - t1) / max(1, scores)
        return {"first_page_s": round(first_page, 2), "first_score_s": round(first_score, 2),
                "rss_after_first_score_mb": rss_first,
                f"rss_after_{scores}_scores_mb": _tree_rss(proc.pid),
                "api_round_trip_ms": round(per_score * 1000, 1)}
    finally:
        stop(proc)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--scores", type=int, default=100)
    parser.add_argument("--json", metavar="OUT")
    args = parser.parse_args(argv)
    results = {
        # As on Spaces: the CLIP backend starts (here it ends "unavailable", but torch
        # and transformers are imported in the background).
        "clip_on": run(args.scores, {}),
        # As a deployment without hub access would run it.
        "clip_off": run(args.scores, {"AURUM_CLIP": "0"}),
    }
    targets = {"first_page_s": 5.0, "first_score_s": 8.0, f"rss_after_{args.scores}_scores_mb":
               600.0}
    print(f"{'measure':32s} {'CLIP on':>10s} {'CLIP off':>10s} {'target':>10s}")
    for key in results["clip_on"]:
        target = targets.get(key)
        print(f"{key:32s} {results['clip_on'][key]!s:>10s} {results['clip_off'][key]!s:>10s} "
              f"{'' if target is None else f'< {target:g}':>10s}")
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
