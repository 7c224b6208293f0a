"""Tune: thresholds, weights, ideals and the blend; the current face and the whole
reference population are re-scored from cached measurements on every move."""

from __future__ import annotations

import copy
import hashlib
import html
import time
from typing import Any

import gradio as gr

from aurum.config import DEFAULT_COMPONENTS, PRESETS, QUALITY_METRICS, Config, preset
from aurum.engine import Engine
from aurum.errors import AurumError
from aurum.measure import quality_metrics
from aurum.measure.geometry import DESCRIPTIONS, IDEAL_SOURCES
from aurum_ui import panels, render, views
from aurum_ui.state import Session, record
from aurum_ui.tempdir import TEMP_DIR
from aurum_ui.wiring import UI, with_engine

TITLE, ID = "Tune", "tune"


def threshold_names() -> tuple[str, ...]:
    """The overall pass mark and one per quality metric spec (read when the tab is
    built, so a new spec gets its slider)."""
    return ("quality", *QUALITY_METRICS)


def component_names() -> tuple[str, ...]:
    return tuple(DEFAULT_COMPONENTS)


def sliders() -> tuple[str, ...]:
    """Every slider, by name, in the order the events pass their values."""
    return (*(f"threshold-{n}" for n in threshold_names()), "blend-weight",
            *(s for n in component_names() for s in (f"weight-{n}", f"ideal-{n}")))


# What this tab refreshes whenever the report changes (a new score, a slider move), by
# `refresh`; `panels.report_outputs` combines every shown tab's declaration.
REFRESH_ON_SCORE: tuple[str, ...] = ("tune-cards", "tune-strip", "tune-quality",
                                     "pop-summary", "score-hist")
# What a config change sets besides every tab's report panels.
CONFIG_OUTPUTS: tuple[str, ...] = ("session", "config", "export-file", "export-text")


def rescore_outputs() -> tuple[str, ...]:
    """Everything a config change refreshes (on every tab)."""
    return (*CONFIG_OUTPUTS, *panels.report_outputs())


def refresh(engine: Engine, report: dict[str, Any] | None, cfg: Config) -> dict[str, Any]:
    """This tab's panels that depend on the report (see REFRESH_ON_SCORE)."""
    return {"tune-cards": render.score_cards_html(report, id_prefix="tune-"),
            "tune-strip": render.score_strip_html(report),
            "tune-quality": render.quality_table_html(report, compact=True),
            **views.tune_views(engine, report, cfg)}

# ---------------------------------------------------------------- config <-> sliders


def ideal_range(name: str) -> tuple[float, float, float]:
    """Slider range for an ideal: +-5 tolerances, on a grid of steps that passes through
    the default ideal, so the canon can always be selected again after a move."""
    c = DEFAULT_COMPONENTS[name]
    step = float(f"{c.tolerance / 20:.1g}")
    n = round(5 * c.tolerance / step)
    lo, hi = c.ideal - n * step, c.ideal + n * step
    if name == "symmetry_index":
        lo = 0.0
    return round(lo, 6), round(hi, 6), step


def config_from(base: Config, values: list[float] | tuple[float, ...]) -> Config:
    """Config = the base (preset / imported file, keeps tolerances) + slider values
    (in `sliders()` order)."""
    cfg = copy.deepcopy(base)
    v = dict(zip(sliders(), values, strict=True))
    for name in threshold_names():
        setattr(cfg.thresholds, name, float(v[f"threshold-{name}"]))
    cfg.blend_weight = float(v["blend-weight"])
    for name in component_names():
        cfg.components[name].weight = float(v[f"weight-{name}"])
        cfg.components[name].ideal = float(v[f"ideal-{name}"])
    return cfg


def slider_values(cfg: Config) -> list[float]:
    """The sliders' values for `cfg`, in `sliders()` order."""
    vals = [getattr(cfg.thresholds, n) for n in threshold_names()] + [cfg.blend_weight]
    for name in component_names():
        vals += [cfg.components[name].weight, cfg.components[name].ideal]
    return vals


