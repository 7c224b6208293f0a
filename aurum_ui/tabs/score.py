"""Score: upload or snap a photo, see the overlay, scores, checklist, breakdown, map,
and opt in (or out) of the population."""

from __future__ import annotations

import hashlib
import html
import json
import logging
import time
from collections.abc import Sequence
from types import ModuleType
from typing import Any

import gradio as gr
import numpy as np

from aurum.config import Config
from aurum.engine import Engine
from aurum.errors import GATE_CODES, AurumError
from aurum.measure import geometric_components
from aurum.measure.imaging import MAX_BYTES, Refused
from aurum.paths import REPO_DIR
from aurum_ui import inputs, panels, render, views
from aurum_ui.state import Session, record
from aurum_ui.tabs.about import about_short
from aurum_ui.uploads import CONSUMED, UPLOAD_GRACE_S, PrivateImage
from aurum_ui.wiring import UI, with_engine

log = logging.getLogger("aurum.app")
TITLE, ID = "Score", "score"

# What this tab refreshes whenever the report changes (a new score, a slider move), by
# `refresh`; `panels.report_outputs` combines every shown tab's declaration.
# The opt-in offer follows the report too: only a scored face has numbers to add.
REFRESH_ON_SCORE: tuple[str, ...] = ("score-cards", "quality-table", "breakdown-plot",
                                     "optin-offer", "optin-note")
# What only a new photo changes: its picture, its placement, the opt-in answer.
NEW_PHOTO_OUTPUTS: tuple[str, ...] = ("session", "overlay-image", "vibe", "map-plot",
                                      "map-note", "optin-result")
# Where the columns stack (a phone), the result starts below the photo, the buttons and
# the layer toggles: bring it into view once it is drawn. Wide screens show it already.
SHOW_RESULT_JS = ("() => { if (window.innerWidth <= 760) document.querySelector("
                  "'#overlay-image')?.scrollIntoView({behavior: 'smooth', block: 'start'}); }")
# The photo input's guard: an over-limit photo is refused in the browser with the
# image_too_large panel (the server refuses it too: Gradio's max_file_size, then
# PrivateImage's size check), and a HEIC the browser left untyped is let through.
UPLOAD_GUARD_JS = (REPO_DIR / "assets" / "upload_guard.js").read_text(encoding="utf-8").replace(
    "__MAX_BYTES__", str(MAX_BYTES)).replace("__PANEL__", json.dumps(render.error_html(
        {"code": "image_too_large", "message": f"The file is __MB__ MB; the limit is "
                                               f"{MAX_BYTES / 1e6:.1f} MB."},
        title="This photo is too large")))


def score_outputs(tabs: Sequence[ModuleType] | None = None) -> tuple[str, ...]:
    """Everything a new score refreshes: the new photo's own panels and every shown tab's
    report panels (handlers may return a subset)."""
    return (*NEW_PHOTO_OUTPUTS, *panels.report_outputs(tabs))


NO_FACE_OVERLAY = ('<div class="au-empty">Nothing to draw: no face was measured in this '
                   'photo.</div>')

# ---------------------------------------------------------------- handlers


def refresh(engine: Engine, report: dict[str, Any] | None, cfg: Config) -> dict[str, Any]:
    """This tab's panels that depend on the report (see REFRESH_ON_SCORE)."""
    fig = render.breakdown_figure(report)
    return {"score-cards": render.score_cards_html(report),
            "quality-table": render.quality_table_html(report),
            "breakdown-plot": gr.update(value=fig, visible=fig is not None),
            **opt_in_offer(report)}


def opt_in_offer(report: dict[str, Any] | None) -> dict[str, Any]:
    """The opt-in box and button show only for a scored face. A face the adults-only
    gate withheld (or no face, or no photo yet) has no numbers to add: offering the
    button there invites a click the store can only refuse, so a note says why instead."""
    if report is not None and report.get("ok"):
        return {"optin-offer": gr.update(visible=True), "optin-note": ""}
    code = ((report or {}).get("error") or {}).get("code")
    if report is None:
        why = "Score a photo first: a scored face's numbers can be added here."
    elif code in GATE_CODES:
        why = "This face got no score (adults only): nothing of it can be added."
    else:
        why = "This photo got no score: there are no numbers to add."
    return {"optin-offer": gr.update(visible=False), "optin-note": render.note(why)}


