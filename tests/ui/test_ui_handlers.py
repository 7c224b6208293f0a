"""The app's handlers called directly: no server, no browser.

Each handler takes the engine and returns a dict keyed by component name; these tests
check what it returns and that every name it may return is wired in the app.
"""

from __future__ import annotations

import json

import numpy as np
import pytest

from aurum.analysers import age_gate
from aurum.config import QUALITY_METRICS, Config, preset
from aurum_ui import api, views
from aurum_ui.blocks import TABS, build_ui
from aurum_ui.state import LATENCY, Session
from aurum_ui.tabs import about, live, score, status, tune
from aurum_ui.tabs.score import score_outputs
from aurum_ui.wiring import UI, keyed
from tests.conftest import FIXTURE_FACE

CLI_KEYS = {"file", "ok", "error", "image_size", "face", "pose", "quality", "geometric",
            "attractiveness", "final", "percentile", "vibe", "expression", "config",
            "age_gate", "timing_ms"}


@pytest.fixture(scope="module")
def scored(engine):
    """A London face scored through the Score tab's handler."""
    out = score.on_score(engine, FIXTURE_FACE.read_bytes(), list(score.render.DEFAULT_LAYERS),
                         Config(), Session())
    return out


def test_score_handler_returns_named_panels(scored):
    assert set(scored) <= set(score_outputs())
    sess = scored["session"]
    assert sess.report["ok"] is True and sess.report["file"] is None
    assert 'id="final-score"' in scored["score-cards"]
    assert scored["overlay-image"].count("data:image/jpeg;base64,") == 1
    assert scored["quality-table"].count("data-check=") == len(QUALITY_METRICS) + 1  # + overall
    assert sess.preview is not None and sess.analysis.image is None  # no full-size pixels


def test_tune_strip_follows_the_report(engine, scored):
    """The Tune tab's one-line scores (pinned on a phone) say what the cards say."""
    rep = scored["session"].report
    strip = scored["tune-strip"]
    assert f"<b>Final {rep['final']['score']:.1f}</b>" in strip
    assert f"geometric {rep['geometric']['score']:.1f}" in strip
    pm = rep["attractiveness"]["uncertainty"]["score_plus_minus"]
    assert f"attractiveness {rep['attractiveness']['score']:.1f} ± {pm:.0f}" in strip
    assert f"percentile {rep['percentile']['final']:.0f}" in strip
    low = {**rep, "final": {**rep["final"], "status": "low_quality: sharpness"}}
    assert "quality gate failed" in score.render.score_strip_html(low)
    assert "Score a photo" in score.on_score(engine, None, [], Config(), Session())["tune-strip"]
    failed = {"ok": False, "error": {"code": "no_face", "message": "No face was found."}}
    assert "No score for this photo: No face was found." in score.render.score_strip_html(failed)


def test_score_without_photo_says_so(engine):
    out = score.on_score(engine, None, [], Config(), Session())
    assert set(out) <= set(score_outputs())
    assert "empty_input" in out["score-cards"]
    assert "pop-summary" not in out  # left as it was: nothing padded by position


def test_layers_redraw_from_cache(scored):
    sess = scored["session"]
    before = LATENCY[-1] if LATENCY else None
    out = score.on_layers(["Mesh"], sess)
    assert set(out) == {"overlay-image"} and "data:image/jpeg" in out["overlay-image"]
    assert LATENCY[-1] is not before and LATENCY[-1]["kind"] == "layers"  # a new entry


def test_rescore_moves_the_score_without_inference(engine, scored):
    sess = scored["session"]
    comps = sess.report["geometric"]["components"]
    weakest = min(comps, key=lambda c: c["score"])["name"]
    before = sess.report["geometric"]["score"]
    timing = dict(sess.analysis.timing_ms)
    values = tune.slider_values(Config())
    values[tune.sliders().index(f"weight-{weakest}")] = 0.0
    out = tune.on_rescore(engine, sess, Config(), *values)
    assert set(out) <= set(tune.rescore_outputs())
    assert out["config"].components[weakest].weight == 0.0
    assert out["session"].report["geometric"]["score"] > before
    assert sess.analysis.timing_ms == timing  # the cached analysis, not a new one
    # restore for the other tests
    tune.on_rescore(engine, sess, Config(), *tune.slider_values(Config()))


