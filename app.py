"""Aurum's web app (Gradio 6 Blocks): score a photo, tune the scoring, coach a webcam.

This file only lays out components and wires events; every number comes from
`aurum.engine.Engine` and every picture from `aurum.render`, so the CLI, the API and
the UI can never disagree. `python app.py` serves it (also on Hugging Face Spaces).

Privacy: uploads are read into memory as they arrive and their temporary file is
deleted seconds later;
overlays go to the browser as inline images, never as files; Gradio's cache lives in
a private folder that is purged on a schedule and removed at exit.
"""

from __future__ import annotations

import atexit
import copy
import hashlib
import html
import logging
import os
import platform
import shutil
import signal
import statistics
import sys
import tempfile
import threading
import time
from collections import deque
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np


def _private_temp_dir() -> Path:
    """Gradio writes uploads and outputs under GRADIO_TEMP_DIR: give it a folder only
    this process can read, removed at exit, so nothing outlives the server."""
    parent = os.environ.get("GRADIO_TEMP_DIR") or None
    if parent:
        Path(parent).mkdir(parents=True, exist_ok=True)
    path = Path(tempfile.mkdtemp(prefix="aurum-gradio-", dir=parent))
    path.chmod(0o700)
    atexit.register(shutil.rmtree, path, True)
    os.environ["GRADIO_TEMP_DIR"] = str(path)
    return path


TEMP_DIR = _private_temp_dir()
os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")  # no phone-home at start-up

import gradio as gr  # noqa: E402  (must see GRADIO_TEMP_DIR first)
from gradio.data_classes import FileData  # noqa: E402

import aurum  # noqa: E402
from aurum import render  # noqa: E402
from aurum.clip_backend import get_backend  # noqa: E402
from aurum.config import DEFAULT_COMPONENTS, PRESETS, QUALITY_METRICS, Config  # noqa: E402
from aurum.engine import Analysis, Engine  # noqa: E402
from aurum.errors import AurumError  # noqa: E402
from aurum.geometry import DESCRIPTIONS, IDEAL_SOURCES  # noqa: E402
from aurum.store import close_shared_store  # noqa: E402

log = logging.getLogger("aurum.app")
ASSETS = Path(__file__).resolve().parent / "assets"
THRESHOLD_NAMES: tuple[str, ...] = ("quality", *QUALITY_METRICS)
COMPONENT_NAMES: tuple[str, ...] = tuple(DEFAULT_COMPONENTS)
LATENCY: deque[dict[str, Any]] = deque(maxlen=50)  # numbers only, never images
LIVE_EMPTY = "Start the camera: the landmarks follow your face here."

ABOUT_SHORT = (
    "**What this is, and isn't.** For photos of adults only. The *geometric score* "
    "measures how close 14 facial proportions come to cultural canons (old drawing-"
    "school rules, not laws of nature). The *attractiveness model* estimates how a panel "
    "of London raters would rate this photo, and its measured validity is shown next to "
    "it. Neither is a verdict on a person or their worth: lighting, pose, expression "
    "and the camera move both numbers."
)
ABOUT_LONG = """
### What the numbers mean
* **Geometric score (0-100)**: each of 14 proportions (eye spacing, facial thirds, jaw,
  nose and mouth widths...) is compared with a canon; closeness gives a sub-score and
  the weighted mean is the score. Canons are cultural conventions; where a canon needs
  points a frontal photo does not show (the hairline, a profile), the median of the
  reference faces is used instead, and the breakdown says which is which.
* **Attractiveness model**: a model fitted to the mean ratings that a panel gave the
  102 faces of the London set. It estimates how *that panel* would rate *this photo*;
  its cross-validated accuracy is printed next to it, and it transfers imperfectly to
  other people, cameras and cultures.
* **Quality checks** follow the vocabulary of ISO/IEC 29794-5 (OFIQ): pose, resolution,
  sharpness, exposure, eyes open. A photo that fails them gets scores marked "read with
  caution".
* Adults only. Not for decisions about anyone: not hiring, dating, medicine or security.

### Data and models
* **Face Research Lab London Set**: DeBruine, L. & Jones, B. (2017), figshare,
  CC BY 4.0: 102 adult faces with attractiveness ratings (the reference population and
  the ratings the model learns from).
* **SFHQ synthetic faces** (MIT licence): synthetic faces used to test the pipeline.
* **MediaPipe Face Mesh** (Google, Apache 2.0): the 478 face landmarks, run locally.

### Privacy
* Your photo is analysed in memory. Gradio writes an upload to a private temporary
  folder; Aurum reads it into memory as it arrives and deletes the file 10 seconds
  later. The overlay is sent back inline (no image file is written), and Gradio's cache
  is purged every minute and removed when the server stops.
* **Nothing is stored** unless you tick the opt-in box and press the button. Then only
  numbers are stored, under an id you can use to delete them at any time: your scores,
  the quality values and the 14 face measurements with a shape embedding. No image and
  no name, but these numbers describe your face's shape (biometric data) and could help
  match another photo of you, which is why they are opt-in and deletable.
"""


# ---------------------------------------------------------------- components


