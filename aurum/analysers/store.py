"""Opt-in store of numbers: scores, shape embedding and quality values, never a photo.

A user who opts in adds their face's numbers to the population so later
percentiles can count them ("reference+store"), and can remove them again with the
id they were given. No image, no file name and no exact time are kept (the date
only, so an entry cannot be matched to an upload in server logs). The numbers are
still biometric: the 14 face measurements matched a person's smiling photo to their
neutral one first 40 % of the time among 102 London faces (chance 1 %). Hence
opt-in, one entry per photo in the app, and deletion by id.

One interface, two Qdrant backends: an embedded store in a folder (the default,
`data/store`, fine for a few thousand entries) and a Qdrant server when
`AURUM_QDRANT_URL` is set (for deployments that outgrow one machine). Embedded
Qdrant locks its folder, so a process holds one client: `shared_store()` creates
it lazily on first use (start-up never pays for it) and `close_shared_store()`
releases it.
"""

from __future__ import annotations

import os
import sqlite3
import threading
import time
import uuid
from pathlib import Path
from typing import Any

import numpy as np

from aurum.paths import data_dir

COLLECTION = "aurum_optin"
SCORE_FIELDS = ("final", "geometric", "attractiveness")
# Payload keys a stored entry may have; anything else is refused, so a caller
# cannot slip a file name or an image into the store by accident.
ALLOWED_PAYLOAD = frozenset({"scores", "measures", "quality", "created", "embedding_version",
                             "attractiveness_model"})
SERVER_REFRESH_S = 30.0  # other processes may write to a server: re-read after this


class StoreError(RuntimeError):
    """The store cannot be opened or written (locked folder, unreachable server)."""