def on_upload(image: bytes | Refused | None, sess: Session | None) -> dict[str, Any]:
    """Read a new photo into session memory as it arrives, so its temporary file can
    be deleted seconds later instead of waiting for Score (or Gradio's purge)."""
    sess = sess or Session()
    if image != CONSUMED:
        sess.pending = image or None
    return {"session": sess}


def _analysed(engine: Engine, image: bytes | Refused, sess: Session) -> Session:
    """The session for this photo: its cached analysis, or a new one (a new photo never
    reuses an old analysis). Only a small preview of the pixels is kept."""
    # A refused upload (too large, never read) has no bytes to hash.
    key = hashlib.sha256(image).hexdigest() if isinstance(image, bytes) else repr(image)
    if key == sess.upload_key and sess.analysis is not None:
        return sess
    analysis = engine.analyze(image, keep_image=True)
    sess = Session(upload_key=key, pending=image)
    # A face the adults-only gate stopped keeps its landmarks: the overlay stays.
    if analysis.landmarks is not None and analysis.image is not None:
        crop, offset = render.focus(analysis.image, analysis.landmarks)
        sess.preview, sess.scale = render.fit_image(crop)
        sess.landmarks = analysis.landmarks.copy()
        sess.landmarks[:, :2] -= offset
    analysis.image = None  # the full-size pixels go no further
    sess.analysis = analysis
    return sess


def on_score(engine: Engine, image: bytes | Refused | None, layers: list[str], cfg: Config,
             sess: Session | None) -> dict[str, Any]:
    t0 = time.perf_counter()
    sess = sess or Session()
    if image == CONSUMED:
        # The upload's file is gone (read when the photo arrived): use those bytes,
        # never a previous photo's analysis.
        image = sess.pending
    if not image:
        msg = render.error_html({"code": "empty_input", "message": "Upload a photo or take "
                                 "a webcam snapshot first, then press Score."},
                                title="No photo yet")
        return {"session": sess, "overlay-image": render.overlay_html(None, None, layers),
                **views.blank_views(), "score-cards": msg, **views.map_view(engine, None),
                "optin-result": "", **opt_in_offer(None)}
    sess = _analysed(engine, image, sess)
    analysis = sess.analysis
    assert analysis is not None
    t1 = time.perf_counter()
    sess.report = engine.score(analysis, cfg).to_dict()
    sess.report["file"] = None
    score_ms = (time.perf_counter() - t1) * 1000
    overlay = (render.overlay_html(sess.preview, sess.landmarks, layers, scale=sess.scale,
                                   note=render.faces_note(sess.report))
               if sess.landmarks is not None else NO_FACE_OVERLAY)
    out = {"session": sess, "overlay-image": overlay,
           **panels.refresh_all(engine, sess.report, cfg),
           "vibe": render.vibe_html(sess.report), **views.map_view(engine, sess.report),
           "optin-result": ""}
    record("score", analysis, t0, score_ms=score_ms)
    return out


def on_layers(layers: list[str], sess: Session | None) -> dict[str, Any]:
    """Redraw the overlay from the cached landmarks (no model runs)."""
    if not sess or sess.analysis is None or sess.landmarks is None:
        return {"overlay-image": render.overlay_html(None, None, layers)}
    t0 = time.perf_counter()
    out = render.overlay_html(sess.preview, sess.landmarks, layers, scale=sess.scale,
                              note=render.faces_note(sess.report))
    record("layers", None, t0)
    return {"overlay-image": out}


def on_example(engine: Engine, layers: list[str], cfg: Config, sess: Session | None
               ) -> dict[str, Any]:
    # Scored from the package's file directly: the copy Gradio caches for the input
    # preview must stay until the browser has loaded it.
    path = inputs.example_path()
    if path is None:
        return {"input-image": None, **on_score(engine, None, layers, cfg, sess)}
    data = path.read_bytes()
    from PIL import Image

    with Image.open(path) as im:
        preview = np.asarray(im.convert("RGB"))
    return {"input-image": preview, **on_score(engine, data, layers, cfg, sess)}


