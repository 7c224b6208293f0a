"""Shared fixtures: the committed fixture faces, the shared data folder (`AURUM_SHARED`)
and one engine per run.

Tests that need the shared data carry the `shared` marker; `pytest -m "not shared"`
runs the rest from a bare clone. A run that selects a `shared` test while the data is
missing stops before the first test with one message naming AURUM_SHARED: it never
skips silently, and importing this file never raises.
"""

from __future__ import annotations

import os
import socket
import tempfile
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

from aurum.paths import shared_dir

os.environ.setdefault("HF_HUB_OFFLINE", "1")
# The opt-in store of the app under test lives in a throw-away folder, never in data/.
os.environ.setdefault("AURUM_DATA_DIR", tempfile.mkdtemp(prefix="aurum-test-data-"))

# Committed synthetic faces (SFHQ, MIT; see fixtures/faces/README.md).
FIXTURES = sorted((Path(__file__).parent / "fixtures" / "faces").glob("*.jpg"))
FIXTURE_FACE = Path(__file__).parent / "fixtures" / "faces" / "sfhq_sample_2x4_001.jpg"

# The Pillow transpose that turns an upright picture into what a camera stores with
# each EXIF orientation tag (the inverse of what a viewer applies).
STORED_AS = {
    1: None,
    2: Image.Transpose.FLIP_LEFT_RIGHT,
    3: Image.Transpose.ROTATE_180,
    4: Image.Transpose.FLIP_TOP_BOTTOM,
    5: Image.Transpose.TRANSPOSE,
    6: Image.Transpose.ROTATE_90,
    7: Image.Transpose.TRANSVERSE,
    8: Image.Transpose.ROTATE_270,
}

SHARED = shared_dir()
HAVE_SHARED = (SHARED / "faces" / "MANIFEST.csv").is_file()
SHARED_MISSING = (f"shared data not found at {SHARED}: set AURUM_SHARED to the folder that "
                  "holds faces/ and london/, or run the core suite with -m \"not shared\"")


def _listing(folder: Path, expected: int) -> list[Path]:
    """The folder's photos; without the data, placeholder paths of the expected count
    so that module-level indexing (`LONDON[3]` in a parametrize) still collects. Those
    tests are `shared`: deselected, or the run stops before any of them runs."""
    if HAVE_SHARED:
        return sorted(folder.glob("*.jpg"))
    return [folder / f"missing-{i:03d}.jpg" for i in range(expected)]


FACES = _listing(SHARED / "faces", 257)
LONDON = _listing(SHARED / "london" / "neutral_front", 102)
LONDON_SMILING = _listing(SHARED / "london" / "smiling_front", 102)


SHARED_FIXTURES = {"shared", "london_face"}


def pytest_itemcollected(item: pytest.Item) -> None:
    """A test that asks for a shared-data fixture is a `shared` test even unmarked."""
    if SHARED_FIXTURES & set(getattr(item, "fixturenames", ())):
        item.add_marker(pytest.mark.shared)


@pytest.hookimpl(trylast=True)
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Runs after `-m` deselection: stop loudly if a selected test needs missing data."""
    if HAVE_SHARED:
        return
    needing = [it.nodeid for it in items if it.get_closest_marker("shared")]
    if needing:
        pytest.exit(f"{SHARED_MISSING} ({len(needing)} selected tests need it, "
                    f"e.g. {needing[0]})", returncode=1)


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


@pytest.fixture(scope="session")
def fixture_face() -> Path:
    """A committed synthetic face that passes every quality check (898 px)."""
    return FIXTURE_FACE


def loaded_network(model: Any, name: str) -> Any:
    """A face network (`aurum.analysers.pinned.PinnedNetwork`), loaded: without it the
    run fails with the reason, never skips (both networks are part of the product)."""
    if not model.load():
        pytest.fail(f"{name} not available here: {model.status()}")
    return model


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