class OptInStore:
    """Numbers-only store over qdrant-client; thread-safe (one lock per store)."""

    def __init__(self, dim: int, *, path: str | Path | None = None, url: str | None = None,
                 collection: str = COLLECTION) -> None:
        from qdrant_client import QdrantClient

        self.dim = int(dim)
        self.collection = collection
        self.url = url
        self.path = None if url else Path(path or default_path())
        self._lock = threading.RLock()
        self._version = 0
        self._opened = time.monotonic()
        try:
            if url:
                self.client = QdrantClient(url=url, timeout=10)
            else:
                assert self.path is not None
                self.path.mkdir(parents=True, exist_ok=True)
                self.client = QdrantClient(path=str(self.path))
            self._ensure_collection()
        except StoreError:
            raise
        except Exception as exc:  # a locked folder, an unreachable server
            raise StoreError(f"cannot open the opt-in store: {exc}") from exc

    @property
    def backend(self) -> str:
        return "server" if self.url else "embedded"

    @property
    def version(self) -> tuple[int, int]:
        """Changes whenever the stored numbers may have changed (for callers' caches).
        A server can be written by other processes, so its version also ticks with time."""
        tick = int((time.monotonic() - self._opened) // SERVER_REFRESH_S) if self.url else 0
        return (self._version, tick)

    def _ensure_collection(self) -> None:
        from qdrant_client import models

        with self._lock:
            if not self.client.collection_exists(self.collection):
                self.client.create_collection(
                    self.collection,
                    vectors_config=models.VectorParams(size=self.dim,
                                                       distance=models.Distance.EUCLID))
            else:
                info = self.client.get_collection(self.collection)
                size = info.config.params.vectors.size  # type: ignore[union-attr]
                if size != self.dim:
                    raise StoreError(f"the opt-in store holds {size}-d vectors, expected "
                                     f"{self.dim}-d: the shape model changed; use a new store")

    def add(self, vector: np.ndarray | list[float], payload: dict[str, Any]) -> str:
        """Store one entry; returns its id (a random UUID4, the user's key to delete it)."""
        from qdrant_client import models

        from aurum.analysers.descriptor import Descriptor

        # The face descriptor is an identity template: refused here, whatever the caller.
        if isinstance(vector, Descriptor) or any(isinstance(v, Descriptor)
                                                 for v in payload.values()):
            raise ValueError("a face descriptor (identity template) is never stored")
        vec = [float(v) for v in np.asarray(vector, dtype=np.float64).reshape(-1)]
        if len(vec) != self.dim or not all(np.isfinite(vec)):
            raise ValueError(f"expected a finite {self.dim}-d vector")
        bad = set(payload) - ALLOWED_PAYLOAD
        if bad:
            raise ValueError(f"payload keys not allowed in the opt-in store: {sorted(bad)}")
        point_id = str(uuid.uuid4())
        with self._lock:
            self.client.upsert(self.collection, points=[
                models.PointStruct(id=point_id, vector=vec, payload=payload)], wait=True)
            self._version += 1
        return point_id

    def delete(self, point_id: str) -> bool:
        """Remove an entry and its numbers; False if there was no such entry."""
        from qdrant_client import models

        try:
            pid = str(uuid.UUID(str(point_id)))
        except ValueError:
            return False
        with self._lock:
            if not self.client.retrieve(self.collection, ids=[pid]):
                return False
            self.client.delete(self.collection,
                               points_selector=models.PointIdsList(points=[pid]), wait=True)
            self._version += 1
            self._purge_free_pages()
        return True

    def _purge_free_pages(self) -> None:
        """Embedded Qdrant keeps points in SQLite, which leaves a deleted row's bytes
        in free pages until VACUUM: run it so "forget me" really forgets."""
        if self.path is None:
            return
        for db in (self.path / "collection").glob("*/storage.sqlite"):
            con = sqlite3.connect(str(db), timeout=10)
            try:
                con.execute("VACUUM")
            finally:
                con.close()

    def get(self, point_id: str) -> dict[str, Any] | None:
        """The stored numbers of one entry (payload and vector), or None."""
        try:
            pid = str(uuid.UUID(str(point_id)))
        except ValueError:
            return None
        with self._lock:
            found = self.client.retrieve(self.collection, ids=[pid], with_payload=True,
                                         with_vectors=True)
        if not found:
            return None
        rec = found[0]
        return {"id": str(rec.id), "vector": list(rec.vector or []),  # type: ignore[arg-type]
                "payload": dict(rec.payload or {})}

    def count(self) -> int:
        with self._lock:
            return int(self.client.count(self.collection, exact=True).count)

    def payloads(self) -> list[dict[str, Any]]:
        """Every entry's payload, in id order (for bulk re-scoring under a config)."""
        out: list[tuple[str, dict[str, Any]]] = []
        offset = None
        with self._lock:
            while True:
                recs, offset = self.client.scroll(self.collection, limit=1000, offset=offset,
                                                  with_payload=True, with_vectors=False)
                out.extend((str(r.id), dict(r.payload or {})) for r in recs)
                if offset is None:
                    break
        out.sort(key=lambda t: t[0])
        return [p for _, p in out]

    def scores(self, field: str) -> np.ndarray:
        """One stored score for every entry (NaN where it was unavailable)."""
        if field not in SCORE_FIELDS:
            raise ValueError(f"unknown score field {field!r}; choose from {SCORE_FIELDS}")
        vals = [(p.get("scores") or {}).get(field) for p in self.payloads()]
        return np.array([np.nan if v is None else float(v) for v in vals], dtype=np.float64)

    def search(self, vector: np.ndarray | list[float], k: int = 5) -> list[dict[str, Any]]:
        """The k stored entries nearest to `vector` (Euclidean), nearest first."""
        vec = [float(v) for v in np.asarray(vector, dtype=np.float64).reshape(-1)]
        with self._lock:
            res = self.client.query_points(self.collection, query=vec, limit=int(k),
                                           with_payload=True)
        return [{"id": str(p.id), "distance": float(p.score), "payload": dict(p.payload or {})}
                for p in res.points]

    def close(self) -> None:
        """Release the client (and the embedded folder's lock)."""
        with self._lock:
            try:
                self.client.close()
            except Exception:  # closing twice or at interpreter exit is harmless
                pass


def default_path() -> Path:
    return data_dir() / "store"


_shared: OptInStore | None = None
_shared_lock = threading.Lock()


_last_error: str | None = None  # why the last attempt to open the store failed
_probe: tuple[float, str, str | None] = (0.0, "", None)  # (when, url, reason) of a server
PROBE_EVERY_S = 15.0
PROBE_TIMEOUT_S = 0.05  # the health check must answer in well under 50 ms


def shared_store(dim: int) -> OptInStore:
    """The process's store, created on first use (server if `AURUM_QDRANT_URL` is set)."""
    global _shared, _last_error
    with _shared_lock:
        if _shared is None:
            url = os.environ.get("AURUM_QDRANT_URL") or None
            try:
                _shared = OptInStore(dim, url=url)
            except StoreError as exc:
                _last_error = str(exc)[:300]
                raise
            _last_error = None
        elif _shared.dim != dim:
            raise StoreError(f"the open store holds {_shared.dim}-d vectors, not {dim}-d")
        return _shared


def store_exists() -> bool:
    """Whether there is a store to read: a server is configured, or the embedded
    store's folder exists (it is created by the first opt-in, never by a read)."""
    return bool(os.environ.get("AURUM_QDRANT_URL")) or default_path().exists()


def unavailable_reason() -> str | None:
    """Why an opt-in would fail right now, or None, without opening the store (the
    health check calls this): the last failed open, a data folder that cannot be
    created or written, or a configured server that refuses a TCP connection."""
    if _shared is not None:
        return None
    if _last_error:
        return _last_error
    url = os.environ.get("AURUM_QDRANT_URL")
    if url:
        return _probe_server(url)
    path = default_path()
    if path.exists():
        return None if path.is_dir() and os.access(path, os.W_OK | os.X_OK) else \
            "the store folder is not a writable folder"
    parent = path.parent
    while not parent.exists() and parent != parent.parent:
        parent = parent.parent
    if not parent.is_dir() or not os.access(parent, os.W_OK | os.X_OK):
        return "AURUM_DATA_DIR cannot be created or written"
    return None


def _probe_server(url: str) -> str | None:
    """A TCP connect to the Qdrant server (no request), at most every PROBE_EVERY_S."""
    global _probe
    import socket
    from urllib.parse import urlparse

    now = time.monotonic()
    when, last_url, reason = _probe
    if last_url == url and now - when < PROBE_EVERY_S:
        return reason
    parsed = urlparse(url if "://" in url else f"http://{url}")
    port = parsed.port or (443 if parsed.scheme == "https" else 6333)
    try:
        with socket.create_connection((parsed.hostname or "localhost", port),
                                      timeout=PROBE_TIMEOUT_S):
            reason = None
    except OSError as exc:
        reason = f"server not reachable ({type(exc).__name__})"
    _probe = (now, url, reason)
    return reason


def peek_shared_store() -> OptInStore | None:
    """The process's store if it is already open (never opens it)."""
    return _shared


def close_shared_store() -> None:
    global _shared
    with _shared_lock:
        if _shared is not None:
            _shared.close()
            _shared = None


def store_status() -> str:
    """The opt-in store's state for the status panel, without opening it (reads never
    create one)."""
    if os.environ.get("AURUM_QDRANT_URL"):
        where = "Qdrant server (AURUM_QDRANT_URL)"
    else:
        where = "embedded Qdrant in AURUM_DATA_DIR"
    if peek_shared_store() is not None:
        return f"ready: {where}, open"
    problem = unavailable_reason()
    if problem:
        return f"unavailable: {where}: {problem}"
    if store_exists():
        return f"ready: {where}, opened on first use"
    return f"empty: {where}, created by the first opt-in"
