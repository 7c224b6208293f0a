"""Folder scoring as a user runs it: worker processes, Ray, resume after an interrupt.

Kept short for CI: the committed fixture faces (4), copied a few times when a run must
last long enough to be interrupted. Speed is measured in bench/, never here.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from aurum.paths import REPO_DIR
from aurum.tools import batch
from aurum.tools.reference.faces import collect
from tests.conftest import FIXTURES

ENV = {**os.environ, "HF_HUB_OFFLINE": "1"}


def _run(*args: str, timeout: int = 300) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "aurum", *args], cwd=REPO_DIR, env=ENV,
                          capture_output=True, text=True, timeout=timeout)


def _lines(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def _comparable(rows: list[dict]) -> dict[str, dict]:
    """By file, without what legitimately differs between runs (timing) or modes
    (the batch lines' sha256)."""
    out = {}
    for r in rows:
        r = {k: v for k, v in r.items() if k not in ("timing_ms", "sha256")}
        out[r["file"]] = r
    return out


@pytest.fixture(scope="module")
def photos(tmp_path_factory) -> Path:
    """The fixture faces in a folder tree, plus a broken 'photo' and files to ignore."""
    root = tmp_path_factory.mktemp("photos")
    (root / "sub" / "deeper").mkdir(parents=True)
    (root / ".hidden").mkdir()
    for i, f in enumerate(FIXTURES):
        dest = root if i < 2 else (root / "sub" if i == 2 else root / "sub" / "deeper")
        shutil.copy2(f, dest / f.name)
    (root / "sub" / "broken.jpg").write_bytes(b"not a picture")
    (root / "notes.txt").write_text("not an image name: not listed")
    shutil.copy2(FIXTURES[0], root / ".hidden" / "skip.jpg")
    return root


def test_expand_lists_images_recursively_in_a_stable_order(photos: Path, tmp_path: Path):
    got = batch.expand([photos])
    assert len(got) == len(FIXTURES) + 1
    assert not any(".hidden" in p or p.endswith(".txt") for p in got)
    assert got == batch.expand([photos, photos / "sub"])  # each photo once
    named = tmp_path / "named.dat"
    named.write_bytes(b"x")
    assert batch.expand([named]) == [str(named)]  # a named file is answered, any suffix
    assert {".heic", ".heif", ".jpg", ".png", ".webp"} <= set(batch.IMAGE_SUFFIXES)


def test_read_done_cuts_a_half_line_and_pending_rechecks_the_bytes(tmp_path: Path):
    a, b = tmp_path / "a.jpg", tmp_path / "b.jpg"
    a.write_bytes(b"aaa")
    b.write_bytes(b"bbb")
    out = tmp_path / "out.jsonl"
    whole = json.dumps({"file": str(a), "sha256": batch.sha256_file(a)})
    stale = json.dumps({"file": str(b), "sha256": "0" * 64})
    out.write_text(whole + "\n" + stale + "\n" + '{"file": "half')
    done = batch.read_done(out)
    assert out.read_text() == whole + "\n" + stale + "\n"  # the half line is gone
    assert batch.pending([str(a), str(b)], done) == [str(b)]  # b's bytes changed


def test_ids_are_unique_and_stable_across_folders(tmp_path: Path):
    for folder in ("x", "y"):
        (tmp_path / folder / "n").mkdir(parents=True)
        (tmp_path / folder / "a.jpg").write_bytes(b"1")
        (tmp_path / folder / "n" / "a.jpg").write_bytes(b"2")
    (tmp_path / "x" / "a.png").write_bytes(b"3")
    items = collect([tmp_path / "x", tmp_path / "y", tmp_path / "x"], None)
    ids = [i for i, _ in items]
    assert ids == sorted(set(ids)) and len(ids) == 5
    assert {"x/a.jpg", "x/a.png", "x/n/a", "y/a", "y/n/a"} == set(ids)
    (tmp_path / "z" / "x").mkdir(parents=True)
    with pytest.raises(SystemExit, match="both labelled 'x'"):
        collect([tmp_path / "x", tmp_path / "z" / "x"], None)


def test_folder_with_two_workers_equals_the_one_process_loop_and_resumes(photos: Path,
                                                                         tmp_path: Path):
    files = batch.expand([photos])
    one = _run("score", *files)
    assert one.returncode == 0, one.stderr
    out = tmp_path / "out.jsonl"
    run = _run("score", str(photos), "--jobs", "2", "--out", str(out))
    assert run.returncode == 0, run.stderr
    rows = _lines(out)
    assert sorted(r["file"] for r in rows) == sorted(files)  # every photo, once
    assert _comparable(rows) == _comparable([json.loads(x) for x in one.stdout.splitlines()])
    broken = next(r for r in rows if r["file"].endswith("broken.jpg"))
    assert broken["error"]["code"] == "not_an_image"
    assert all(r["sha256"] == batch.sha256_file(r["file"]) for r in rows)
    assert "outcomes: ok 4, not_an_image 1" in run.stderr
    assert "final score quantiles: p5" in run.stderr
    assert "photos/s ETA" not in run.stderr  # stderr is not a terminal: no bar

    # A second run adds nothing; a run cut mid-line resumes to each photo exactly once.
    again = _run("score", str(photos), "--jobs", "2", "--out", str(out), "--quiet")
    assert again.returncode == 0 and again.stderr.count("Traceback") == 0
    assert len(_lines(out)) == len(files)
    text = out.read_text().splitlines(keepends=True)
    out.write_text("".join(text[:2]) + text[2][:40])  # as if killed while writing
    third = _run("score", str(photos), "--jobs", "1", "--out", str(out))
    assert third.returncode == 0, third.stderr
    assert "2 already in the output, skipped" in third.stderr
    assert _comparable(_lines(out)) == _comparable(rows)
    assert len(_lines(out)) == len(files)


def test_sigterm_leaves_whole_lines_and_a_restart_finishes(tmp_path: Path):
    folder = tmp_path / "many"
    folder.mkdir()
    for copy in range(6):
        for f in FIXTURES:
            shutil.copy2(f, folder / f"{copy}_{f.name}")
    out = tmp_path / "out.jsonl"
    cmd = [sys.executable, "-m", "aurum", "score", str(folder), "--jobs", "1",
           "--out", str(out), "--quiet"]
    proc = subprocess.Popen(cmd, cwd=REPO_DIR, env=ENV, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and (not out.exists() or out.stat().st_size == 0):
        time.sleep(0.1)
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=60) == 130
    first = _lines(out)  # every line parses: no half line
    assert 1 <= len(first) < 24 and out.read_bytes().endswith(b"\n")
    assert _run("score", str(folder), "--jobs", "2", "--out", str(out)).returncode == 0
    files = [r["file"] for r in _lines(out)]
    assert sorted(files) == sorted(batch.expand([folder]))  # each exactly once


def test_ray_gives_the_local_pools_lines(photos: Path, tmp_path: Path):
    pytest.importorskip("ray")
    local, ray_out = tmp_path / "local.jsonl", tmp_path / "ray.jsonl"
    assert _run("score", str(photos), "--jobs", "2", "--out", str(local),
                "--quiet").returncode == 0
    run = _run("score", str(photos), "--engine", "ray", "--jobs", "2", "--out", str(ray_out))
    assert run.returncode == 0, run.stderr
    a, b = _lines(local), _lines(ray_out)
    assert len(b) == len(a) == len(FIXTURES) + 1
    assert {r["file"]: r["sha256"] for r in a} == {r["file"]: r["sha256"] for r in b}
    assert _comparable(a) == _comparable(b)


def test_missing_ray_is_one_line(monkeypatch, capsys, photos: Path):
    import importlib.util

    from aurum.tools import cli

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec",
                        lambda name, *a: None if name == "ray" else real(name, *a))
    assert cli.main(["score", str(photos), "--engine", "ray"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "pip install 'ray==" in err
