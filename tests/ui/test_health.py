"""The health check: `GET /health` and the `status` API, on the launched app.

Healthy, degraded and unhealthy are each produced for real: a models folder without
the attractiveness model, a data folder that cannot be created, a Qdrant URL nobody
listens on, and a copy of the mediapipe package without its face-mesh model file
(the app started from it with `python app.py`). The HTTP codes are read with httpx,
the API with gradio_client.
"""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest
from gradio_client import Client, handle_file

from aurum import health
from aurum.engine import Engine
from aurum.paths import REPO_DIR, models_dir
from tests.conftest import free_port

MESH_FILE = "face_landmark_with_attention.tflite"


def test_offline_engine_is_healthy_and_clip_does_not_count(engine):
    rep = health.report(engine, [{"kind": "api", "total_ms": 70.0}] * 3, time.time() - 5)
    assert rep["status"] == "healthy", rep["down"]
    assert rep["down"] == []
    parts = rep["parts"]
    assert set(parts) == {"detector", "mesh", "age_gate", "descriptor", "faceres",
                          "attractiveness", "clip", "population", "store"}
    # conftest sets HF_HUB_OFFLINE: CLIP is unavailable, says why, and changes nothing.
    assert parts["clip"]["state"] in ("unavailable", "loading")
    assert parts["clip"]["affects_status"] is False
    assert parts["attractiveness"]["name"] == engine.attractiveness.name
    assert "CC BY 4.0" in parts["attractiveness"]["terms"]
    assert parts["population"]["size"] == engine.population.n == len(engine.population.ids)
    assert rep["latency"]["n"] == 3 and rep["latency"]["p50_ms"] == 70.0
    assert 4.0 <= rep["uptime_s"] < 60.0
    assert rep["version"].startswith("0.")


def test_report_names_nobody(engine, fixture_face):
    """No ids, photos or a person's numbers: after scoring, the report holds none of
    the reference ids, nor the photo's scores."""
    report = engine.run(fixture_face).to_dict()
    text = json.dumps(health.report(engine, [], None))
    assert not any(i in text for i in engine.population.ids)
    for value in (report["final"]["score"], report["geometric"]["score"]):
        assert str(value) not in text


def test_unhealthy_without_the_age_gate(tmp_path):
    """No adults-only check, no score at all: unhealthy, and the reason is named."""
    models = tmp_path / "models"
    shutil.copytree(models_dir(), models)
    (models / "age_gate.json").unlink()
    rep = health.report(Engine(models=models, load_optional=False))
    assert rep["status"] == "unhealthy" and "age_gate" in rep["down"]
    assert "age_gate.json not found" in rep["parts"]["age_gate"]["reason"]


def test_degraded_without_the_attractiveness_model(tmp_path):
    models = tmp_path / "models"
    shutil.copytree(models_dir(), models)
    (models / "attractiveness_multiset.json").unlink()  # the default model
    eng = Engine(models=models)
    rep = health.report(eng)
    assert rep["status"] == "degraded"
    assert rep["down"] == ["attractiveness"]
    assert rep["parts"]["attractiveness"]["state"] == "unavailable"
    assert "no attractiveness model" in rep["parts"]["attractiveness"]["reason"]
    # The score still comes out, geometric only: degraded, not unhealthy.
    assert eng.run(sorted((REPO_DIR / "tests/fixtures/faces").glob("*.jpg"))[0]
                   ).to_dict()["final"]["basis"] == "geometric_only"


def test_degraded_when_the_store_cannot_be_created(engine, monkeypatch, tmp_path):
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    monkeypatch.setenv("AURUM_DATA_DIR", str(blocker / "data"))
    rep = health.report(engine)
    assert rep["status"] == "degraded" and rep["down"] == ["store"]
    assert "cannot be created" in rep["parts"]["store"]["reason"]


def test_degraded_when_the_store_server_is_down(engine, monkeypatch):
    monkeypatch.setenv("AURUM_QDRANT_URL", f"http://127.0.0.1:{free_port()}")
    rep = health.report(engine)
    assert rep["status"] == "degraded" and rep["down"] == ["store"]
    assert "not reachable" in rep["parts"]["store"]["reason"]


@pytest.mark.slow
def test_http_codes_and_status_api(server, engine, fixture_face):
    url, app = server
    client = Client(url, verbose=False)
    client.predict(handle_file(str(fixture_face)), api_name="/score")
    resp = httpx.get(f"{url.rstrip('/')}/health", timeout=10)
    assert resp.status_code == 200
    body = resp.json()
    assert body["status"] == "healthy"
    assert body["latency"]["by_kind"]["api"]["n"] >= 1
    via_api = client.predict(api_name="/status")
    assert via_api["status"] == "healthy" and via_api["parts"] == body["parts"]
    assert "/status" in json.dumps(client.view_api(print_info=False, return_format="dict"))


