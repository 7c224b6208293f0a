"""Views shared by several tabs: pure functions of (engine, report, config) that
return `{component name: value}` dicts."""

from __future__ import annotations

import html
import logging
import statistics
import weakref
from typing import Any

import gradio as gr

from aurum.config import Config
from aurum.engine import Engine
from aurum_ui import render

log = logging.getLogger("aurum.app")

# Per-engine caches of config-independent population views (map layout, default summary).
_CACHE: weakref.WeakKeyDictionary[Engine, dict[str, Any]] = weakref.WeakKeyDictionary()


def _cache(engine: Engine) -> dict[str, Any]:
    return _CACHE.setdefault(engine, {})


def population_status(engine: Engine) -> str:
    return engine.status().get("population", "unavailable: not loaded")


def map_layout(engine: Engine) -> dict[str, Any] | None:
    cache = _cache(engine)
    if "layout" not in cache:
        layout = None
        if engine.population is not None:
            try:
                layout = engine.population.map_layout()
            except Exception:
                log.exception("map layout failed")
        cache["layout"] = layout
    return cache["layout"]


def reference_summary(engine: Engine, cfg: Config) -> dict[str, Any] | None:
    if engine.population is None:
        return None
    try:
        return engine.population.reference_summary(cfg)
    except Exception:
        log.exception("reference summary failed")
        return None


def default_summary(engine: Engine) -> dict[str, Any] | None:
    cache = _cache(engine)
    if "default_summary" not in cache:
        cache["default_summary"] = reference_summary(engine, Config())
    return cache["default_summary"]


def map_view(engine: Engine, report: dict[str, Any] | None) -> dict[str, Any]:
    """The population map with this face on it (or why there is no map)."""
    layout = map_layout(engine)
    if layout is None:
        return {"map-plot": gr.update(value=None, visible=False),
                "map-note": render.unavailable_html("The population map is",
                                                    population_status(engine))}
    vibe = (report or {}).get("vibe") or {}
    user = vibe.get("map") if isinstance(vibe.get("map"), dict) else None
    note = "" if user else "<div class='au-note'>Score a photo to see where it falls.</div>"
    return {"map-plot": gr.update(value=render.map_figure(layout, user), visible=True),
            "map-note": note}


def _summary_html(summ: dict[str, Any], base: dict[str, Any], scores: list[float],
                  base_scores: list[float]) -> str:
    share = summ.get("pass_share")
    med = statistics.median(scores) if scores else None
    bmed = statistics.median(base_scores) if base_scores else None
    share_txt = f"{share:.0%}" if isinstance(share, (int, float)) else "–"
    base_share = base.get("pass_share")
    delta = ""
    if isinstance(share, (int, float)) and isinstance(base_share, (int, float)):
        delta = f" (default settings: {base_share:.0%})"
    named = f" &lsquo;{html.escape(str(summ['name']))}&rsquo;" if summ.get("name") else ""
    med_txt = "" if med is None else (
        f"<div>Median final score <b>{med:.1f}</b>"
        + ("" if bmed is None else f" (default {bmed:.1f})") + "</div>")
    return (f'<div class="au-card au-wide" id="pop-summary-card"><div class="au-label">'
            f'Reference population{named} (N = {summ.get("n")})</div><div><b id="pass-share">'
            f'{share_txt}</b> of the reference faces pass the quality gate{delta}.</div>'
            f'{med_txt}</div>')


def tune_views(engine: Engine, report: dict[str, Any] | None, cfg: Config) -> dict[str, Any]:
    """How the current settings move the whole reference population."""
    summ = reference_summary(engine, cfg)
    if summ is None:
        return {"pop-summary": render.unavailable_html("The reference population is",
                                                       population_status(engine)),
                "score-hist": gr.update(value=None, visible=False)}
    base = default_summary(engine) or {}
    user = ((report or {}).get("final") or {}).get("score") if report else None
    scores = [s for s in summ.get("final_scores") or [] if s is not None]
    base_scores = [s for s in base.get("final_scores") or [] if s is not None]
    fig = render.histogram_figure(scores, base_scores or None, user)
    return {"pop-summary": _summary_html(summ, base, scores, base_scores),
            "score-hist": gr.update(value=fig, visible=fig is not None)}


def blank_views() -> dict[str, Any]:
    """The report panels when there is nothing to show."""
    return {"quality-table": render.quality_table_html(None),
            "breakdown-plot": gr.update(value=None, visible=False),
            "tune-cards": render.score_cards_html(None, id_prefix="tune-"),
            "tune-strip": render.score_strip_html(None),
            "tune-quality": "", "vibe": ""}
