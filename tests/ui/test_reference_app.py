"""A population of one's own, end to end: build it with `build-reference`, start the
app on it with `python app.py --reference DIR`, and see it in Score, Tune and Status in
headless Chromium. Small (14 faces) so it costs about a minute; the default reference
is untouched."""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from aurum.analysers import population
from aurum.paths import REPO_DIR
from aurum.tools.reference.build import main as build_main
from tests.conftest import FIXTURES
from tests.ui.test_app_browser import SCREENS, open_app, tab, upload_and_score

pytestmark = [pytest.mark.browser, pytest.mark.slow, pytest.mark.shared]
playwright_api = pytest.importorskip("playwright.sync_api")
N_FACES = 14


def _port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="module")
def own_population(tmp_path_factory, shared) -> Path:
    out = tmp_path_factory.mktemp("studio-pop")
    args = ["--faces", str(shared / "faces"), "--limit", str(N_FACES), "--out", str(out),
            "--name", "studio-test", "--jobs", "2", "--quiet"]
    assert build_main(args) == 0
    pop = population.load_default(out)
    assert pop.n == N_FACES and pop.name == "studio-test"
    return out


@pytest.fixture(scope="module")
def app_url(own_population: Path):
    port = _port()
    env = {**os.environ, "GRADIO_SERVER_NAME": "127.0.0.1", "GRADIO_SERVER_PORT": str(port),
           "HF_HUB_OFFLINE": "1", "AURUM_CLIP": "0"}
    env.pop("AURUM_REFERENCE", None)
    proc = subprocess.Popen([sys.executable, "app.py", "--reference", str(own_population)],
                            cwd=REPO_DIR, env=env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}/"
    deadline = time.monotonic() + 120
    while True:
        try:
            urllib.request.urlopen(url, timeout=2)
            break
        except OSError:
            if proc.poll() is not None or time.monotonic() > deadline:
                proc.kill()
                pytest.fail("the app did not start with --reference")
            time.sleep(0.5)
    yield url
    proc.terminate()
    proc.wait(timeout=30)


def test_app_started_with_reference_shows_it_in_score_tune_and_status(app_url: str,
                                                                     tmp_path: Path):
    with playwright_api.sync_playwright() as pw:
        browser, pg = open_app(pw, app_url)
        upload_and_score(pg, FIXTURES[0], "#percentile")
        cards = pg.locator("#score-cards").inner_text()
        assert re.search(rf"of {N_FACES} reference faces of .studio-test.", cards), cards
        SCREENS.mkdir(exist_ok=True)
        pg.screenshot(path=str(SCREENS / "own_population_score.png"), full_page=True)
        tab(pg, "Tune")
        pg.wait_for_selector("#pop-summary-card", timeout=30_000)
        summary = pg.locator("#pop-summary-card").inner_text().lower()  # CSS upper-cases
        assert "studio-test" in summary and f"n = {N_FACES}" in summary, summary
        pg.screenshot(path=str(SCREENS / "own_population_tune.png"), full_page=True)
        tab(pg, "Status")
        pg.wait_for_function("() => document.querySelector('#status-json')"
                             " && document.querySelector('#status-json').innerText"
                             ".includes('studio-test')", timeout=30_000)
        status = pg.locator("#status-json").inner_text()
        assert f"ready: {N_FACES} reference faces of 'studio-test'" in status
        assert "loaded from the folder" in status
        pg.screenshot(path=str(SCREENS / "own_population_status.png"), full_page=True)
        browser.close()
