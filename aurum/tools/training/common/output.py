"""Writing a trained model: its JSON, its card, and the one-line summary.

Why one function for both trainers: the model file and the card must be written the
same way (indent, no NaN, trailing newline) for a rebuild to reproduce the committed
files byte for byte, and numbers are rounded here so the JSON is stable across runs.
"""

from __future__ import annotations

import json
import math
import time
from pathlib import Path
from typing import Any

import numpy as np


def rounded(v: Any, digits: int = 4) -> Any:
    """Round floats (recursively) for stable, readable JSON."""
    if isinstance(v, float):
        return round(v, digits) if math.isfinite(v) else None
    if isinstance(v, dict):
        return {k: rounded(x, digits) for k, x in v.items()}
    if isinstance(v, (list, tuple)):
        return [rounded(x, digits) for x in v]
    if isinstance(v, np.ndarray):
        return rounded(v.tolist(), digits)
    if isinstance(v, np.floating):
        return rounded(float(v), digits)
    return v


def significant(a: Any, digits: int = 6) -> Any:
    """Keep `digits` significant digits: coefficients stored this way are the same
    whatever BLAS or row order produced them (their last bits differ)."""
    return np.vectorize(lambda v: float(f"{v:.{digits}g}"), otypes=[float])(
        np.asarray(a, dtype=np.float64)).tolist()



def learner_block(name: str, description: str, model: Any) -> dict[str, Any]:
    """A fitted head (`learners.Model`) as the model file stores it: both trainers write
    it this way and `aurum.analysers.attractiveness` reads it back."""
    out: dict[str, Any] = {"name": name, "description": description, "kind": model.kind,
                           "intercept": float(f"{model.intercept:.7g}"),
                           "hyperparameters": rounded(model.params, 6)}
    if model.kind == "linear":
        out["coef"] = significant(model.coef)
    elif model.kind == "rbf":
        out.update(gamma=model.gamma, dual_coef=significant(model.dual),
                   support=significant(model.support))
    else:
        out["layers"] = [[significant(w), significant(b)] for w, b in model.layers]
    return out


def write_model(out: Path, model_file: str, card_file: str, spec: dict[str, Any], card: str,
                summary: dict[str, Any], started: float) -> Path:
    """Write the model JSON and its card into `out`, and print one JSON line of figures.

    Both trainers end here, so the committed files are always written the same way
    (indent 1, no NaN, a final newline); `summary` holds the trainer's headline figures
    and `started` is the run's `time.perf_counter()` at its start. Returns the model's
    path."""
    out.mkdir(parents=True, exist_ok=True)
    path = out / model_file
    path.write_text(json.dumps(spec, indent=1, allow_nan=False) + "\n", encoding="utf-8")
    (out / card_file).write_text(card, encoding="utf-8")
    print(json.dumps({"model": spec["id"], "out": str(path), **summary,
                      "seconds": round(time.perf_counter() - started, 1)}))
    return path
