"""Uploads that live in memory only: the image input hands handlers bytes and the
temporary file Gradio wrote is deleted seconds later."""

from __future__ import annotations

import base64
import logging
import threading
import time
from pathlib import Path

import gradio as gr
from gradio.data_classes import FileData

from aurum_ui.tempdir import TEMP_DIR

log = logging.getLogger("aurum.app")

CONSUMED = b""  # "the same upload as before" (its file is already gone)
UPLOAD_GRACE_S = 10.0  # an upload's temporary file is deleted this long after it is read


class PrivateImage(gr.Image):
    """An image input that hands the handler the uploaded *bytes* and deletes the
    temporary upload at once: Gradio would otherwise keep the file in its cache, and
    re-encode a copy for `type="numpy"`. The engine decodes the bytes itself (EXIF
    orientation, typed errors for non-images), exactly as the CLI does."""

    is_template = True  # rendered by the stock Image frontend
    # How long the file may live after it is read. The visible input sets a few seconds
    # (the browser may still be fetching it for the preview); the API input needs none.
    # A class attribute, not a constructor argument: constructor arguments are sent to
    # the stock frontend, which does not know this one.
    grace_s: float = 0.0

    def preprocess(self, payload: FileData | None) -> bytes | None:  # type: ignore[override]
        if payload is None:
            return None
        url = getattr(payload, "url", None) or ""
        if url.startswith("data:"):
            return base64.b64decode(url.split(",", 1)[1])
        if not payload.path:
            return None
        path = Path(payload.path)
        try:
            data = path.read_bytes()
        except OSError:
            # Gradio names an upload's folder after its content hash, so two visitors
            # sending the same bytes share one path: the first request deleted it.
            # Serve those bytes from a short-lived in-memory copy (never from disk).
            return RECENT.get(str(path), CONSUMED)
        RECENT.put(str(path), data)
        if self.grace_s <= 0:
            discard_upload(path)
        else:
            timer = threading.Timer(self.grace_s, discard_upload, [path])
            timer.daemon = True
            timer.start()
        return data


class RecentUploads:
    """Bytes of the last few uploads, in memory only, for `RECENT_SECONDS`."""

    RECENT_SECONDS = 60.0
    MAX_ITEMS = 32

    def __init__(self) -> None:
        self._items: dict[str, tuple[float, bytes]] = {}
        self._lock = threading.Lock()

    def put(self, key: str, data: bytes) -> None:
        now = time.monotonic()
        with self._lock:
            self._items[key] = (now, data)
            for k in [k for k, (t, _) in self._items.items() if now - t > self.RECENT_SECONDS]:
                del self._items[k]
            while len(self._items) > self.MAX_ITEMS:
                del self._items[next(iter(self._items))]

    def get(self, key: str, default: bytes) -> bytes:
        with self._lock:
            item = self._items.get(key)
        if item is None or time.monotonic() - item[0] > self.RECENT_SECONDS:
            return default
        return item[1]


RECENT = RecentUploads()


def discard_upload(path: Path) -> None:
    """Delete a temporary upload (and its hash folder) if it lives in our cache."""
    try:
        root = TEMP_DIR.resolve()
        p = path.resolve()
        if root not in p.parents:
            return
        p.unlink(missing_ok=True)
        if p.parent != root and not any(p.parent.iterdir()):
            p.parent.rmdir()
    except OSError:
        log.warning("could not delete a temporary upload")
