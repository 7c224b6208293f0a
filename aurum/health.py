"""The machine-readable health report behind the app's `GET /health` and its `status` API.

A load balancer or a monitor asks it every few seconds, so it reads only what the
engine already knows (status strings, a stat of the bundled model files, counters):
no model runs, no store is opened, and nothing about a person is in it (no ids, no
scores, no photos). The rules for `status` are the product's: a score needs the
detector, the mesh and the adults-only gate with the networks it reads (without them:
`unhealthy`); the descriptors, the attractiveness model and the reference population
each have a fallback the report states (without one: `degraded`), as does an opt-in
store that is down. CLIP is optional and labelled, never blended, so its state is
reported but never changes `status`.
"""

from __future__ import annotations

import functools
import subprocess
import time
from collections.abc import Iterable, Mapping
from typing import Any

import numpy as np

import aurum
from aurum.paths import REPO_DIR

NEEDED = ("detector", "mesh", "age_gate")  # no score without these
FALLBACKS = ("descriptor", "faceres", "attractiveness", "population", "store")  # a part falls back
WINDOW = 100  # requests the latency figures cover


def _split(status: str) -> dict[str, str]:
    """"ready: 359 faces" -> {"state": "ready", "reason": "359 faces"}."""
    state, _, reason = str(status).partition(":")
    return {"state": state.strip() or "unknown", "reason": reason.strip()}


def _up(part: Mapping[str, Any]) -> bool:
    # The store's "empty" (no opt-in yet) is up: the first opt-in creates it.
    return part["state"] in ("ready", "empty")


@functools.cache
def version() -> str:
    """The git commit the code runs from, else the package version (a Space or an
    installed copy has no .git). Read once: later calls cost nothing."""
    try:
        out = subprocess.run(["git", "-C", str(REPO_DIR), "rev-parse", "--short=12", "HEAD"],
                             capture_output=True, text=True, timeout=2, check=True)
        commit = out.stdout.strip()
        if commit:
            return f"{aurum.__version__}+g{commit}"
    except (OSError, subprocess.SubprocessError):
        pass
    return aurum.__version__


def latency(rows: Iterable[Mapping[str, Any]]) -> dict[str, Any]:
    """p50 / p95 of the server-side time of the last `WINDOW` requests, overall and by
    kind (a slider re-score takes 0.1 ms, a photo 70: one figure alone would mislead)."""
    rows = list(rows)[-WINDOW:]

    def summary(values: list[float]) -> dict[str, Any]:
        if not values:
            return {"n": 0, "p50_ms": None, "p95_ms": None}
        p50, p95 = np.percentile(values, [50, 95])
        return {"n": len(values), "p50_ms": round(float(p50), 1), "p95_ms": round(float(p95), 1)}

    kinds: dict[str, list[float]] = {}
    for r in rows:
        kinds.setdefault(str(r.get("kind", "?")), []).append(float(r["total_ms"]))
    return {"window": WINDOW, **summary([v for vs in kinds.values() for v in vs]),
            "by_kind": {k: summary(v) for k, v in sorted(kinds.items())}}


def report(engine: Any, rows: Iterable[Mapping[str, Any]] = (),
           started: float | None = None) -> dict[str, Any]:
    """The health JSON: `status`, each part's state and reason, latency, uptime, version.
    `rows` are the app's request log entries (kind, total_ms); `started` is the epoch
    time the server process started."""
    st = engine.status()
    parts: dict[str, dict[str, Any]] = {
        "detector": _split(st["detector"]),
        "mesh": _split(st["face_mesh"]),
        "age_gate": _split(st["age_gate"]),
        "descriptor": _split(st["descriptor"]),
        "faceres": _split(st["faceres"]),
        "attractiveness": _split(st["attractiveness"]),
        "clip": _split(st["clip"]),
        "population": _split(st["population"]),
        "store": _split(st["store"]),
    }
    model = getattr(engine, "attractiveness", None)
    if model is not None:
        spec = getattr(model, "spec", {}) or {}
        parts["attractiveness"].update(
            name=model.name, terms=str((spec.get("data") or {}).get("attribution", "")))
    pop = getattr(engine, "population", None)
    if pop is not None:
        sources = (getattr(pop, "meta", {}) or {}).get("sources") or {}
        parts["population"].update(
            name="reference: " + " + ".join(f"{k} ({v})" for k, v in sources.items()),
            size=int(pop.n))
    parts["clip"]["affects_status"] = False  # labelled, never blended
    if any(not _up(parts[p]) for p in NEEDED):
        status = "unhealthy"
    elif any(not _up(parts[p]) for p in FALLBACKS):
        status = "degraded"
    else:
        status = "healthy"
    down = [p for p in (*NEEDED, *FALLBACKS) if not _up(parts[p])]
    now = time.time()
    return {"status": status, "down": down, "parts": parts, "latency": latency(rows),
            "uptime_s": None if started is None else round(now - started, 1),
            "version": version(), "checked_at": time.strftime("%Y-%m-%dT%H:%M:%SZ",
                                                              time.gmtime(now))}