def slider_updates(cfg: Config) -> dict[str, Any]:
    """Updates that move every slider to `cfg`, widening a range an imported value
    falls outside (a slider silently clamping it would change the config)."""
    out: dict[str, Any] = {f"threshold-{n}": gr.update(value=getattr(cfg.thresholds, n))
                           for n in threshold_names()}
    out["blend-weight"] = gr.update(value=cfg.blend_weight)
    for name in component_names():
        c = cfg.components[name]
        lo, hi, _ = ideal_range(name)
        out[f"weight-{name}"] = gr.update(value=c.weight, maximum=max(3.0, c.weight))
        out[f"ideal-{name}"] = gr.update(value=c.ideal, minimum=min(lo, c.ideal),
                                         maximum=max(hi, c.ideal))
    return out

# ---------------------------------------------------------------- handlers


def on_rescore(engine: Engine, sess: Session | None, base: Config, *values: float
               ) -> dict[str, Any]:
    """Re-score the cached analysis under the sliders' config (no model runs)."""
    t0 = time.perf_counter()
    cfg = config_from(base, values)
    score_ms = 0.0
    if sess and sess.analysis is not None:
        t1 = time.perf_counter()
        sess.report = engine.score(sess.analysis, cfg).to_dict()
        sess.report["file"] = None
        score_ms = (time.perf_counter() - t1) * 1000
    out = panels.refresh_all(engine, (sess or Session()).report, cfg)
    record("rescore", None, t0, score_ms=score_ms)
    # an exported file from before this change would no longer match the sliders
    stale = gr.update(visible=False)
    return {"session": sess, "config": cfg, **out, "export-file": stale, "export-text": stale}


def on_preset(engine: Engine, name: str, sess: Session | None, base: Config, *values: float
              ) -> dict[str, Any]:
    cfg = config_from(base, values)
    cfg.preset = name
    cfg.thresholds = preset(name).thresholds
    new_base = copy.deepcopy(cfg)
    return {**on_rescore(engine, sess, new_base, *slider_values(cfg)),
            "base-config": new_base, **slider_updates(cfg), "import-message": ""}


def on_population(engine: Engine, choice: str, sess: Session | None, base: Config,
                  *values: float) -> dict[str, Any]:
    new_base = copy.deepcopy(base)
    new_base.percentile_population = choice
    return {**on_rescore(engine, sess, new_base, *values), "base-config": new_base}


def on_import(engine: Engine, file: bytes | None, sess: Session | None, base: Config,
              *values: float) -> dict[str, Any]:
    """Load an exported settings file; a bad one says why and changes nothing."""
    if file is None:
        return {"import-message": ""}
    title = "Could not import these settings"
    try:
        cfg = Config.from_json(bytes(file).decode("utf-8", errors="strict"))
    except UnicodeDecodeError:
        return {"import-message": render.error_html(
            {"code": "bad_config", "message": "The file is not UTF-8 text JSON."}, title=title)}
    except AurumError as exc:
        return {"import-message": render.error_html(exc.to_dict(), title=title)}
    return {**on_rescore(engine, sess, cfg, *slider_values(cfg)), "base-config": cfg,
            "preset": gr.update(value=cfg.preset if cfg.preset in PRESETS else None),
            **slider_updates(cfg),
            "import-message": render.ok_html(f'Settings imported (preset '
                                            f'"{html.escape(cfg.preset)}").'),
            "percentile-population": gr.update(value=cfg.percentile_population)}


def on_export(base: Config, *values: float) -> dict[str, Any]:
    """The sliders' config as a JSON file (what the CLI's --config reads)."""
    text = config_from(base, values).to_json()
    folder = TEMP_DIR / "exports"
    folder.mkdir(exist_ok=True)
    path = folder / f"aurum-config-{hashlib.sha256(text.encode()).hexdigest()[:8]}.json"
    path.write_text(text + "\n", encoding="utf-8")
    return {"export-file": gr.update(value=str(path), visible=True),
            "export-text": gr.update(value=text, visible=True)}

# ---------------------------------------------------------------- layout


