"""The learned attractiveness model: loads, scores in range, mirror-stable, its stored
validation figures are what the out-of-fold predictions give, a retrain reproduces
them, and a missing model degrades to "unavailable" while geometry still scores."""

from __future__ import annotations

import json
import math
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from scipy.stats import pearsonr, spearmanr

from aurum.analysers import attractiveness as attr
from aurum.measure.appearance import RawFeatures
from aurum.measure.imaging import load_image
from aurum.measure.shape import ShapeSpace, normalise_shape
from aurum.paths import models_dir
from tests.conftest import FACES, LONDON, LONDON_SMILING

MODEL_PATH = models_dir() / attr.MODEL_FILE


@pytest.fixture(scope="module")
def model() -> attr.LearnedAttractiveness:
    return attr.load_default(models_dir(), "london")


@pytest.fixture(scope="module")
def spec() -> dict:
    return json.loads(MODEL_PATH.read_text())


@pytest.fixture(scope="module")
def engine():
    """This file tests the London-only model (CC BY 4.0 data), selected explicitly: the
    default several-set model is tested in tests/tools/test_multiset.py."""
    from aurum.engine import Engine

    return Engine(attractiveness_model="london")


class _Recorder:
    """Stands in as the engine's attractiveness model to hand us the FaceContext."""

    name = "recorder"

    def __init__(self) -> None:
        self.ctx = None

    def status(self) -> str:
        return "recording"

    def analyze(self, ctx):
        self.ctx = ctx
        return {"score": None, "status": "recorded"}


@pytest.fixture(scope="module")
def contexts():
    from aurum.engine import Engine

    eng = Engine(load_optional=False, pool_size=1)
    rec = _Recorder()
    eng.attractiveness = rec
    out = []
    for path in [LONDON[0], LONDON[7], FACES[0]]:
        rec.ctx = None
        assert eng.analyze(path).ok, path
        out.append(rec.ctx)
    return out


def test_model_file_is_plain_data_with_its_validation(spec):
    assert spec["format"] == attr.FORMAT
    assert spec["data"]["n_faces"] == 102
    assert "CC BY 4.0" in spec["data"]["attribution"]
    names = spec["features"]["names"]
    assert len(names) == len(spec["features"]["mean"]) == len(spec["features"]["scale"])
    # photo-dependent colour and lighting are measured but never modelled
    assert not set(names) & set(spec["features"]["excluded"])
    assert spec["learner"]["kind"] in ("linear", "rbf")
    kf = spec["validation"]["kfold"]
    assert 0.3 < kf["pearson_r"] < 0.9 and 0.3 < kf["spearman_rho"] < 0.9
    assert 0.2 < kf["mae"] < spec["validation"]["baseline_mae_predict_mean"]


def test_model_loads_and_says_what_it_is(model, spec):
    assert model.name == spec["id"]
    status = model.status()
    assert status.startswith("ready: ") and "10-fold r=" in status
    assert model.validity["n_faces"] == 102
    assert model.validity["pearson_r_10fold"] == spec["validation"]["kfold"]["pearson_r"]
    assert "London" in model.validity["data"]


def test_missing_model_file_raises_a_clear_error(tmp_path):
    with pytest.raises(FileNotFoundError, match="train-attractiveness"):
        attr.load_default(tmp_path)


@pytest.mark.shared
def test_stored_cv_figures_equal_the_out_of_fold_predictions(spec):
    """The figures the card and every result quote are recomputed here from the
    stored out-of-fold predictions and the ratings CSV."""
    import csv

    from aurum.paths import shared_dir

    rows = list(csv.DictReader((shared_dir() / "london" / "london_faces_scores.csv").open()))
    ratings = {r["face_id"]: float(r["rating_mean"]) for r in rows}
    y = np.array([ratings[f] for f in spec["data"]["face_ids"]])
    v = spec["validation"]
    oof = np.array(v["oof_kfold"])
    assert oof.shape == (len(v["kfold"]["seeds"]), len(y))
    rs = [pearsonr(p, y)[0] for p in oof]
    rhos = [spearmanr(p, y)[0] for p in oof]
    maes = [np.mean(np.abs(p - y)) for p in oof]
    assert np.mean(rs) == pytest.approx(v["kfold"]["pearson_r"], abs=2e-3)
    assert np.mean(rhos) == pytest.approx(v["kfold"]["spearman_rho"], abs=2e-3)
    assert np.mean(maes) == pytest.approx(v["kfold"]["mae"], abs=2e-3)
    loo = np.array(v["oof_loo"])
    assert pearsonr(loo, y)[0] == pytest.approx(v["loo"]["pearson_r"], abs=2e-3)
    assert np.mean(np.abs(loo - y)) == pytest.approx(v["loo"]["mae"], abs=2e-3)
    # out-of-fold, not a training fit: the predictions are shrunk, not the ratings
    assert np.std(oof[0]) < np.std(y)


