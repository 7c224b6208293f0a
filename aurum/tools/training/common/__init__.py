"""Steps both trainers use (`london` and `multiset` import them; nothing else does).

- `recording`: measure a photo exactly as a request does (engine + `Recorder`).
- `ratings`: a rated set's declaration, the London set's, and the one CSV reader.
- `features`: feature groups, their names, standardisation and the clip.
- `learners`: every learner both trainers fit (one ridge, one kernel ridge for both;
  PLS, elastic net and the MLP head), the fitted `Model`, which trainer compares which,
  and the photos' loss weights.
- `checks`: group spreads against chance, Holm's family test, the smiling limit and the
  interval coverage.
- `output`: rounding, a fitted head as the model file stores it, writing model + card.
"""
