"""Compare through the real server (`api_name="compare"`) and through the CLI
(`python -m aurum compare`): the same JSON object, timing aside; uploads leave no file."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from gradio_client import Client, handle_file

from aurum.paths import REPO_DIR
from tests.conftest import LONDON, LONDON_SMILING

pytestmark = [pytest.mark.slow, pytest.mark.shared]

FOUR = [LONDON[0], LONDON_SMILING[0], LONDON[1], LONDON_SMILING[1]]


def _cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "aurum", "compare", *args], cwd=REPO_DIR,
                          capture_output=True, text=True, timeout=300)


def _untimed(doc: dict) -> dict:
    return {k: v for k, v in doc.items() if k != "timing_ms"}


@pytest.fixture(scope="module")
def client(server):
    return Client(server[0], verbose=False)


def test_api_and_cli_give_the_same_json(client, tmp_path):
    cfg = json.dumps({"blend_weight": 0.5})
    (tmp_path / "cfg.json").write_text(cfg)
    got = client.predict([handle_file(str(p)) for p in FOUR], cfg, api_name="/compare")
    proc = _cli(*map(str, FOUR), "--config", str(tmp_path / "cfg.json"))
    assert proc.returncode == 0, proc.stderr[-2000:]
    lines = proc.stdout.strip().splitlines()
    assert len(lines) == 1  # one JSON object
    want = json.loads(lines[0])
    assert _untimed(got) == _untimed(want)
    assert set(got["timing_ms"]) == {"analyze", "rank"}
    assert got["config"]["blend_weight"] == 0.5
    assert [e["file"] for e in got["ranking"]][:2] in (
        [FOUR[0].name, FOUR[1].name], [FOUR[1].name, FOUR[0].name])
    assert sorted(got["same_person"]["different"]) == sorted([FOUR[2].name, FOUR[3].name])


def test_api_refuses_one_photo_and_a_bad_config(client):
    one = client.predict([handle_file(str(FOUR[0]))], "", api_name="/compare")
    assert one["ok"] is False and one["error"]["code"] == "bad_photo_count"
    bad = client.predict([handle_file(str(p)) for p in FOUR[:2]], '{"blend_weight": 7}',
                         api_name="/compare")
    assert bad["ok"] is False and bad["error"]["code"] == "bad_config"


def test_api_uploads_do_not_stay_on_disk(client, server):
    _, app = server
    client.predict([handle_file(str(p)) for p in FOUR[:2]], "", api_name="/compare")
    left = [p for p in app.TEMP_DIR.rglob("*") if p.is_file()
            and p.suffix.lower() in {".jpg", ".jpeg", ".png", ".webp"}]
    assert left == []


def test_cli_usage_errors_exit_2():
    one = _cli(str(FOUR[0]))
    assert one.returncode == 2 and "2 to 12 photos" in one.stderr
    many = _cli(*[str(p) for p in LONDON[:13]])
    assert many.returncode == 2 and "got 13" in many.stderr
    assert "Traceback" not in one.stderr + many.stderr
