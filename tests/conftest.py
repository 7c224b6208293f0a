"""Shared fixtures: the shared data folder (`AURUM_SHARED`) and one engine per run."""

from __future__ import annotations

import os
import socket
import tempfile
from pathlib import Path

import pytest

from aurum.paths import shared_dir

os.environ.setdefault("HF_HUB_OFFLINE", "1")
# The opt-in store of the app under test lives in a throw-away folder, never in data/.
os.environ.setdefault("AURUM_DATA_DIR", tempfile.mkdtemp(prefix="aurum-test-data-"))


def _shared() -> Path:
    path = shared_dir()
    if not (path / "faces" / "MANIFEST.csv").is_file():
        # Tests must not pass silently without their data: fail loudly instead.
        raise RuntimeError(f"shared data not found at {path}; set AURUM_SHARED")
    return path


SHARED = _shared()
FACES = sorted((SHARED / "faces").glob("*.jpg"))
LONDON = sorted((SHARED / "london" / "neutral_front").glob("*.jpg"))
LONDON_SMILING = sorted((SHARED / "london" / "smiling_front").glob("*.jpg"))


@pytest.fixture(scope="session")
def shared() -> Path:
    return SHARED


@pytest.fixture(scope="session")
def engine():
    from aurum.engine import Engine

    return Engine()


@pytest.fixture(scope="session")
def london_face() -> Path:
    return LONDON[0]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="module")
def server(engine):
    """The app served in-process on a free loopback port: (url, app module)."""
    import app

    demo = app.build_demo(engine)
    _, url, _ = demo.launch(prevent_thread_lock=True, server_name="127.0.0.1",
                            server_port=free_port(), quiet=True, **app.launch_kwargs())
    try:
        yield url, app
    finally:
        demo.close()
