"""The CLI as a user runs it: real images in, JSON Lines out, honest exit codes."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from aurum.paths import REPO_DIR
from tests.conftest import FIXTURES, SHARED


def _run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "aurum", *args], cwd=REPO_DIR,
                          capture_output=True, text=True, timeout=300)


def test_score_prints_one_json_line_per_image(tmp_path: Path):
    not_image = tmp_path / "notes.jpg"
    not_image.write_text("this is not a picture")
    files = [str(FIXTURES[0]), str(FIXTURES[2]), str(not_image), str(tmp_path / "missing.png")]
    proc = _run("score", *files)
    assert proc.returncode == 0, proc.stderr
    lines = [json.loads(line) for line in proc.stdout.splitlines()]
    assert [row["file"] for row in lines] == files
    good, synth, bad, missing = lines
    for row in (good, synth):
        assert row["ok"] and row["error"] is None
        assert row["face"]["faces_found"] == 1 and len(row["face"]["bbox"]) == 4
        assert 0 <= row["geometric"]["score"] <= 100
        assert row["final"]["score"] is not None
        assert set(row["timing_ms"]) >= {"decode", "detect_mesh", "score"}
    assert not bad["ok"] and bad["error"]["code"] == "not_an_image" and bad["error"]["message"]
    assert missing["error"]["code"] == "file_not_found"
    assert "Traceback" not in proc.stderr


def test_config_preset_feeds_back_into_score(tmp_path: Path):
    proc = _run("config", "--preset", "strict")
    assert proc.returncode == 0
    cfg = json.loads(proc.stdout)
    assert cfg["thresholds"]["quality"] == 0.6
    cfg["blend_weight"] = 0.5
    cfg["thresholds"] = {k: 1.0 for k in cfg["thresholds"]}
    path = tmp_path / "cfg.json"
    path.write_text(json.dumps(cfg))
    row = json.loads(_run("score", str(FIXTURES[1]), "--config", str(path)).stdout)
    assert row["config"]["preset"] == "strict"
    assert row["config"]["blend_weight"] == 0.5
    assert row["quality"]["passed"] is False


def test_usage_errors_exit_2(tmp_path: Path):
    assert _run().returncode == 2
    assert _run("score").returncode == 2
    bad = tmp_path / "bad.json"
    bad.write_text('{"blend_weight": 7}')
    proc = _run("score", str(FIXTURES[0]), "--config", str(bad))
    assert proc.returncode == 2
    assert "blend_weight" in proc.stderr


def test_preset_applies_on_top_of_a_config_file(tmp_path: Path):
    path = tmp_path / "cfg.json"
    path.write_text(json.dumps({"blend_weight": 0.3, "thresholds": {"quality": 0.99}}))
    row = json.loads(_run("score", str(FIXTURES[0]), "--config", str(path),
                          "--preset", "demo").stdout)
    assert row["config"] == {"preset": "demo", "blend_weight": 0.3}
    assert row["quality"]["metrics"]["quality"]["threshold"] == 0.3  # demo's, not the file's


def test_scoring_against_the_store_creates_no_store(tmp_path: Path):
    """`reference+store` with nobody opted in reads an empty store; it creates none."""
    import os

    path = tmp_path / "cfg.json"
    path.write_text(json.dumps({"percentile_population": "reference+store"}))
    env = {**os.environ, "AURUM_DATA_DIR": str(tmp_path / "data")}
    env.pop("AURUM_QDRANT_URL", None)
    proc = subprocess.run([sys.executable, "-m", "aurum", "score", str(FIXTURES[0]), "--config",
                           str(path)], cwd=REPO_DIR, capture_output=True, text=True,
                          timeout=300, env=env)
    row = json.loads(proc.stdout)
    assert row["percentile"]["population"] == "reference+store"
    assert row["percentile"]["n_store"] == 0
    assert not (tmp_path / "data").exists()


def _same(example: object, real: object, where: str = "") -> list[str]:
    """Where the documented example differs from a real report ('...' marks a cut)."""
    if example == "...":
        return []
    if isinstance(example, dict):
        if not isinstance(real, dict):
            return [f"{where}: not an object"]
        # timings vary; CLIP's status depends on the machine (offline here, not started
        # in a fresh CLI)
        return [d for k, v in example.items() if k not in ("...", "timing_ms", "file", "clip")
                for d in (_same(v, real[k], f"{where}.{k}") if k in real
                          else [f"{where}.{k}: missing"])]
    if isinstance(example, list):
        if not isinstance(real, list) or len(real) < len(example):
            return [f"{where}: list too short"]
        return [d for i, v in enumerate(example) for d in _same(v, real[i], f"{where}[{i}]")]
    if isinstance(example, float) and isinstance(real, (int, float)):
        ok = abs(example - real) <= 0.02 + 0.005 * abs(example)
        return [] if ok else [f"{where}: {example} vs {real}"]
    return [] if example == real else [f"{where}: {example!r} vs {real!r}"]


@pytest.mark.shared
def test_readme_example_is_a_real_line():
    """The documented example JSON (docs/json.md) is what the CLI prints today for that
    photo (figures within rounding), so a retrained model or a changed field cannot
    leave it stale. The page says the line was recorded with the London-only model."""
    from aurum.engine import Engine

    engine = Engine(attractiveness_model="london")
    text = (REPO_DIR / "docs" / "json.md").read_text(encoding="utf-8")
    intro = text.index("A real line for `london/neutral_front/001_03.jpg`")
    block = text[text.index("```json", intro) + 7:text.index("```", text.index("```json",
                                                                              intro) + 7)]
    example = json.loads(block)
    real = engine.run(SHARED / "london" / "neutral_front" / "001_03.jpg").to_dict()
    assert set(example) == set(real), set(example) ^ set(real)  # every field shown
    assert _same(example, real) == []
