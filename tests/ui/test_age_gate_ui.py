"""The adults-only gate as an API client and a visitor meet it: every shared under-13
face is withheld through `/score` (gradio_client); in the browser, a sample of them
(each kind, both grids) on the Score tab and one through the Live tab's capture. The
page says so plainly, shows no score and no age. Screenshots (desktop and 390 px) go to
/tmp/aurum_screens."""

from __future__ import annotations

import json

import pytest
from gradio_client import Client, handle_file

from tests.conftest import FIXTURE_FACE
from tests.test_age_gate_shared import SCORE_FIELDS, minors
from tests.ui import test_app_browser as browser_tests
from tests.ui.test_app_browser import (
    ARGS,
    CHROMIUM,
    open_app,
    snap,
    tab,
    upload_and_score,
    write_y4m,
)

pytestmark = [pytest.mark.shared, pytest.mark.slow]
pw, shots = browser_tests.pw, browser_tests.shots  # the browser walk-through's fixtures


def test_every_under_13_is_withheld_through_the_api(server):
    client = Client(server[0], verbose=False)
    paths = minors()
    scored = []
    for path in paths:
        got = client.predict(handle_file(str(path)), api_name="/score")
        if got["ok"] or got["error"]["code"] != "apparent_minor":
            scored.append((path.name, got["error"]))
        assert all(got[k] is None for k in SCORE_FIELDS)
    assert scored == []


def _browser_sample() -> list:
    """One face of each under-13 kind from each grid (rows of 13 in MANIFEST order)."""
    paths = minors()
    return [paths[i] for i in (0, 14, 28, 39, 53, 67)]


def _assert_gated_page(pg) -> None:
    cards = pg.locator("#score-cards").inner_text()
    assert "Adults only" in cards and "apparent_minor" in cards
    assert pg.locator("#final-score").count() == 0
    assert pg.locator("#geometric-score").count() == 0
    assert "years" not in cards.lower()  # no age estimate shown as a fact


@pytest.mark.browser
def test_score_tab_withholds_children_and_keeps_the_overlay(server, pw, shots):
    for width, name in ((1360, "desktop"), (390, "phone")):
        browser, pg = open_app(pw, server[0], width=width, height=900)
        for i, path in enumerate(_browser_sample() if width == 1360 else minors()[:1]):
            if i == 0:
                upload_and_score(pg, path, ".au-error")
            else:  # the same panel again: wait for the new photo's overlay instead
                old = pg.locator("#overlay-image img").get_attribute("src")
                pg.locator("#input-image input[type=file]").set_input_files(str(path))
                pg.wait_for_selector("#input-image img", timeout=30_000)
                pg.click("#score-button")
                pg.wait_for_function("o => { const i = document.querySelector("
                                     "'#overlay-image img'); return i && i.src !== o; }",
                                     arg=old, timeout=60_000)
            _assert_gated_page(pg)
            assert pg.locator("#overlay-image img").count() == 1  # the landmarks stay
            if i == 0:
                snap(pg, shots, f"20_age_gate_{name}")
        if width == 1360:
            _assert_opt_in_follows_the_gate(pg)
        browser.close()


def _assert_opt_in_follows_the_gate(pg) -> None:
    """The opt-in box and button are not offered for the withheld face (a note says
    why); the next photo, an adult's, gets them."""
    pg.locator("#optin").get_by_text("Add my numbers to the population (opt-in)").click()
    pg.wait_for_selector("#optin-note .au-note", timeout=10_000)
    assert "adults only" in pg.locator("#optin-note").inner_text()
    assert not pg.locator("#optin-button").is_visible()
    assert not pg.locator("#optin-checkbox").is_visible()
    upload_and_score(pg, FIXTURE_FACE, "#final-score")
    pg.wait_for_selector("#optin-button", state="visible", timeout=10_000)
    assert pg.locator("#optin-checkbox").is_visible()
    assert pg.locator("#optin-note").inner_text().strip() == ""


@pytest.mark.browser
def test_live_capture_of_a_child_is_withheld(server, pw, shots, tmp_path):
    clip = tmp_path / "child.y4m"
    write_y4m(minors()[28], clip)
    browser = pw.chromium.launch(executable_path=CHROMIUM, args=[
        *ARGS, "--use-fake-ui-for-media-stream", "--use-fake-device-for-media-stream",
        f"--use-file-for-fake-video-capture={clip}"])
    ctx = browser.new_context(viewport={"width": 1360, "height": 1000},
                              permissions=["camera"])
    pg = ctx.new_page()
    pg.goto(server[0])
    pg.wait_for_selector("#input-image", timeout=60_000)
    tab(pg, "Live")
    pg.locator("#live-cam").get_by_text("Click to Access Webcam").click()
    pg.locator("#live-cam button.capture-button").click()  # start streaming
    pg.wait_for_selector("#live-overlay img", timeout=30_000)
    pg.click("#capture-button")
    pg.wait_for_selector("#score-cards .au-error", timeout=60_000)
    _assert_gated_page(pg)
    snap(pg, shots, "21_age_gate_live_capture")
    report = pg.evaluate("() => document.querySelector('#score-cards').innerText")
    assert json.dumps(report).count("apparent_minor") >= 1
    browser.close()
