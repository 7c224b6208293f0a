"""Folder scoring throughput: today's one-process loop against `--jobs 1`, `--jobs 2`,
the default `--jobs`, and local Ray, on the same photos; peak memory per worker; a
projection for 1 million photos.

    .venv/bin/python bench/batch_throughput.py            # 120 photos (faces, London, MEBeauty)
    .venv/bin/python bench/batch_throughput.py --n 40 --no-ray

Each mode runs as a user runs it (a fresh `python -m aurum score ...`), twice: on all
N photos and on the first 8. The steady rate is (N - 8) / (t_N - t_8), so interpreter
start, model loading and pool start-up (the same in both runs) cancel out; the
end-to-end rate (N / t_N) is printed too. Peak memory: every process in the run's
tree is sampled every 0.2 s (RSS, psutil); a worker's peak is its own maximum.
Run it alone on the machine (wrap it in `flock`): other load changes the figures.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psutil

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from aurum.paths import shared_dir  # noqa: E402
from aurum.tools.batch import walk_images  # noqa: E402
from aurum.tools.workers import cpu_count  # noqa: E402

SMALL = 8


def photos(n: int) -> list[str]:
    """n photos, a third from each shared source, in a fixed order."""
    shared = shared_dir()
    sources = [shared / "faces", shared / "london" / "neutral_front", shared / "mebeauty"]
    each = [sorted(walk_images(s)) for s in sources]
    out: list[str] = []
    i = 0
    while len(out) < n:
        for files in each:
            if i < len(files) and len(out) < n:
                out.append(str(files[i]))
        i += 1
    return out


def run(cmd: list[str]) -> dict[str, float]:
    """Wall time of `cmd`, and the peak RSS of its main process and of its largest
    other process (a worker), sampled every 0.2 s."""
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, cwd=REPO, env=env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    main_peak = worker_peak = 0
    ps = psutil.Process(proc.pid)
    while proc.poll() is None:
        try:
            main_peak = max(main_peak, ps.memory_info().rss)
            for child in ps.children(recursive=True):
                try:
                    name = " ".join(child.cmdline())
                    rss = child.memory_info().rss
                except psutil.Error:
                    continue
                # Ray's own daemons (raylet, GCS, dashboard) are not workers
                if "spawn_main" in name or "ray::" in name or "default_worker" in name:
                    worker_peak = max(worker_peak, rss)
        except psutil.Error:
            pass
        time.sleep(0.2)
    wall = time.perf_counter() - t0
    if proc.returncode != 0:
        raise SystemExit(f"failed ({proc.returncode}): {' '.join(cmd[:6])} ...")
    return {"wall_s": wall, "main_rss_mb": main_peak / 1e6, "worker_rss_mb": worker_peak / 1e6}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--n", type=int, default=120)
    ap.add_argument("--no-ray", action="store_true")
    ap.add_argument("--json", type=Path, default=None)
    args = ap.parse_args()
    files = photos(args.n)
    py = [sys.executable, "-m", "aurum", "score"]
    tmp = Path(tempfile.mkdtemp(prefix="aurum-bench-"))
    modes: dict[str, list[str]] = {
        "one-process loop (files to stdout, before this change)": [],
        "--jobs 1": ["--jobs", "1"],
        "--jobs 2": ["--jobs", "2"],
        f"default --jobs ({cpu_count()} cores)": [],
    }
    if not args.no_ray:
        modes["--engine ray (local, default actors)"] = ["--engine", "ray"]
    rows = []
    for name, extra in modes.items():
        timed = {}
        for size in (SMALL, len(files)):
            out = tmp / f"{len(rows)}_{size}.jsonl"
            if name.startswith("one-process"):
                cmd = [*py, *files[:size]]
            else:
                cmd = [*py, *files[:size], *extra, "--out", str(out), "--quiet"]
            timed[size] = run(cmd)
        big, small = timed[len(files)], timed[SMALL]
        steady = (len(files) - SMALL) / max(big["wall_s"] - small["wall_s"], 1e-9)
        rows.append({"mode": name, "n": len(files), "wall_s": round(big["wall_s"], 2),
                     "startup_s": round(small["wall_s"] - SMALL / steady, 2),
                     "end_to_end_photos_s": round(len(files) / big["wall_s"], 2),
                     "steady_photos_s": round(steady, 2),
                     "main_rss_mb": round(big["main_rss_mb"]),
                     "worker_rss_mb": round(big["worker_rss_mb"])})
        print(json.dumps(rows[-1]), flush=True)
    base = rows[0]["steady_photos_s"]
    print(f"\n{'mode':58s} {'photos/s':>9s} {'x loop':>7s} {'e2e/s':>7s} {'start s':>8s} "
          f"{'main MB':>8s} {'worker MB':>9s}")
    for r in rows:
        print(f"{r['mode']:58s} {r['steady_photos_s']:9.2f} {r['steady_photos_s'] / base:7.2f} "
              f"{r['end_to_end_photos_s']:7.2f} {r['startup_s']:8.2f} {r['main_rss_mb']:8d} "
              f"{r['worker_rss_mb']:9d}")
    best = max(r["steady_photos_s"] for r in rows[1:])
    per_core_s = cpu_count() / best  # core-seconds a photo, at the measured rate
    print(f"\nper photo: {per_core_s * 1000:.0f} core-ms at the best rate ({best:.2f} photos/s "
          f"on {cpu_count()} cores)")
    for cores in (2, 8, 32, 128):
        hours = 1e6 * per_core_s / cores / 3600
        print(f"1 million photos on {cores:3d} cores: {hours:6.1f} h "
              f"(linear in cores; assumes the files arrive as fast)")
    if args.json:
        args.json.write_text(json.dumps({"rows": rows, "per_photo_core_s": per_core_s},
                                        indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
