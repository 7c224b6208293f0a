"""Score any number of photos: worker processes (or Ray), resumable JSON Lines, progress.

Why a module of its own: `score` on one file must stay a cheap in-process call, while a
folder of 50,000 photos needs every core, a file that survives an interrupt, and a way
to hand the work to a cluster. Both paths run the same `Engine.run`, so a line written
here equals the line the one-process loop prints (apart from `timing_ms`).

This module is the command's side: which photos, what is already done, the output
file, progress and the summary. The workers and the pools that feed them live in
`aurum.tools.workers`. The output file is appended one whole line per `os.write`; on
restart a trailing partial line (a kill -9 mid-write) is cut off and photos already
present with the same SHA-256 are skipped.
"""

from __future__ import annotations

import json
import math
import os
import signal
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from aurum.tools.workers import JobSpec, cpu_count, run_inline, run_local, sha256_file

# .heic/.heif: decoded when the HEIF plug-in is installed; otherwise their lines say
# `not_an_image` like any other unreadable file (every listed photo gets its line).
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".webp", ".bmp", ".tif", ".tiff", ".heic",
                  ".heif")
QUANTILES = (0.05, 0.25, 0.5, 0.75, 0.95)


# -- inputs -------------------------------------------------------------------------
def is_image_name(path: str | Path) -> bool:
    return Path(path).suffix.lower() in IMAGE_SUFFIXES


def walk_images(folder: Path) -> Iterator[Path]:
    """Image files under `folder`, recursively, in a sorted order that does not depend
    on the file system (so two runs and two machines list them the same). Hidden
    files and folders (".DS_Store", ".git") are skipped."""
    for root, dirs, files in os.walk(folder):
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        for name in sorted(files):
            if not name.startswith(".") and is_image_name(name):
                yield Path(root) / name


def expand(paths: Sequence[str | Path]) -> list[str]:
    """Files as given (a file named on the command line is answered even when its name
    is not an image's: the user asked for it) and folders expanded recursively; each
    photo once, in the order given."""
    out: list[str] = []
    seen: set[str] = set()
    for arg in paths:
        p = Path(arg)
        found = [str(f) for f in walk_images(p)] if p.is_dir() else [str(arg)]
        for f in found:
            if f not in seen:
                seen.add(f)
                out.append(f)
    return out


# -- output, progress, summary ----------------------------------------------------------
def read_done(out: Path) -> dict[str, str | None]:
    """Path -> SHA-256 of the photos already in `out`. A trailing partial line (the
    process was killed mid-write) is cut off, so the file stays valid JSON Lines."""
    done: dict[str, str | None] = {}
    if not out.exists():
        return done
    with open(out, "rb+") as fh:
        data = fh.read()
        end = data.rfind(b"\n") + 1
        if end < len(data):
            fh.truncate(end)
    for raw in data[:end].splitlines():
        try:
            row = json.loads(raw)
        except ValueError:
            continue
        if isinstance(row, dict) and isinstance(row.get("file"), str):
            done[row["file"]] = row.get("sha256")
    return done


def pending(paths: Sequence[str], done: dict[str, str | None]) -> list[str]:
    """Photos not yet in the output: absent, or present with other bytes now (the
    file changed since, or a file missing then is there now; its new line is appended
    and the last line of a path wins)."""
    out = []
    for p in paths:
        if p in done and done[p] == sha256_file(p):
            continue
        out.append(p)
    return out


class Progress:
    """One status line on stderr, redrawn at most 4 times a second."""

    def __init__(self, total: int, enabled: bool, stream: Any = None) -> None:
        self.total, self.enabled = total, enabled
        self.stream = stream or sys.stderr
        self.done = self.failed = 0
        self.t0 = time.monotonic()
        self._last = 0.0

    def update(self, failed: bool) -> None:
        self.done += 1
        self.failed += int(failed)
        now = time.monotonic()
        if self.enabled and (now - self._last > 0.25 or self.done == self.total):
            self._last = now
            self.stream.write("\r" + self.line(now) + "\033[K")
            self.stream.flush()

    def line(self, now: float | None = None) -> str:
        elapsed = max((now or time.monotonic()) - self.t0, 1e-9)
        rate = self.done / elapsed
        left = (self.total - self.done) / rate if rate > 0 else math.inf
        width = 24
        filled = int(width * self.done / max(self.total, 1))
        eta = _duration(left) if math.isfinite(left) else "?"
        return (f"[{'#' * filled}{'-' * (width - filled)}] {self.done}/{self.total} "
                f"{rate:.1f} photos/s ETA {eta} failures {self.failed}")

    def close(self) -> None:
        if self.enabled:
            self.stream.write("\n")
            self.stream.flush()


