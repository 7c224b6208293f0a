"""docs/recipes.md: each recipe done as written, and checked where a user sees it.

A quality metric and a geometric component are added through their registries (one
spec each, with its formula), then looked for in the JSON report, the Tune tab's
sliders, the checklist, the breakdown and the live coach. An analyser is added to
the engine's loop and a tab declares what it refreshes. Only the committed fixture
faces are used.
"""

from __future__ import annotations

import types

import numpy as np

from aurum.config import DEFAULT_COMPONENTS, QUALITY_METRICS, Config
from aurum.engine import extra_analyser
from aurum.live import LiveTracker
from aurum.measure import geometric_components as gc
from aurum.measure import quality_metrics as qm
from aurum.measure.landmark_names import CHEEK_L, CHEEK_R, MOUTH_L, MOUTH_R
from aurum.measure.pose import frontalise
from aurum_ui import render
from tests.conftest import FIXTURE_FACE
from tests.test_live import webcam_frame

# Recipe 1: one QualityMetric entry, with its formula (`measure`). Ideal: a
# margin of one face height all round, which no head-and-shoulders frame has, so a
# threshold of 1.0 always fails it (the coach's tip is checked that way).
FRAMING = qm.QualityMetric(
    "framing", "Whole face in the picture", ("crop_margin",),
    normalise=lambda r: max(0.0, min(1.0, r["crop_margin"])),
    fix="Step back so the whole face, with a little margin, is in the picture.",
    threshold=0.25, detail=lambda r: f"margin {r['crop_margin']:.2f} face heights",
    measure=lambda s: {"crop_margin": s.crop_margin()})


def _mouth_face(p: np.ndarray) -> float:
    return gc._d(p, MOUTH_L, MOUTH_R) / (gc._d(p, CHEEK_L, CHEEK_R) + gc.EPS)


# Recipe 2: one GeometricComponent entry, with its formula.
MOUTH_FACE = gc.GeometricComponent(
    "mouth_face_ratio", "mouth width / cheekbone width",
    ("MOUTH_L", "MOUTH_R", "CHEEK_L", "CHEEK_R"), 0.38, 0.04, "recipe test: no canon",
    gc.Trait("wide mouth for the face", "small mouth for the face", "mouth/face width"),
    formula=_mouth_face)


def _live_report(cfg: Config) -> tuple[dict, object]:
    tracker = LiveTracker()
    try:
        for _ in range(2):
            frame = tracker.process(webcam_frame(FIXTURE_FACE))
        return frame.report(cfg), frame
    finally:
        tracker.close()


def test_recipe_add_a_quality_metric(engine):
    """JSON, Tune slider, checklist and live coach, from one spec."""
    from aurum_ui.blocks import build_ui
    from aurum_ui.tabs import tune

    n = len(QUALITY_METRICS)
    with qm.registered(FRAMING):
        assert len(QUALITY_METRICS) == n + 1
        report = engine.run(FIXTURE_FACE, Config()).to_dict()  # measured by its formula
        entry = report["quality"]["metrics"]["framing"]
        assert set(entry["raw"]) == {"crop_margin"} and 0 <= entry["value"] <= 1
        assert "framing" in report["quality"]["metrics"]["quality"]["raw"]["mean_of"]
        _, ui = build_ui(engine)
        assert "threshold-framing" in tune.sliders() and "threshold-framing" in ui
        table = render.quality_table_html(report)
        assert 'data-check="framing"' in table and "Whole face in the picture" in table
        strict = Config.from_dict({"thresholds": {"framing": 1.0}})
        live, frame = _live_report(strict)
        assert "crop_margin" in frame.quality_raw
        assert live["quality"]["metrics"]["framing"]["value"] < 1.0
        assert live["quality"]["metrics"]["framing"]["passed"] is False
        assert FRAMING.fix in render.coach_html(live)
        assert "Whole face in the picture" in render.quality_table_html(live, compact=True)
    assert "framing" not in QUALITY_METRICS


def test_recipe_add_a_geometric_component(engine):
    """JSON, config, Tune sliders, breakdown, About and the live path, from one spec."""
    from aurum_ui.blocks import build_ui
    from aurum_ui.tabs import about, tune

    n = len(gc.COMPONENTS)
    with gc.registered(MOUTH_FACE):
        assert list(DEFAULT_COMPONENTS)[-1] == "mouth_face_ratio"
        assert Config().components["mouth_face_ratio"].ideal == 0.38
        analysis = engine.analyze(FIXTURE_FACE)
        report = engine.score(analysis, Config()).to_dict()
        comp = {c["name"]: c for c in report["geometric"]["components"]}["mouth_face_ratio"]
        assert comp["description"] == "mouth width / cheekbone width"
        assert comp["value"] == round(_mouth_face(frontalise(analysis.landmarks)), 4)
        _, ui = build_ui(engine)
        assert {"weight-mouth_face_ratio", "ideal-mouth_face_ratio"} <= set(tune.sliders())
        assert "ideal-mouth_face_ratio" in ui
        fig = render.breakdown_figure(report)
        assert any("mouth width / cheekbone width" in a["text"]
                   for a in fig["layout"]["annotations"])
        assert f"{n + 1} facial proportions" in about.about_short()
        _, frame = _live_report(Config())
        assert "mouth_face_ratio" in frame.geometry  # the live path measures it too
        off = engine.score(analysis, Config.from_dict(
            {"components": {"mouth_face_ratio": {"weight": 0}}})).to_dict()
        assert off["geometric"]["score"] != report["geometric"]["score"]
    assert "mouth_face_ratio" not in DEFAULT_COMPONENTS and len(gc.COMPONENTS) == n


