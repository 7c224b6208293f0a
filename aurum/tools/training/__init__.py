"""Training the attractiveness models, one module per step.

Why a package: the two trainers share their measuring, fairness and writing steps, and
a reader looking for one step (how folds are drawn, how fairness is judged) should find
it by its module's name:

- `command`: `python -m aurum train-attractiveness` (both models).
- London-only model: `data` (measure the rated faces), `features` (feature groups,
  per-fold tables), `learners`, `validation` (repeated CV and its figures),
  `robustness`, `fairness` (spreads against chance, Holm), `london` (candidates, the
  selection rule, the final fit, the card).
- Several-set model: `rated_sets` (one declaration per set, cached measuring),
  `multiset_data` (the pool), `multiset_learners`, `multiset_cv` (grouped CV, checks,
  intervals), `multiset_select` (candidates and the rule), `multiset_card` (model file
  and card), `multiset` (the run).
- `output`: writing a model and its card (both trainers).
"""