class PrivateImage(gr.Image):
    """An image input that hands the handler the uploaded *bytes* and deletes the
    temporary upload at once: Gradio would otherwise keep the file in its cache, and
    re-encode a copy for `type="numpy"`. The engine decodes the bytes itself (EXIF
    orientation, typed errors for non-images), exactly as the CLI does."""

    is_template = True  # rendered by the stock Image frontend
    # How long the file may live after it is read. The visible input sets a few seconds
    # (the browser may still be fetching it for the preview); the API input needs none.
    # A class attribute, not a constructor argument: constructor arguments are sent to
    # the stock frontend, which does not know this one.
    grace_s: float = 0.0

    def preprocess(self, payload: FileData | None) -> bytes | None:  # type: ignore[override]
        if payload is None:
            return None
        url = getattr(payload, "url", None) or ""
        if url.startswith("data:"):
            import base64

            return base64.b64decode(url.split(",", 1)[1])
        if not payload.path:
            return None
        path = Path(payload.path)
        try:
            data = path.read_bytes()
        except OSError:
            # Gradio names an upload's folder after its content hash, so two visitors
            # sending the same bytes share one path: the first request deleted it.
            # Serve those bytes from a short-lived in-memory copy (never from disk).
            return _RECENT.get(str(path), CONSUMED)
        _RECENT.put(str(path), data)
        if self.grace_s <= 0:
            _discard_upload(path)
        else:
            timer = threading.Timer(self.grace_s, _discard_upload, [path])
            timer.daemon = True
            timer.start()
        return data


CONSUMED = b""  # "the same upload as before" (its file is already gone)
UPLOAD_GRACE_S = 10.0  # an upload's temporary file is deleted this long after it is read


class _RecentUploads:
    """Bytes of the last few uploads, in memory only, for `RECENT_SECONDS`."""

    RECENT_SECONDS = 60.0
    MAX_ITEMS = 32

    def __init__(self) -> None:
        self._items: dict[str, tuple[float, bytes]] = {}
        self._lock = threading.Lock()

    def put(self, key: str, data: bytes) -> None:
        now = time.monotonic()
        with self._lock:
            self._items[key] = (now, data)
            for k in [k for k, (t, _) in self._items.items() if now - t > self.RECENT_SECONDS]:
                del self._items[k]
            while len(self._items) > self.MAX_ITEMS:
                del self._items[next(iter(self._items))]

    def get(self, key: str, default: bytes) -> bytes:
        with self._lock:
            item = self._items.get(key)
        if item is None or time.monotonic() - item[0] > self.RECENT_SECONDS:
            return default
        return item[1]


_RECENT = _RecentUploads()


def _discard_upload(path: Path) -> None:
    """Delete a temporary upload (and its hash folder) if it lives in our cache."""
    try:
        root = TEMP_DIR.resolve()
        p = path.resolve()
        if root not in p.parents:
            return
        p.unlink(missing_ok=True)
        if p.parent != root and not any(p.parent.iterdir()):
            p.parent.rmdir()
    except OSError:
        log.warning("could not delete a temporary upload")


# ---------------------------------------------------------------- session state


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
    pending: bytes | None = None  # the photo's bytes, read (and its file deleted) on arrival
    opted_in_id: str | None = None  # this photo's entry in the opt-in store, if any


def _record(kind: str, analysis: Analysis | None, t0: float, **extra: float) -> None:
    entry: dict[str, Any] = {"kind": kind, "at": time.strftime("%H:%M:%S"),
                             "total_ms": round((time.perf_counter() - t0) * 1000, 1)}
    if analysis is not None:
        entry["analyze_ms"] = analysis.timing_ms.get("analyze_total")
    entry.update({k: round(v, 2) for k, v in extra.items()})
    LATENCY.append(entry)


# ---------------------------------------------------------------- config <-> sliders


def _ideal_range(name: str) -> tuple[float, float, float]:
    """Slider range for an ideal: +-5 tolerances, on a grid of steps that passes through
    the default ideal, so the canon can always be selected again after a move."""
    c = DEFAULT_COMPONENTS[name]
    step = float(f"{c.tolerance / 20:.1g}")
    n = round(5 * c.tolerance / step)
    lo, hi = c.ideal - n * step, c.ideal + n * step
    if name == "symmetry_index":
        lo = 0.0
    return round(lo, 6), round(hi, 6), step


def _config_from(base: Config, values: list[float]) -> Config:
    """Config = the base (preset / imported file, keeps tolerances) + slider values."""
    cfg = copy.deepcopy(base)
    it = iter(values)
    for name in THRESHOLD_NAMES:
        setattr(cfg.thresholds, name, float(next(it)))
    cfg.blend_weight = float(next(it))
    for name in COMPONENT_NAMES:
        cfg.components[name].weight = float(next(it))
        cfg.components[name].ideal = float(next(it))
    return cfg


def _slider_values(cfg: Config) -> list[float]:
    vals = [getattr(cfg.thresholds, n) for n in THRESHOLD_NAMES] + [cfg.blend_weight]
    for name in COMPONENT_NAMES:
        vals += [cfg.components[name].weight, cfg.components[name].ideal]
    return vals


def _slider_updates(cfg: Config) -> list[Any]:
    """Updates that move every slider to `cfg`, widening a range an imported value
    falls outside (a slider silently clamping it would change the config)."""
    out = []
    for name in THRESHOLD_NAMES:
        out.append(gr.update(value=getattr(cfg.thresholds, name)))
    out.append(gr.update(value=cfg.blend_weight))
    for name in COMPONENT_NAMES:
        c = cfg.components[name]
        out.append(gr.update(value=c.weight, maximum=max(3.0, c.weight)))
        lo, hi, _ = _ideal_range(name)
        out.append(gr.update(value=c.ideal, minimum=min(lo, c.ideal), maximum=max(hi, c.ideal)))
    return out


