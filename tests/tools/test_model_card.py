"""The model card is rendered from its template: every section, every figure, and a
loud failure when the spec lacks one. The spec here is made up (numbers only), so
this test needs neither the data nor a training run."""

from __future__ import annotations

import copy

import pytest

from aurum.tools import model_card

SPREAD = {"spread": 12.6, "chance_95": 10.7, "p": 0.021,
          "groups": {"a": {"n": 5, "mean": 50.0, "deviation": 1.5,
                           "chance_95_abs_deviation": 4.0}}}
ROW = {"group": "female", "n": 50, "rating_mean": 3.1, "predicted_mean": 3.0,
       "score_mean": 48.0, "score_sd": 9.0, "bias": -0.1, "mae": 0.5, "r_within": 0.51}
LEARNERS = ("ridge", "pls")
CAND = {"n_features": 128, "learner": "ridge", "pearson_r": 0.64, "pearson_r_sd": 0.01,
        "within_sex_pearson_r": {"female": 0.51, "male": 0.52},
        "smiling_mean_abs_change": 2.5, "sfhq": {"ethnicity_men": SPREAD},
        "london_residuals_by_ethnicity": SPREAD, "failed_checks": 0,
        "learners": {k: {"pearson_r": 0.6, "pearson_r_sd": 0.02} for k in LEARNERS}}


def made_up_spec() -> dict:
    return {
        "id": "london-test-v9",
        "learner": {"hyperparameters": {"alpha": 10.0}},
        "uncertainty": {"half_width_rating": 0.61, "half_width_score": 12.3,
                        "coverage": 0.8, "method": "Cross-validated residual quantile",
                        "residual_sd_rating": 0.5,
                        "coverage_by_sex": {"female": 0.79, "male": 0.81}},
        "validation": {
            "kfold": {"seeds": [0, 1, 2], "pearson_r": 0.64, "pearson_r_sd": 0.012,
                      "spearman_rho": 0.6, "mae": 0.45, "scheme": "10-fold CV"},
            "loo": {"pearson_r": 0.65, "spearman_rho": 0.61, "mae": 0.44},
            "within_sex_pearson_r": {"female": 0.51, "male": 0.52},
            "baseline_mae_predict_mean": 0.7,
            "chosen_candidate": "descriptor", "chosen_learner": "ridge",
            "candidates": {"descriptor": CAND, "landmarks": CAND},
            "smiling": {"mean_abs_change": 2.5, "pearson_r_neutral_vs_smiling": 0.95,
                        "note": "Same people, smiling", "mean_change": 0.3,
                        "pearson_r_smiling_vs_rating": 0.6, "n": 102},
            "sfhq_fairness": {"ethnicity_men": SPREAD, "hair_women": SPREAD},
            "london_residuals_by_ethnicity": SPREAD,
            "feature_sets": {"descriptor": {"n_features": 128, "pearson_r": 0.64,
                                            "pearson_r_sd": 0.01, "mae": 0.45,
                                            "within_sex_pearson_r": {"female": 0.5}}},
            "by_sex": [ROW], "by_ethnicity": [dict(ROW, group="white")],
            "robustness": {"faces": 20, "perturbations": {
                "blur": {"mean_abs_change": 1.2, "mean_change": -0.4, "max_abs_change": 4.0,
                         "lost": 0}}},
            "shared_faces": [{"label": "typical adult", "n": 10, "women": 5, "scored": 10,
                              "score_mean": 50.0, "score_sd": 10.0,
                              "with_out_of_range_features": 1}],
            "tried": {"smiling_augmentation": {"pearson_r": 0.62}},
        },
    }


def render(spec: dict) -> str:
    return model_card.render(
        spec, failures=["london/x.jpg"], candidate_text={"descriptor": "dlib descriptor",
                                                         "landmarks": "landmarks"},
        selection_rule="highest r that passes every check", learners=LEARNERS,
        n_shuffles=5000, min_group=3, z_clip=3.0, model_file="attractiveness_v9.json",
        attribution="London Set (CC BY 4.0)", calibration="linear map",
        sha256={"dlib_face_recognition_resnet_model_v1.dat": "aa" * 32,
                "shape_predictor_5_face_landmarks.dat": "bb" * 32})


def test_card_has_every_section_and_figure():
    card = render(made_up_spec())
    for heading in ("# Model card: london-test-v9", "## What it is", "## Data",
                    "## Candidates and the selection rule", "## Validity",
                    "## Uncertainty", "## By sex and ethnicity", "## Neutral vs smiling",
                    "## Photo perturbations", "## Outside London", "## Known limits",
                    "## Files"):
        assert heading in card, heading
    assert "| London 10-fold r (SD over 3 repeats) | 0.64 (0.01) |" in card
    assert "| dlib descriptor **(chosen)** | 128 | ridge |" in card
    assert "| candidate | ridge | pls |\n| --- | --- | --- |" in card
    assert "12.6 points; chance level 10.7 (p 0.021): NOT below chance" in card
    assert "female 79 %, male 81 %" in card and "5,000 shuffles" in card
    assert "Faces that failed analysis: london/x.jpg." in card
    assert "{{" not in card and "{%" not in card and card.endswith(".\n")


def test_optional_sections_say_when_they_did_not_run():
    spec = made_up_spec()
    spec["validation"]["robustness"] = {}
    spec["validation"]["shared_faces"] = []
    card = render(spec)
    assert "Not run (`--robustness-faces 0`)." in card and "## Outside London" not in card


def test_a_missing_figure_fails_loudly():
    import jinja2

    spec = copy.deepcopy(made_up_spec())
    del spec["validation"]["loo"]["mae"]
    with pytest.raises(jinja2.UndefinedError, match="mae"):
        render(spec)


def test_committed_card_is_the_template_rendering_of_the_committed_spec():
    """The training script writes its card through the template: rendering the
    committed JSON reproduces the committed card byte for byte, without retraining."""
    import json
    from pathlib import Path

    from aurum.analysers.attractiveness import MODEL_FILE
    from aurum.tools.training.london.train import CARD_FILE, render_card

    models = Path(__file__).resolve().parents[2] / "models"
    spec = json.loads((models / MODEL_FILE).read_text(encoding="utf-8"))
    committed = (models / CARD_FILE).read_text(encoding="utf-8")
    assert render_card(spec) == committed