def test_sliders_round_trip_a_config():
    cfg = preset("strict")
    cfg.components["lip_ratio"].weight = 2.5
    back = tune.config_from(cfg, tune.slider_values(cfg))
    assert back.to_dict() == cfg.to_dict()
    upd = tune.slider_updates(cfg)
    assert set(upd) == set(tune.sliders())
    assert upd["weight-lip_ratio"]["value"] == 2.5


def test_preset_sets_threshold_sliders(engine):
    out = tune.on_preset(engine, "strict", None, Config(), *tune.slider_values(Config()))
    assert out["threshold-frontality"]["value"] == 0.5
    assert out["base-config"].preset == "strict"


def test_import_errors_change_nothing_else(engine):
    out = tune.on_import(engine, json.dumps({"blend_weight": 3}).encode(), None, Config(),
                         *tune.slider_values(Config()))
    assert set(out) == {"import-message"} and "bad_config" in out["import-message"]
    out = tune.on_import(engine, b"\xff\xfe", None, Config(), *tune.slider_values(Config()))
    assert set(out) == {"import-message"} and "UTF-8" in out["import-message"]
    good = json.dumps({"preset": "demo", "blend_weight": 0.8}).encode()
    out = tune.on_import(engine, good, None, Config(), *tune.slider_values(Config()))
    assert out["blend-weight"]["value"] == 0.8 and "au-ok" in out["import-message"]


def test_export_writes_the_sliders_config():
    cfg = preset("demo")
    out = tune.on_export(cfg, *tune.slider_values(cfg))
    text = out["export-text"]["value"]
    assert Config.from_json(text).to_dict() == cfg.to_dict()
    assert json.loads(open(out["export-file"]["value"]).read())["preset"] == "demo"


def test_live_without_frame(engine):
    out = live.on_stream(engine, None, Config())
    assert out["live-frame"] is None and "Start the camera" in out["live-overlay"]
    out = live.on_capture(engine, None, [], Config(), None)
    assert "empty_input" in out["score-cards"] and "tabs" in out


def test_opt_in_and_forget_need_consent_and_an_id(engine, scored):
    out = score.on_opt_in(engine, False, scored["session"])
    assert "Tick the box" in out["optin-result"]
    assert "Paste the id" in score.on_forget(engine, "  ")["forget-result"]


def test_opt_in_is_offered_for_a_scored_adult_only(engine, scored, monkeypatch):
    """A face the adults-only gate withheld (or no photo yet) gets no opt-in box or
    button, only a note saying why; a scored adult gets them and no note."""
    assert scored["optin-offer"]["visible"] is True and scored["optin-note"] == ""
    empty = score.on_score(engine, None, [], Config(), Session())
    assert empty["optin-offer"]["visible"] is False and "Score a photo" in empty["optin-note"]
    n = age_gate.GROUPS["descriptor"] + age_gate.GROUPS["proportions"]
    withhold_all = age_gate.GateModel(np.zeros(n), np.ones(n), np.zeros(n), 0.0, -1.0, "test",
                                      ("descriptor", "proportions"), np.ones(n))
    monkeypatch.setattr(engine.age_gate, "model", withhold_all)
    gated = score.on_score(engine, FIXTURE_FACE.read_bytes(), [], Config(), Session())
    assert gated["session"].report["error"]["code"] == "apparent_minor"
    assert gated["optin-offer"]["visible"] is False and "adults only" in gated["optin-note"]
    # a click from a stale page is refused with the same words, ticked box or not
    assert "adults only" in score.on_opt_in(engine, True, gated["session"])["optin-result"]
    unavailable = {"ok": False, "error": {"code": "age_gate_unavailable", "message": "-"}}
    offer = score.opt_in_offer(unavailable)
    assert offer["optin-offer"]["visible"] is False and "adults only" in offer["optin-note"]
    refresh = tune.on_rescore(engine, gated["session"], Config(),
                              *tune.slider_values(Config()))
    assert refresh["optin-offer"]["visible"] is False  # a slider move keeps it hidden


def test_status_lists_models(engine):
    out = status.on_status(engine)
    assert "face_mesh" in out["status-json"]["models"]
    assert "<table" in out["latency-table"] or "No requests" in out["latency-table"]


def test_latency_table_counts_and_rounds():
    one = [{"at": "10:00:00", "kind": "score", "total_ms": 142.61, "analyze_ms": 136.291,
            "score_ms": 1.04}]
    html = status.latency_html(one)
    assert "the last request," in html and "136.3" in html and "136.291" not in html
    two = [*one, {"at": "10:00:01", "kind": "rescore", "total_ms": 2.0, "analyze_ms": None}]
    html = status.latency_html(two)
    assert "last 2 requests" in html and "<td>–</td>" in html