@pytest.mark.slow
def test_http_degraded_is_200(tmp_path):
    import app

    models = tmp_path / "models"
    shutil.copytree(models_dir(), models)
    (models / "attractiveness_multiset.json").unlink()  # the default model
    demo = app.build_demo(Engine(models=models))
    _, url, _ = demo.launch(prevent_thread_lock=True, server_name="127.0.0.1",
                            server_port=free_port(), quiet=True, **app.launch_kwargs())
    try:
        resp = httpx.get(f"{url.rstrip('/')}/health", timeout=10)
        assert resp.status_code == 200
        assert resp.json()["status"] == "degraded"
    finally:
        demo.close()


def mediapipe_without_mesh(root: Path) -> Path:
    """A copy of the installed mediapipe package (symlinks, so it costs nothing) that
    lacks the face-mesh model file; mediapipe finds its models next to its own code,
    so an app started with this first on PYTHONPATH cannot build the mesh graph."""
    spec = importlib.util.find_spec("mediapipe")
    assert spec is not None and spec.origin
    src = Path(spec.origin).parent
    dst = root / "mediapipe"
    for folder, _dirs, files in os.walk(src):
        rel = Path(folder).relative_to(src)
        (dst / rel).mkdir(parents=True, exist_ok=True)
        for name in files:
            if name != MESH_FILE:
                (dst / rel / name).symlink_to(Path(folder) / name)
    libs = src.parent / "mediapipe.libs"  # the wheel's bundled shared libraries
    if libs.is_dir():
        (root / "mediapipe.libs").symlink_to(libs)
    assert not (dst / "modules" / "face_landmark" / MESH_FILE).exists()
    return root


@contextmanager
def started_app(env: dict[str, str]) -> Iterator[str]:
    """`python app.py` (the README's start command) on a free port; yields its URL."""
    port = free_port()
    full = {**os.environ, "GRADIO_SERVER_PORT": str(port), "GRADIO_SERVER_NAME": "127.0.0.1",
            **env}
    proc = subprocess.Popen([sys.executable, "app.py"], cwd=REPO_DIR, env=full,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            assert proc.poll() is None, "the app exited during start-up"
            try:
                httpx.get(f"{url}/health", timeout=2)
                break
            except httpx.TransportError:
                time.sleep(0.3)
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()


@pytest.mark.slow
def test_started_app_is_healthy_offline(tmp_path):
    with started_app({"HF_HUB_OFFLINE": "1", "AURUM_DATA_DIR": str(tmp_path)}) as url:
        first = httpx.get(f"{url}/health", timeout=10)
        # CLIP starts after the warm-up ("not started" until then); offline it then
        # reports unavailable at once, with the reason.
        deadline = time.monotonic() + 60
        while True:
            resp = httpx.get(f"{url}/health", timeout=10)
            if resp.json()["parts"]["clip"]["reason"] != "not started" \
                    or time.monotonic() > deadline:
                break
            time.sleep(0.5)
    assert first.status_code == 200 and first.json()["status"] == "healthy"
    assert resp.status_code == 200
    body = resp.json()
    assert body["status"] == "healthy"
    assert body["parts"]["clip"]["state"] == "unavailable"
    assert "HF_HUB_OFFLINE" in body["parts"]["clip"]["reason"]


@pytest.mark.slow
def test_started_app_without_mesh_model_is_unhealthy(tmp_path):
    path = mediapipe_without_mesh(tmp_path / "site")
    env = {"HF_HUB_OFFLINE": "1", "AURUM_DATA_DIR": str(tmp_path / "data"),
           "PYTHONPATH": os.pathsep.join([str(path), str(REPO_DIR)])}
    with started_app(env) as url:
        resp = httpx.get(f"{url}/health", timeout=10)
        # The warm-up then tries to build the graphs, and the reason stays specific.
        time.sleep(3)
        later = httpx.get(f"{url}/health", timeout=10)
    assert resp.status_code == 503 and later.status_code == 503
    for body in (resp.json(), later.json()):
        assert body["status"] == "unhealthy"
        assert "mesh" in body["down"]
        assert body["parts"]["mesh"]["state"] == "unavailable"
        assert MESH_FILE in body["parts"]["mesh"]["reason"]
