"""The attractiveness model card, rendered from a template.

The prose lives in `templates/model_card.md.j2` (Markdown with Jinja2 tags), the
numbers in the model's JSON spec; the training script only gathers the context and
calls `render`. A figure missing from the spec fails the render loudly
(`StrictUndefined`) instead of printing an empty cell. Jinja2 is imported lazily: it
is needed when a card is written (training), never at request time.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

TEMPLATE = Path(__file__).with_name("templates") / "model_card.md.j2"


def f(v: Any, nd: int = 2) -> str:
    """A figure as the card prints it: floats to `nd` places, None as n/a."""
    if v is None:
        return "n/a"
    if isinstance(v, float):
        return f"{v:.{nd}f}"
    return str(v)


def sex_r(d: Mapping[str, Any]) -> str:
    """Within-sex correlations, e.g. "female 0.51, male 0.52"."""
    return ", ".join(f"{k} {f(v)}" for k, v in sorted(d.items()))


def spread(d: Mapping[str, Any] | None) -> str:
    """A group spread against its chance level, with the verdict."""
    if not d or d.get("spread") is None:
        return "n/a"
    verdict = "below" if d["spread"] < d["chance_95"] else "NOT below"
    return (f"{f(d['spread'], 1)} points; chance level {f(d['chance_95'], 1)} "
            f"(p {f(d['p'], 3)}): {verdict} chance")


def spread_short(d: Mapping[str, Any] | None) -> str:
    """A group spread and its chance level, for table cells."""
    if not d or d.get("spread") is None:
        return "n/a"
    return f"{f(d['spread'], 1)} ({f(d['chance_95'], 1)})"


def render(spec: Mapping[str, Any], *, failures: Sequence[str],
           candidate_text: Mapping[str, str], selection_rule: str, learners: Sequence[str],
           n_shuffles: int, min_group: int, z_clip: float, model_file: str,
           attribution: str | None = None, calibration: str | None = None,
           sha256: Mapping[str, str] | None = None, template: Path = TEMPLATE) -> str:
    """The card's Markdown for `spec` (the model JSON as written to models/).

    The keyword arguments are the training script's constants the card quotes;
    `attribution`, `calibration` and `sha256` default to the library's own."""
    import jinja2

    if attribution is None or calibration is None:
        from aurum.analysers.attractiveness import ATTRIBUTION, CALIBRATION

        attribution = ATTRIBUTION if attribution is None else attribution
        calibration = CALIBRATION if calibration is None else calibration
    if sha256 is None:
        from aurum.analysers.descriptor import SHA256

        sha256 = SHA256
    env = jinja2.Environment(loader=jinja2.FileSystemLoader(str(template.parent)),
                             undefined=jinja2.StrictUndefined, autoescape=False,
                             trim_blocks=True, lstrip_blocks=True, keep_trailing_newline=True)
    env.filters.update(f=f, sex_r=sex_r, spread=spread, sp=spread_short,
                       tojson_plain=json.dumps)
    return env.get_template(template.name).render(
        spec=spec, failures=list(failures), candidate_text=candidate_text,
        selection_rule=selection_rule, learners=list(learners), n_shuffles=n_shuffles,
        min_group=min_group, z_clip=z_clip, model_file=model_file, attribution=attribution,
        calibration=calibration, sha256=sha256)