def test_api_returns_the_cli_json(engine):
    got = api.api_score(engine, FIXTURE_FACE.read_bytes())
    assert set(got) == CLI_KEYS and got["file"] is None and got["ok"] is True
    bad = api.api_score(engine, FIXTURE_FACE.read_bytes(), "{not json")
    assert bad["error"]["code"] == "bad_config"


def test_every_output_name_is_a_component(engine):
    demo, ui = build_ui(engine)
    names = set(score_outputs()) | set(tune.rescore_outputs()) | set(tune.sliders())
    assert names <= set(ui)
    assert {f"tab-{t.ID}" for t in TABS} <= set(ui)
    assert views.map_view(engine, None).keys() <= set(ui)


def test_about_reads_the_loaded_models_figures(engine):
    """The About tab's model figures come from the model the app loaded, so a retrained
    model cannot leave them stale; without a model it says so."""
    _, ui = build_ui(engine)
    text = " ".join(ui["about-text"].value.split())  # the Markdown source, one line
    model = engine.attractiveness
    v = model.validity
    assert f"r {v['pearson_r_10fold']:.2f} with the panel's ratings" in text
    assert f"women {v['within_sex_pearson_r']['female']:.2f}" in text
    assert f"± {model.half_width:.1f}" in text
    smile = model.facts()["smiling_mean_abs_change"]
    assert f"moves the score by {smile:.1f} points" in text
    assert "aligned on five face-mesh points" in text
    assert f"Terms: {model.facts()['terms']}" in text and model.name in text
    assert "not loaded in this app" in about.model_text(None)


def test_an_unwired_output_fails_loudly():
    ui = UI()
    run = keyed(lambda: {"nowhere": 1}, ui, ["somewhere"])
    with pytest.raises(KeyError, match="nowhere"):
        run()


def test_recipe_add_a_tab(engine):
    """docs/recipes.md, "Add a tab": a module with TITLE, ID, build(ui) and
    wire(ui, engine), listed in TABS; its handler is tested like any other."""
    import types

    import gradio as gr

    tab = types.ModuleType("hello_tab")
    tab.TITLE, tab.ID = "Hello", "hello"

    def on_hello(engine, name: str) -> dict:
        return {"hello-out": f"Hello {name}: {engine.status()['face_mesh']}"}

    def build(ui: UI) -> None:
        ui.add("hello-name", gr.Textbox(elem_id="hello-name"))
        ui.add("hello-out", gr.HTML(elem_id="hello-out"))

    def wire(ui: UI, engine) -> None:
        from aurum_ui.wiring import with_engine

        ui.on(ui["hello-name"].submit, with_engine(on_hello, engine), ["hello-name"],
              ["hello-out"], api_visibility="private")

    tab.build, tab.wire = build, wire
    demo, ui = build_ui(engine, (*TABS, tab))
    assert {"tab-hello", "hello-name", "hello-out"} <= set(ui)
    assert "ready" in on_hello(engine, "Ada")["hello-out"]
    assert any(getattr(b, "elem_id", None) == "tab-hello" for b in demo.blocks.values())


def test_the_engine_owns_every_model_and_the_app_asks_it(engine):
    """One interface: every part reports a status; the app never probes with hasattr."""
    from pathlib import Path

    import aurum_ui

    st = engine.status()
    assert {"face_mesh", "descriptor", "attractiveness", "population", "clip",
            "store"} <= set(st)
    assert all(isinstance(v, str) and v for v in st.values())
    assert engine.clip.status() == st["clip"]
    root = Path(aurum_ui.__file__).parent
    for path in root.rglob("*.py"):
        text = path.read_text()
        assert "hasattr(" not in text and "get_backend" not in text, path


def test_warm_up_goes_through_the_engine(engine):
    from aurum_ui.blocks import warm_up
    from aurum_ui.state import STARTUP

    warm_up(engine)
    assert isinstance(STARTUP["warm_up_ms"], float)
    engine.warm_up(None)  # no example photo: the mesh graphs alone


def test_footer_credits_every_data_set_behind_the_shipped_artefacts():
    """The default model and the reference are built from London, MEBeauty and SFHQ:
    the page credits each with its terms (MEBeauty's are non-commercial)."""
    from aurum_ui.blocks import footer_html

    foot = footer_html()
    for credit in ("London Set", "CC BY 4.0", "MEBeauty", "non-commercial", "SFHQ (MIT)"):
        assert credit in foot, credit
