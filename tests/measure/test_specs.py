"""Specs are the single source: a metric or component declared once shows up in the
config, the report, the rendered panels and the built artefacts' checks."""

from __future__ import annotations

import dataclasses
import json
import shutil

import pytest

from aurum.analysers import population
from aurum.config import QUALITY_METRICS, Config, preset
from aurum.engine import Engine
from aurum.measure import quality, quality_metrics
from aurum.paths import models_dir
from aurum_ui import render
from tests.conftest import FIXTURE_FACE

FRAMING = quality_metrics.QualityMetric(
    "framing", "Whole face in the picture", ("crop_margin",),
    normalise=lambda r: max(0.0, min(1.0, r["crop_margin"] / 0.1)),
    fix="Step back so the whole face, with a little margin, is in the picture.",
    threshold=0.25, detail=lambda r: f"margin {r['crop_margin']:.2f} face heights",
    presets={"strict": 0.5}, measure=lambda s: {"crop_margin": s.crop_margin()})


@pytest.fixture(scope="module")
def analysis(engine):
    return engine.analyze(FIXTURE_FACE)


def test_a_registered_metric_is_in_config_report_and_table(engine, analysis):
    with quality_metrics.registered(FRAMING):
        analysis = engine.analyze(FIXTURE_FACE)  # measured with the spec's own formula
        assert "framing" in QUALITY_METRICS
        cfg = Config()
        assert cfg.thresholds.framing == 0.25
        assert cfg.to_dict()["thresholds"]["framing"] == 0.25
        assert preset("strict").thresholds.framing == 0.5
        assert Config.from_dict({"thresholds": {"framing": 0.9}}).thresholds.framing == 0.9
        report = engine.score(analysis, cfg).to_dict()
        entry = report["quality"]["metrics"]["framing"]
        assert entry["raw"] == {"crop_margin": round(analysis.quality_raw["crop_margin"], 4)}
        assert entry["value"] == round(FRAMING.normalise(analysis.quality_raw), 4)
        assert "framing" in report["quality"]["metrics"]["quality"]["raw"]["mean_of"]
        table = render.quality_table_html(report)
        assert 'data-check="framing"' in table and "Whole face in the picture" in table
        assert "face heights" in table
        # A face 2 % of its height from the edge: value 0.2, under the 0.25 default.
        tight = dataclasses.replace(analysis, quality_raw={**analysis.quality_raw,
                                                           "crop_margin": 0.02})
        failing = engine.score(tight, Config()).to_dict()["quality"]
        assert failing["metrics"]["framing"]["value"] == 0.2
        assert FRAMING.fix in failing["fixes"] and "framing" in failing["failed"]
    assert "framing" not in QUALITY_METRICS and not hasattr(Config().thresholds, "framing")


def test_unknown_threshold_is_still_a_bad_config():
    from aurum.errors import AurumError

    with pytest.raises(AurumError, match="framing"):
        Config.from_dict({"thresholds": {"framing": 0.5}})


def test_metric_specs_reproduce_the_legacy_presets():
    strict = preset("strict").thresholds.to_dict()
    assert list(strict) == ["quality", *quality_metrics.NAMES]  # one threshold per spec
    legacy = {"quality": 0.6, "confidence": 0.7, "frontality": 0.5, "symmetry": 0.4,
              "resolution": 0.4, "sharpness": 0.3, "exposure": 0.5, "eyes_open": 0.4}
    assert {k: strict[k] for k in legacy} == legacy  # the legacy engine's seven, unchanged
    demo = preset("demo").thresholds.to_dict()
    assert demo["quality"] == 0.3 and demo["frontality"] == 0.1 and demo["confidence"] == 0.7


def test_norm_vector_and_passes_follow_evaluate(analysis):
    cfg = preset("strict")
    vec = quality.norm_vector(analysis.quality_raw)
    assert len(vec) == len(QUALITY_METRICS) + 1
    ev = quality.evaluate(analysis.quality_raw, cfg.thresholds)
    assert bool(quality.passes(vec[None, :], cfg.thresholds)[0]) == ev["passed"]


def _stale_models(tmp_path, edit):
    for name in (population.NPZ_NAME, population.JSON_NAME):
        shutil.copy2(models_dir() / name, tmp_path / name)
    meta_path = tmp_path / population.JSON_NAME
    meta = json.loads(meta_path.read_text())
    edit(meta)
    meta_path.write_text(json.dumps(meta))
    return tmp_path


def test_a_reference_built_for_other_metrics_is_refused_with_the_reason(tmp_path):
    models = _stale_models(tmp_path, lambda m: m["quality_names"].insert(-1, "framing"))
    with pytest.raises(ValueError, match="quality metrics.*no longer here: framing"):
        population.load_default(models)
    engine = Engine(models=models)
    status = engine.status()["population"]
    assert status.startswith("unavailable:") and "quality metrics" in status
    assert "build-reference" in status


