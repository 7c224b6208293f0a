"""Server memory under bursts of large uploads (issue 28), measured on `python app.py`.

1. Four 300 MB files sent at once through gradio_client (each with a JPEG header and
   distinct bytes, so Gradio stores four files): each must be refused within 10 s.
   The same four again as raw multipart POSTs to Gradio's upload route (a client that
   does not check sizes): the server itself must refuse them.
2. Four 40-megapixel JPEGs at once (a fixture face upscaled to 7740 x 5160, the pixel
   limit, with sensor-like noise: 13-15 MB each), each scored.
After each burst: the server's RSS (process tree) sampled every 0.1 s for the peak,
then 30 s later; then a normal photo must still score.
Targets: the 300 MB burst raises RSS by at most 150 MB at its peak; after either
burst RSS is back within 100 MB of its start 30 s later.

    .venv/bin/python bench/upload_memory.py [--json OUT] [--env KEY=VALUE ...]
"""

from __future__ import annotations

import argparse
import io
import os
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from bench.load import _tree_rss, emit, launch, stop  # noqa: E402

FACE = REPO / "tests" / "fixtures" / "faces" / "sfhq_sample_2x4_001.jpg"


class Sampler:
    """The server's RSS every 0.1 s while a burst runs: its peak."""

    def __init__(self, pid: int) -> None:
        self.pid, self.peak, self._stop = pid, 0.0, threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            self.peak = max(self.peak, _tree_rss(self.pid) or 0.0)
            time.sleep(0.1)

    def __enter__(self) -> Sampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


def big_files(folder: Path, n: int, size: int) -> list[Path]:
    header = FACE.read_bytes()[:4096]
    out = []
    for i in range(n):
        p = folder / f"big_{i}.jpg"
        with open(p, "wb") as f:
            f.write(header + bytes([i]) * 1024)
            f.truncate(size)  # sparse on disk; the client still sends every byte
        out.append(p)
    return out


def forty_mp(folder: Path, n: int) -> list[Path]:
    import numpy as np
    from PIL import Image

    with Image.open(FACE) as im:
        big = np.asarray(im.convert("RGB").resize((7740, 5160), Image.Resampling.BILINEAR))
    out = []
    rng = np.random.default_rng(0)
    for i in range(n):
        # Sensor-like noise: a camera's 40 MP JPEG is 10-20 MB, a smooth upscale 2 MB.
        noisy = np.clip(big + rng.normal(0, 6, big.shape), 0, 255).astype(np.uint8)
        buf = io.BytesIO()
        Image.fromarray(noisy).save(buf, "JPEG", quality=92)
        p = folder / f"forty_{i}.jpg"
        p.write_bytes(buf.getvalue())
        out.append(p)
    return out


def one(url: str, path: Path) -> dict[str, Any]:
    from gradio_client import Client, handle_file

    t0 = time.perf_counter()
    try:
        r = Client(url, verbose=False).predict(handle_file(str(path)), api_name="/score")
        answer = (r.get("error") or {}).get("code") or ("ok" if r.get("ok") else "?")
    except Exception as exc:  # the client's own error for a refused upload
        answer = f"{type(exc).__name__}: {str(exc)[:160]}"
    return {"answer": answer, "seconds": round(time.perf_counter() - t0, 2)}


def raw(url: str, path: Path) -> dict[str, Any]:
    """POST the file to Gradio's upload route as a client that does not check sizes
    (curl, an old client): the server itself must refuse it."""
    import httpx

    def body():
        with open(path, "rb") as f:
            while chunk := f.read(1 << 20):
                yield chunk

    t0 = time.perf_counter()
    boundary = "aurumbench"
    head = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"files\"; "
            f"filename=\"{path.name}\"\r\nContent-Type: image/jpeg\r\n\r\n").encode()
    tail = f"\r\n--{boundary}--\r\n".encode()

    def stream():
        yield head
        yield from body()
        yield tail

    try:
        r = httpx.post(f"{url}gradio_api/upload", content=stream(), timeout=60,
                       headers={"Content-Type": f"multipart/form-data; boundary={boundary}"})
        answer = f"HTTP {r.status_code}: {r.text[:120]}"
    except httpx.HTTPError as exc:  # the server may close the connection mid-body
        answer = f"{type(exc).__name__}: {str(exc)[:120]}"
    return {"answer": answer, "seconds": round(time.perf_counter() - t0, 2)}


def burst(url: str, pid: int, files: list[Path], settle_s: float, send: Any = one
          ) -> dict[str, Any]:
    start = _tree_rss(pid)
    with Sampler(pid) as s, ThreadPoolExecutor(len(files)) as pool:
        answers = list(pool.map(lambda p: send(url, p), files))
    end = _tree_rss(pid)
    time.sleep(settle_s)
    later = _tree_rss(pid)
    assert start is not None and later is not None
    return {"answers": answers, "rss_start_mb": start, "rss_peak_mb": round(s.peak, 1),
            "rss_end_mb": end, f"rss_after_{settle_s:g}s_mb": later,
            "peak_rise_mb": round(s.peak - start, 1), "after_rise_mb": round(later - start, 1)}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--json", type=Path)
    ap.add_argument("--settle", type=float, default=30.0)
    ap.add_argument("--env", action="append", default=[], help="KEY=VALUE for the app")
    ap.add_argument("--skip-big", action="store_true")
    args = ap.parse_args(argv)
    env = dict(kv.split("=", 1) for kv in args.env)
    folder = Path(tempfile.mkdtemp(prefix="aurum-upload-bench-"))
    proc, url = launch(REPO, env)
    result: dict[str, Any] = {"env": env}
    try:
        first = one(url, FACE)  # warm: every graph built
        time.sleep(3)
        result["warm"] = first
        if not args.skip_big:
            bigs = big_files(folder, 4, 300_000_000)
            result["four_300MB_gradio_client"] = burst(url, proc.pid, bigs, args.settle)
            result["four_300MB_raw_http"] = burst(url, proc.pid, bigs, args.settle, raw)
            result["normal_after_300MB"] = one(url, FACE)
        files = forty_mp(folder, 4)
        result["forty_mp_file_mb"] = [round(f.stat().st_size / 1e6, 1) for f in files]
        result["four_40MP"] = burst(url, proc.pid, files, args.settle)
        result["normal_after_40MP"] = one(url, FACE)
    finally:
        stop(proc)
        for f in folder.iterdir():
            f.unlink()
        os.rmdir(folder)
    emit(result, args.json)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
