"""The London-only attractiveness model (102 faces, CC BY 4.0): `attractiveness_v1.json`
and `MODEL_CARD_london.md`, the model a commercial deployment picks.

Used by `training.command` (no `--sets`); built on `training.common`.

- `data`: the rated London faces and the SFHQ faces, measured once per run.
- `folds`: per-fold feature tables (shape space and standardisation inside each fold).
- `validation`: repeated 10-fold CV, the learner rule, group tables, the interval.
- `fairness`: SFHQ grid spreads, London residuals by ethnic group, the age check.
- `robustness`: score change under photo perturbations, per-request time.
- `train`: candidates, the fixed selection rule, the final fit and the card.
"""
