"""Per-stage timing: the figures `bench`, the JSON's `timing_ms` and the Status tab
report, shared by the full pipeline (engine) and the live coach."""

from __future__ import annotations

import time


class StageTimer:
    """`lap(name)` records the ms since the previous lap under `name`: the per-stage
    figures `bench` and the Status tab report, for the full and the live pipeline."""

    def __init__(self, timing: dict[str, float]) -> None:
        self.timing = timing
        self._t = time.perf_counter()

    def __call__(self, name: str) -> None:
        now = time.perf_counter()
        self.timing[name] = round((now - self._t) * 1000, 3)
        self._t = now
