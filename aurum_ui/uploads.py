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

from aurum.measure.imaging import MAX_BYTES, Refused
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

    def preprocess(self, payload: FileData | None  # type: ignore[override]
                   ) -> bytes | Refused | None:
        if payload is None:
            return None
        url = getattr(payload, "url", None) or ""
        if url.startswith("data:"):
            encoded = url.split(",", 1)[1]
            if len(encoded) // 4 * 3 > MAX_BYTES:
                return Refused(len(encoded) // 4 * 3)
            return base64.b64decode(encoded)
        if not payload.path:
            return None
        path = Path(payload.path)
        try:
            # Gradio's max_file_size (set at launch to the same limit) refuses larger
            # uploads before they are stored; this covers any other way in, by the size
            # on disk, so an oversized file is never read into memory.
            size = path.stat().st_size
            if size > MAX_BYTES:
                discard_upload(path)
                return Refused(size)
            data = path.read_bytes()
        except OSError:
            # Gradio names an upload's folder after its content hash, so two visitors
            # sending the same bytes share one path: the first request deleted it.
            # Serve those bytes from a short-lived in-memory copy (never from disk).
            return RECENT.get(str(path), CONSUMED)
        RECENT.put(str(path), data)
        self._discard(path)
        return data

    def _discard(self, path: Path) -> None:
        """Delete the file now, or after `grace_s` (the browser may be fetching it)."""
        if self.grace_s <= 0:
            discard_upload(path)
        else:
            timer = threading.Timer(self.grace_s, discard_upload, [path])
            timer.daemon = True
            timer.start()


class RecentUploads:
    """Bytes of the last few uploads, in memory only, for `RECENT_SECONDS` and at most
    `MAX_TOTAL_BYTES` in all (oldest dropped first): it exists because Gradio stores two
    identical uploads at one path, which the first request deletes, so the second
    visitor's photo is served from here; a burst of large photos must not pin memory."""

    RECENT_SECONDS = 60.0
    MAX_ITEMS = 32
    MAX_TOTAL_BYTES = 64 * 1024 * 1024

    def __init__(self) -> None:
        self._items: dict[str, tuple[float, bytes]] = {}
        self._lock = threading.Lock()

    def put(self, key: str, data: bytes) -> None:
        now = time.monotonic()
        with self._lock:
            self._items.pop(key, None)
            self._items[key] = (now, data)
            for k in [k for k, (t, _) in self._items.items() if now - t > self.RECENT_SECONDS]:
                del self._items[k]
            total = sum(len(d) for _, d in self._items.values())
            while self._items and (len(self._items) > self.MAX_ITEMS
                                   or total > self.MAX_TOTAL_BYTES):
                total -= len(self._items.pop(next(iter(self._items)))[1])

    def total_bytes(self) -> int:
        with self._lock:
            return sum(len(d) for _, d in self._items.values())

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
