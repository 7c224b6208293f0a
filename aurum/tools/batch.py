"""Score any number of photos: worker processes (or Ray), resumable JSON Lines, progress.

Why a module of its own: `score` on one file must stay a cheap in-process call, while a
folder of 50,000 photos needs every core, a file that survives an interrupt, and a way
to hand the work to a cluster. Both paths run the same `Engine.run`, so a line written
here equals the line the one-process loop prints (apart from `timing_ms`).

Design choices, each for a measured or stated reason:
- one engine per worker process (MediaPipe graphs are not shared across processes and
  loading them costs about a second), created once by the pool's initializer;
- each worker gets `cores // jobs` threads for OpenMP, BLAS and OpenCV (set before
  numpy and cv2 load): two workers that each spin a thread per core fight for the
  cores and spend a third of their time in the kernel;
- workers read the file themselves and return the finished JSON line, so the parent
  only writes (it never decodes or holds an image);
- the output file is appended one whole line per `os.write`; on restart a trailing
  partial line (a kill -9 mid-write) is cut off and photos already present with the
  same SHA-256 are skipped;
- a worker that dies (a crash inside a native library) is replaced and its photos
  retried once; a photo that kills a worker twice gets an `internal_error` line.

This module imports nothing heavy at import time: spawned workers import it first and
must set their thread limits before numpy, OpenCV or MediaPipe load.
"""

from __future__ import annotations

import hashlib
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

import numpy as np

from aurum import paths

# .heic/.heif: decoded when the HEIF plug-in is installed; otherwise their lines say
# `not_an_image` like any other unreadable file (every listed photo gets its line).
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".webp", ".bmp", ".tif", ".tiff", ".heic",
                  ".heif")
THREAD_ENV = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS",
              "NUMEXPR_NUM_THREADS", "VECLIB_MAXIMUM_THREADS", "TF_NUM_INTRAOP_THREADS",
              "TF_NUM_INTEROP_THREADS")
QUANTILES = (0.05, 0.25, 0.5, 0.75, 0.95)
RETRIES = 1  # a photo in flight when a worker died is retried this many times


def cpu_count() -> int:
    """Cores this process may use (the affinity mask, not the machine's total)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not Linux
        return max(1, os.cpu_count() or 1)


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


def sha256_file(path: str | Path) -> str | None:
    """The file's SHA-256, or None when it cannot be read (its line then says why)."""
    try:
        return paths.sha256_file(Path(path))
    except OSError:
        return None


# -- the worker side ------------------------------------------------------------------
@dataclass
class JobSpec:
    """What every worker needs to build its engine; small and picklable (it crosses
    process and machine boundaries)."""

    kind: str = "score"  # "score" (a report line) or "analyse" (build-reference's numbers)
    config_json: str | None = None
    models: str | None = None
    reference: str | None = None
    threads: int = 1


_WORKER: dict[str, Any] = {}


def limit_threads(threads: int) -> None:
    """Thread limits for this process's native libraries. The environment variables
    only count before the libraries load; OpenCV's limit is also set directly."""
    for name in THREAD_ENV:
        os.environ[name] = str(threads)
    try:
        import cv2

        cv2.setNumThreads(threads)
    except Exception:  # OpenCV missing: the engine reports that itself
        pass


def silence_native_stderr() -> None:
    """MediaPipe's C++ start-up chatter (TensorFlow Lite and absl notices, one set per
    worker) would break the progress bar: file descriptor 2 goes to /dev/null, while
    Python's own messages (warnings, logged errors) keep the real stderr."""
    try:
        keep = os.dup(2)
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, 2)
        os.close(devnull)
        sys.stderr = os.fdopen(keep, "w", buffering=1)
    except OSError:
        pass


def init_worker(spec: JobSpec) -> None:
    """Pool initializer: thread limits, then one engine for the worker's lifetime.
    Ctrl-C is the parent's business: workers ignore SIGINT so an interrupt never
    leaves a worker half-way through a traceback."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    silence_native_stderr()
    limit_threads(spec.threads)
    _WORKER.clear()
    _WORKER.update(make_worker(spec))


def make_worker(spec: JobSpec) -> dict[str, Any]:
    """The engine and config a worker (process or Ray actor) uses."""
    from aurum.config import Config
    from aurum.engine import Engine

    models = Path(spec.models) if spec.models else None
    reference = Path(spec.reference) if spec.reference else None
    engine = Engine(models=models, reference=reference, pool_size=1)
    if spec.kind == "analyse":
        engine.population = None  # a population is never placed against an older one
    cfg = Config.from_dict(json.loads(spec.config_json)) if spec.config_json else Config()
    return {"engine": engine, "config": cfg, "kind": spec.kind}


def process_one(worker: dict[str, Any], path: str, data: bytes | None = None
                ) -> dict[str, Any]:
    """One photo -> a picklable result. `data` is the file's bytes when the caller
    read them (Ray ships bytes to nodes that may not see the file); otherwise the
    worker reads the file. Reading bytes and decoding them is exactly what
    `load_image(path)` does, so the line equals the one-process loop's."""
    engine = worker["engine"]
    if data is None:
        try:
            if os.path.isfile(path):
                data = Path(path).read_bytes()
        except OSError:
            data = None
    digest = hashlib.sha256(data).hexdigest() if data is not None else None
    source: Any = data if data else path  # missing/empty: let the engine name the error
    if worker["kind"] == "analyse":
        return analyse_numbers(engine, source, path, digest)
    report = engine.run(source, worker["config"], source=path).to_dict()
    report["sha256"] = digest
    final = (report.get("final") or {}).get("score")
    return {"path": path, "sha256": digest,
            "line": json.dumps(report, allow_nan=False),
            "error": (report.get("error") or {}).get("code"),
            "score": final}


