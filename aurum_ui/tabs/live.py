"""Live: the webcam is analysed at camera speed (10+ frames a second for one visitor
on two cores) and a checklist coaches the visitor; Capture scores the frame on the
Score tab with the full pipeline.

Each frame gets only what coaching needs (`aurum.live`): a per-session tracking face
mesh on a downscaled copy, pose, quality judged at the full frame's scale, and the
coach's tips; no descriptor, rating model or population. The overlay goes back as a
small JPEG; the coach is re-sent only when it changes, the checklist when a check flips
(its numbers at most twice a second), and no panel shows Gradio's progress timer (each
one restarted on every frame: a fifth of the page's CPU, bench/README.md). In
the page, the camera is asked for 640 x 480 and a frame is sent only while fewer than
two await an answer (assets/live_flow.js): with four visitors on one machine the
browsers' CPU, spent on frames the server would drop, was what limited them.
Settings are environment variables so the bench can measure each lever
(bench/live_fps.py, bench/README.md).
"""

from __future__ import annotations

import base64
import math
import os
import threading
import time
import uuid
from collections import deque
from typing import Any

import cv2
import gradio as gr
import numpy as np

from aurum.config import Config
from aurum.engine import Engine
from aurum.live import LivePool
from aurum.paths import REPO_DIR
from aurum_ui import inputs, render
from aurum_ui.state import Session, record
from aurum_ui.tabs import score
from aurum_ui.wiring import UI, with_engine

TITLE, ID = "Live", "live"
LIVE_EMPTY = "Start the camera: the landmarks follow your face here."
LIVE_LAYERS = ["Contours", "Irises", "Midline"]


def _env(name: str, default: float) -> float:
    try:
        return float(os.environ.get(name, default))
    except ValueError:
        return default


# How often the browser sends a frame. It does not wait for the answer: the server
# takes the newest frame when it is free, so a shorter interval only adds frames to
# encode, post and drop. Measured (1 visitor, machine loaded): 0.04 s 5.6-6.9 fps and
# p50 220-240 ms; 0.05 s 12-17 fps, 85-150 ms; 0.066 s 12-14.6 fps, 71-123 ms;
# 0.1 s 10 fps (its cap), 63-77 ms; Gradio's default 0.5 s caps it at 2.
STREAM_EVERY = _env("AURUM_LIVE_STREAM_EVERY", 0.066)
CONCURRENCY = int(_env("AURUM_LIVE_CONCURRENCY", 4))  # live visitors served at once
OVERLAY_SIDE = int(_env("AURUM_LIVE_OVERLAY_SIDE", 400))  # long side of the overlay JPEG
OVERLAY_QUALITY = int(_env("AURUM_LIVE_OVERLAY_QUALITY", 70))
MEASURE_SIDE = int(_env("AURUM_LIVE_MEASURE_SIDE", 640))  # what the mesh sees
STATIC = os.environ.get("AURUM_LIVE_STATIC", "") == "1"  # static-mode mesh (bench lever)
FULL = os.environ.get("AURUM_LIVE_FULL", "") == "1"  # the full pipeline per frame (bench)
FPS_WINDOW_S = 2.0
FPS_EVERY_S = float(_env("AURUM_LIVE_FPS_EVERY", 1.0))  # #live-fps is re-sent at most this often
# The checklist's numbers move a little on every frame, so it was re-sent (and its
# table rebuilt in the page) with every frame. It is re-sent at once when a check
# passes or fails, otherwise at most this often (s).
QUALITY_EVERY_S = float(_env("AURUM_LIVE_QUALITY_EVERY", 0.5))
LOG_EVERY_S = 5.0  # one Status-tab row per live session this often
# The camera size the page asks for (Gradio's default asks for 1920 x 1440, and a real
# webcam then streams 1080p frames: each one is drawn twice, JPEG-encoded and posted
# by the browser, 15 times a second). "WxH", or "" for Gradio's default.
CAPTURE = os.environ.get("AURUM_LIVE_CAPTURE", "640x480")
LEAN = os.environ.get("AURUM_LIVE_LEAN", "1") != "0"  # skip Gradio's pre/post-processing
# The page sends a frame only while fewer than two await an answer (assets/live_flow.js);
# AURUM_LIVE_FLOW=0 leaves Gradio's fixed-rate sending (a bench lever).
FLOW_AHEAD = int(_env("AURUM_LIVE_AHEAD", 2))  # frames awaiting an answer, at most
FLOW_JS = (REPO_DIR / "assets" / "live_flow.js").read_text(encoding="utf-8").replace(
    "__MAX_AHEAD__", str(FLOW_AHEAD)) if os.environ.get("AURUM_LIVE_FLOW", "1") != "0" else None

