"""Training the attractiveness models: one folder per trainer, one for the steps they
share, and the command.

Why folders by role: the two trainers share their measuring, feature, learner, check
and writing steps, and a reader looking for one step (how folds are drawn, how
fairness is judged) should find it by its folder and module name:

- `command`: `python -m aurum train-attractiveness` (both models; `scripts/build_models.sh`).
- `common/`: the steps both trainers use (recording, features, learners, checks, output).
- `london/`: the London-only model (`attractiveness_v1.json`, `MODEL_CARD_london.md`).
- `multiset/`: the several-set default model (`attractiveness_multiset.json`,
  `MODEL_CARD.md`) and the rated-set declarations.

Nothing here is imported at run time: the app reads only the model files they write.
"""