def _duration(seconds: float) -> str:
    s = int(round(seconds))
    return f"{s // 3600}h{s % 3600 // 60:02d}m" if s >= 3600 else f"{s // 60}m{s % 60:02d}s"


@dataclass
class Summary:
    """Counts by error code and the final score's quantiles, over this run's photos."""

    codes: Counter[str] = field(default_factory=Counter)
    scores: list[float] = field(default_factory=list)
    skipped: int = 0
    seconds: float = 0.0

    def add(self, result: dict[str, Any]) -> None:
        self.codes[result.get("error") or "ok"] += 1
        s = result.get("score")
        if isinstance(s, (int, float)) and math.isfinite(s):
            self.scores.append(float(s))

    def quantiles(self) -> dict[str, float]:
        if not self.scores:
            return {}
        import numpy as np

        q = np.quantile(np.array(self.scores), QUANTILES)
        return {f"p{round(p * 100)}": round(float(v), 2) for p, v in zip(QUANTILES, q, strict=True)}

    def text(self) -> str:
        n = sum(self.codes.values())
        rate = n / self.seconds if self.seconds > 0 else 0.0
        codes = ", ".join(f"{k} {v}" for k, v in sorted(self.codes.items(),
                                                         key=lambda kv: (-kv[1], kv[0])))
        lines = [f"scored {n} photos in {self.seconds:.1f} s ({rate:.2f} photos/s)"
                 + (f"; {self.skipped} already in the output, skipped" if self.skipped else ""),
                 f"outcomes: {codes or 'none'}"]
        q = self.quantiles()
        if q:
            lines.append("final score quantiles: "
                         + ", ".join(f"{k} {v}" for k, v in q.items())
                         + f" (n={len(self.scores)})")
        return "\n".join(lines)


class _Stop(Exception):
    """SIGTERM, turned into an exception so the output is closed like on Ctrl-C."""


def write_results(results: Iterable[dict[str, Any]], fd: int,
                  on_result: Callable[[dict[str, Any]], None]) -> None:
    """Each line with one `os.write` (whole, or nothing, for any interrupt that
    Python handles: signal handlers run between bytecodes, never inside a write)."""
    for r in results:
        data = (r["line"] + "\n").encode("utf-8")
        while data:
            n = os.write(fd, data)
            data = data[n:]
        on_result(r)


def score_paths(inputs: Sequence[str], *, spec: JobSpec, jobs: int | None = None,
                out: Path | None = None, engine: str = "local", address: str | None = None,
                quiet: bool = False, stderr: Any = None) -> int:
    """The `score` command for folders / --out / --jobs / --engine. Returns the exit
    status: 0 when every photo was answered, 130 when interrupted (the output then
    holds whole lines only; run the same command again to finish)."""
    stderr = stderr or sys.stderr
    paths = expand(inputs)
    done = read_done(out) if out else {}
    todo = pending(paths, done) if done else paths
    summary = Summary(skipped=len(paths) - len(todo))
    n_jobs = jobs if jobs is not None else cpu_count()
    spec.threads = max(1, cpu_count() // max(n_jobs, 1))
    show = not quiet and bool(getattr(stderr, "isatty", lambda: False)())
    progress = Progress(len(todo), show, stderr)
    if engine == "ray":  # the same workers as Ray actors; ray is imported only here
        from aurum.tools.ray_runner import run as run_ray

        results: Iterable[dict[str, Any]] = run_ray(todo, spec, jobs, address)
    elif n_jobs <= 0:
        results = run_inline(todo, spec)
    else:
        results = run_local(todo, spec, n_jobs)

    def on_result(r: dict[str, Any]) -> None:
        summary.add(r)
        progress.update(r.get("error") is not None)

    fd = os.open(out, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644) if out else \
        sys.stdout.fileno()
    if not out:
        sys.stdout.flush()
    old_term = signal.getsignal(signal.SIGTERM)

    def _term(*_: Any) -> None:
        raise _Stop

    signal.signal(signal.SIGTERM, _term)
    t0 = time.perf_counter()
    status = 0
    try:
        write_results(results, fd, on_result)
    except (KeyboardInterrupt, _Stop):
        status = 130
    finally:
        signal.signal(signal.SIGTERM, old_term)
        close = getattr(results, "close", None)
        if close:
            close()  # shuts the pool down (the generator's finally)
        if out:
            os.close(fd)
        progress.close()
    summary.seconds = time.perf_counter() - t0
    if not quiet:
        print(summary.text(), file=stderr)
        if status:
            print("interrupted: the output holds whole lines only; run the same command "
                  "again to score the rest", file=stderr)
    return status