def _settings_column(ui: UI) -> None:
    with gr.Row():
        ui.add("preset", gr.Dropdown(sorted(PRESETS), value="default",
                                     label="Preset (quality thresholds)", elem_id="preset",
                                     scale=2))
        ui.add("blend-weight", gr.Slider(0, 1, value=Config().blend_weight, step=0.05,
                                         label="Blend weight (geometric share of final)",
                                         elem_id="blend-weight", scale=3))
    ui.add("percentile-population", gr.Radio(
        [("reference faces", "reference"), ("reference + opted-in visitors", "reference+store")],
        value="reference", label="Percentile against", elem_id="percentile-population"))
    with gr.Accordion("Quality thresholds", open=True):
        for name in threshold_names():
            ui.add(f"threshold-{name}", gr.Slider(
                0, 1, value=getattr(Config().thresholds, name), step=0.01,
                label=quality_metrics.labels()[name], elem_id=f"threshold-{name}"))
    for name in component_names():
        c = DEFAULT_COMPONENTS[name]
        lo, hi, step = ideal_range(name)
        with gr.Accordion(f"{DESCRIPTIONS[name]}", open=False, elem_id=f"acc-{name}"):
            ui.add(f"weight-{name}", gr.Slider(0, 3, value=c.weight, step=0.1, label="weight",
                                               elem_id=f"weight-{name}"))
            ui.add(f"ideal-{name}", gr.Slider(lo, hi, value=c.ideal, step=step,
                                              label=f"ideal ({IDEAL_SOURCES[name]})",
                                              elem_id=f"ideal-{name}"))


def _result_column(ui: UI) -> None:
    ui.add("tune-cards", gr.HTML(render.score_cards_html(None, id_prefix="tune-"),
                                 elem_id="tune-cards"))
    ui.add("tune-quality", gr.HTML("", elem_id="tune-quality"))
    ui.add("pop-summary", gr.HTML("", elem_id="pop-summary"))
    ui.add("score-hist", gr.Plot(elem_id="score-hist", show_label=False, visible=False,
                                         elem_classes=["au-plot"]))
    gr.Markdown("**Share these settings**: export a JSON file (the CLI reads it with "
                "`--config`), or import one.", elem_classes=["au-small"])
    with gr.Group():
        with gr.Row(equal_height=True):
            ui.add("export-config", gr.Button("Export settings (JSON)",
                                              elem_id="export-config"))
            ui.add("import-config", gr.UploadButton("Import settings (JSON)",
                                                    file_types=[".json"], type="binary",
                                                    elem_id="import-config"))
    ui.add("export-file", gr.File(label="Your settings file", visible=False,
                                  elem_id="export-file", interactive=False))
    ui.add("import-message", gr.HTML("", elem_id="import-message"))
    ui.add("export-text", gr.Code(language="json", label="Settings (JSON)",
                                  elem_id="export-text", interactive=False, lines=8,
                                  max_lines=16, visible=False))


def build(ui: UI) -> None:
    gr.Markdown("Move any setting: the current face is re-scored from its cached "
                "measurements (no new inference), and the reference population shows how "
                "the change moves everyone.", elem_classes=["au-small"])
    # pinned to the top on narrow screens only (assets/app.css), where the cards stack
    # below the sliders
    ui.add("tune-strip", gr.HTML(render.score_strip_html(None), elem_id="tune-strip"))
    with gr.Row(equal_height=False):
        with gr.Column(scale=5, min_width=340):
            _settings_column(ui)
        with gr.Column(scale=5, min_width=340):
            _result_column(ui)


def wire(ui: UI, engine: Engine) -> None:
    quick: dict[str, Any] = {"api_visibility": "private", "show_progress": "hidden",
                             "concurrency_id": "rescore"}
    names = sliders()
    state = ["session", "base-config", *names]
    RESCORE_OUTPUTS = rescore_outputs()  # noqa: N806  (a constant once the tabs are known)
    ui.on([ui[s].input for s in names], with_engine(on_rescore, engine), state,
          RESCORE_OUTPUTS, trigger_mode="always_last", concurrency_limit=4, **quick)
    ui.on(ui["preset"].input, with_engine(on_preset, engine), ["preset", *state],
          (*RESCORE_OUTPUTS, "base-config", *names, "import-message"),
          concurrency_limit=4, **quick)
    ui.on(ui["percentile-population"].input, with_engine(on_population, engine),
          ["percentile-population", *state], (*RESCORE_OUTPUTS, "base-config"), **quick)
    ui.on(ui["import-config"].upload, with_engine(on_import, engine), ["import-config", *state],
          (*RESCORE_OUTPUTS, "base-config", "preset", *names, "import-message",
           "percentile-population"),
          api_visibility="private", concurrency_id="rescore")
    ui.on(ui["export-config"].click, on_export, ["base-config", *names],
          ["export-file", "export-text"], api_visibility="private")
