"""The app's `/score` API returns exactly what the CLI prints, through a real server.

The server is the real Gradio app (`app.build_demo`) launched in-process on a free
port and called with `gradio_client`, the way an outside client would.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from gradio_client import Client, handle_file

from tests.conftest import FIXTURES

pytestmark = pytest.mark.slow

CLI_KEYS = {"file", "ok", "error", "image_size", "face", "pose", "quality", "geometric",
            "attractiveness", "final", "percentile", "vibe", "expression", "config",
            "age_gate", "timing_ms"}


@pytest.fixture(scope="module")
def client(server):
    return Client(server[0], verbose=False)


def cli_json(path: Path) -> dict:
    out = subprocess.run([sys.executable, "-m", "aurum", "score", str(path)], check=True,
                         capture_output=True, text=True, timeout=300)
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_score_face_matches_cli(client, fixture_face):
    got = client.predict(handle_file(str(fixture_face)), api_name="/score")
    assert set(got) == CLI_KEYS
    assert got["ok"] is True and got["error"] is None
    assert got["file"] is None  # the server never learns or keeps a path
    want = cli_json(fixture_face)
    # The same photo through the same engine: every measured number is identical.
    for key in ("image_size", "face", "pose", "quality", "geometric", "final", "config"):
        assert got[key] == want[key], key
    assert 0 <= got["final"]["score"] <= 100
    assert set(got["quality"]["metrics"]) >= {"frontality", "sharpness", "exposure", "quality"}


def test_score_with_exported_config(client):
    from aurum.config import preset

    cfg = preset("strict")
    cfg.blend_weight = 1.0
    cfg.components["symmetry_index"].weight = 0.0
    got = client.predict(handle_file(str(FIXTURES[1])), cfg.to_json(), api_name="/score")
    assert got["ok"] is True
    assert got["config"] == {"preset": "strict", "blend_weight": 1.0}
    assert got["quality"]["metrics"]["frontality"]["threshold"] == 0.5
    weights = {c["name"]: c["weight"] for c in got["geometric"]["components"]}
    assert weights["symmetry_index"] == 0.0


def test_bad_config_is_an_error_code(client, fixture_face):
    got = client.predict(handle_file(str(fixture_face)), '{"blend_weight": 7}',
                         api_name="/score")
    assert got["ok"] is False
    assert got["error"]["code"] == "bad_config"


def test_non_image_gives_error_code(client, tmp_path):
    bogus = tmp_path / "notes.txt"
    bogus.write_text("this is not a photo\n" * 20)
    got = client.predict(handle_file(str(bogus)), api_name="/score")
    assert set(got) == CLI_KEYS
    assert got["ok"] is False
    assert got["error"]["code"] == "not_an_image"
    assert got["final"] is None and got["geometric"] is None


def test_no_face_gives_error_code(client, tmp_path):
    import numpy as np
    from PIL import Image

    ramp = np.tile(np.linspace(0, 255, 320, dtype=np.uint8), (240, 1))
    path = tmp_path / "ramp.png"
    Image.fromarray(np.dstack([ramp, ramp[::-1], ramp])).save(path)
    got = client.predict(handle_file(str(path)), api_name="/score")
    assert got["ok"] is False
    assert got["error"]["code"] == "no_face"
    assert "face" in got["error"]["message"].lower()


def test_uploads_do_not_stay_on_disk(client, server, fixture_face):
    """The upload is read into memory and its temporary file deleted at once."""
    _, app = server
    client.predict(handle_file(str(fixture_face)), api_name="/score")
    left = [p for p in app.TEMP_DIR.rglob("*") if p.is_file()
            and p.suffix.lower() in {".jpg", ".jpeg", ".png", ".webp"}]
    assert left == []