def on_opt_in(engine: Engine, agree: bool, sess: Session | None) -> dict[str, Any]:
    """Add this photo's numbers to the opt-in population (never the photo)."""
    sess = sess or Session()
    return {"optin-result": _opt_in_html(engine, agree, sess), "session": sess}


def _opt_in_html(engine: Engine, agree: bool, sess: Session) -> str:
    if sess.report is None or not sess.report.get("ok"):
        # The offer is hidden then; a stale page that still sends the click hears why.
        return opt_in_offer(sess.report)["optin-note"]
    if not agree:
        return render.note("Tick the box first: nothing is stored without your consent.")
    pop = engine.population
    if pop is None:
        return render.unavailable_html("Opt-in is", views.population_status(engine))
    if sess.opted_in_id:
        return render.note(f"This photo's numbers are already in the population (id "
                          f"{sess.opted_in_id}): one entry per photo.")
    emb = (sess.analysis.population or {}).get("embedding") if sess.analysis else None
    try:
        new_id = pop.opt_in(sess.report, emb)
        sess.opted_in_id = str(new_id)
    except AurumError as exc:
        return render.error_html(exc.to_dict(), title="Not added")
    except ValueError as exc:
        return render.error_html({"code": "not_added", "message": str(exc)}, title="Not added")
    except Exception as exc:
        log.exception("opt-in failed")
        return render.error_html({"code": "internal_error", "message": f"Could not store the "
                                  f"numbers ({type(exc).__name__})."}, title="Not added")
    return render.ok_html(f'Added. Your id: <code id="optin-id">{html.escape(str(new_id))}'
                         f'</code>. Keep it to delete your numbers later.')


def on_forget(engine: Engine, record_id: str | None) -> dict[str, Any]:
    """Delete everything stored under an opt-in id."""
    return {"forget-result": _forget_html(engine, (record_id or "").strip())}


def _forget_html(engine: Engine, record_id: str) -> str:
    if not record_id:
        return render.note("Paste the id you were given when you opted in.")
    pop = engine.population
    if pop is None:
        return render.unavailable_html("Deletion is", views.population_status(engine))
    try:
        done = pop.forget(record_id)
    except AurumError as exc:
        return render.error_html(exc.to_dict(), title="Not deleted")
    except Exception as exc:
        log.exception("forget failed")
        return render.error_html({"code": "internal_error",
                                  "message": f"Could not delete ({type(exc).__name__})."},
                                 title="Not deleted")
    if done is False:
        return render.note(f"No stored numbers under id {record_id}.")
    return render.ok_html(f"Deleted everything stored under {html.escape(record_id)}.")

# ---------------------------------------------------------------- layout


def _input_column(ui: UI) -> None:
    image_in = ui.add("input-image", PrivateImage(
        label="Your photo", sources=["upload", "webcam"], type="numpy", image_mode=None,
        elem_id="input-image", height=360,
        # Gradio sends a mirrored webcam's snapshot mirrored, and a snapshot cannot be
        # told from an upload here: no mirroring, so left and right (and the coach's
        # advice) stay true.
        buttons=[], webcam_options=gr.WebcamOptions(mirror=False),
        placeholder="Drop a photo here\n\nor click to upload, or use the webcam. One "
                    "adult face, looking at the camera, neutral expression, even light."))
    image_in.grace_s = UPLOAD_GRACE_S
    ex = inputs.example_path()
    with gr.Row():
        ui.add("score-button", gr.Button("Score this photo", variant="primary",
                                         elem_id="score-button", scale=3))
        ui.add("example-button", gr.Button("Try an example", elem_id="example-button",
                                           scale=2, visible=ex is not None))
    if ex is not None:
        gr.Markdown("Example: NASA astronaut portrait (public domain), bundled with "
                    "scikit-image.", elem_classes=["au-small"])
    ui.add("layers", gr.CheckboxGroup(list(render.LAYERS), value=list(render.DEFAULT_LAYERS),
                                      label="Overlay layers", elem_id="layers"))
    ui.add("overlay-image", gr.HTML(render.overlay_html(None, None, []),
                                    elem_id="overlay-image"))


