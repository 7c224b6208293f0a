"""The Compare tab in headless Chromium: 4 London photos (two people, each neutral and
smiling) uploaded at once; the ranking, the tie rule and the different-person warning
seen; a Tune change re-ranks; desktop and 390 px, light and dark. Screenshots go to
/tmp/aurum_screens (compare_*.png)."""

from __future__ import annotations

import time

import pytest

from tests.conftest import LONDON, LONDON_SMILING
from tests.ui.test_app_browser import (  # noqa: F401  (pw and shots are fixtures)
    PAGE_WIDTH_JS,
    open_app,
    pw,
    set_slider,
    shots,
    snap,
    tab,
)

pytestmark = [pytest.mark.browser, pytest.mark.slow, pytest.mark.shared]

FOUR = [LONDON[0], LONDON_SMILING[0], LONDON[1], LONDON_SMILING[1]]


def _upload_four(pg) -> None:
    tab(pg, "Compare")
    pg.locator("#compare-files input[type=file]").set_input_files([str(p) for p in FOUR])
    pg.wait_for_selector("#compare-ranked .au-cmp-card", timeout=90_000)


def _finals(pg) -> dict[str, float]:
    return pg.evaluate("""() => Object.fromEntries([...document.querySelectorAll(
        '#compare-ranked .au-cmp-card')].map(c => [c.dataset.file,
        parseFloat(c.querySelector('[data-score=final]').textContent)]))""")


def test_compare_ranks_warns_and_reranks(server, pw, shots):  # noqa: F811
    browser, pg = open_app(pw, server[0])
    _upload_four(pg)
    ranked = pg.locator("#compare-ranked .au-cmp-card")
    assert ranked.count() == 2  # person 001's two photos
    names = {ranked.nth(i).get_attribute("data-file") for i in range(2)}
    assert names == {FOUR[0].name, FOUR[1].name}
    assert ranked.first.get_attribute("data-rank") == "1"
    assert ranked.first.locator("img.au-cmp-thumb").get_attribute("src").startswith(
        "data:image/jpeg;base64,")  # inline overlay thumbnail, never a file
    warning = pg.locator("#compare-warning").inner_text()
    assert FOUR[2].name in warning and FOUR[3].name in warning
    assert "different person" in warning
    assert pg.locator("#compare-apart .au-cmp-card").count() == 2
    ties = pg.locator("#compare-ties").inner_text()
    assert "measurement noise" in ties and "±" in ties  # the tie rule, with its margin
    assert pg.locator("#compare-ranked .au-cmp-reasons li").count() >= 2
    snap(pg, shots, "compare_desktop_light")
    # the four uploads were read into memory and their temporary files deleted
    left = [p for p in server[1].TEMP_DIR.rglob("*") if p.is_file()
            and p.suffix.lower() in {".jpg", ".jpeg", ".png", ".webp"}]
    assert left == []
    before = _finals(pg)
    # a Tune change re-ranks from the cached analyses: final = geometric at weight 1
    tab(pg, "Tune")
    set_slider(pg, "blend-weight", 1.0)
    time.sleep(1.0)
    tab(pg, "Compare")
    pg.wait_for_function("b => { const c = document.querySelector('#compare-ranked "
                         "[data-score=final]'); return c && c.textContent !== b; }",
                         arg=str(next(iter(before.values()))), timeout=20_000)
    for i in range(ranked.count()):
        card = ranked.nth(i)
        final = card.locator("[data-score=final]").inner_text()
        assert final == card.locator("[data-score=geometric]").inner_text()
    snap(pg, shots, "compare_desktop_reranked")
    browser.close()


def test_the_same_photo_twice_shows_as_a_tie(server, pw, shots):  # noqa: F811
    browser, pg = open_app(pw, server[0])
    tab(pg, "Compare")
    pg.locator("#compare-files input[type=file]").set_input_files([str(FOUR[0])])
    pg.wait_for_selector("#compare-ranked .au-cmp-card", timeout=60_000)
    pg.locator("#compare-files input[type=file]").set_input_files([str(FOUR[0])])
    pg.wait_for_function("document.querySelectorAll('#compare-ranked .au-cmp-card')"
                         ".length == 2", timeout=60_000)
    assert pg.locator("#compare-ranked .au-cmp-tied").count() == 2
    assert [pg.locator("#compare-ranked .au-cmp-rank").nth(i).inner_text()
            for i in range(2)] == ["=1", "=1"]
    assert "Tied" in pg.locator("#compare-ties").inner_text()
    pg.click("#compare-clear")
    pg.wait_for_selector("#compare-result .au-empty", timeout=20_000)
    browser.close()


@pytest.mark.parametrize("scheme", ["light", "dark"])
def test_compare_at_390_px(server, pw, shots, scheme):  # noqa: F811
    browser, pg = open_app(pw, server[0], width=390, height=844, color_scheme=scheme)
    _upload_four(pg)
    time.sleep(0.5)
    scroll, client = pg.evaluate(PAGE_WIDTH_JS)
    assert client == 390 and scroll <= 390, f"compare page is {scroll} px wide"
    lefts = pg.evaluate("() => [...document.querySelectorAll('#compare-ranked .au-cmp-card')]"
                        ".map(c => Math.round(c.getBoundingClientRect().left))")
    assert len(set(lefts)) == 1  # one column on a phone
    pg.locator("#compare-result").scroll_into_view_if_needed()
    snap(pg, shots, f"compare_390_{scheme}")
    browser.close()


def test_a_live_frame_joins_the_set(server, pw, shots, tmp_path):  # noqa: F811
    """Chromium's fake camera plays a face; Compare's button adds the Live tab's last
    frame next to an uploaded photo."""
    from tests.ui.test_app_browser import ARGS, CHROMIUM, write_y4m

    clip = tmp_path / "face.y4m"
    write_y4m(LONDON[0], clip)
    browser = pw.chromium.launch(executable_path=CHROMIUM, args=[
        *ARGS, "--use-fake-ui-for-media-stream", "--use-fake-device-for-media-stream",
        f"--use-file-for-fake-video-capture={clip}"])
    pg = browser.new_context(viewport={"width": 1360, "height": 1000},
                             permissions=["camera"]).new_page()
    pg.goto(server[0])
    pg.wait_for_selector("#input-image", timeout=60_000)
    tab(pg, "Live")
    pg.locator("#live-cam").get_by_text("Click to Access Webcam").click()
    pg.locator("#live-cam button.capture-button").click()
    pg.wait_for_selector("#live-overlay img", timeout=30_000)
    tab(pg, "Compare")
    pg.locator("#compare-files input[type=file]").set_input_files([str(LONDON_SMILING[0])])
    pg.wait_for_selector("#compare-ranked .au-cmp-card", timeout=60_000)
    pg.click("#compare-add-live")
    pg.wait_for_selector('#compare-result [data-file="live capture 2"]', timeout=60_000)
    assert pg.locator("#compare-ranked .au-cmp-card").count() == 2  # the same person
    snap(pg, shots, "compare_live_capture")
    browser.close()