def test_a_reference_built_for_other_components_is_refused(tmp_path):
    models = _stale_models(tmp_path, lambda m: m["measure_names"].pop())
    with pytest.raises(ValueError, match="geometric components.*new here: symmetry_index"):
        population.load_default(models)


# ---------------------------------------------------------------- geometric components


def test_component_specs_generate_every_table():
    from aurum.config import DEFAULT_COMPONENTS
    from aurum.measure import geometric_components as gc
    from aurum.measure import geometry

    assert list(DEFAULT_COMPONENTS) == list(gc.NAMES)
    assert list(geometry.DESCRIPTIONS) == list(gc.NAMES) == list(geometry.IDEAL_SOURCES)
    for spec in gc.COMPONENTS:
        comp = DEFAULT_COMPONENTS[spec.name]
        assert (comp.ideal, comp.tolerance, comp.weight) == (spec.ideal, spec.tolerance,
                                                            spec.weight)
    traits = {t[0]: t for t in population.TRAITS}
    assert traits["cheek_jaw_ratio"] == ("cheek_jaw_ratio", "tapered jaw", "strong jaw",
                                         "cheekbone/jaw width")
    assert "symmetry_index" not in traits and len(traits) == 12


def test_every_component_names_real_landmarks_and_is_measured(analysis):
    from aurum.measure import geometric_components as gc
    from aurum.measure import landmark_names as ln

    for spec in gc.COMPONENTS:
        for name in spec.landmarks:
            value = getattr(ln, name)  # a point, or a region that says so in its name
            assert isinstance(value, int) or name in ("MIDLINE", "FACE_OVAL"), name
    assert list(analysis.geometry) == list(gc.NAMES)  # geometry.measure's keys
    assert all(spec.formula is not None for spec in gc.COMPONENTS)


def test_reference_clusters_use_the_spec_trait_words():
    pop = population.load_default(models_dir())
    words = {w for t in population.TRAITS for w in t[1:3]}
    for cluster in pop.clusters:
        for d in cluster["trait_details"]:
            assert d["phrase"] in words


# ---------------------------------------------------------------- landmark names


def test_each_landmark_name_means_one_thing():
    from aurum.measure import landmark_names as ln

    region_words = ("_PATCH", "_CONTOUR", "OVAL", "MIDLINE")
    for name in dir(ln):
        if not name.isupper() or name == "N_POINTS":
            continue
        value = getattr(ln, name)
        if isinstance(value, tuple):
            assert any(w in name for w in region_words), f"{name} is a region"
            assert all(0 <= i < ln.N_POINTS for i in value)
        else:
            assert isinstance(value, int) and 0 <= value < ln.N_POINTS, name
            assert not any(w in name for w in region_words), f"{name} is a point"
    assert ln.point("MENTON") == 152
    with pytest.raises(KeyError):
        ln.point("FACE_OVAL")


def test_quality_uses_landmark_names_not_indices():
    import ast
    import inspect

    src = inspect.getsource(quality) + inspect.getsource(quality_metrics)
    for node in ast.walk(ast.parse(src)):
        if isinstance(node, ast.Subscript) and isinstance(node.slice, ast.Tuple):
            first = node.slice.elts[0]
            assert not isinstance(first, ast.Constant), ast.unparse(node)


# ---------------------------------------------------------------- recipe (docs/recipes.md)


def test_recipe_add_a_quality_metric_reaches_the_tune_tab(engine, analysis):
    """docs/recipes.md, "Add a quality metric": one spec entry, and the Tune tab
    has its slider, a slider move re-gates it, the checklist shows it."""
    from aurum_ui.blocks import build_ui
    from aurum_ui.state import Session
    from aurum_ui.tabs import tune

    with quality_metrics.registered(FRAMING):
        analysis = engine.analyze(FIXTURE_FACE)  # raw values by the spec's own formula
        _, ui = build_ui(engine)
        assert ui["threshold-framing"].label == "Whole face in the picture"
        values = tune.slider_values(Config())
        values[tune.sliders().index("threshold-framing")] = 1.0
        out = tune.on_rescore(engine, Session(analysis=analysis), Config(), *values)
        framing = out["session"].report["quality"]["metrics"]["framing"]
        assert framing["threshold"] == 1.0
        assert "Whole face in the picture" in out["quality-table"]
    _, ui = build_ui(engine)
    assert "threshold-framing" not in ui


def test_readme_counts_come_from_the_specs():
    """The README and the docs quote how many proportions are measured: as many as there
    are specs."""
    import re

    from aurum.measure import geometric_components as gc
    from aurum.paths import REPO_DIR

    pages = [REPO_DIR / "README.md", *sorted((REPO_DIR / "docs").glob("*.md"))]
    text = " ".join(" ".join(p.read_text(encoding="utf-8") for p in pages).split())
    counts = re.findall(r"(\d+) (?:measured facial proportions|face measurements|proportions)",
                        text)
    assert len(counts) >= 3
    assert {int(c) for c in counts} == {len(gc.COMPONENTS)}