def analyse_numbers(engine: Any, source: Any, path: str, digest: str | None
                    ) -> dict[str, Any]:
    """What build-reference keeps of a face: numbers only (no pixels, no descriptor)."""
    from aurum.measure import quality

    a = engine.analyze(source, source=path)
    base = {"path": path, "sha256": digest, "line": None, "score": None}
    if not a.ok or a.landmarks is None or a.geometry is None or a.quality_raw is None:
        return {**base, "error": a.error.code if a.error else "incomplete"}
    score = (a.attractiveness or {}).get("score")
    return {**base, "error": None,
            "numbers": {"landmarks": np.asarray(a.landmarks, dtype=np.float64),
                        "quality_norm": quality.norm_vector(a.quality_raw),
                        "attractiveness": float(score) if isinstance(score, (int, float))
                        else math.nan},
            "attractiveness_status": engine.attractiveness_status}


def _task(path: str) -> dict[str, Any]:
    try:
        return process_one(_WORKER, path)
    except Exception as exc:  # never lose the photo's line to a bug on our side
        return crashed(path, f"{type(exc).__name__} in the worker")


def crashed(path: str, why: str) -> dict[str, Any]:
    """The line for a photo the engine could not answer at all (worker died or raised):
    the same shape as any failed report, with `internal_error`."""
    from aurum.engine import Analysis, Engine
    from aurum.errors import AurumError

    analysis = Analysis(source=path, error=AurumError(
        "internal_error", f"Analysis failed unexpectedly ({why})."))
    report = Engine.score(_NoModels(), analysis).to_dict()  # type: ignore[arg-type]
    report["timing_ms"] = {}
    report["sha256"] = sha256_file(path)
    return {"path": path, "sha256": report["sha256"],
            "line": json.dumps(report, allow_nan=False), "error": "internal_error",
            "score": None}


class _NoModels:
    """Enough of an Engine for `Engine.score` on a failed analysis (it reads nothing)."""

    population = None
    attractiveness_status = population_status = "unavailable: worker failed"


# -- runners --------------------------------------------------------------------------
def run_local(paths: Sequence[str], spec: JobSpec, jobs: int
              ) -> Iterator[dict[str, Any]]:
    """Results as they complete, from `jobs` spawned worker processes. At most
    2 * jobs photos are in flight, so memory does not grow with the number of
    photos, and a dead worker costs only its in-flight photos a retry."""
    import multiprocessing as mp
    from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
    from concurrent.futures.process import BrokenProcessPool

    todo = list(reversed(paths))  # pop() from the end = in the given order
    attempts: Counter[str] = Counter()
    ctx = mp.get_context("spawn")  # fork would copy MediaPipe's threads' state
    while todo:
        pool = ProcessPoolExecutor(max_workers=jobs, mp_context=ctx, initializer=init_worker,
                                   initargs=(spec,))
        inflight: dict[Any, str] = {}
        broken = False
        try:
            while todo or inflight:
                while todo and len(inflight) < 2 * jobs:
                    p = todo.pop()
                    inflight[pool.submit(_task, p)] = p
                done, _ = wait(inflight, return_when=FIRST_COMPLETED)
                for fut in done:
                    p = inflight.pop(fut)
                    try:
                        yield fut.result()
                    except BrokenProcessPool:
                        broken = True
                        attempts[p] += 1
                        if attempts[p] > RETRIES:
                            yield crashed(p, "the worker process died")
                        else:
                            todo.append(p)
                if broken:
                    for p in inflight.values():  # the rest of the dead pool's work
                        attempts[p] += 1
                        if attempts[p] > RETRIES:
                            yield crashed(p, "the worker process died")
                        else:
                            todo.append(p)
                    inflight.clear()
                    break
        finally:
            for fut in inflight:
                fut.cancel()
            pool.shutdown(wait=not broken, cancel_futures=True)


def run_inline(paths: Sequence[str], spec: JobSpec) -> Iterator[dict[str, Any]]:
    """`--jobs 0`: the same work in this process (no pool), for debugging and tests."""
    worker = make_worker(spec)
    for p in paths:
        try:
            yield process_one(worker, p)
        except Exception as exc:
            yield crashed(p, f"{type(exc).__name__}")


def run_ray(paths: Sequence[str], spec: JobSpec, jobs: int | None,
            address: str | None) -> Iterator[dict[str, Any]]:
    """The same job on Ray: an actor pool of engines (one model load per actor, like
    the local workers). The driver reads each file and ships its bytes, so nodes of a
    cluster need not see the driver's files; lines equal the local pool's."""
    from aurum.tools.ray_runner import run as ray_run

    yield from ray_run(paths, spec, jobs, address)


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
    if engine == "ray":
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