POOL = LivePool(max_trackers=CONCURRENCY, measure_side=MEASURE_SIDE, static=STATIC)
# Per live session: the panels last sent (unchanged ones are not re-sent) and the
# times of its recent frames (for #live-fps). Dropped with the session's tracker.
_SENT: dict[str, dict[str, Any]] = {}
_SENT_LOCK = threading.Lock()


def end_session(key: str | None) -> None:
    """A live session ended (tab closed, state expired): free its graphs now."""
    POOL.release(key)
    with _SENT_LOCK:
        _SENT.pop(key or "", None)


FPS_STYLE = "text-align:right;font-size:0.9rem;opacity:0.8;font-variant-numeric:tabular-nums"


def fps_html(fps: float | None) -> str:
    """Frames this session processed per second over the last two seconds (each one a
    new overlay in the browser). Re-sent at most once a second: every changed panel is
    a DOM update in the visitor's browser, and the browser's CPU is what limits four
    visitors on one machine (bench/README.md)."""
    text = "– frames/s" if fps is None else f"{fps:.1f} frames/s"
    return f'<div class="au-fps" style="{FPS_STYLE}">{text}</div>'


def camera_constraints(spec: str = CAPTURE) -> dict[str, Any] | None:
    """getUserMedia constraints for a "WxH" or "WxH@FPS" camera (None: Gradio's
    default); the frame rate is a bench lever (the preview costs the page CPU)."""
    size, _, fps = spec.lower().partition("@")
    try:
        w, h = (int(v) for v in size.split("x"))
        video: dict[str, Any] = {"width": {"ideal": w}, "height": {"ideal": h}}
        if fps:
            video["frameRate"] = {"ideal": float(fps), "max": float(fps)}
    except ValueError:
        return None
    return {"video": video}


def live_overlay_html(mirrored: np.ndarray, shown: np.ndarray | None, frames: int = 0) -> str:
    """The preview picture with the landmarks, as a small inline JPEG: the overlay is
    re-sent every frame, so its size is the frame rate's budget. `data-frames` counts
    this session's processed frames (the bench compares it with the overlays shown)."""
    # Bilinear, not the still photo's area resampling: a preview shrunk by at most half
    # (640 -> 400 px) looks the same, at a third of the cost, every frame.
    small, f = render.fit_image(mirrored, OVERLAY_SIDE, cv2.INTER_LINEAR)
    img = render.overlay(small, shown, LIVE_LAYERS, scale=f) if shown is not None else small
    return (f'<figure class="au-overlay" data-frames="{frames}"><img alt="The camera '
            f'picture with the face landmarks drawn on it" '
            f'src="{render.data_uri(img, "jpeg", OVERLAY_QUALITY)}"/></figure>')


def decode_frame(frame: Any) -> np.ndarray | None:
    """The webcam frame as RGB uint8. The stream event skips Gradio's pre-processing
    (each of its steps is a hop through the server's one event-loop thread, which all
    live visitors share), so the frame arrives as the browser's payload, a JPEG data
    URI, and is decoded here, in the handler's worker thread (OpenCV releases the GIL)."""
    if frame is None or isinstance(frame, np.ndarray):
        return frame
    url = frame.get("url") if isinstance(frame, dict) else getattr(frame, "url", None)
    if not isinstance(url, str) or not url.startswith("data:") or "," not in url:
        return None
    buf = np.frombuffer(base64.b64decode(url.split(",", 1)[1]), np.uint8)
    bgr = cv2.imdecode(buf, cv2.IMREAD_COLOR) if buf.size else None
    return None if bgr is None else cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)


