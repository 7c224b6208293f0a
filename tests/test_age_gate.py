"""The adults-only gate in the engine: a withheld face gets no score of any kind, in the
first report and in every re-score (Tune), and a missing or altered gate model withholds
every score instead of scoring unchecked faces. The fitted gate is deterministic and
stable under row order and 1e-9 jitter."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from aurum.analysers import age_gate
from aurum.config import Config, preset
from aurum.engine import Engine
from aurum.errors import ERROR_CODES, GATE_CODES
from aurum.paths import models_dir
from aurum.tools.age_gate.train import Spec, Table, fit, weights
from tests.conftest import FIXTURE_FACE, FIXTURES

SCORE_FIELDS = ("quality", "geometric", "attractiveness", "final", "percentile", "vibe",
                "expression")


def _always(withhold: bool) -> age_gate.GateModel:
    """A gate model that withholds every face (or none): the engine's wiring under test,
    independent of the fitted coefficients."""
    n = age_gate.GROUPS["descriptor"] + age_gate.GROUPS["proportions"]
    return age_gate.GateModel(np.zeros(n), np.ones(n), np.zeros(n), 0.0,
                              -1.0 if withhold else 1.0, "test", ("descriptor",
                                                                  "proportions"), np.ones(n))


@pytest.fixture(scope="module")
def gated_engine() -> Engine:
    eng = Engine(pool_size=1)
    assert eng.age_gate is not None
    eng.age_gate.model = _always(True)
    return eng


def _assert_no_scores(report: dict) -> None:
    assert report["ok"] is False
    for key in SCORE_FIELDS:
        assert report[key] is None, key
    assert "extra" not in report
    text = json.dumps({k: v for k, v in report.items() if k != "timing_ms"})
    assert '"score"' not in text and "percentile" not in text.replace('"percentile": null', "")


def test_gate_codes_are_documented():
    assert GATE_CODES <= set(ERROR_CODES)
    readme = (Path(__file__).parents[1] / "docs" / "age-gate.md").read_text()
    for code in GATE_CODES:
        assert f"`{code}`" in readme


def test_withheld_face_gets_no_score_and_keeps_its_landmarks(gated_engine: Engine):
    analysis = gated_engine.analyze(FIXTURE_FACE)
    assert analysis.error is not None and analysis.error.code == "apparent_minor"
    assert analysis.landmarks is not None and analysis.landmarks.shape[0] == 478
    assert analysis.geometry is None and analysis.quality_raw is None
    assert analysis.attractiveness is None and analysis.population is None
    # nothing after the gate ran: the rating model, CLIP and the population never saw it
    assert "attractiveness" not in analysis.timing_ms
    assert "population" not in analysis.timing_ms
    report = gated_engine.score(analysis).to_dict()
    _assert_no_scores(report)
    assert report["error"]["code"] == "apparent_minor"
    assert report["age_gate"] == {"status": "withheld"}
    assert "18" in report["error"]["message"]


def test_tune_rescore_keeps_the_gate(gated_engine: Engine):
    analysis = gated_engine.analyze(FIXTURES[1])
    for cfg in (Config(), preset("demo"), preset("strict"),
                Config.from_dict({"blend_weight": 1.0})):
        _assert_no_scores(gated_engine.score(analysis, cfg).to_dict())


def test_missing_gate_model_withholds_every_score(tmp_path: Path):
    eng = Engine(models=tmp_path, pool_size=1, load_optional=False)
    assert eng.status()["age_gate"].startswith("unavailable:")
    report = eng.run(FIXTURE_FACE).to_dict()
    _assert_no_scores(report)
    assert report["error"]["code"] == "age_gate_unavailable"
    assert report["age_gate"]["status"].startswith("unavailable:")


def test_altered_gate_model_is_refused(tmp_path: Path):
    data = json.loads((models_dir() / age_gate.GATE_FILE).read_text())
    data["model"]["intercept"] += 1.0
    (tmp_path / age_gate.GATE_FILE).write_text(json.dumps(data))
    gate = age_gate.AgeGate(tmp_path)
    assert gate.model is None and "SHA-256" in gate.status()


@pytest.mark.parametrize("chip", [None, {"crop_scale": 1.3}, "the shipped one"])
def test_gate_fitted_on_other_faceres_chips_is_refused(tmp_path: Path, chip):
    """A gate reads faceres; fitted on chips of another crop it would misjudge silently."""
    from aurum.analysers.faceres import alignment

    data = json.loads((models_dir() / age_gate.GATE_FILE).read_text())
    assert data["provenance"]["faceres_alignment"] == alignment()
    if chip != "the shipped one":
        data["provenance"].pop("faceres_alignment")
        if chip is not None:
            data["provenance"]["faceres_alignment"] = {**alignment(), **chip}
    (tmp_path / age_gate.GATE_FILE).write_text(json.dumps(data))
    gate = age_gate.AgeGate(tmp_path)
    if chip == "the shipped one":
        assert gate.model is not None and gate.status().startswith("ready")
    else:
        assert gate.model is None and "train-age-gate" in gate.status()
        assert gate.status().startswith("unavailable: ")


def test_no_descriptor_means_no_score():
    eng = Engine(pool_size=1, load_optional=False)
    eng.descriptor = None  # dlib switched off: the gate cannot check, so nothing scores
    report = eng.run(FIXTURE_FACE).to_dict()
    _assert_no_scores(report)
    assert report["error"]["code"] == "age_gate_unavailable"


def test_shipped_gate_passes_the_fixture_adults(engine: Engine):
    assert engine.status()["age_gate"].startswith("ready:")
    for path in FIXTURES:
        report = engine.run(path).to_dict()
        assert report["ok"], (path.name, report["error"])
        assert report["age_gate"] == {"status": "passed"}


def _table(seed: int = 0, n: int = 120) -> Table:
    rng = np.random.default_rng(seed)
    d = sum(age_gate.GROUPS.values())
    minor = np.arange(n) % 4 == 0
    x = rng.normal(size=(n, d)) + minor[:, None] * 0.3
    grid = np.where(minor, np.where(np.arange(n) % 8 == 0, "g1", "g2"), "")
    sets = np.where(minor, "minors", np.array(["faces", "london", "mebeauty"])[np.arange(n) % 3])
    cell = np.where(sets == "mebeauty", np.array(["mebeauty/asian/female",
                                                  "mebeauty/black/male"])[np.arange(n) % 2],
                    sets)
    return Table(x, minor, sets, grid, np.where(minor, "under13", "adult"), cell)


def test_weights_give_each_grid_set_and_cell_its_share():
    """Each minors' grid a quarter of the total, each adult set a sixth, and within
    MEBeauty each ethnicity x sex cell alike, whatever the cells' sizes."""
    t = _table()
    w = weights(t)
    total = w.sum()
    for g in ("g1", "g2"):
        assert w[t.grid == g].sum() == pytest.approx(total / 4)
    for s in ("faces", "london", "mebeauty"):
        assert w[t.set_key == s].sum() == pytest.approx(total / 6)
    for c in ("mebeauty/asian/female", "mebeauty/black/male"):
        assert w[t.cell == c].sum() == pytest.approx(total / 12)


def test_fit_is_stable_under_shuffle_and_jitter():
    t = _table()
    spec = Spec(("descriptor", "proportions", "age"), (1.0, 1.0, 3.0), 0.1)
    base = fit(t, spec)
    order = np.random.default_rng(1).permutation(len(t.minor))
    shuffled = fit(Table(t.x[order], t.minor[order], t.set_key[order], t.grid[order],
                         t.age_class[order], t.cells()[order]), spec)
    jitter = np.random.default_rng(2).normal(scale=1e-9, size=t.x.shape)
    jittered = fit(Table(t.x + jitter, t.minor, t.set_key, t.grid, t.age_class, t.cell),
                   spec)
    for other in (shuffled, jittered):
        for field in ("mean", "scale", "coef"):
            assert np.array_equal(getattr(base, field), getattr(other, field)), field
        assert base.intercept == other.intercept