@pytest.mark.shared
def test_scores_in_range_and_ok_for_london_and_shared_faces(engine, spec):
    paths = [LONDON[0], LONDON[50], LONDON[101], FACES[0], FACES[100], FACES[200]]
    scores = []
    for path in paths:
        report = engine.run(path).to_dict()
        a = report["attractiveness"]
        assert a["status"] == "ok", (path, a)
        assert 0.0 <= a["score"] <= 100.0
        assert 1.0 <= a["rating_estimate"] <= 7.0
        assert a["score"] == pytest.approx(attr.rating_to_score(a["rating_estimate"]), abs=0.02)
        assert a["model"] == spec["id"]
        assert a["validity"]["pearson_r_10fold"] == spec["validation"]["kfold"]["pearson_r"]
        assert a["validity"]["n_faces"] == 102
        assert "1-7" in a["calibration"]
        assert 0.0 <= a["london_percentile"] <= 100.0
        scores.append(a["score"])
        # the lead's blend uses it
        assert report["final"]["basis"] == "blend"
    assert len(set(scores)) == len(scores)  # real, face-dependent numbers


@pytest.mark.shared
def test_london_scores_track_the_ratings_out_of_sample_direction(engine, spec):
    """Sanity on held-in faces: the highest- and lowest-rated London faces are
    ordered correctly (a weak check; the CV figures are the real validation)."""
    import csv

    from aurum.paths import shared_dir

    rows = list(csv.DictReader((shared_dir() / "london" / "london_faces_scores.csv").open()))
    rows.sort(key=lambda r: float(r["rating_mean"]))
    low = [shared_dir() / "london" / "neutral_front" / r["image"] for r in rows[:3]]
    high = [shared_dir() / "london" / "neutral_front" / r["image"] for r in rows[-3:]]
    s_low = np.mean([engine.run(p).to_dict()["attractiveness"]["score"] for p in low])
    s_high = np.mean([engine.run(p).to_dict()["attractiveness"]["score"] for p in high])
    assert s_high > s_low + 5


@pytest.mark.shared
@pytest.mark.parametrize("path", [LONDON[3], LONDON[60], FACES[10]], ids=lambda p: p.name)
def test_mirrored_face_scores_almost_the_same(engine, path):
    """The descriptor network is not mirror-symmetric: measured, a mirrored photo moves
    the score by 1.4 points on average, at most 4.2 on 17 faces (the model card says
    why mirror averaging was not kept). The bound is well inside the stated interval."""
    rgb = load_image(path)
    a = engine.run(rgb).to_dict()["attractiveness"]
    b = engine.run(np.ascontiguousarray(rgb[:, ::-1])).to_dict()["attractiveness"]
    assert a["status"] == b["status"] == "ok"
    bound = 5.0 if engine.attractiveness.uses_descriptor else 3.0
    assert abs(a["score"] - b["score"]) < bound, (a["score"], b["score"])
    assert bound < a["uncertainty"]["score_plus_minus"] / 2


@pytest.mark.shared
def test_smiling_photo_of_the_same_person_scores_close(engine):
    n_smile = engine.run(LONDON_SMILING[0]).to_dict()["attractiveness"]
    n_neutral = engine.run(LONDON[0]).to_dict()["attractiveness"]
    assert n_smile["status"] == "ok"
    assert abs(n_smile["score"] - n_neutral["score"]) < 15


def test_missing_model_is_unavailable_and_geometry_still_scores(tmp_path, fixture_face):
    import shutil

    from aurum.analysers.age_gate import GATE_FILE
    from aurum.engine import Engine
    from aurum.paths import models_dir

    # only the rating model is missing: the adults-only gate's file is there
    shutil.copy(models_dir() / GATE_FILE, tmp_path / GATE_FILE)
    eng = Engine(models=tmp_path, pool_size=1)
    status = eng.status()["attractiveness"]
    # the default model's file is named, with the command that builds it
    assert status.startswith("unavailable: ") and attr.MULTI_MODEL_FILE in status
    assert "--sets london,mebeauty" in status
    london = Engine(models=tmp_path, pool_size=1, attractiveness_model="london")
    assert attr.MODEL_FILE in london.status()["attractiveness"]
    report = eng.run(fixture_face).to_dict()
    assert report["ok"]
    assert report["attractiveness"]["score"] is None
    assert report["attractiveness"]["status"].startswith("unavailable: ")
    assert isinstance(report["geometric"]["score"], float)
    assert report["final"]["basis"] == "geometric_only"
    assert report["final"]["score"] == report["geometric"]["score"]
    # the breakdown says so, rather than drawing a blend of two scores
    from aurum_ui import render

    key = " ".join(a["text"] for a in render.breakdown_figure(report)["layout"]["annotations"])
    assert "the geometric score alone (attractiveness unavailable)" in key
    assert "attractiveness: unavailable" in key