# ---------------------------------------------------------------- the app


def build_demo(engine: Engine | None = None) -> gr.Blocks:
    """The whole UI around one engine (built here if not given: a few hundred ms; the
    face-mesh graphs warm up in a background thread so start-up never waits)."""
    engine = engine or Engine()
    threading.Thread(target=_warm_up, args=(engine,), daemon=True, name="aurum-warm-up").start()
    # Close the embedded opt-in store (its file lock) before the interpreter tears down.
    atexit.register(close_shared_store)
    pop_cache: dict[str, Any] = {}

    def population_status() -> str:
        return engine.status().get("population", "unavailable: not loaded")

    def map_layout() -> dict[str, Any] | None:
        if "layout" not in pop_cache:
            layout = None
            if engine.population is not None and hasattr(engine.population, "map_layout"):
                try:
                    layout = engine.population.map_layout()
                except Exception:
                    log.exception("map layout failed")
            pop_cache["layout"] = layout
        return pop_cache["layout"]

    def reference_summary(cfg: Config) -> dict[str, Any] | None:
        if engine.population is None or not hasattr(engine.population, "reference_summary"):
            return None
        try:
            return engine.population.reference_summary(cfg)
        except Exception:
            log.exception("reference summary failed")
            return None

    def default_summary() -> dict[str, Any] | None:
        if "default_summary" not in pop_cache:
            pop_cache["default_summary"] = reference_summary(Config())
        return pop_cache["default_summary"]

    # ---- views of a report (pure functions of the report and session)

    def map_view(report: dict[str, Any] | None) -> tuple[Any, str]:
        layout = map_layout()
        if layout is None:
            return (gr.update(value=None, visible=False),
                    render.unavailable_html("The population map is", population_status()))
        vibe = (report or {}).get("vibe") or {}
        user = vibe.get("map") if isinstance(vibe.get("map"), dict) else None
        note = "" if user else "<div class='au-note'>Score a photo to see where it falls.</div>"
        return gr.update(value=render.map_figure(layout, user), visible=True), note

    def tune_views(report: dict[str, Any] | None, cfg: Config) -> tuple[Any, ...]:
        summ = reference_summary(cfg)
        if summ is None:
            return (render.unavailable_html("The reference population is", population_status()),
                    gr.update(value=None, visible=False))
        base = default_summary() or {}
        user = ((report or {}).get("final") or {}).get("score") if report else None
        share = summ.get("pass_share")
        n = summ.get("n")
        scores = [s for s in summ.get("final_scores") or [] if s is not None]
        base_scores = [s for s in base.get("final_scores") or [] if s is not None]
        med = statistics.median(scores) if scores else None
        bmed = statistics.median(base_scores) if base_scores else None
        share_txt = f"{share:.0%}" if isinstance(share, (int, float)) else "–"
        base_share = base.get("pass_share")
        delta = ""
        if isinstance(share, (int, float)) and isinstance(base_share, (int, float)):
            delta = f" (default settings: {base_share:.0%})"
        med_txt = "" if med is None else (
            f"<div>Median final score <b>{med:.1f}</b>"
            + ("" if bmed is None else f" (default {bmed:.1f})") + "</div>")
        summary = (f'<div class="au-card au-wide" id="pop-summary-card"><div class="au-label">'
                   f'Reference population (N = {n})</div><div><b id="pass-share">{share_txt}'
                   f'</b> of the reference faces pass the quality gate{delta}.</div>'
                   f'{med_txt}</div>')
        fig = render.histogram_figure(scores, base_scores or None, user)
        return summary, gr.update(value=fig, visible=fig is not None)

    def report_views(sess: Session, cfg: Config) -> tuple[Any, ...]:
        """Every config-dependent output (what a slider move refreshes)."""
        report = sess.report
        fig = render.breakdown_figure(report)
        return (render.score_cards_html(report),
                render.quality_table_html(report),
                gr.update(value=fig, visible=fig is not None),
                render.score_cards_html(report, id_prefix="tune-"),
                render.quality_table_html(report, compact=True),
                *tune_views(report, cfg))

    # ---- handlers

    def on_score(image: bytes | None, layers: list[str], cfg: Config, sess: Session
                 ) -> tuple[Any, ...]:
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
            return (sess, render.overlay_html(None, None, layers), msg, *_blank_rest(),
                    *map_view(None), "")
        key = hashlib.sha256(image).hexdigest()
        if key != sess.upload_key:
            analysis = engine.analyze(image, keep_image=True)
            sess = Session(upload_key=key, pending=image)
            if analysis.ok and analysis.image is not None:
                crop, offset = render.focus(analysis.image, analysis.landmarks)
                sess.preview, sess.scale = render.fit_image(crop)
                sess.landmarks = analysis.landmarks.copy()
                sess.landmarks[:, :2] -= offset
            analysis.image = None  # the full-size pixels go no further
            sess.analysis = analysis
        analysis = sess.analysis
        assert analysis is not None
        t1 = time.perf_counter()
        sess.report = engine.score(analysis, cfg).to_dict()
        sess.report["file"] = None
        score_ms = (time.perf_counter() - t1) * 1000
        views = report_views(sess, cfg)
        note = _faces_note(sess.report)
        overlay = (render.overlay_html(sess.preview, sess.landmarks, layers,
                                       scale=sess.scale, note=note)
                   if analysis.ok else '<div class="au-empty">Nothing to draw: no face was '
                   'measured in this photo.</div>')
        _record("score", analysis, t0, score_ms=score_ms)
        return (sess, overlay, *views, render.vibe_html(sess.report), *map_view(sess.report),
                "")

    def on_upload(image: bytes | None, sess: Session) -> Session:
        """Read a new photo into session memory as it arrives, so its temporary file can
        be deleted seconds later instead of waiting for Score (or Gradio's purge)."""
        sess = sess or Session()
        if image != CONSUMED:
            sess.pending = image or None
        return sess

    def on_layers(layers: list[str], sess: Session) -> str:
        if not sess or sess.analysis is None or not sess.analysis.ok:
            return render.overlay_html(None, None, layers)
        t0 = time.perf_counter()
        out = render.overlay_html(sess.preview, sess.landmarks, layers,
                                  scale=sess.scale, note=_faces_note(sess.report))
        _record("layers", None, t0)
        return out

    def on_rescore(sess: Session, base: Config, *values: float) -> tuple[Any, ...]:
        t0 = time.perf_counter()
        cfg = _config_from(base, list(values))
        score_ms = 0.0
        if sess and sess.analysis is not None:
            t1 = time.perf_counter()
            sess.report = engine.score(sess.analysis, cfg).to_dict()
            sess.report["file"] = None
            score_ms = (time.perf_counter() - t1) * 1000
        views = report_views(sess or Session(), cfg)
        _record("rescore", None, t0, score_ms=score_ms)
        # an exported file from before this change would no longer match the sliders
        stale = gr.update(visible=False)
        return (sess, cfg, *views, stale, stale)

    def on_preset(name: str, sess: Session, base: Config, *values: float) -> tuple[Any, ...]:
        cfg = _config_from(base, list(values))
        cfg.preset = name
        for k, v in vars(PRESETS[name]).items():
            setattr(cfg.thresholds, k, v)
        new_base = copy.deepcopy(cfg)
        out = on_rescore(sess, new_base, *_slider_values(cfg))
        return (*out, new_base, *_slider_updates(cfg), "")

    def on_population(choice: str, sess: Session, base: Config, *values: float
                      ) -> tuple[Any, ...]:
        new_base = copy.deepcopy(base)
        new_base.percentile_population = choice
        return (*on_rescore(sess, new_base, *values), new_base)

    def on_import(file: bytes | None, sess: Session, base: Config, *values: float
                  ) -> tuple[Any, ...]:
        if file is None:
            return (gr.skip(),) * (len(rescore_outputs) + 2 + len(sliders)) + ("", gr.skip())
        try:
            cfg = Config.from_json(bytes(file).decode("utf-8", errors="strict"))
        except UnicodeDecodeError:
            msg = render.error_html({"code": "bad_config", "message": "The file is not UTF-8 "
                                     "text JSON."}, title="Could not import these settings")
            return (gr.skip(),) * (len(rescore_outputs) + 2 + len(sliders)) + (msg, gr.skip())
        except AurumError as exc:
            msg = render.error_html(exc.to_dict(), title="Could not import these settings")
            return (gr.skip(),) * (len(rescore_outputs) + 2 + len(sliders)) + (msg, gr.skip())
        out = on_rescore(sess, cfg, *_slider_values(cfg))
        ok = ('<div class="au-verdict au-ok">✓ Settings imported (preset '
              f'"{html.escape(cfg.preset)}").</div>')
        return (*out, cfg, gr.update(value=cfg.preset if cfg.preset in PRESETS else None),
                *_slider_updates(cfg), ok, gr.update(value=cfg.percentile_population))

    def on_export(base: Config, *values: float) -> tuple[Any, Any]:
        cfg = _config_from(base, list(values))
        text = cfg.to_json()
        folder = TEMP_DIR / "exports"
        folder.mkdir(exist_ok=True)
        name = f"aurum-config-{hashlib.sha256(text.encode()).hexdigest()[:8]}.json"
        path = folder / name
        path.write_text(text + "\n", encoding="utf-8")
        return gr.update(value=str(path), visible=True), gr.update(value=text, visible=True)

    def on_stream(frame: np.ndarray | None, cfg: Config) -> tuple[str, str, str, Any]:
        if frame is None:
            return (render.overlay_html(None, None, [], empty=LIVE_EMPTY),
                    render.coach_html(None),
                    render.quality_table_html(None, compact=True), None)
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
            overlay = render.overlay_html(small, shown,
                                          ["Contours", "Irises", "Midline"], scale=f)
        else:
            overlay = render.overlay_html(small, None, [])
        _record("live", analysis, t0)
        return (overlay, render.coach_html(report),
                render.quality_table_html(report, compact=True), true)

    def on_capture(frame: np.ndarray | None, layers: list[str], cfg: Config, sess: Session
                   ) -> tuple[Any, ...]:
        if frame is None:
            msg = render.error_html({"code": "empty_input", "message": "Start the camera and "
                                     "wait for the picture before capturing."},
                                    title="No frame yet")
            return (sess, gr.skip(), msg, *(gr.skip(),) * (len(score_outputs) - 3),
                    gr.Tabs(selected="score"))
        out = on_score(_frame_bytes(frame), layers, cfg, Session())
        return (*out, gr.Tabs(selected="score"))

    def on_example(layers: list[str], cfg: Config, sess: Session) -> tuple[Any, ...]:
        # Scored from the package's file directly: the copy Gradio caches for the input
        # preview must stay until the browser has loaded it.
        path = example_path()
        if path is None:
            return (None, *on_score(None, layers, cfg, sess))
        data = path.read_bytes()
        from PIL import Image

        with Image.open(path) as im:
            preview = np.asarray(im.convert("RGB"))
        return (preview, *on_score(data, layers, cfg, sess))

    def on_opt_in(agree: bool, sess: Session) -> tuple[str, Session]:
        return _opt_in_html(agree, sess), sess  # sess records the entry's id

    def _opt_in_html(agree: bool, sess: Session) -> str:
        if not agree:
            return _note("Tick the box first: nothing is stored without your consent.")
        if not sess or sess.report is None or not sess.report.get("ok"):
            return _note("Score a photo first: there are no numbers to add yet.")
        pop = engine.population
        if pop is None or not hasattr(pop, "opt_in"):
            return render.unavailable_html("Opt-in is", population_status())
        if sess.opted_in_id:
            return _note(f"This photo's numbers are already in the population (id "
                         f"{html.escape(sess.opted_in_id)}): one entry per photo.")
        emb = (sess.analysis.population or {}).get("embedding") if sess.analysis else None
        try:
            new_id = pop.opt_in(sess.report, emb)
            sess.opted_in_id = str(new_id)
        except AurumError as exc:
            return render.error_html(exc.to_dict(), title="Not added")
        except ValueError as exc:
            return render.error_html({"code": "not_added", "message": str(exc)},
                                     title="Not added")
        except Exception as exc:
            log.exception("opt-in failed")
            return render.error_html({"code": "internal_error",
                                      "message": f"Could not store the numbers "
                                                 f"({type(exc).__name__})."}, title="Not added")
        return (f'<div class="au-verdict au-ok">✓ Added. Your id: <code id="optin-id">'
                f'{html.escape(str(new_id))}</code>. Keep it to delete your numbers later.'
                f'</div>')

    def on_forget(record_id: str) -> str:
        record_id = (record_id or "").strip()
        if not record_id:
            return _note("Paste the id you were given when you opted in.")
        pop = engine.population
        if pop is None or not hasattr(pop, "forget"):
            return render.unavailable_html("Deletion is", population_status())
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
            return _note(f"No stored numbers under id {record_id}.")
        return f'<div class="au-verdict au-ok">✓ Deleted everything stored under {html.escape(record_id)}.</div>'  # noqa: E501

    def api_score(image: bytes | None, config_json: str = "") -> dict[str, Any]:
        """Score one image: the same JSON object the CLI prints (`file` is null).
        `config_json` is optional: the file the Tune tab exports / the CLI's --config."""
        t0 = time.perf_counter()
        try:
            cfg = Config.from_json(config_json) if (config_json or "").strip() else Config()
        except AurumError as exc:
            return {"file": None, "ok": False, "error": exc.to_dict()}
        analysis = engine.analyze(image)
        report = engine.score(analysis, cfg).to_dict()
        report["file"] = None
        _record("api", analysis, t0)
        return report

    def status_view() -> tuple[dict[str, Any], str]:
        return _status(engine), _latency_html()

    # ---- layout

    with gr.Blocks(title="Aurum: face proportions, quality and ratings",
                   analytics_enabled=False, delete_cache=(60, 300)) as demo:
        sess = gr.State(Session())
        cfg_state = gr.State(Config())  # the config the sliders currently describe
        base_state = gr.State(Config())  # preset / imported file the sliders start from

        gr.HTML(_header_html(), elem_id="au-header")
        with gr.Tabs(selected="score") as tabs:
            # ---------------- Score
            with gr.Tab("Score", id="score", elem_id="tab-score"):
                gr.Markdown(ABOUT_SHORT, elem_classes=["au-about-short"])
                with gr.Row(equal_height=False):
                    with gr.Column(scale=4, min_width=320):
                        image_in = PrivateImage(
                            label="Your photo", sources=["upload", "webcam"], type="numpy",
                            image_mode=None, elem_id="input-image", height=360,
                            # Gradio sends a mirrored webcam's snapshot mirrored, and a
                            # snapshot cannot be told from an upload here: no mirroring,
                            # so left and right (and the coach's advice) stay true.
                            buttons=[], webcam_options=gr.WebcamOptions(mirror=False),
                            placeholder="## Drop a photo here\nor click to upload, or use the "
                                        "webcam. One adult face, looking at the camera, "
                                        "neutral expression, even light.")
                        image_in.grace_s = UPLOAD_GRACE_S
                        with gr.Row():
                            score_btn = gr.Button("Score this photo", variant="primary",
                                                  elem_id="score-button", scale=3)
                            ex = example_path()
                            example_btn = gr.Button(
                                "Try an example", elem_id="example-button", scale=2,
                                visible=ex is not None)
                        if ex is not None:
                            gr.Markdown("Example: NASA astronaut portrait (public domain), "
                                        "bundled with scikit-image.", elem_classes=["au-small"])
                        layers = gr.CheckboxGroup(
                            list(render.LAYERS), value=list(render.DEFAULT_LAYERS),
                            label="Overlay layers", elem_id="layers")
                        overlay_out = gr.HTML(render.overlay_html(None, None, []),
                                              elem_id="overlay-image")
                    with gr.Column(scale=6, min_width=360):
                        cards_out = gr.HTML(render.score_cards_html(None), elem_id="score-cards")
                        vibe_out = gr.HTML("", elem_id="vibe")
                        with gr.Tabs():
                            with gr.Tab("Quality checklist", id="q"):
                                quality_out = gr.HTML(render.quality_table_html(None),
                                                      elem_id="quality-table")
                            with gr.Tab("Breakdown", id="b"):
                                breakdown_out = gr.Plot(elem_id="breakdown-plot", label="",
                                                        show_label=False, visible=False)
                            with gr.Tab("Population map", id="m"):
                                map_note = gr.HTML("", elem_id="map-note")
                                map_out = gr.Plot(elem_id="map-plot", show_label=False,
                                                  visible=False)
                        with gr.Accordion("Add my numbers to the population (opt-in)",
                                          open=False, elem_id="optin"):
                            gr.Markdown("Adds only numbers, never your photo, to the "
                                        "population that percentiles can be computed from: "
                                        "your scores, quality values, 14 face measurements "
                                        "and a shape embedding. They describe your face's "
                                        "shape (biometric data) and could help match another "
                                        "photo of you. You get an id to delete them at any "
                                        "time. One entry per photo.")
                            agree = gr.Checkbox(label="I am an adult and I agree to add my "
                                                "numbers", elem_id="optin-checkbox")
                            optin_btn = gr.Button("Add my numbers to the population",
                                                  elem_id="optin-button", size="sm")
                            optin_out = gr.HTML("", elem_id="optin-result")
                            with gr.Row():
                                forget_id = gr.Textbox(label="Delete by id", scale=3,
                                                       elem_id="forget-id",
                                                       placeholder="the id you were given")
                                forget_btn = gr.Button("Delete", elem_id="forget-button",
                                                       size="sm", scale=1)
                            forget_out = gr.HTML("", elem_id="forget-result")

            # ---------------- Tune
            with gr.Tab("Tune", id="tune", elem_id="tab-tune"):
                gr.Markdown("Move any setting: the current face is re-scored from its cached "
                            "measurements (no new inference), and the reference population "
                            "shows how the change moves everyone.", elem_classes=["au-small"])
                with gr.Row(equal_height=False):
                    with gr.Column(scale=5, min_width=340):
                        with gr.Row():
                            preset_dd = gr.Dropdown(sorted(PRESETS), value="default",
                                                    label="Preset (quality thresholds)",
                                                    elem_id="preset", scale=2)
                            blend = gr.Slider(0, 1, value=Config().blend_weight, step=0.05,
                                              label="Blend weight (geometric share of final)",
                                              elem_id="blend-weight", scale=3)
                        pop_radio = gr.Radio(
                            [("reference faces", "reference"),
                             ("reference + opted-in visitors", "reference+store")],
                            value="reference", label="Percentile against",
                            elem_id="percentile-population")
                        sliders_th = []
                        with gr.Accordion("Quality thresholds", open=True):
                            for name in THRESHOLD_NAMES:
                                sliders_th.append(gr.Slider(
                                    0, 1, value=getattr(Config().thresholds, name), step=0.01,
                                    label=render.QUALITY_LABELS.get(name, name),
                                    elem_id=f"threshold-{name}"))
                        sliders_comp = []
                        for name in COMPONENT_NAMES:
                            c = DEFAULT_COMPONENTS[name]
                            lo, hi, step = _ideal_range(name)
                            with gr.Accordion(f"{DESCRIPTIONS[name]}", open=False,
                                              elem_id=f"acc-{name}"):
                                w = gr.Slider(0, 3, value=c.weight, step=0.1, label="weight",
                                              elem_id=f"weight-{name}")
                                i = gr.Slider(lo, hi, value=c.ideal, step=step,
                                              label=f"ideal ({IDEAL_SOURCES[name]})",
                                              elem_id=f"ideal-{name}")
                            sliders_comp += [w, i]
                    with gr.Column(scale=5, min_width=340):
                        tune_cards = gr.HTML(render.score_cards_html(None, id_prefix="tune-"),
                                             elem_id="tune-cards")
                        tune_quality = gr.HTML("", elem_id="tune-quality")
                        pop_summary = gr.HTML("", elem_id="pop-summary")
                        hist_out = gr.Plot(elem_id="score-hist", show_label=False,
                                           visible=False)
                        gr.Markdown("**Share these settings**: export a JSON file (the "
                                    "CLI reads it with `--config`), or import one.",
                                    elem_classes=["au-small"])
                        with gr.Group():
                            with gr.Row(equal_height=True):
                                export_btn = gr.Button("Export settings (JSON)",
                                                       elem_id="export-config")
                                import_file = gr.UploadButton(
                                    "Import settings (JSON)", file_types=[".json"],
                                    type="binary", elem_id="import-config")
                        export_file = gr.File(label="Your settings file", visible=False,
                                              elem_id="export-file", interactive=False)
                        import_msg = gr.HTML("", elem_id="import-message")
                        export_text = gr.Code(language="json", label="Settings (JSON)",
                                              elem_id="export-text", interactive=False,
                                              lines=8, max_lines=16, visible=False)

            # ---------------- Live
            with gr.Tab("Live", id="live", elem_id="tab-live"):
                gr.Markdown("Live coaching: the camera picture is analysed about twice a "
                            "second (in memory only) and the checklist tells you how to fix "
                            "the photo. Press **Capture & score** when it is all green.",
                            elem_classes=["au-small"])
                with gr.Row(equal_height=False):
                    with gr.Column(scale=5):
                        live_cam = gr.Image(sources=["webcam"], streaming=True, type="numpy",
                                            label="Camera", elem_id="live-cam",
                                            webcam_options=gr.WebcamOptions(mirror=True))
                        capture_btn = gr.Button("Capture & score", variant="primary",
                                                elem_id="capture-button")
                    with gr.Column(scale=5):
                        live_overlay = gr.HTML(render.overlay_html(None, None, [],
                                                                   empty=LIVE_EMPTY),
                                               elem_id="live-overlay")
                        live_coach = gr.HTML(render.coach_html(None), elem_id="live-coach")
                        live_quality = gr.HTML("", elem_id="live-quality")
                live_frame = gr.State(None)

            # ---------------- About / Status
            with gr.Tab("About", id="about", elem_id="tab-about"):
                gr.Markdown(ABOUT_SHORT)
                gr.Markdown(ABOUT_LONG, elem_id="about-text")
            with gr.Tab("Status", id="status", elem_id="tab-status") as status_tab:
                status_json = gr.JSON(label="Models, versions, settings", elem_id="status-json")
                latency_html = gr.HTML("", elem_id="latency-table")
                refresh_btn = gr.Button("Refresh", size="sm", elem_id="status-refresh")

        gr.HTML(_footer_html(), elem_id="au-footer")

        # hidden API endpoint: image (+ optional config JSON) -> the CLI's JSON
        api_image = PrivateImage(visible=False, type="numpy", image_mode=None,
                                 sources=["upload"])
        api_config = gr.Textbox(value="", visible=False)
        api_json = gr.JSON(visible=False)
        api_btn = gr.Button(visible=False)

        # ---- wiring
        sliders = [*sliders_th, blend, *sliders_comp]
        score_outputs = [sess, overlay_out, cards_out, quality_out, breakdown_out, tune_cards,
                         tune_quality, pop_summary, hist_out, vibe_out, map_out, map_note,
                         optin_out]
        rescore_outputs = [sess, cfg_state, cards_out, quality_out, breakdown_out, tune_cards,
                           tune_quality, pop_summary, hist_out, export_file, export_text]

        image_in.input(on_upload, [image_in, sess], sess, api_visibility="private",
                       show_progress="hidden")
        score_btn.click(on_score, [image_in, layers, cfg_state, sess], score_outputs,
                        api_visibility="private", concurrency_id="analyze")
        example_btn.click(on_example, [layers, cfg_state, sess], [image_in, *score_outputs],
                          api_visibility="private", concurrency_id="analyze")
        layers.input(on_layers, [layers, sess], overlay_out, api_visibility="private",
                     trigger_mode="always_last", show_progress="hidden",
                     concurrency_id="rescore", concurrency_limit=4)
        gr.on([s.input for s in sliders], on_rescore, [sess, base_state, *sliders],
              rescore_outputs, trigger_mode="always_last", show_progress="hidden",
              api_visibility="private", concurrency_id="rescore", concurrency_limit=4)
        preset_dd.input(on_preset, [preset_dd, sess, base_state, *sliders],
                        [*rescore_outputs, base_state, *sliders, import_msg],
                        api_visibility="private", show_progress="hidden",
                        concurrency_id="rescore", concurrency_limit=4)
        pop_radio.input(on_population, [pop_radio, sess, base_state, *sliders],
                        [*rescore_outputs, base_state], api_visibility="private",
                        show_progress="hidden", concurrency_id="rescore")
        import_file.upload(on_import, [import_file, sess, base_state, *sliders],
                           [*rescore_outputs, base_state, preset_dd, *sliders, import_msg,
                            pop_radio],
                           api_visibility="private", concurrency_id="rescore")
        export_btn.click(on_export, [base_state, *sliders], [export_file, export_text],
                         api_visibility="private")
        live_cam.stream(on_stream, [live_cam, cfg_state],
                        [live_overlay, live_coach, live_quality, live_frame],
                        # A stream holds its worker for the whole session: several
                        # visitors may coach at once (the mesh pool bounds memory).
                        stream_every=0.5, concurrency_limit=4, time_limit=300,
                        api_visibility="private", show_progress="hidden")
        capture_btn.click(on_capture, [live_frame, layers, cfg_state, sess],
                          [*score_outputs, tabs], api_visibility="private",
                          concurrency_id="analyze")
        optin_btn.click(on_opt_in, [agree, sess], [optin_out, sess], api_visibility="private")
        forget_btn.click(on_forget, forget_id, forget_out, api_visibility="private")
        refresh_btn.click(status_view, None, [status_json, latency_html],
                          api_visibility="private")
        demo.load(status_view, None, [status_json, latency_html], api_visibility="private")
        status_tab.select(status_view, None, [status_json, latency_html],
                          api_visibility="private")
        demo.load(lambda: map_view(None), None, [map_out, map_note], api_visibility="private")
        api_btn.click(api_score, [api_image, api_config], api_json, api_name="score",
                      concurrency_id="analyze")
    demo.queue(default_concurrency_limit=2)
    return demo


