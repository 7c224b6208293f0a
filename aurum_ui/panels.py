"""The report panels across the shown tabs: what a new score or a slider move refreshes.

A tab that shows part of the report declares `REFRESH_ON_SCORE` (its output names) and
`refresh(engine, report, cfg) -> {name: value}`. `blocks` lists the tabs the app shows
and hands that list here (`show`) when it is imported, so the Score, Tune and Live tabs
refresh every tab's panels without importing `blocks`, which imports them.
"""

from __future__ import annotations

from collections.abc import Sequence
from types import ModuleType
from typing import Any

from aurum.config import Config
from aurum.engine import Engine

SHOWN: list[ModuleType] = []


def show(tabs: Sequence[ModuleType]) -> None:
    """Set the tabs whose panels a score refreshes, in display order."""
    SHOWN[:] = tabs


def _tabs(tabs: Sequence[ModuleType] | None) -> Sequence[ModuleType]:
    if tabs is not None:
        return tabs
    if not SHOWN:  # a handler called before `aurum_ui.blocks` listed the tabs
        raise RuntimeError("no tabs shown yet: import aurum_ui.blocks (it lists them)")
    return SHOWN


def report_outputs(tabs: Sequence[ModuleType] | None = None) -> tuple[str, ...]:
    """What a changed report refreshes: each tab's own REFRESH_ON_SCORE, tab by tab."""
    return tuple(name for tab in _tabs(tabs) for name in getattr(tab, "REFRESH_ON_SCORE", ()))


def refresh_all(engine: Engine, report: dict[str, Any] | None, cfg: Config,
                tabs: Sequence[ModuleType] | None = None) -> dict[str, Any]:
    """Every tab's report panels (what a new score or a slider move refreshes)."""
    out: dict[str, Any] = {}
    for tab in _tabs(tabs):
        if getattr(tab, "REFRESH_ON_SCORE", ()):
            out.update(tab.refresh(engine, report, cfg))
    return out