@pytest.mark.shared
def test_bad_features_give_unavailable_not_an_exception(model, contexts):
    ctx = contexts[0]
    good = model.analyze(ctx)
    assert good["status"] == "ok"
    broken = replace(ctx, front=np.full_like(ctx.front, np.nan), descriptor=None,
                     descriptor_status="unavailable: dlib is not installed")
    out = model.analyze(broken)
    assert out["score"] is None and out["status"].startswith("unavailable: ")
    tiny = replace(ctx, front=ctx.front[:10], descriptor=None)
    out = model.analyze(tiny)
    assert out["score"] is None and out["status"].startswith("unavailable: ")
    if model.uses_descriptor:  # the reason says which part is missing
        assert "descriptor" in model.analyze(broken)["status"]
        assert "dlib is not installed" in model.analyze(broken)["status"]
    if model.uses_raw:
        bad_shape = replace(ctx, front=np.full_like(ctx.front, np.nan))
        out = model.analyze(bad_shape)
        assert out["score"] is None and out["status"].startswith("unavailable: ")


@pytest.mark.shared
def test_hidden_regions_are_imputed_up_to_a_limit(model, contexts):
    from aurum.measure.appearance import raw_features

    ctx = contexts[1]
    raw = raw_features(ctx)
    base = model.analyze_raw(raw, ctx.descriptor)
    assert base["status"] == "ok" and base["imputed"] == []
    if not model.scalar_names:  # a descriptor-only model: nothing to impute, none imputed
        assert model.analyze_raw(None, ctx.descriptor)["score"] == base["score"]
        out = model.analyze_raw(raw, None)
        assert out["score"] is None and "descriptor" in out["status"]
        return
    one = RawFeatures(raw.shape, {**raw.scalars, model.scalar_names[0]: math.nan})
    res = model.analyze_raw(one, ctx.descriptor)
    assert res["status"] == "ok" and res["imputed"] == [model.scalar_names[0]]
    names = [n for n in model.scalar_names][: attr.MAX_IMPUTED + 1]
    many = RawFeatures(raw.shape, {**raw.scalars, **{n: math.nan for n in names}})
    res = model.analyze_raw(many, ctx.descriptor)
    assert res["score"] is None and res["status"].startswith("unavailable: ")


@pytest.mark.shared
def test_contributions_add_up_to_the_prediction(model, contexts):
    from aurum.measure.appearance import raw_features

    ctx = contexts[2]
    out = model.analyze_raw(raw_features(ctx), ctx.descriptor)
    assert out["contributions"] is not None, "the shipped model is linear"
    total = model.intercept + sum(out["contributions"].values())
    assert total == pytest.approx(out["rating_estimate"], abs=0.01)


@pytest.mark.shared
def test_every_score_carries_an_honest_interval(model, spec, contexts):
    """The interval comes from the stored cross-validated residuals: its half-width is
    their 80th percentile, so about 80 % of the London faces' ratings lie inside."""
    import csv

    from aurum.paths import shared_dir

    unc = spec["uncertainty"]
    rows = list(csv.DictReader((shared_dir() / "london" / "london_faces_scores.csv").open()))
    ratings = {r["face_id"]: float(r["rating_mean"]) for r in rows}
    y = np.array([ratings[f] for f in spec["data"]["face_ids"]])
    resid = np.abs(np.array(spec["validation"]["oof_kfold"]) - y[None, :]).ravel()
    assert unc["half_width_rating"] == pytest.approx(np.quantile(resid, unc["coverage"]),
                                                     abs=1e-3)
    assert np.mean(resid <= unc["half_width_rating"]) == pytest.approx(unc["coverage"],
                                                                      abs=0.01)
    out = model.analyze(contexts[0])
    u = out["uncertainty"]
    lo, hi = u["rating_interval"]
    assert lo <= out["rating_estimate"] <= hi
    assert u["rating_plus_minus"] == pytest.approx(unc["half_width_rating"], abs=0.01)
    assert u["score_plus_minus"] == pytest.approx(unc["half_width_rating"] / 6 * 100, abs=0.1)
    assert f"panel rating about {out['rating_estimate']:.1f} ± " in u["text"]


