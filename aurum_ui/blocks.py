"""The whole app: a header, the tabs in `TABS`, the hidden API, a footer.

Each tab module builds its components into one `UI` registry and wires its events
after every tab exists, so a handler may refresh panels on other tabs by name.
"""

from __future__ import annotations

import atexit
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from types import ModuleType
from typing import Any

import gradio as gr

from aurum.config import Config
from aurum.engine import Engine
from aurum.measure.imaging import MAX_BYTES
from aurum_ui import api, health, inputs, panels
from aurum_ui.state import STARTUP, Session
from aurum_ui.tabs import about, compare, live, score, status, tune
from aurum_ui.wiring import UI

ASSETS = Path(__file__).resolve().parent.parent / "assets"
TABS: tuple[ModuleType, ...] = (score, compare, tune, live, about, status)
panels.show(TABS)  # whose report panels a score refreshes


def build_demo(engine: Engine | None = None, tabs: Sequence[ModuleType] = TABS) -> gr.Blocks:
    """The whole UI around one engine (built here if not given: a few hundred ms; the
    face-mesh graphs warm up in a background thread so start-up never waits)."""
    engine = engine or Engine()
    threading.Thread(target=warm_up, args=(engine,), daemon=True, name="aurum-warm-up").start()
    # Close the embedded opt-in store (its file lock) before the interpreter tears down.
    atexit.register(engine.close)
    demo, _ = build_ui(engine, tabs)
    return demo


def build_ui(engine: Engine, tabs: Sequence[ModuleType] = TABS) -> tuple[gr.Blocks, UI]:
    """Lay out and wire the app (no threads, no server): also what tests inspect."""
    ui = UI()
    ui.engine = engine
    with gr.Blocks(title="Aurum: face proportions, quality and ratings",
                   analytics_enabled=False, delete_cache=(60, 300)) as demo:
        ui.demo = demo
        ui.add("session", gr.State(Session()))
        ui.add("config", gr.State(Config()))  # the config the sliders currently describe
        ui.add("base-config", gr.State(Config()))  # preset / imported file they start from
        gr.HTML(header_html(), elem_id="au-header")
        # "wrap", not Gradio's overflow menu: the menu's fit is measured once, before
        # the stylesheet settles, and at 360 px it hid Status in "..." on 1 load in 5
        with ui.add("tabs", gr.Tabs(selected=tabs[0].ID, overflow_behavior="wrap")):
            for tab in tabs:
                with ui.add(f"tab-{tab.ID}", gr.Tab(tab.TITLE, id=tab.ID,
                                                    elem_id=f"tab-{tab.ID}")):
                    tab.build(ui)
        gr.HTML(footer_html(), elem_id="au-footer")
        api.build(ui)
        for tab in tabs:
            tab.wire(ui, engine)
        api.wire(ui, engine)
        health.register(demo, engine)
    demo.queue(default_concurrency_limit=2)
    return demo, ui


def warm_up(engine: Engine) -> None:
    t0 = time.perf_counter()
    try:
        # A full analysis of the bundled example initialises every MediaPipe graph
        # (the first inference costs ~0.6 s); without the example, build the graphs.
        engine.warm_up(inputs.example_path())
        STARTUP["warm_up_ms"] = round((time.perf_counter() - t0) * 1000, 1)
    except Exception as exc:  # a failed warm-up only costs the first request time
        STARTUP["warm_up_ms"] = f"failed: {type(exc).__name__}"
    # CLIP loads last and in the background: offline it ends as "unavailable: ...",
    # on Spaces it becomes "ready" while the app already serves the default model.
    engine.start_background()


def header_html() -> str:
    return ('<div class="au-head"><div class="au-logo">Au</div><div><h1>Aurum</h1>'
            '<p>Face landmarks, photo quality, proportions and a rating model: every '
            'number measured, every limit stated.</p></div></div>')


def footer_html() -> str:
    """Every data set behind the shipped model and reference, with its terms (the
    default model and the reference include MEBeauty, whose terms are non-commercial)."""
    return ('<div class="au-foot">Adults only · not a verdict on anyone · <span id="au-terms">'
            'data: Face Research Lab London Set (DeBruine &amp; Jones 2017, CC BY 4.0), '
            'MEBeauty (Lebedeva, Guo &amp; Ying 2022, research and non-commercial use: the '
            'default attractiveness model and reference use it; a commercial deployment '
            'picks the London-only model), SFHQ (MIT)</span> · landmarks: MediaPipe (Apache '
            '2.0) · nothing is stored unless you opt in.</div>')


def theme() -> gr.themes.Base:
    """System fonts only: the default theme pulls Google Fonts, i.e. a third-party
    request from every visitor's browser."""
    sans = ["ui-sans-serif", "system-ui", "-apple-system", "Segoe UI", "Roboto",
            "Helvetica Neue", "Arial", "sans-serif"]
    mono = ["ui-monospace", "SFMono-Regular", "Menlo", "Consolas", "monospace"]
    return gr.themes.Soft(primary_hue="amber", secondary_hue="sky", neutral_hue="slate",
                          font=sans, font_mono=mono, radius_size="lg")


def launch_kwargs() -> dict[str, Any]:
    """Settings Gradio 6 takes at launch (theme and css moved here from Blocks)."""
    return {"theme": theme(), "css_paths": [ASSETS / "app.css"], "footer_links": ["api"],
            "run_history": False, "mcp_server": False, "show_error": False,
            # Larger uploads are refused while they stream in, before Aurum reads them.
            "max_file_size": MAX_BYTES,
            "app_kwargs": {"routes": health.routes()}}  # GET /health