# ---------------------------------------------------------------- helpers


def _warm_up(engine: Engine) -> None:
    t0 = time.perf_counter()
    try:
        # A full analysis of the bundled example initialises every MediaPipe graph
        # (the first inference costs ~0.6 s); without the example, build the graphs.
        example = example_path()
        if example is not None:
            engine.analyze(example)
        else:
            engine.finder.warm_up()
        _STARTUP["warm_up_ms"] = round((time.perf_counter() - t0) * 1000, 1)
    except Exception as exc:  # a failed warm-up only costs the first request time
        _STARTUP["warm_up_ms"] = f"failed: {type(exc).__name__}"
    # CLIP loads last and in the background: offline it ends as "unavailable: ...",
    # on Spaces it becomes "ready" while the app already serves the default model.
    get_backend().start()


_STARTUP: dict[str, Any] = {"started": time.strftime("%Y-%m-%d %H:%M:%S")}


def example_path() -> Path | None:
    """The public-domain NASA astronaut portrait that scikit-image ships, found without
    importing scikit-image; None when it is not installed (the UI then hides the
    example button and asks for an upload)."""
    import importlib.util

    try:
        spec = importlib.util.find_spec("skimage")
    except (ImportError, ValueError):
        return None
    if spec is None or spec.origin is None:
        return None
    path = Path(spec.origin).parent / "data" / "astronaut.png"
    return path if path.is_file() else None