@pytest.mark.shared
def test_interval_is_shown_on_the_card_and_in_the_breakdown(engine):
    from aurum_ui import render

    report = engine.run(LONDON[9]).to_dict()
    u = report["attractiveness"]["uncertainty"]
    cards = render.score_cards_html(report)
    assert f"± {u['score_plus_minus']:.0f}" in cards
    assert f"± {u['rating_plus_minus']:.1f}" in cards
    fig = render.breakdown_figure(report)
    blend = next(t for t in fig["data"] if t.get("name") == "blend: attractiveness")
    w = report["final"]["weights"]["attractiveness"]
    assert blend["error_x"]["visible"]
    assert blend["error_x"]["array"][0] == pytest.approx(u["score_plus_minus"] * w, abs=0.01)
    assert f"± {u['score_plus_minus']:.0f} × {w:.2f}" in blend["customdata"][0]
    key = " ".join(a["text"] for a in fig["layout"]["annotations"])
    assert blend["customdata"][0] in key  # the key under the bar says the same


@pytest.mark.shared
def test_shape_space_is_mirror_invariant_and_round_trips(spec, contexts):
    if spec.get("shape_space"):
        space = ShapeSpace.from_dict(spec["shape_space"])
    else:  # a descriptor-only model ships no shape space: fit one on three faces
        from aurum.measure.shape import shape2d

        space = ShapeSpace.fit(np.stack([shape2d(c.front) for c in contexts]), 2)
    rng = np.random.default_rng(0)
    shape = space.mean_shape * 500 + rng.normal(0, 2.0, space.mean_shape.shape)
    from aurum.measure.shape import mirror_shape

    a = space.transform(shape)
    b = space.transform(mirror_shape(normalise_shape(shape)) * 300 + 40)
    assert np.allclose(a, b, atol=1e-6)
    again = ShapeSpace.from_dict(json.loads(json.dumps(space.to_dict())))
    assert np.allclose(again.transform(shape), a, atol=1e-5)


@pytest.mark.shared
@pytest.mark.slow
@pytest.mark.timeout(3000)  # 3 candidates x 4 learners x 5 repeats + the SFHQ faces
def test_retraining_reproduces_the_stored_model(tmp_path, spec):
    """Re-run the training command into a temp dir: same figures, same coefficients."""
    from aurum.paths import shared_dir
    from aurum.tools.training.command import main

    rc = main(["--data", str(shared_dir() / "london"), "--out", str(tmp_path),
               "--robustness-faces", "0", "--quiet"])
    assert rc == 0
    new = json.loads((tmp_path / attr.MODEL_FILE).read_text())
    assert (tmp_path / "MODEL_CARD_london.md").read_text().startswith("# Model card")
    assert new["id"] == spec["id"]
    assert new["features"]["names"] == spec["features"]["names"]
    v_old, v_new = spec["validation"], new["validation"]
    for key in ("pearson_r", "spearman_rho", "mae"):
        assert v_new["kfold"][key] == pytest.approx(v_old["kfold"][key], abs=1e-3)
        assert v_new["loo"][key] == pytest.approx(v_old["loo"][key], abs=1e-3)
    for name, res in v_old["learners"].items():
        assert v_new["learners"][name]["pearson_r"] == pytest.approx(res["pearson_r"], abs=1e-3)
    for label, res in v_old["feature_sets"].items():
        assert v_new["feature_sets"][label]["pearson_r"] == pytest.approx(res["pearson_r"],
                                                                          abs=1e-3)
    assert v_new["smiling"]["mean_abs_change"] == pytest.approx(
        v_old["smiling"]["mean_abs_change"], abs=0.05)
    if spec["learner"]["kind"] == "linear":
        assert np.allclose(new["learner"]["coef"], spec["learner"]["coef"], atol=1e-4)
    assert new["learner"]["intercept"] == pytest.approx(spec["learner"]["intercept"], abs=1e-4)


def test_cli_delegates_to_the_trainer():
    from aurum.tools.cli import DELEGATED

    assert DELEGATED["train-attractiveness"][0] == "aurum.tools.training.command"
    import importlib

    mod = importlib.import_module("aurum.tools.training.command")
    assert callable(mod.main)
    assert Path(mod.__file__).parts[-2:] == ("training", "command.py")