def _opt_in_accordion(ui: UI) -> None:
    with gr.Accordion("Add my numbers to the population (opt-in)", open=False,
                      elem_id="optin"):
        # Hidden until a face is scored (see opt_in_offer); the note says why meanwhile.
        ui.add("optin-note", gr.HTML(opt_in_offer(None)["optin-note"], elem_id="optin-note"))
        with ui.add("optin-offer", gr.Column(visible=False, elem_id="optin-offer")):
            gr.Markdown("Adds only numbers, never your photo, to the population that "
                        "percentiles can be computed from: your scores, quality values, "
                        f"{len(geometric_components.COMPONENTS)} face "
                        "measurements and a shape embedding. They describe your face's "
                        "shape (biometric data) and could help match another photo of you. "
                        "You get an id to delete them at any time. One entry per photo.")
            ui.add("optin-checkbox", gr.Checkbox(label="I am an adult and I agree to add "
                                                 "my numbers", elem_id="optin-checkbox"))
            ui.add("optin-button", gr.Button("Add my numbers to the population",
                                             elem_id="optin-button", size="sm"))
        ui.add("optin-result", gr.HTML("", elem_id="optin-result"))
        with gr.Row():
            ui.add("forget-id", gr.Textbox(label="Delete by id", scale=3, elem_id="forget-id",
                                           placeholder="the id you were given"))
            ui.add("forget-button", gr.Button("Delete", elem_id="forget-button", size="sm",
                                              scale=1))
        ui.add("forget-result", gr.HTML("", elem_id="forget-result"))


def _result_column(ui: UI) -> None:
    ui.add("score-cards", gr.HTML(render.score_cards_html(None), elem_id="score-cards",
                                  js_on_load=UPLOAD_GUARD_JS))
    ui.add("vibe", gr.HTML("", elem_id="vibe"))
    with gr.Tabs(overflow_behavior="wrap"):  # never hidden in a menu (see blocks.py)
        with gr.Tab("Quality", id="q"):
            ui.add("quality-table", gr.HTML(render.quality_table_html(None),
                                            elem_id="quality-table"))
        with gr.Tab("Breakdown", id="b"):
            ui.add("breakdown-plot", gr.Plot(elem_id="breakdown-plot", label="",
                                             show_label=False, visible=False,
                                             elem_classes=["au-plot"]))
        with gr.Tab("Population", id="m"):
            ui.add("map-note", gr.HTML("", elem_id="map-note"))
            ui.add("map-plot", gr.Plot(elem_id="map-plot", show_label=False, visible=False,
                                       elem_classes=["au-plot"]))
    _opt_in_accordion(ui)


def build(ui: UI) -> None:
    gr.Markdown(about_short(), elem_classes=["au-about-short"])
    with gr.Row(equal_height=False):
        with gr.Column(scale=4, min_width=320):
            _input_column(ui)
        with gr.Column(scale=6, min_width=360):
            _result_column(ui)


def wire(ui: UI, engine: Engine) -> None:
    private: dict[str, Any] = {"api_visibility": "private"}
    ui.on(ui["input-image"].input, on_upload, ["input-image", "session"], ["session"],
          show_progress="hidden", **private)
    for ev in (ui.on(ui["score-button"].click, with_engine(on_score, engine),
                     ["input-image", "layers", "config", "session"], score_outputs(),
                     concurrency_id="analyze", **private),
               ui.on(ui["example-button"].click, with_engine(on_example, engine),
                     ["layers", "config", "session"], ("input-image", *score_outputs()),
                     concurrency_id="analyze", **private)):
        ev.then(None, js=SHOW_RESULT_JS, **private)
    ui.on(ui["layers"].input, on_layers, ["layers", "session"], ["overlay-image"],
          trigger_mode="always_last", show_progress="hidden", concurrency_id="rescore",
          concurrency_limit=4, **private)
    ui.on(ui["optin-button"].click, with_engine(on_opt_in, engine),
          ["optin-checkbox", "session"], ["optin-result", "session"], **private)
    ui.on(ui["forget-button"].click, with_engine(on_forget, engine), ["forget-id"],
          ["forget-result"], **private)
    assert ui.demo is not None
    ui.on(ui.demo.load, lambda: views.map_view(engine, None), [], ["map-plot", "map-note"],
          **private)
