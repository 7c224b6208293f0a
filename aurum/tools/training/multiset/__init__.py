"""The several-set attractiveness model (London + MEBeauty, the app's default):
`attractiveness_multiset.json` and `MODEL_CARD.md`.

Used by `training.command` (`--sets`); built on `training.common`.

- `rated_sets`: the registry of rated sets (`SETS`, one declaration each; London's and
  the CSV reader are in `common.ratings`), cached measuring, people.
- `data`: the pool (canonical order, per-set targets), representations, SFHQ faces.
- `cv`: grouped cross-validation and the figures and checks drawn from it.
- `select`: the candidates and the rule, fixed before the run, that picks one.
- `card`: the model file and its card.
- `train`: the run.
"""
