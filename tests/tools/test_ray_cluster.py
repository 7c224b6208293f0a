"""Folder scoring on Ray when an actor or a whole node dies: every photo once.

The retry rule is checked on a stand-in for Ray (actors that die on cue, no cluster);
the real thing, a two-node Ray cluster on this machine with the second node's raylet
killed mid-run, is `bench/ray_cluster.py`, run here on 20 shared photos (slow: about
20-40 s on 2 cores).
"""

from __future__ import annotations

import json
import subprocess
import sys
from types import SimpleNamespace
from typing import Any

import pytest

from aurum.paths import REPO_DIR
from aurum.tools import ray_runner, workers


class _ActorDied(Exception):
    pass


class _FakeRay:
    """Just what `ray_runner._schedule` calls: refs resolve at once, in order; actor
    `dead` fails every call once `calls` photos were sent anywhere."""

    def __init__(self, dead: set[int], after: int) -> None:
        self.exceptions = SimpleNamespace(RayActorError=_ActorDied, ObjectLostError=_ActorDied,
                                          RayError=Exception)
        self.dead, self.after, self.calls = dead, after, 0

    def actor(self, i: int) -> Any:
        fake = self

        class _Method:
            def remote(self, path: str, data: bytes | None) -> tuple[int, str, bool]:
                fake.calls += 1
                return (i, path, i in fake.dead and fake.calls > fake.after)

        return SimpleNamespace(score=_Method())

    def wait(self, refs: list[Any], num_returns: int) -> tuple[list[Any], list[Any]]:
        return refs[:num_returns], refs[num_returns:]

    def get(self, ref: tuple[int, str, bool]) -> dict[str, Any]:
        i, path, dies = ref
        if dies:
            raise _ActorDied(f"actor {i}")
        return {"path": path, "line": json.dumps({"file": path, "actor": i}), "error": None}


@pytest.mark.parametrize("dead, after", [({1}, 3), ({0}, 0), ({1}, 10)])
def test_a_dead_actor_costs_its_photos_a_retry_on_the_others(dead, after):
    fake = _FakeRay(dead, after)
    paths = [f"p{i:02d}.jpg" for i in range(12)]
    rows = list(ray_runner._schedule(fake, paths, [fake.actor(i) for i in range(3)],
                                     ship=False))
    assert sorted(r["path"] for r in rows) == paths  # each photo once
    assert all(r["error"] is None for r in rows)  # all answered, none by the dead actor
    assert all(json.loads(r["line"])["actor"] not in dead for r in rows
               if paths.index(r["path"]) >= after + 2 * 3)


def test_no_live_actor_left_gives_each_rest_photo_one_crashed_line(monkeypatch):
    monkeypatch.setattr(workers, "crashed", lambda p, why: {"path": p, "error": why,
                                                             "line": "{}"})
    fake = _FakeRay({0, 1}, 2)
    paths = [f"p{i}.jpg" for i in range(8)]
    rows = list(ray_runner._schedule(fake, paths, [fake.actor(i) for i in range(2)],
                                     ship=False))
    assert sorted(r["path"] for r in rows) == paths
    assert {r["error"] for r in rows} >= {"Ray: no live actor left"}


@pytest.mark.slow
@pytest.mark.shared
def test_two_node_cluster_with_one_node_killed_scores_each_photo_once():
    pytest.importorskip("ray")
    res = subprocess.run([sys.executable, "bench/ray_cluster.py", "--photos", "20", "--json"],
                         cwd=REPO_DIR, capture_output=True, text=True, timeout=900)
    assert res.returncode == 0, res.stderr[-2000:]
    out = json.loads(res.stdout.strip().splitlines()[-1])
    assert out["nodes"] == 2 and out["node_killed"] is True, out
    assert out["photos"] == out["lines"] == 20 and out["each_once"] is True, out
    assert out["nodes_alive_after"] == 1 and out["failed_lines"] == 0, out
