"""A smaller variant of `bench/load.py` for CI: the app under concurrent API clients.

Good and bad images (identical bad files included, which share one path in
Gradio's upload cache) must all get correct answers, and a second round must not
grow the server's memory much beyond the first. The full 20 x 10 run is
`python bench/load.py --launch`.
"""

from __future__ import annotations

import importlib.util

import pytest

from aurum.paths import REPO_DIR

spec = importlib.util.spec_from_file_location("aurum_bench_load", REPO_DIR / "bench" / "load.py")
load = importlib.util.module_from_spec(spec)
assert spec.loader is not None
spec.loader.exec_module(load)


@pytest.fixture(scope="module")
def server():
    proc, url = load._launch()
    try:
        yield proc, url
    finally:
        load.stop(proc)


@pytest.mark.slow
@pytest.mark.timeout(900)
def test_concurrent_clients_all_get_correct_answers(server):
    proc, url = server
    first = load.run(url, clients=8, per_client=4, pid=proc.pid)
    assert first["requests"] == 32 and first["bad_inputs"] > 0
    assert first["correct"] == first["requests"], first["wrong_by_kind"]
    second = load.run(url, clients=8, per_client=4, pid=proc.pid)
    assert second["correct"] == second["requests"], second["wrong_by_kind"]
    rss1, rss2 = first["server_rss_mb"]["after"], second["server_rss_mb"]["after"]
    assert rss1 and rss2
    # Memory settles: the second identical round may not add more than 150 MB.
    assert rss2 - rss1 < 150, (first["server_rss_mb"], second["server_rss_mb"])
    assert proc.poll() is None  # the server is still serving
