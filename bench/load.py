"""Load test of the running app through its public API (`/score`), as clients see it.

20 concurrent `gradio_client` clients each send 10 images, good and bad mixed; every
answer is checked (good photos: `ok` true with a face; bad files: `ok` false with the
expected error code), and the script reports latency p50/p95 per request and the
server's RSS before and after. Loopback only: the script refuses other hosts.

    .venv/bin/python bench/load.py --launch            # start app.py on 127.0.0.1, test, stop
    .venv/bin/python bench/load.py --url http://127.0.0.1:7860 --pid 1234

The bad files are generated into a temporary folder on the client side (the server
must not write uploads to disk; that is the app's own test).
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import numpy as np

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from aurum.paths import shared_dir  # noqa: E402

LOOPBACK = {"127.0.0.1", "localhost", "::1"}


def _bad_files(folder: Path, variant: int = 0) -> dict[Path, str]:
    """Files a careless or hostile client sends, with the code each must get
    (`a|b`: either code is right; the detector may see a face-like blob in noise).
    Each `variant` has different bytes (a different upload in Gradio's cache)."""
    from PIL import Image

    london = sorted((shared_dir() / "london" / "neutral_front").glob("*.jpg"))
    face = london[variant % len(london)].read_bytes()
    files = {
        "notes.jpg": (b"this is not a picture\n" * 20, "not_an_image"),
        "cut.jpg": (face[: len(face) // 2], "truncated_image"),
        "noise.png": (None, "no_face|face_too_small"),
        "tiny.png": (None, "image_too_small"),
    }
    out = {}
    for name, (data, code) in files.items():
        path = folder / f"{variant}_{name}"
        if name == "noise.png":
            rng = np.random.default_rng(variant)
            Image.fromarray(rng.integers(0, 256, (480, 640, 3), dtype=np.uint8)).save(path)
        elif name == "tiny.png":
            Image.new("RGB", (16, 16), (180, 140, variant % 256)).save(path)
        elif name == "notes.jpg":
            path.write_bytes(data + str(variant).encode())
        else:
            path.write_bytes(data)
        out[path] = code
    return out


def _plan(clients: int, per_client: int, folder: Path, distinct_bad: bool
          ) -> list[list[tuple[Path, str | None]]]:
    """Each client's list: mostly shared faces, every third request a bad file. By
    default the bad files are the same four for everyone (identical concurrent
    uploads, as when many users send one viral picture); `distinct_bad` gives each
    bad request its own bytes."""
    faces = sorted((shared_dir() / "faces").glob("*.jpg"))
    london = sorted((shared_dir() / "london" / "neutral_front").glob("*.jpg"))
    good = [p for pair in zip(faces, london, strict=False) for p in pair]
    n_bad = sum(i % 3 == 2 for i in range(per_client)) * clients
    variants = -(-n_bad // 4) if distinct_bad else 1
    bad = [item for v in range(variants) for item in _bad_files(folder, v).items()]
    plans = []
    j = 0
    for c in range(clients):
        items: list[tuple[Path, str | None]] = []
        for i in range(per_client):
            k = c * per_client + i
            if i % 3 == 2:
                path, code = bad[j % len(bad)]
                j += 1
                items.append((path, code))
            else:
                items.append((good[k % len(good)], None))
        plans.append(items)
    return plans


def _tree_rss(pid: int | None) -> float | None:
    if pid is None:
        return None
    import psutil

    try:
        proc = psutil.Process(pid)
        procs = [proc, *proc.children(recursive=True)]
        return round(sum(p.memory_info().rss for p in procs) / 1e6, 1)
    except psutil.Error:
        return None


def _check(answer: Any, expected: str | None) -> tuple[bool, str]:
    if isinstance(answer, str):
        try:
            answer = json.loads(answer)
        except json.JSONDecodeError:
            return False, f"not JSON: {answer[:80]!r}"
    if not isinstance(answer, dict) or "ok" not in answer:
        return False, f"unexpected answer {str(answer)[:80]}"
    if expected is None:
        good = bool(answer["ok"]) and (answer.get("face") or {}).get("faces_found", 0) >= 1
        return good, "ok" if good else f"failed: {answer.get('error')}"
    code = (answer.get("error") or {}).get("code")
    return (not answer["ok"] and code in expected.split("|")), \
        f"code {code} (expected {expected})"


def _client(url: str, items: list[tuple[Path, str | None]]) -> list[dict[str, Any]]:
    from gradio_client import Client, handle_file

    client = Client(url, verbose=False)
    rows = []
    for path, expected in items:
        t0 = time.perf_counter()
        try:
            answer = client.predict(handle_file(str(path)), "", api_name="/score")
            ok, note = _check(answer, expected)
        except Exception as exc:  # a raised error is a wrong answer, recorded as such
            ok, note = False, f"{type(exc).__name__}: {str(exc)[:120]}"
        rows.append({"file": path.name, "expected": expected or "ok", "correct": ok,
                     "note": note, "ms": (time.perf_counter() - t0) * 1e3})
    return rows


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def launch(app_dir: Path = REPO, extra_env: dict[str, str] | None = None
           ) -> tuple[subprocess.Popen, str]:
    """`app.py` of `app_dir` on a free loopback port (this venv's Python), with its opt-in
    store in a throw-away folder; returns once it listens."""
    port = _free_port()
    env = {**os.environ, **(extra_env or {}),
           "GRADIO_SERVER_NAME": "127.0.0.1", "GRADIO_SERVER_PORT": str(port),
           "HF_HUB_OFFLINE": "1", "GRADIO_ANALYTICS_ENABLED": "False"}
    env.setdefault("AURUM_DATA_DIR", tempfile.mkdtemp(prefix="aurum-bench-data-"))
    # stderr to a file, not a pipe: a long run's log lines would fill a pipe nobody reads
    log = tempfile.TemporaryFile(mode="w+")
    proc = subprocess.Popen([sys.executable, "app.py"], cwd=app_dir, env=env,
                            stdout=subprocess.DEVNULL, stderr=log, text=True)
    url = f"http://127.0.0.1:{port}/"
    deadline = time.time() + 240
    while time.time() < deadline:
        if proc.poll() is not None:
            log.seek(0)
            raise SystemExit(f"app.py exited with {proc.returncode}: {log.read()[-2000:]}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return proc, url
        except OSError:
            time.sleep(1)
    proc.terminate()
    raise SystemExit("app.py did not start listening within 240 s")


def _launch() -> tuple[subprocess.Popen, str]:
    return launch(REPO)


def emit(result: dict, path: Path | None) -> None:
    """A bench's result: printed, and written to `--json PATH` when given (for the
    README's table and for comparing runs)."""
    text = json.dumps(result, indent=1)
    print(text)
    if path:
        path.write_text(text)


def stop(proc: subprocess.Popen) -> None:
    """End a launched app: SIGTERM (the app then removes its private cache), then kill."""
    proc.terminate()
    try:
        proc.wait(timeout=30)
    except subprocess.TimeoutExpired:
        proc.kill()


def run(url: str, clients: int, per_client: int, pid: int | None,
        distinct_bad: bool = False, settle_s: float = 0.0) -> dict[str, Any]:
    """Warm the server with one request, then fire every client at once."""
    host = urlparse(url).hostname or ""
    if host not in LOOPBACK:
        raise SystemExit(f"refusing to load-test {host!r}: loopback addresses only")
    with tempfile.TemporaryDirectory(prefix="aurum-load-") as tmp:
        plans = _plan(clients, per_client, Path(tmp), distinct_bad)
        warm = _client(url, plans[0][:1])
        rss_before = _tree_rss(pid)
        peak = [rss_before or 0.0]
        stop = threading.Event()

        def sample() -> None:
            while not stop.wait(0.25):
                value = _tree_rss(pid)
                if value:
                    peak[0] = max(peak[0], value)

        sampler = threading.Thread(target=sample, daemon=True)
        sampler.start()
        t0 = time.perf_counter()
        with ThreadPoolExecutor(max_workers=clients) as pool:
            results = list(pool.map(lambda items: _client(url, items), plans))
        wall = time.perf_counter() - t0
        stop.set()
        sampler.join()
        rss_after = _tree_rss(pid)
        if settle_s > 0:  # the app trims freed heap pages every 15 s
            time.sleep(settle_s)
        rss_settled = _tree_rss(pid) if settle_s > 0 else None
    rows = [r for client_rows in results for r in client_rows]
    ms = np.array([r["ms"] for r in rows])
    wrong = [r for r in rows if not r["correct"]]
    return {
        "url": url, "clients": clients, "per_client": per_client, "requests": len(rows),
        "distinct_bad_files": distinct_bad,
        "correct": len(rows) - len(wrong), "wrong": wrong[:20],
        "wrong_by_kind": dict(Counter(f"{r['file']}: {r['note']}" for r in wrong)),
        "bad_inputs": sum(r["expected"] != "ok" for r in rows),
        "warm_up_ms": round(warm[0]["ms"], 1),
        "latency_ms": {"p50": round(float(np.percentile(ms, 50)), 1),
                       "p95": round(float(np.percentile(ms, 95)), 1),
                       "max": round(float(ms.max()), 1)},
        "wall_s": round(wall, 2), "requests_per_s": round(len(rows) / wall, 2),
        "server_rss_mb": {"before": rss_before, "peak": peak[0] or None, "after": rss_after,
                          "settled": rss_settled, "settle_s": settle_s},
    }


def main(argv: list[str] | None = None) -> int:
    """Exit 0 when every request was answered correctly, 1 otherwise."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--url", default="http://127.0.0.1:7860/")
    parser.add_argument("--pid", type=int, help="server process id, for its RSS")
    parser.add_argument("--launch", action="store_true",
                        help="start app.py on a free loopback port, test it, stop it")
    parser.add_argument("--clients", type=int, default=20)
    parser.add_argument("--per-client", type=int, default=10)
    parser.add_argument("--rounds", type=int, default=1,
                        help="repeat the whole load this many times against the same server "
                        "(RSS after each round shows whether memory keeps growing)")
    parser.add_argument("--distinct-bad-files", action="store_true",
                        help="give every bad request its own bytes (no identical uploads)")
    parser.add_argument("--settle", type=float, default=20.0,
                        help="seconds to wait after each round before the 'settled' RSS")
    parser.add_argument("--json", metavar="OUT", help="also write the figures here")
    args = parser.parse_args(argv)
    server = None
    url, pid = args.url, args.pid
    if args.launch:
        server, url = _launch()
        pid = server.pid
    try:
        rounds = [run(url, args.clients, args.per_client, pid, args.distinct_bad_files,
                      args.settle) for _ in range(max(1, args.rounds))]
    finally:
        if server is not None:
            stop(server)
    for n, result in enumerate(rounds, 1):
        lat, rss = result["latency_ms"], result["server_rss_mb"]
        kind = "distinct" if result["distinct_bad_files"] else "identical"
        print(f"round {n}: {result['clients']} clients x {result['per_client']} requests "
              f"({result['bad_inputs']} bad inputs, {kind} bad files) against {result['url']}")
        print(f"  answered correctly  {result['correct']}/{result['requests']}")
        print(f"  latency ms          p50 {lat['p50']}  p95 {lat['p95']}  max {lat['max']}  "
              f"(first request {result['warm_up_ms']})")
        print(f"  throughput          {result['requests_per_s']} requests/s over "
              f"{result['wall_s']} s")
        print(f"  server RSS MB       before {rss['before']}  peak {rss['peak']}  "
              f"after {rss['after']}  settled {rss['settled']} (after {rss['settle_s']:g} s)")
        for kind_note, count in result["wrong_by_kind"].items():
            print(f"  WRONG x{count}  {kind_note}")
    if args.json:
        Path(args.json).write_text(json.dumps(rounds, indent=2), encoding="utf-8")
    return 0 if all(r["correct"] == r["requests"] for r in rounds) else 1


if __name__ == "__main__":
    sys.exit(main())
