"""What the server keeps per visitor (in memory only) and its request log (numbers)."""

from __future__ import annotations

import time
from collections import deque
from dataclasses import dataclass
from typing import Any

import numpy as np
import psutil

from aurum.engine import Analysis
from aurum.measure.imaging import Refused

LATENCY: deque[dict[str, Any]] = deque(maxlen=100)  # numbers only, never images
STARTUP: dict[str, Any] = {"started": time.strftime("%Y-%m-%d %H:%M:%S")}
STARTED = psutil.Process().create_time()  # the server process's start (the health uptime)


@dataclass
class Session:
    """What one visitor's browser session keeps in server memory (never on disk): the
    analysis (measurements), a small copy of the photo for redrawing overlays, and the
    last report. Sliders re-score from here without running any model."""

    analysis: Analysis | None = None
    preview: np.ndarray | None = None
    scale: float = 1.0
    report: dict[str, Any] | None = None
    upload_key: str | None = None
    landmarks: np.ndarray | None = None  # in the preview's frame (before `scale`)
    # the photo's bytes, read (and its file deleted) on arrival; Refused if too large
    pending: bytes | Refused | None = None
    opted_in_id: str | None = None  # this photo's entry in the opt-in store, if any


def record(kind: str, analysis: Analysis | None, t0: float, **extra: float) -> None:
    """One latency row for the Status tab (server-side cost of a request)."""
    entry: dict[str, Any] = {"kind": kind, "at": time.strftime("%H:%M:%S"),
                             "total_ms": round((time.perf_counter() - t0) * 1000, 1)}
    if analysis is not None:
        entry["analyze_ms"] = analysis.timing_ms.get("analyze_total")
    entry.update({k: round(v, 2) for k, v in extra.items()})
    LATENCY.append(entry)
