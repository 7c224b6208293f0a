"""The worker side of folder scoring and the reference build: one engine per process.

Why apart from `aurum.tools.batch` (the command: inputs, resumable output, progress):
a spawned worker imports this module, not that one: it holds what a worker runs and
the runners (local pool, in-process, Ray) that feed it, and nothing of the command.

Design choices, each for a measured or stated reason:
- one engine per worker process (MediaPipe graphs are not shared across processes and
  loading them costs about a second), created once by the pool's initializer;
- each worker gets `cores // jobs` threads for OpenMP, BLAS and OpenCV (set before
  cv2 and MediaPipe load): two workers that each spin a thread per core fight for the
  cores and spend a third of their time in the kernel;
- workers read the file themselves and return the finished JSON line, so the parent
  only writes (it never decodes or holds an image);
- a worker that dies (a crash inside a native library) is replaced and its photos
  retried once; a photo that kills a worker twice gets an `internal_error` line.

A spawned worker imports numpy before its initializer runs (the parent's main module,
`python -m aurum`, is imported again in the child and loads the config), and BLAS
reads its thread variables once, when it loads: so the pool is started with the
variables already in the environment it hands its children (`child_thread_env`), and
the initializer sets them again for what loads later (OpenCV is also set directly).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import math
import os
import signal
import sys
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from aurum import paths

THREAD_ENV = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS",
              "NUMEXPR_NUM_THREADS", "VECLIB_MAXIMUM_THREADS", "TF_NUM_INTRAOP_THREADS",
              "TF_NUM_INTEROP_THREADS")
RETRIES = 1  # a photo in flight when a worker died is retried this many times


def cpu_count() -> int:
    """Cores this process may use (the affinity mask, not the machine's total)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not Linux
        return max(1, os.cpu_count() or 1)


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


def thread_env(threads: int) -> dict[str, str]:
    """The variables that cap OpenMP, BLAS and TensorFlow Lite's thread pools."""
    return {name: str(threads) for name in THREAD_ENV}


def limit_threads(threads: int) -> None:
    """Thread limits for this process's native libraries. The environment variables
    only count before the libraries load; OpenCV's limit is also set directly."""
    os.environ.update(thread_env(threads))
    try:
        import cv2

        cv2.setNumThreads(threads)
    except Exception:  # OpenCV missing: the engine reports that itself
        pass


@contextlib.contextmanager
def child_thread_env(threads: int) -> Iterator[None]:
    """The thread variables in this process's environment while it spawns workers
    (a child inherits them before anything loads), restored afterwards: the parent's
    own libraries loaded long ago and keep their threads."""
    saved = {name: os.environ.get(name) for name in THREAD_ENV}
    os.environ.update(thread_env(threads))
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


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


def read_photo(path: str) -> bytes | None:
    """The file's bytes, or None when it is missing or unreadable (the engine then
    names the error from the path)."""
    try:
        return Path(path).read_bytes() if os.path.isfile(path) else None
    except OSError:
        return None


def process_one(worker: dict[str, Any], path: str, data: bytes | None = None
                ) -> dict[str, Any]:
    """One photo -> a picklable result. `data` is the file's bytes when the caller
    read them (Ray ships bytes to nodes that may not see the file); otherwise the
    worker reads the file. Reading bytes and decoding them is exactly what
    `load_image(path)` does, so the line equals the one-process loop's."""
    engine = worker["engine"]
    if data is None:
        data = read_photo(path)
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
    with child_thread_env(spec.threads):
        yield from _pool_results(paths, spec, jobs)


def _pool_results(paths: Sequence[str], spec: JobSpec, jobs: int
                  ) -> Iterator[dict[str, Any]]:
    """run_local's loop: a pool until it breaks, then a fresh one for what is left."""
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
                lost: list[str] = []  # photos in flight when a worker died
                for fut in done:
                    p = inflight.pop(fut)
                    try:
                        yield fut.result()
                    except BrokenProcessPool:
                        broken = True
                        lost.append(p)
                if broken:  # the rest of the dead pool's work is lost too
                    lost += inflight.values()
                    inflight.clear()
                for p in lost:
                    attempts[p] += 1
                    if attempts[p] > RETRIES:
                        yield crashed(p, "the worker process died")
                    else:
                        todo.append(p)
                if broken:
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
