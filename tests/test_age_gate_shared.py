"""The shipped adults-only gate on the shared faces (read from ../shared, never copied):
every synthetic under-13 face is withheld through the CLI (one process, all 78 faces)
and through folder scoring, and the shared adults within the card's budget (a third of
them, to keep CI short; the full figures are in models/AGE_GATE_CARD.md). The API and
the browser are in tests/ui/test_age_gate_ui.py."""

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


def _mebeauty() -> list[Path]:
    """The MEBeauty photos (the shipped gate was fitted on all 1,944), file-name order."""
    with (SHARED / "mebeauty" / "scores.csv").open(newline="") as fh:
        names = sorted(r["file"] for r in csv.DictReader(fh))
    return [SHARED / "mebeauty" / n for n in names]


# The shipped gate withholds 2.0 % of the 2,303 shared adults it was fitted on (card);
# this test runs a third of faces/ and London and every 12th MEBeauty photo (282, to
# keep CI short), where 4 (1.4 %) are withheld: the bound is the card's 2 % plus that
# sample's share of chance (one SD of a binomial at 2 % over 282 faces is 0.8 points).
# Out of fold (photos it never saw) the rate is 2.0 %, higher for some groups: stated
# in docs/age-gate.md.
ADULT_BOUND = 0.03


def test_shared_adults_are_withheld_within_the_cards_budget(engine: Engine):
    adults = FACES[::3] + LONDON[::3] + _mebeauty()[::12]
    withheld, other = [], []
    for path in adults:
        analysis = engine.analyze(path)
        code = analysis.error.code if analysis.error else None
        if code == "apparent_minor":
            withheld.append(path.name)
        elif code is not None and code != "no_face":
            other.append((path.name, code))
    assert other == []
    assert len(withheld) <= ADULT_BOUND * len(adults), withheld


def test_folder_scoring_keeps_no_numbers_of_a_withheld_face(tmp_path: Path):
    """The batch path (workers, resumable JSONL): the line says why, and holds no score."""
    out = tmp_path / "out.jsonl"
    paths = [str(p) for p in minors()[::39]]  # a baby from each grid
    proc = subprocess.run([sys.executable, "-m", "aurum", "score", "--jobs", "0", "--quiet",
                           "--out", str(out), *paths], cwd=REPO_DIR, capture_output=True,
                          text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-2000:]
    lines = [json.loads(line) for line in out.read_text().splitlines()]
    assert len(lines) == len(paths)
    for r in lines:
        assert r["error"]["code"] == "apparent_minor"
        assert all(r.get(k) is None for k in SCORE_FIELDS)
