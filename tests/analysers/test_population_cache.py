"""The reference population is re-scored once per config: the percentiles and the Tune
tab's summary share the rows (a slider move used to re-score it twice)."""

from __future__ import annotations

import numpy as np

from aurum.analysers import population
from aurum.config import Config
from aurum.paths import models_dir


def test_reference_is_scored_once_per_config(monkeypatch):
    pop = population.load_default(models_dir())
    calls = []
    real = population.rescore

    def counting(*args, **kw):
        calls.append(len(args[0]))
        return real(*args, **kw)

    monkeypatch.setattr(population, "rescore", counting)
    # a blend weight no other test uses, so nothing is cached for it yet
    cfg = Config.from_dict({"blend_weight": 0.4321, "percentile_population": "reference"})
    pct = pop.percentile({"final": 50.0, "geometric": 50.0, "attractiveness": 50.0}, cfg)
    summary = pop.reference_summary(cfg)
    pop.percentile({"final": 60.0}, cfg)
    assert calls == [pop.n]  # one re-scoring of the reference, for all three calls
    assert pct["status"] == "ok"
    direct = real(pop.measures, pop.names, pop.attractiveness, cfg)
    finals = np.array([np.nan if v is None else v for v in summary["final_scores"]])
    assert np.array_equal(finals, direct["final"], equal_nan=True)