def _frame_bytes(frame: np.ndarray) -> bytes:
    """Encode a webcam frame (already in memory) as PNG bytes in memory, so a captured
    frame takes the same decode path as an upload."""
    import cv2

    ok, buf = cv2.imencode(".png", cv2.cvtColor(np.asarray(frame, dtype=np.uint8),
                                                cv2.COLOR_RGB2BGR))
    return buf.tobytes() if ok else b""


def _blank_rest() -> tuple[Any, ...]:
    """Outputs after overlay and cards when there is nothing to show."""
    return (render.quality_table_html(None), gr.update(value=None, visible=False),
            render.score_cards_html(None, id_prefix="tune-"), "", gr.skip(), gr.skip(), "")


def _faces_note(report: dict[str, Any] | None) -> str:
    n = ((report or {}).get("face") or {}).get("faces_found") or 1
    return f"We scored the largest of {n} faces." if n > 1 else ""


def _note(text: str) -> str:
    return f'<div class="au-note">{html.escape(text)}</div>'


def _versions() -> dict[str, str]:
    import importlib.metadata as md

    out = {"aurum": aurum.__version__, "python": platform.python_version()}
    for pkg in ("gradio", "mediapipe", "numpy", "opencv-contrib-python", "plotly",
                "scikit-learn", "umap-learn"):
        try:
            out[pkg] = md.version(pkg)
        except md.PackageNotFoundError:
            out[pkg] = "not installed"
    if "torch" in sys.modules:  # only report torch if something actually loaded it
        out["torch"] = str(getattr(sys.modules["torch"], "__version__", "?"))
    else:
        out["torch"] = "not imported"
    return out


