"""Specs are the single source: a metric or component declared once shows up in the
config, the report, the rendered panels and the built artefacts' checks."""

from __future__ import annotations

import json
import shutil

import pytest

from aurum import population, quality, quality_metrics, render
from aurum.config import QUALITY_METRICS, Config, preset
from aurum.engine import Engine
from aurum.paths import models_dir
from tests.conftest import LONDON

FRAMING = quality_metrics.QualityMetric(
    "framing", "Whole face in the picture", ("crop_margin",),
    normalise=lambda r: max(0.0, min(1.0, r["crop_margin"] / 0.1)),
    fix="Step back so the whole face, with a little margin, is in the picture.",
    threshold=0.25, detail=lambda r: f"margin {r['crop_margin']:.2f} face heights",
    presets={"strict": 0.5})


@pytest.fixture(scope="module")
def analysis(engine):
    return engine.analyze(LONDON[0])


def test_a_registered_metric_is_in_config_report_and_table(engine, analysis):
    with quality_metrics.registered(FRAMING):
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
        failing = engine.score(analysis, Config.from_dict(
            {"thresholds": {"framing": 1.0}})).to_dict()["quality"]
        if failing["metrics"]["framing"]["value"] < 1.0:
            assert FRAMING.fix in failing["fixes"]
    assert "framing" not in QUALITY_METRICS and not hasattr(Config().thresholds, "framing")


def test_unknown_threshold_is_still_a_bad_config():
    from aurum.errors import AurumError

    with pytest.raises(AurumError, match="framing"):
        Config.from_dict({"thresholds": {"framing": 0.5}})


def test_metric_specs_reproduce_the_legacy_presets():
    strict = preset("strict").thresholds.to_dict()
    assert strict == {"quality": 0.6, "confidence": 0.7, "frontality": 0.5, "symmetry": 0.4,
                      "resolution": 0.4, "sharpness": 0.3, "exposure": 0.5, "eyes_open": 0.4}
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
