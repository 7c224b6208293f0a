"""`score --engine ray`: the batch job on Ray, for when one machine is not enough.

Ray is optional (the app never imports it; the test command installs it). An actor
pool of engines mirrors the local pool: each actor loads the models once and scores
the photos it is given with the same `workers.process_one`, so a line from Ray equals
the local pool's. With a cluster address the driver reads each file and sends its
bytes, so the nodes need not mount the driver's folders (a local Ray's actors read
the files, like local workers); at most two photos per actor are in flight, so the
object store holds a bounded number of images whatever the folder's size.
"""

from __future__ import annotations

import importlib.util
import logging
from collections import Counter
from collections.abc import Iterator, Sequence
from typing import Any

from aurum.tools import workers

log = logging.getLogger(__name__)


def ray_missing() -> str | None:
    """One line telling how to get Ray, or None when it is importable."""
    if importlib.util.find_spec("ray") is None:
        return ("--engine ray needs Ray, which is not installed: "
                "pip install 'ray==2.60.0' (or use the default local engine)")
    return None


class ScoringActor:
    """One engine per actor, built once (as in a local worker process)."""

    def __init__(self, spec: workers.JobSpec) -> None:
        workers.limit_threads(spec.threads)
        self.worker = workers.make_worker(spec)

    def score(self, path: str, data: bytes | None) -> dict[str, Any]:
        try:
            return workers.process_one(self.worker, path, data)
        except Exception as exc:
            return workers.crashed(path, f"{type(exc).__name__} in the Ray actor")


def run(paths: Sequence[str], spec: workers.JobSpec, jobs: int | None,
        address: str | None) -> Iterator[dict[str, Any]]:
    """Results as they complete. `jobs` actors (default: the cluster's CPUs, one CPU
    each); local Ray when `address` is None. One model load per actor, like the local
    workers; the driver reads each file and ships its bytes, so a cluster's nodes need
    not see the driver's files, and the lines equal the local pool's."""
    import ray

    started = False
    if not ray.is_initialized():
        kwargs: dict[str, Any] = {"address": address} if address else {
            "num_cpus": workers.cpu_count(), "include_dashboard": False}
        # A local Ray's workers import aurum from this checkout; a cluster's nodes
        # need the same Aurum, models and Python packages installed (tested with two
        # nodes on one machine: bench/ray_cluster.py).
        ray.init(log_to_driver=False, configure_logging=False, **kwargs)
        started = True
    try:
        cpus = max(1, int(ray.cluster_resources().get("CPU", 1)))
        # One CPU an actor: more actors than CPUs would wait for a CPU forever.
        n = min(jobs, cpus) if jobs and jobs > 0 else cpus
        spec.threads = 1 if address else max(1, workers.cpu_count() // n)
        # Ray starts an actor's process with OMP_NUM_THREADS = its num_cpus, which
        # numpy's BLAS reads as it loads (measured: 1 thread); __init__ sets the rest.
        remote = ray.remote(num_cpus=1)(ScoringActor)
        # A local Ray's actors read the files themselves, as local workers do; a
        # cluster's nodes may not see the driver's folders, so they get the bytes.
        yield from _schedule(ray, paths, [remote.remote(spec) for _ in range(n)],
                             ship=bool(address))
    finally:
        if started:
            ray.shutdown()


def _schedule(ray: Any, paths: Sequence[str], actors: list[Any], *, ship: bool
              ) -> Iterator[dict[str, Any]]:
    """At most two photos in flight per live actor. An actor that dies (its node lost,
    its process killed) is dropped and the photos it held go back to the queue, each
    at most `workers.RETRIES` times, as with a dead local worker; when no actor is
    left, the rest get a crashed line each (a re-run of the command resumes them)."""
    todo = list(reversed(paths))
    attempts: Counter[str] = Counter()
    inflight: dict[Any, tuple[str, int]] = {}
    live = set(range(len(actors)))
    free = [i for i in range(len(actors)) for _ in range(2)]
    while todo or inflight:
        free = [i for i in free if i in live]
        while todo and free:
            i = free.pop()
            p = todo.pop()
            data = workers.read_photo(p) if ship else None
            inflight[actors[i].score.remote(p, data)] = (p, i)
        if not inflight:  # every actor is dead: nothing can take the rest
            while todo:
                yield workers.crashed(todo.pop(), "Ray: no live actor left")
            return
        ready, _ = ray.wait(list(inflight), num_returns=1)
        for ref in ready:
            p, i = inflight.pop(ref)
            try:
                result = ray.get(ref)
            except (ray.exceptions.RayActorError, ray.exceptions.ObjectLostError) as exc:
                live.discard(i)
                attempts[p] += 1
                log.warning("Ray actor %d lost (%s): %s re-queued, attempt %d", i,
                            type(exc).__name__, p, attempts[p])
                if attempts[p] > workers.RETRIES:
                    yield workers.crashed(p, "Ray: the actor died")
                else:
                    todo.append(p)
                continue
            except ray.exceptions.RayError as exc:
                free.append(i)
                yield workers.crashed(p, f"Ray: {type(exc).__name__}")
                continue
            free.append(i)
            yield result
