"""The shipped adults-only gate on the shared faces (read from ../shared, never copied):
every synthetic under-13 face is withheld through the CLI (one process, all 78 faces),
and at most 2 % of the shared adults are (a fixed subset of each set, to keep CI short;
the full figures are in models/AGE_GATE_CARD.md). The API and the browser are in
tests/ui/test_age_gate_ui.py."""

from __future__ import annotations

import csv
import json
import subprocess
import sys
from pathlib import Path

import pytest

from aurum.engine import Engine
from aurum.paths import REPO_DIR
from tests.conftest import FACES, LONDON, SHARED

pytestmark = [pytest.mark.shared, pytest.mark.slow]
SCORE_FIELDS = ("quality", "geometric", "attractiveness", "final", "percentile", "vibe")
UNDER_13 = ("10 month old baby", "2.5 year old toddler", "small child")


def minors(kind: str = "under13") -> list[Path]:
    """The shared minors of one kind, from the folder's MANIFEST.csv."""
    with (SHARED / "minors" / "MANIFEST.csv").open(newline="") as fh:
        rows = list(csv.DictReader(fh))
    young = [r for r in rows if r["query_label"].replace("asian female ", "") in UNDER_13]
    chosen = young if kind == "under13" else [r for r in rows if r not in young]
    return [SHARED / "minors" / r["file"] for r in chosen]


def test_every_under_13_is_withheld_through_the_cli():
    paths = minors()
    assert len(paths) == 78
    proc = subprocess.run([sys.executable, "-m", "aurum", "score", *map(str, paths)],
                          cwd=REPO_DIR, capture_output=True, text=True, timeout=1800)
    assert proc.returncode == 0, proc.stderr[-2000:]
    lines = [json.loads(line) for line in proc.stdout.splitlines()]
    assert len(lines) == len(paths)
    scored = [Path(r["file"]).name for r in lines if r["ok"]]
    assert scored == [], f"{len(scored)} under-13 faces were scored: {scored}"
    for r in lines:
        assert r["error"]["code"] == "apparent_minor", r["error"]
        assert all(r[k] is None for k in SCORE_FIELDS)
        assert r["age_gate"] == {"status": "withheld"}


def _mebeauty_subset(every: int) -> list[Path]:
    with (SHARED / "mebeauty" / "scores.csv").open(newline="") as fh:
        names = sorted(r["file"] for r in csv.DictReader(fh))
    return [SHARED / "mebeauty" / n for n in names[::every]]


def test_at_most_2_percent_of_the_shared_adults_are_withheld(engine: Engine):
    # every 3rd synthetic face, every 2nd London face, every 12th MEBeauty photo: 246
    adults = FACES[::3] + LONDON[::2] + _mebeauty_subset(12)
    withheld, other = [], []
    for path in adults:
        analysis = engine.analyze(path)
        code = analysis.error.code if analysis.error else None
        if code == "apparent_minor":
            withheld.append(path.name)
        elif code is not None and code != "no_face":
            other.append((path.name, code))
    assert other == []
    assert len(withheld) <= 0.02 * len(adults), withheld
