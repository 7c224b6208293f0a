"""Privacy: logs carry no image data, and a scored photo leaves nothing on disk."""

from __future__ import annotations

import logging
import os
import time
from pathlib import Path

import pytest
from gradio_client import Client, handle_file

from aurum.engine import Engine
from tests.conftest import FIXTURES

# What image bytes look like in text: JPEG/PNG magic, raw or base64-encoded.
IMAGE_MARKERS = ("\\xff\\xd8\\xff", "/9j/", "iVBORw0KGgo", "data:image", "\\x89PNG")


def _assert_no_image_data(records: list[logging.LogRecord]) -> None:
    for rec in records:
        text = rec.getMessage()
        assert len(text) < 4000, f"suspiciously long log line from {rec.name}"
        for marker in IMAGE_MARKERS:
            assert marker not in text, f"image data in a log line from {rec.name}"


def test_library_logs_hold_no_image_data(engine: Engine, caplog, tmp_path: Path):
    caplog.set_level(logging.DEBUG)
    bad = tmp_path / "cut.jpg"
    bad.write_bytes(FIXTURES[0].read_bytes()[:5000])
    for source in (FIXTURES[0], bad, FIXTURES[1].read_bytes()):
        engine.run(source)
    lines = [r.getMessage() for r in caplog.records if r.name == "aurum"]
    assert [line.split(",")[0] for line in lines] == ["analyze: ok", "analyze: truncated_image",
                                                      "analyze: ok"]
    assert not any(FIXTURES[0].name in line or "cut.jpg" in line for line in lines)
    _assert_no_image_data(caplog.records)


@pytest.mark.slow
def test_app_request_leaves_no_image_and_logs_none(server, caplog):
    url, app = server
    caplog.set_level(logging.DEBUG)
    started = time.time()
    report = Client(url, verbose=False).predict(handle_file(str(FIXTURES[2])), api_name="/score")
    assert report["ok"]
    _assert_no_image_data(caplog.records)
    # Nothing image-like was written anywhere under Gradio's private cache since then.
    recent = [p for p in app.TEMP_DIR.rglob("*") if p.is_file()
              and os.stat(p).st_mtime >= started - 1
              and p.suffix.lower() in {".jpg", ".jpeg", ".png", ".webp", ".gif", ".bmp"}]
    assert recent == []


@pytest.mark.slow
@pytest.mark.shared
def test_compare_request_leaves_no_image_and_logs_none(server, caplog):
    from tests.conftest import LONDON, LONDON_SMILING

    url, app = server
    caplog.set_level(logging.DEBUG)
    started = time.time()
    doc = Client(url, verbose=False).predict(
        [handle_file(str(LONDON[5])), handle_file(str(LONDON_SMILING[5]))], "",
        api_name="/compare")
    assert doc["ok"] and len(doc["ranking"]) == 2
    _assert_no_image_data(caplog.records)
    assert not any(LONDON[5].name in r.getMessage() for r in caplog.records)
    recent = [p for p in app.TEMP_DIR.rglob("*") if p.is_file()
              and os.stat(p).st_mtime >= started - 1
              and p.suffix.lower() in {".jpg", ".jpeg", ".png", ".webp", ".gif", ".bmp"}]
    assert recent == []
