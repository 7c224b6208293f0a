"""The opt-in store keeps numbers only, survives a restart and really forgets."""

from __future__ import annotations

import uuid
from pathlib import Path

import numpy as np
import pytest

from aurum.analysers.store import OptInStore, StoreError

DIM = 8
MARKER = 12345.678901  # a distinctive number to look for in the store's files


def _payload(final: float) -> dict:
    return {"scores": {"final": final, "geometric": 61.5, "attractiveness": None},
            "measures": {"lip_ratio": 1.61}, "quality": {"frontality": 0.9},
            "created": "2025-01-01"}


def _bytes_of(folder: Path) -> bytes:
    return b"".join(p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file())


@pytest.fixture()
def st(tmp_path):
    s = OptInStore(DIM, path=tmp_path / "store")
    yield s
    s.close()


def test_add_get_search_delete_round_trip(st):
    rng = np.random.default_rng(0)
    vecs = rng.normal(size=(5, DIM))
    ids = [st.add(v, _payload(50.0 + i)) for i, v in enumerate(vecs)]
    assert all(str(uuid.UUID(i)) == i and uuid.UUID(i).version == 4 for i in ids)
    assert st.count() == 5
    got = st.get(ids[2])
    assert got is not None and got["payload"]["scores"]["final"] == 52.0
    assert np.allclose(got["vector"], vecs[2])
    hits = st.search(vecs[3] + 1e-3, k=2)
    assert hits[0]["id"] == ids[3] and hits[0]["distance"] < 0.01
    assert len(hits) == 2 and hits[1]["distance"] >= hits[0]["distance"]
    assert sorted(st.scores("final").tolist()) == [50.0, 51.0, 52.0, 53.0, 54.0]
    assert np.isnan(st.scores("attractiveness")).all()
    assert st.delete(ids[3]) is True
    assert st.get(ids[3]) is None and st.count() == 4
    assert st.delete(ids[3]) is False
    assert st.delete("not-a-uuid") is False and st.get("not-a-uuid") is None
    assert ids[3] not in [h["id"] for h in st.search(vecs[3], k=4)]


def test_survives_restart_and_delete_reaches_disk(tmp_path):
    folder = tmp_path / "store"
    s = OptInStore(DIM, path=folder)
    keep = s.add(np.ones(DIM), _payload(40.0))
    gone = s.add(np.full(DIM, 2.0), _payload(MARKER))
    s.close()
    marker = repr(MARKER).encode()
    # Qdrant pickles payloads: the float is stored as 8 raw bytes, look for both forms.
    import struct

    packed = struct.pack(">d", MARKER)
    raw = _bytes_of(folder)
    assert marker in raw or packed in raw, "test marker not found: the check would be vacuous"

    s = OptInStore(DIM, path=folder)
    assert s.count() == 2 and s.get(gone)["payload"]["scores"]["final"] == MARKER
    assert s.delete(gone)
    s.close()
    raw = _bytes_of(folder)
    assert marker not in raw and packed not in raw and gone.encode() not in raw

    s = OptInStore(DIM, path=folder)
    try:
        assert s.count() == 1 and s.get(gone) is None
        assert s.get(keep)["payload"]["scores"]["final"] == 40.0
    finally:
        s.close()


def test_payload_holds_numbers_only(st):
    with pytest.raises(ValueError, match="not allowed"):
        st.add(np.zeros(DIM), {**_payload(1.0), "file": "me.jpg"})
    with pytest.raises(ValueError, match="not allowed"):
        st.add(np.zeros(DIM), {**_payload(1.0), "image": [[0, 0, 0]]})
    with pytest.raises(ValueError):
        st.add(np.zeros(DIM + 1), _payload(1.0))
    assert st.count() == 0


def test_second_client_on_same_folder_is_a_clear_error(st):
    with pytest.raises(StoreError, match="cannot open"):
        OptInStore(DIM, path=st.path)


def test_dimension_mismatch_is_refused(tmp_path):
    s = OptInStore(DIM, path=tmp_path / "s")
    s.close()
    with pytest.raises(StoreError, match="expected"):
        OptInStore(DIM + 2, path=tmp_path / "s")


def test_forget_purges_bytes_even_without_sqlite_secure_delete(tmp_path, monkeypatch):
    """Debian's SQLite zeroes deleted rows itself; other builds leave them in free pages.
    Turn that off to check that the store's own VACUUM removes them."""
    import sqlite3
    import struct

    from qdrant_client.local import persistence

    real_connect = sqlite3.connect

    def insecure_connect(*args, **kwargs):
        con = real_connect(*args, **kwargs)
        con.execute("PRAGMA secure_delete=OFF")
        return con

    monkeypatch.setattr(persistence.sqlite3, "connect", insecure_connect)
    packed = struct.pack(">d", MARKER)

    def add_then_delete(folder: Path, purge: bool) -> bytes:
        s = OptInStore(DIM, path=folder)
        if not purge:
            monkeypatch.setattr(s, "_purge_free_pages", lambda: None)
        s.add(np.ones(DIM), _payload(40.0))
        gone = s.add(np.full(DIM, 2.0), _payload(MARKER))
        assert s.delete(gone)
        s.close()
        return _bytes_of(folder)

    # Without the purge the deleted numbers are still in the file (the check is real)...
    assert packed in add_then_delete(tmp_path / "plain", purge=False)
    # ...with it they are gone.
    assert packed not in add_then_delete(tmp_path / "purged", purge=True)
