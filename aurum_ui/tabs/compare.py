"""Compare: 2-12 photos of one person ranked best first, with what separates each
from the best, ties called as ties and other people shown apart.

Photos are added by upload (several at once) or from the Live tab's last frame; each is
analysed once (`aurum.compare.analyze_photos`, two at a time) and kept in the visitor's
session memory with a small overlay thumbnail (inline, never a file). A Tune change
re-ranks from those cached analyses (`aurum.compare.rank`: no model runs). The face
descriptors that decide "same person" stay in that session memory only (never in the
page, the JSON, a log or a file) and go when the set is cleared or the session ends.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

import gradio as gr
import numpy as np

from aurum import compare
from aurum.config import Config
from aurum.engine import Engine
from aurum.errors import AurumError
from aurum_ui import inputs, render
from aurum_ui.api import read_uploads
from aurum_ui.render.compare import compare_html
from aurum_ui.state import record
from aurum_ui.wiring import UI, with_engine

TITLE, ID = "Compare", "compare"
THUMB_SIDE = 220
THUMB_LAYERS = ("Contours", "Irises")
SET_TTL_S = 1800  # the set (and its descriptors) goes after 30 min without a change


@dataclass
class CompareState:
    """One visitor's set: the analyses, the identity verdict, one thumbnail each."""

    cset: compare.CompareSet | None = None
    thumbs: dict[int, str] = field(default_factory=dict)

    def __repr__(self) -> str:  # never the photos' descriptors
        n = len(self.cset.photos) if self.cset else 0
        return f"CompareState({n} photos)"


def thumbnail(photo: compare.Photo) -> str | None:
    """The photo's overlay at thumbnail size, as a data URI; the full-size pixels are
    dropped from the analysis here."""
    a = photo.analysis
    img, a.image = a.image, None
    if img is None or not a.ok or a.landmarks is None:
        return None
    crop, offset = render.focus(img, a.landmarks, min_share=0.6)
    small, scale = render.fit_image(crop, THUMB_SIDE)
    lm = a.landmarks.copy()
    lm[:, :2] = (lm[:, :2] - offset) * scale
    return render.data_uri(render.overlay(small, lm, THUMB_LAYERS), quality=82)


def _add(engine: Engine, state: CompareState | None, images: list[Any], names: list[str]
         ) -> CompareState:
    state = state or CompareState()
    have = len(state.cset.photos) if state.cset else 0
    if have + len(images) > compare.MAX_PHOTOS:
        raise AurumError("bad_photo_count", f"A set holds at most {compare.MAX_PHOTOS} "
                                            f"photos; it has {have}. Clear it first, or add "
                                            f"fewer.")
    cal = compare.load_calibration(engine.models)
    new = compare.analyze_photos(engine, images, names, keep_image=True, calibration=cal)
    thumbs = dict(state.thumbs)
    for k, p in enumerate(new.photos):
        uri = thumbnail(p)
        if uri:
            thumbs[have + k] = uri
    cset = new if state.cset is None else compare.add_photos(state.cset, new.photos, cal)
    cset.analyze_ms = new.analyze_ms
    return CompareState(cset, thumbs)


def _view(engine: Engine, state: CompareState | None, cfg: Config) -> str:
    if state is None or state.cset is None:
        return compare_html(None)
    return compare_html(compare.rank(engine, state.cset, cfg), state.thumbs)


def on_upload(engine: Engine, files: list[Any] | None, state: CompareState | None,
              cfg: Config) -> dict[str, Any]:
    """Add the uploaded photos to the set and rank it (their files deleted at once)."""
    t0 = time.perf_counter()
    images, names = read_uploads(files)
    if not images:
        return {}
    try:
        state = _add(engine, state, images, names)
    except AurumError as exc:
        return {"compare-files": None, "compare-result": render.error_html(
            exc.to_dict(), title="Not added") + _view(engine, state, cfg)}
    record("compare", None, t0, photos=float(len(images)))
    return {"compare-set": state, "compare-files": None,
            "compare-result": _view(engine, state, cfg)}


def on_add_live(engine: Engine, frame: np.ndarray | None, state: CompareState | None,
                cfg: Config) -> dict[str, Any]:
    """Add the Live tab's last frame (already in memory) as one more photo."""
    if frame is None:
        return {"compare-result": render.note("Start the camera on the Live tab first: its "
                                             "last frame is what gets added.")
                + _view(engine, state, cfg)}
    n = len(state.cset.photos) + 1 if state and state.cset else 1
    try:
        state = _add(engine, state, [inputs.frame_bytes(frame)], [f"live capture {n}"])
    except AurumError as exc:
        return {"compare-result": render.error_html(exc.to_dict(), title="Not added")
                + _view(engine, state, cfg)}
    return {"compare-set": state, "compare-result": _view(engine, state, cfg)}


def on_rerank(engine: Engine, state: CompareState | None, cfg: Config) -> dict[str, Any]:
    """A Tune change: rank the cached analyses under the new config (no model runs)."""
    if state is None or state.cset is None:
        return {}
    t0 = time.perf_counter()
    out = {"compare-result": _view(engine, state, cfg)}
    record("compare-rerank", None, t0)
    return out


def on_clear() -> dict[str, Any]:
    return {"compare-set": CompareState(), "compare-files": None,
            "compare-result": compare_html(None)}


def build(ui: UI) -> None:
    gr.Markdown("Which of your photos is best? Add 2 to 12 photos of **one adult**: they "
                "are ranked by the final score under the current Tune settings, and each "
                "says what separates it from the best. Differences within the measurement "
                "noise are ties. A photo of someone else is shown apart. Nothing is stored.",
                elem_classes=["au-small"])
    ui.add("compare-files", gr.File(file_count="multiple",
                                    file_types=["image", ".heic", ".heif"],
                                    type="filepath", label="Add photos (several at once)",
                                    elem_id="compare-files", height=140))
    with gr.Row():
        ui.add("compare-add-live", gr.Button("Add the Live tab's last frame",
                                             elem_id="compare-add-live", size="sm"))
        ui.add("compare-clear", gr.Button("Clear the set", elem_id="compare-clear",
                                          size="sm"))
    ui.add("compare-result", gr.HTML(compare_html(None), elem_id="compare-result"))
    ui.add("compare-set", gr.State(CompareState(), time_to_live=SET_TTL_S))


def wire(ui: UI, engine: Engine) -> None:
    private: dict[str, Any] = {"api_visibility": "private"}
    ui.on(ui["compare-files"].upload, with_engine(on_upload, engine),
          ["compare-files", "compare-set", "config"],
          ["compare-set", "compare-files", "compare-result"], concurrency_id="analyze",
          **private)
    ui.on(ui["compare-add-live"].click, with_engine(on_add_live, engine),
          ["live-frame", "compare-set", "config"], ["compare-set", "compare-result"],
          concurrency_id="analyze", **private)
    ui.on(ui["compare-clear"].click, on_clear, [],
          ["compare-set", "compare-files", "compare-result"], **private)
    # Every Tune change (slider, preset, import) sets a new Config in "config".
    ui.on(ui["config"].change, with_engine(on_rerank, engine), ["compare-set", "config"],
          ["compare-result"], trigger_mode="always_last", show_progress="hidden",
          concurrency_id="rescore", **private)