def _due(sent: dict[str, Any], key: str, every_s: float, now: float,
         now_anyway: bool = False) -> bool:
    """Whether a session's `key` is due (`every_s` since it last was, or `now_anyway`);
    if so, marks it done at `now`."""
    if now_anyway or now - sent.get(key, -math.inf) >= every_s:
        sent[key] = now
        return True
    return False


def _verdicts(report: dict[str, Any]) -> tuple[Any, ...]:
    """What the checklist says, without its numbers: a face or not, and each check's
    pass or fail."""
    q = report.get("quality") or {}
    return (report.get("ok"), tuple(sorted((name, bool(m.get("passed")))
                                           for name, m in (q.get("metrics") or {}).items())))


def on_stream(engine: Engine, frame: Any, cfg: Config,
              key: str | None = None) -> dict[str, Any]:
    """One webcam frame -> overlay, coaching tips, compact checklist, measured fps (and
    the true, unmirrored frame kept for Capture). Panels that did not change since
    this session's last frame are left out (Gradio keeps them as they are). `frame`
    is an RGB array or the browser's raw payload (see `decode_frame`)."""
    frame = decode_frame(frame)
    if frame is None:
        return {"live-overlay": render.overlay_html(None, None, [], empty=LIVE_EMPTY),
                "live-coach": render.coach_html(None),
                "live-quality": render.quality_table_html(None, compact=True),
                "live-frame": None, "live-fps": fps_html(None)}
    key = key or uuid.uuid4().hex
    # The live camera is mirrored like a mirror (Gradio sends the mirrored picture):
    # measure the true picture, so yaw, and "turn to your left", keep their sign.
    mirrored = np.asarray(frame)
    true = cv2.flip(mirrored, 1)  # a copy without the GIL (numpy's reversed copy holds it)
    t0 = time.perf_counter()
    if FULL:
        analysis = engine.analyze(true)
        report, lm = engine.score(analysis, cfg).to_dict(), analysis.landmarks
    else:
        with POOL.tracker(key) as tracker:
            live = tracker.process(true)
        report, lm = live.report(cfg), live.landmarks
    shown = None
    if lm is not None:
        shown = lm.copy()  # drawn on the mirrored preview
        shown[:, 0] = (true.shape[1] - 1) - shown[:, 0]
    with _SENT_LOCK:
        sent = _SENT.setdefault(key, {"times": deque(maxlen=64), "frames": 0})
        sent["frames"] += 1
        frames = sent["frames"]
        times = sent["times"]
        now = time.monotonic()
        times.append(now)
        recent = [t for t in times if now - t <= FPS_WINDOW_S]
        fps = (len(recent) - 1) / (recent[-1] - recent[0]) if len(recent) >= 3 else None
        panels = {"live-coach": render.coach_html(report)}
        if _due(sent, "fps_at", FPS_EVERY_S, now):
            panels["live-fps"] = fps_html(None if fps is None else round(fps, 1))
        verdicts = _verdicts(report)
        # Same checks, same results: the numbers can wait.
        if _due(sent, "quality_at", QUALITY_EVERY_S, now,
                now_anyway=verdicts != sent.get("verdicts")):
            sent["verdicts"] = verdicts
            panels["live-quality"] = render.quality_table_html(report, compact=True)
        out: dict[str, Any] = {n: v for n, v in panels.items() if sent.get(n) != v}
        sent.update(out)
        log_due = _due(sent, "logged", LOG_EVERY_S, now)
    # The overlay (resize, drawing, JPEG) is the frame's costly output: made outside the
    # lock every visitor's frames share.
    out.update({"live-overlay": live_overlay_html(mirrored, shown, frames),
                "live-frame": true, "live-key": key})
    if log_due:  # the Status tab's request log: one live row per session every 5 s
        record("live", None, t0, fps=fps or 0.0)
    return out


