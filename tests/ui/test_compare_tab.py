"""The Compare tab's handlers, called directly (no server): add, re-rank, clear,
the Live frame, the 12-photo limit; and the tab follows the README's tab recipe."""

from __future__ import annotations

import shutil

import numpy as np
import pytest

from aurum import compare
from aurum.config import Config
from aurum.measure.imaging import load_image
from aurum_ui import blocks
from aurum_ui.tabs import compare as tab
from tests.conftest import LONDON, LONDON_SMILING

pytestmark = pytest.mark.shared


@pytest.fixture
def two(tmp_path):
    out = []
    for p in (LONDON[0], LONDON_SMILING[0]):
        dst = tmp_path / p.name
        shutil.copy(p, dst)
        out.append(str(dst))
    return out


def test_the_tab_follows_the_recipe():
    assert tab.TITLE == "Compare" and tab.ID == "compare"
    assert callable(tab.build) and callable(tab.wire)
    assert tab in blocks.TABS


def test_upload_ranks_and_a_config_change_reranks_from_cache(engine, two, monkeypatch):
    out = tab.on_upload(engine, two, None, Config())
    state = out["compare-set"]
    assert len(state.cset.photos) == 2 and set(state.thumbs) == {0, 1}
    assert all(p.analysis.image is None for p in state.cset.photos)  # pixels dropped
    html = out["compare-result"]
    assert html.count('class="au-cmp-card') == 2 and "data:image/jpeg;base64," in html
    assert 'id="compare-ties"' in html and out["compare-files"] is None
    assert "CompareState(2 photos)" == repr(state)

    def no_inference(*a, **k):
        raise AssertionError("a model ran during a re-rank")

    monkeypatch.setattr(engine, "analyze", no_inference)
    again = tab.on_rerank(engine, state, Config.from_dict({"blend_weight": 1.0}))
    assert again["compare-result"] != html
    assert tab.on_rerank(engine, None, Config()) == {}


def test_the_live_frame_is_added_and_the_set_is_capped(engine, two):
    state = tab.on_upload(engine, two, None, Config())["compare-set"]
    frame = load_image(LONDON[1])
    out = tab.on_add_live(engine, frame, state, Config())
    assert len(out["compare-set"].cset.photos) == 3
    assert "live capture 3" in out["compare-result"]
    assert "Start the camera" in tab.on_add_live(engine, None, state, Config())["compare-result"]
    state = out["compare-set"]
    cal = compare.load_calibration(engine.models)
    state.cset = compare.add_photos(state.cset, state.cset.photos[:1] * 9, cal)  # 12: full
    full = tab.on_add_live(engine, np.asarray(frame), state, Config())
    assert "bad_photo_count" in full["compare-result"] and "compare-set" not in full


def test_clear_empties_the_set():
    out = tab.on_clear()
    assert out["compare-set"].cset is None and "au-empty" in out["compare-result"]