def _status(engine: Engine) -> dict[str, Any]:
    return {"models": engine.status(), "versions": _versions(), "startup": dict(_STARTUP),
            "privacy": {"gradio_temp_dir": "private, purged every 60 s (files > 5 min) and "
                        "removed at exit",
                        "uploads": f"read into memory on arrival, file deleted "
                                   f"{UPLOAD_GRACE_S:g} s later",
                        "overlays": "sent inline, never written"}}


def _latency_html() -> str:
    rows = list(LATENCY)
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
        f"<td>{r['total_ms']:.1f}</td><td>{r.get('analyze_ms') or '–'}</td>"
        f"<td>{r.get('score_ms', '–')}</td></tr>" for r in reversed(rows[-12:]))
    return (f'<h4>Request latency (last {len(rows)} requests, server side, ms)</h4>'
            f'<table class="au-table"><tr><th>kind</th><th>n</th><th>median</th><th>max</th>'
            f'</tr>{summary}</table><h4>Most recent</h4><table class="au-table"><tr><th>time'
            f'</th><th>kind</th><th>total</th><th>analyze</th><th>score</th></tr>{recent}'
            f'</table>')


def _header_html() -> str:
    return ('<div class="au-head"><div class="au-logo">Au</div><div><h1>Aurum</h1>'
            '<p>Face landmarks, photo quality, proportions and a rating model: every '
            'number measured, every limit stated.</p></div></div>')


