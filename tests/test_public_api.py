"""The public face: `from aurum import Engine, Config`, and docs/api.md's example runs."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import aurum
from tests.conftest import FIXTURE_FACE

ROOT = Path(__file__).resolve().parent.parent


def test_the_public_names_are_the_engine_and_its_types():
    from aurum.config import Config
    from aurum.engine import Analysis, Engine, Report
    from aurum.errors import AurumError

    assert set(aurum.__all__) == {"Engine", "Config", "Analysis", "Report", "AurumError",
                                  "__version__"}
    assert (aurum.Engine, aurum.Config, aurum.Analysis, aurum.Report, aurum.AurumError) == (
        Engine, Config, Analysis, Report, AurumError)
    for fn in (Engine.analyze, Engine.score, Engine.run):
        assert fn.__doc__ and len(fn.__doc__) > 80, fn.__name__


def test_importing_aurum_does_not_load_the_engine():
    """The names load on first use: `python -m aurum config` and `aurum.errors` stay light."""
    code = "import sys, aurum; print('aurum.engine' in sys.modules, 'mediapipe' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True, cwd=ROOT).stdout.split()
    assert out == ["False", "False"]


def test_the_documented_example_runs(engine, capsys, monkeypatch):
    """docs/api.md's code block, on a committed face (the shared engine stands in for
    `Engine()` so the models load once per test run)."""
    block = re.search(r"```python\n(.*?)```", (ROOT / "docs" / "api.md").read_text(),
                      re.S).group(1)
    from aurum import engine as engine_module

    monkeypatch.setattr(engine_module, "Engine", lambda: engine)
    exec(block.replace('"photo.jpg"', repr(str(FIXTURE_FACE))), {})  # noqa: S102
    lines = capsys.readouterr().out.splitlines()
    report = engine.run(FIXTURE_FACE).to_dict()
    assert lines[0] == f"{report['final']['score']} {report['attractiveness']['score']}"
    finals = [engine.score(engine.analyze(FIXTURE_FACE), aurum.Config(blend_weight=w))
              .to_dict()["final"] for w in (0.0, 0.5, 1.0)]
    assert lines[1:] == [f"{w} {f}" for w, f in zip((0.0, 0.5, 1.0), finals, strict=True)]
    assert finals[0]["score"] != finals[2]["score"]  # the blend weight moved the score
