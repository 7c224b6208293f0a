"""How long `GET /health` takes, idle and while the app scores photos.

Starts `python app.py` (offline, free loopback port), then times N health checks with
httpx: first on an idle server, then while two API clients score the committed
fixture faces back to back (the queue's default concurrency), the case a load
balancer meets on a busy Space. Target: p95 < 50 ms in both.

    .venv/bin/python bench/health_latency.py [--n 200] [--json OUT]
"""

from __future__ import annotations

import argparse
import sys
import threading
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from bench.load import emit, launch, stop  # noqa: E402


def _times(url: str, n: int) -> dict[str, float]:
    import httpx
    import numpy as np

    out = []
    with httpx.Client(timeout=10) as client:
        for _ in range(n):
            t0 = time.perf_counter()
            resp = client.get(f"{url}health")
            out.append((time.perf_counter() - t0) * 1000)
            assert resp.status_code in (200, 503)
            time.sleep(0.02)
    p50, p95, top = np.percentile(out, [50, 95, 100])
    return {"n": n, "p50_ms": round(float(p50), 2), "p95_ms": round(float(p95), 2),
            "max_ms": round(float(top), 2)}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=200)
    ap.add_argument("--json", type=Path)
    args = ap.parse_args(argv)
    from gradio_client import Client, handle_file

    faces = sorted((REPO / "tests" / "fixtures" / "faces").glob("*.jpg"))
    proc, url = launch()
    try:
        Client(url, verbose=False).predict(handle_file(str(faces[0])), api_name="/score")
        idle = _times(url, args.n)
        stop_event = threading.Event()
        scored = [0]

        def score_loop() -> None:
            client = Client(url, verbose=False)
            while not stop_event.is_set():
                for face in faces:
                    client.predict(handle_file(str(face)), api_name="/score")
                    scored[0] += 1

        workers = [threading.Thread(target=score_loop, daemon=True) for _ in range(2)]
        for w in workers:
            w.start()
        time.sleep(2)
        busy = _times(url, args.n)
        stop_event.set()
        for w in workers:
            w.join(timeout=60)
    finally:
        stop(proc)
    result = {"idle": idle, "while_scoring": {**busy, "photos_scored": scored[0]}}
    emit(result, args.json)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