def on_capture(engine: Engine, frame: np.ndarray | None, layers: list[str], cfg: Config,
               sess: Session | None) -> dict[str, Any]:
    """Score the last frame on the Score tab, as if it were an upload."""
    if frame is None:
        msg = render.error_html({"code": "empty_input", "message": "Start the camera and "
                                 "wait for the picture before capturing."},
                                title="No frame yet")
        return {"session": sess, "score-cards": msg, "tabs": gr.Tabs(selected="score")}
    out = score.on_score(engine, inputs.frame_bytes(frame), layers, cfg, Session())
    return {**out, "tabs": gr.Tabs(selected="score")}


def build(ui: UI) -> None:
    gr.Markdown("Live coaching: the camera picture is analysed many times a second (in "
                "memory only) and the checklist tells you how to fix the photo. Press "
                "**Capture & score** when it is all green: that frame gets the full "
                "analysis.", elem_classes=["au-small"])
    with gr.Row(equal_height=False):
        with gr.Column(scale=5):
            ui.add("live-cam", gr.Image(sources=["webcam"], streaming=True, type="numpy",
                                        label="Camera", elem_id="live-cam",
                                        webcam_options=gr.WebcamOptions(
                                            mirror=True, constraints=camera_constraints())))
            ui.add("capture-button", gr.Button("Capture & score", variant="primary",
                                               elem_id="capture-button"))
        with gr.Column(scale=5):
            ui.add("live-overlay", gr.HTML(render.overlay_html(None, None, [], empty=LIVE_EMPTY),
                                           elem_id="live-overlay", js_on_load=FLOW_JS))
            ui.add("live-fps", gr.HTML(fps_html(None), elem_id="live-fps"))
            ui.add("live-coach", gr.HTML(render.coach_html(None), elem_id="live-coach"))
            ui.add("live-quality", gr.HTML("", elem_id="live-quality"))
    ui.add("live-frame", gr.State(None))
    # This visitor's live session (a key into the tracker pool): its graphs are freed
    # when the state goes (tab closed, or 60 s without a frame).
    ui.add("live-key", gr.State(None, time_to_live=60, delete_callback=end_session))


def wire(ui: UI, engine: Engine) -> None:
    ui.on(ui["live-cam"].stream, with_engine(on_stream, engine),
          ["live-cam", "config", "live-key"],
          ["live-overlay", "live-coach", "live-quality", "live-frame", "live-fps", "live-key"],
          # A stream holds its worker for the whole session: several visitors may coach
          # at once (the tracker pool bounds the graphs, one per live session).
          stream_every=STREAM_EVERY, concurrency_limit=CONCURRENCY, time_limit=600,
          # No pre/post-processing: the handler decodes the frame and returns plain
          # HTML. Gradio runs each of those steps as a separate hop to a worker thread
          # and back through the server's single event loop, which every visitor's
          # frames and answers go through; measured with four visitors, see
          # bench/README.md.
          preprocess=not LEAN, postprocess=not LEAN,
          api_visibility="private", show_progress="hidden",
          # Each output's (hidden) status tracker still cycles pending -> done and
          # restarts its timer on every frame: about 30 DOM changes per frame in four
          # panels, measured. Pointing the progress at the session key (a State, no
          # DOM) leaves the panels alone: 1 visitor 11.3 -> 13.8 fps, browser CPU per
          # frame 82 -> 65 ms; 4 visitors 3.3 -> 4.2 fps each (bench/README.md).
          show_progress_on=ui["live-key"])
    ui.on(ui["capture-button"].click, with_engine(on_capture, engine),
          ["live-frame", "layers", "config", "session"], (*score.score_outputs(), "tabs"),
          api_visibility="private", concurrency_id="analyze")
