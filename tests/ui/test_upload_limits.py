"""Oversized uploads are refused at the door (issue 28), never read into memory.

Gradio's `max_file_size` (set at launch to `MAX_BYTES`) refuses a larger upload while
it streams in; `PrivateImage` checks the size on disk before reading, for any other
way in; the engine answers `image_too_large` for what was refused. The memory figures
(bursts of 300 MB uploads and of 40 MP photos) are in bench/upload_memory.py.
"""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest
from gradio.data_classes import FileData
from gradio_client import Client, handle_file

from aurum.measure.imaging import MAX_BYTES, Refused
from aurum_ui import TEMP_DIR
from aurum_ui.api import api_score
from aurum_ui.uploads import PrivateImage, RecentUploads


def test_over_limit_upload_is_refused_without_being_read(engine, monkeypatch):
    """A sparse 1 GB file where Gradio puts uploads: refused by its size on disk, its
    bytes never read (the read is spied on), the file deleted, and the API's answer is
    the typed error."""
    folder = TEMP_DIR / "test-oversized"
    folder.mkdir(exist_ok=True)
    big = folder / "big.jpg"
    with open(big, "wb") as f:
        f.write(b"\xff\xd8\xff\xe0")
        f.truncate(1 << 30)  # 1 GB on paper, a few bytes on disk
    reads: list[Path] = []
    real_read = Path.read_bytes

    def spy(self: Path) -> bytes:
        reads.append(self)
        return real_read(self)

    monkeypatch.setattr(Path, "read_bytes", spy)
    got = PrivateImage(type="numpy").preprocess(FileData(path=str(big)))
    assert got == Refused(1 << 30)
    assert reads == []
    assert not big.exists()
    report = api_score(engine, got)
    assert report["ok"] is False
    assert report["error"]["code"] == "image_too_large"
    assert report["error"]["message"] == "The file is 1073.7 MB; the limit is 62.9 MB."


def test_under_limit_upload_is_read():
    folder = TEMP_DIR / "test-small-upload"
    folder.mkdir(exist_ok=True)
    small = folder / "small.jpg"
    small.write_bytes(b"\xff\xd8" + b"\0" * 100)
    assert PrivateImage(type="numpy").preprocess(FileData(path=str(small))) == \
        b"\xff\xd8" + b"\0" * 100


def test_recent_uploads_are_bounded_by_total_bytes():
    recent = RecentUploads()
    chunk = 20 * 1024 * 1024
    for i in range(5):
        recent.put(f"k{i}", bytes([i]) * chunk)
    assert recent.total_bytes() <= RecentUploads.MAX_TOTAL_BYTES
    assert recent.get("k4", b"") == bytes([4]) * chunk  # the newest stays
    assert recent.get("k0", b"") == b""  # the oldest went first


@pytest.mark.slow
def test_server_refuses_an_over_limit_upload_as_it_streams(server):
    """A client that does not check sizes (a raw multipart POST of 70 MB) gets 413
    from Gradio's upload route, and nothing of it stays in the upload folder;
    gradio_client refuses before sending, with a message naming the limit."""
    url, _ = server
    boundary = "aurumtest"

    def body():
        yield (f"--{boundary}\r\nContent-Disposition: form-data; name=\"files\"; "
               "filename=\"big.jpg\"\r\nContent-Type: image/jpeg\r\n\r\n").encode()
        for _ in range(70):
            yield b"\0" * (1 << 20)
        yield f"\r\n--{boundary}--\r\n".encode()

    try:
        resp = httpx.post(f"{url.rstrip('/')}/gradio_api/upload", content=body(), timeout=60,
                          headers={"Content-Type": f"multipart/form-data; boundary={boundary}"})
        assert resp.status_code == 413
        assert str(MAX_BYTES) in resp.text
    except httpx.WriteError:
        pass  # the server answered and closed while the body was still streaming
    assert not [p for p in TEMP_DIR.rglob("big.jpg")]


@pytest.mark.slow
def test_gradio_client_gets_a_clear_error(server, tmp_path):
    big = tmp_path / "big.jpg"
    with open(big, "wb") as f:
        f.write(b"\xff\xd8")
        f.truncate(MAX_BYTES + 1)
    client = Client(server[0], verbose=False)
    with pytest.raises(ValueError, match="exceeds the maximum file size of 62914560"):
        client.predict(handle_file(str(big)), api_name="/score")