def test_recipe_add_an_analyser(engine):
    """An analyser in the engine's loop: its dict in the report, its failure a status."""
    def mouth_px(ctx) -> dict:
        lm = ctx.face.landmarks
        return {"status": "ok", "mouth_width_px": round(float(
            np.hypot(*(lm[MOUTH_L, :2] - lm[MOUTH_R, :2]))), 1)}

    def broken(ctx) -> dict:
        raise RuntimeError("no weights here")

    engine.extra_analysers[:] = [extra_analyser("mouth", mouth_px),
                                 extra_analyser("broken", broken)]
    try:
        analysis = engine.analyze(FIXTURE_FACE)
        report = engine.score(analysis).to_dict()
    finally:
        engine.extra_analysers.clear()
    assert report["ok"] and report["extra"]["mouth"]["mouth_width_px"] > 0
    assert report["extra"]["broken"] == {"status": "unavailable: no weights here"}
    assert {"mouth", "broken"} <= set(analysis.timing_ms)
    assert "extra" not in engine.run(FIXTURE_FACE).to_dict()  # none added: JSON unchanged


def test_recipe_a_tab_refreshes_after_a_score(engine):
    """A tab that declares REFRESH_ON_SCORE and `refresh` is refreshed by every score
    and every slider move, with nothing edited in the Score or Tune tab."""
    import gradio as gr

    from aurum_ui import blocks, panels
    from aurum_ui.state import Session
    from aurum_ui.tabs import score, tune

    tab = types.ModuleType("final_tab")
    tab.TITLE, tab.ID = "Final", "final"
    tab.REFRESH_ON_SCORE = ("final-echo",)
    tab.refresh = lambda engine, report, cfg: {
        "final-echo": f"final {((report or {}).get('final') or {}).get('score')}"}
    tab.build = lambda ui: ui.add("final-echo", gr.HTML())
    tab.wire = lambda ui, engine: None
    panels.show((*blocks.TABS, tab))
    try:
        assert score.score_outputs()[-1] == "final-echo"
        out = score.on_score(engine, FIXTURE_FACE.read_bytes(), [], Config(), Session())
        final = out["session"].report["final"]["score"]
        assert out["final-echo"] == f"final {final}"
        moved = tune.on_rescore(engine, out["session"], Config(),
                                *tune.slider_values(Config.from_dict({"blend_weight": 1.0})))
        assert moved["final-echo"] == f"final {moved['session'].report['final']['score']}"
    finally:
        panels.show(blocks.TABS)
    assert "final-echo" not in score.score_outputs()


def test_recipe_add_a_rated_data_set(tmp_path, monkeypatch):
    """docs/recipes.md, "Add a rated data set": one `RatedSet` entry in
    `aurum/tools/training/multiset/rated_sets.py` is what training reads (`SETS`, read
    by `common.ratings.read_set`); no other code changes."""
    import aurum.tools.training.multiset.rated_sets as rated_sets
    from aurum.tools.training.common import ratings

    (tmp_path / "newset").mkdir()
    (tmp_path / "newset" / "ratings.csv").write_text(
        "img,mean,gender,eth\nb.jpg,3.5,male,x\na.jpg,4.0,female,y\n", encoding="utf-8")
    decl = ratings.RatedSet(key="newset", title="New", folder="newset", csv="ratings.csv",
                            image_col="img", rating_col="mean", sex_col="gender",
                            group_col="eth", scale=(1.0, 5.0), panel="a panel",
                            terms="CC0", commercial=True, attribution="someone")
    monkeypatch.setitem(rated_sets.SETS, decl.key, decl)
    rows = ratings.read_set(rated_sets.SETS["newset"], tmp_path)
    assert [r.photo_id for r in rows] == ["a.jpg", "b.jpg"] and rows[0].rating == 4.0
    assert {"london", "mebeauty", "newset"} <= set(rated_sets.SETS)


def test_every_documented_recipe_has_its_test():
    """docs/recipes.md names a test beside each recipe (the README links to it): each
    named test exists, and each recipe has one."""
    import re
    from pathlib import Path

    tests = Path(__file__).resolve().parent
    text = (tests.parent / "docs" / "recipes.md").read_text(encoding="utf-8")
    recipes = re.findall(r"^\*\*(Add [^*]+)\*\* \(([^)]*)\)", text, re.M)
    defined = {name for p in tests.rglob("test_*.py")
               for name in re.findall(r"^def (test_recipe_\w+)", p.read_text(encoding="utf-8"),
                                      re.M)}
    assert len(recipes) >= 5, recipes
    for title, cited in recipes:
        named = re.findall(r"`(test_recipe_\w+)`", cited)
        assert named and set(named) <= defined, (title, named)
    assert "docs/recipes.md" in (tests.parent / "docs" / "contributing.md").read_text(
        encoding="utf-8") or "recipes.md" in (tests.parent / "README.md").read_text(
        encoding="utf-8")