def _footer_html() -> str:
    return ('<div class="au-foot">Adults only · not a verdict on anyone · data: Face Research '
            'Lab London Set (DeBruine &amp; Jones 2017, CC BY 4.0), SFHQ (MIT) · landmarks: '
            'MediaPipe (Apache 2.0) · nothing is stored unless you opt in.</div>')


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
            "run_history": False, "mcp_server": False, "show_error": False}


def _limit_malloc_arenas(arenas: int = 2, trim_every_s: float = 15.0) -> None:
    """glibc gives each busy thread its own malloc arena and rarely hands their memory
    back: under 20 concurrent clients the server grew 303 -> 763 MB over four rounds,
    against 301 -> 481 MB (then flat) with two arenas. A periodic `malloc_trim` then
    returns the freed pages after a burst. No-op off glibc."""
    try:
        import ctypes

        libc = ctypes.CDLL("libc.so.6")
        libc.mallopt(-8, arenas)  # M_ARENA_MAX
    except (OSError, AttributeError):
        return

    def trim() -> None:
        while True:
            time.sleep(trim_every_s)
            libc.malloc_trim(0)

    threading.Thread(target=trim, daemon=True, name="aurum-malloc-trim").start()


def main() -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    # Containers and Spaces stop the server with SIGTERM, which skips atexit handlers:
    # turn it into a normal exit so the private cache folder is still removed.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    _limit_malloc_arenas()
    demo = build_demo()
    demo.launch(server_name=os.environ.get("GRADIO_SERVER_NAME", "0.0.0.0"),
                server_port=int(os.environ.get("GRADIO_SERVER_PORT", "7860")),
                **launch_kwargs())


if __name__ == "__main__":
    main()
