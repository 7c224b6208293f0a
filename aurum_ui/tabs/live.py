"""Live: the webcam is analysed about twice a second and a checklist coaches the
visitor; Capture scores the frame on the Score tab. Kept small on purpose: the live
path is where speed work happens."""

from __future__ import annotations

import time
from typing import Any

import gradio as gr
import numpy as np

from aurum import render
from aurum.config import Config
from aurum.engine import Engine
from aurum_ui import views
from aurum_ui.state import Session, record
from aurum_ui.tabs import score
from aurum_ui.wiring import UI, with_engine

TITLE, ID = "Live", "live"
LIVE_EMPTY = "Start the camera: the landmarks follow your face here."
LIVE_LAYERS = ["Contours", "Irises", "Midline"]


def on_stream(engine: Engine, frame: np.ndarray | None, cfg: Config) -> dict[str, Any]:
    """One webcam frame -> overlay, coaching tips, compact checklist (and the true,
    unmirrored frame kept for Capture)."""
    if frame is None:
        return {"live-overlay": render.overlay_html(None, None, [], empty=LIVE_EMPTY),
                "live-coach": render.coach_html(None),
                "live-quality": render.quality_table_html(None, compact=True),
                "live-frame": None}
    t0 = time.perf_counter()
    # The live camera is mirrored like a mirror (Gradio sends the mirrored picture):
    # measure the true picture, so yaw, and "turn to your left", keep their sign.
    mirrored = np.asarray(frame)
    true = np.ascontiguousarray(mirrored[:, ::-1])
    analysis = engine.analyze(true)  # full resolution: the resolution check is honest
    report = engine.score(analysis, cfg).to_dict()
    small, f = render.fit_image(mirrored, 640)
    if analysis.ok and analysis.landmarks is not None:
        shown = analysis.landmarks.copy()  # drawn on the mirrored preview
        shown[:, 0] = (true.shape[1] - 1) - shown[:, 0]
        overlay = render.overlay_html(small, shown, LIVE_LAYERS, scale=f)
    else:
        overlay = render.overlay_html(small, None, [])
    record("live", analysis, t0)
    return {"live-overlay": overlay, "live-coach": render.coach_html(report),
            "live-quality": render.quality_table_html(report, compact=True),
            "live-frame": true}


def on_capture(engine: Engine, frame: np.ndarray | None, layers: list[str], cfg: Config,
               sess: Session | None) -> dict[str, Any]:
    """Score the last frame on the Score tab, as if it were an upload."""
    if frame is None:
        msg = render.error_html({"code": "empty_input", "message": "Start the camera and "
                                 "wait for the picture before capturing."},
                                title="No frame yet")
        return {"session": sess, "score-cards": msg, "tabs": gr.Tabs(selected="score")}
    out = score.on_score(engine, views.frame_bytes(frame), layers, cfg, Session())
    return {**out, "tabs": gr.Tabs(selected="score")}


def build(ui: UI) -> None:
    gr.Markdown("Live coaching: the camera picture is analysed about twice a second (in "
                "memory only) and the checklist tells you how to fix the photo. Press "
                "**Capture & score** when it is all green.", elem_classes=["au-small"])
    with gr.Row(equal_height=False):
        with gr.Column(scale=5):
            ui.add("live-cam", gr.Image(sources=["webcam"], streaming=True, type="numpy",
                                        label="Camera", elem_id="live-cam",
                                        webcam_options=gr.WebcamOptions(mirror=True)))
            ui.add("capture-button", gr.Button("Capture & score", variant="primary",
                                               elem_id="capture-button"))
        with gr.Column(scale=5):
            ui.add("live-overlay", gr.HTML(render.overlay_html(None, None, [], empty=LIVE_EMPTY),
                                           elem_id="live-overlay"))
            ui.add("live-coach", gr.HTML(render.coach_html(None), elem_id="live-coach"))
            ui.add("live-quality", gr.HTML("", elem_id="live-quality"))
    ui.add("live-frame", gr.State(None))


def wire(ui: UI, engine: Engine) -> None:
    ui.on(ui["live-cam"].stream, with_engine(on_stream, engine), ["live-cam", "config"],
          ["live-overlay", "live-coach", "live-quality", "live-frame"],
          # A stream holds its worker for the whole session: several visitors may coach
          # at once (the mesh pool bounds memory).
          stream_every=0.5, concurrency_limit=4, time_limit=300, api_visibility="private",
          show_progress="hidden")
    ui.on(ui["capture-button"].click, with_engine(on_capture, engine),
          ["live-frame", "layers", "config", "session"], (*score.SCORE_OUTPUTS, "tabs"),
          api_visibility="private", concurrency_id="analyze")
