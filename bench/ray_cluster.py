"""Folder scoring on a real two-node Ray cluster, with one node killed in the middle.

Starts a Ray head node and a second node on this machine (`ray start --head`, then
`ray start --address`, each its own raylet with its own CPUs, loopback only, free ports,
a private --temp-dir so nothing is shared with another Ray on the machine), scores N
shared photos with `python -m aurum score --engine ray --address ... --out`, and
SIGKILLs the second node's raylet once the second node's actor is working and a
third of the lines are written. The photos that node held are retried on the head's
actor (`ray_runner`); if the command still ends early, it is run again (the resume
rule: photos already in the output are skipped). Prints one JSON object: photos,
lines, each_once, seconds, nodes, node_killed, plus runs and failed lines.

    .venv/bin/python bench/ray_cluster.py --photos 60 --json

The cluster is always stopped at the end, bounded in time: each node was started in
its own session, and its processes (the ones whose command line names this run's
temp dir or that are in that session) are killed by id. Not `ray stop`: it kills every
Ray process on the machine by name, other users' included.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from aurum.paths import shared_dir  # noqa: E402

RAY = str(Path(sys.executable).with_name("ray"))
# The same settings for the nodes and every driver. Auth explicitly off: since Ray 2.59
# a local ray.init anywhere on the machine writes ~/.ray/auth_token, after which this
# run's GCS wanted a token its drivers did not send (seen 2026-12-06 06:08: the head
# never answered). This cluster listens for this machine's processes only.
RAY_ENV = {**os.environ, "RAY_USAGE_STATS_ENABLED": "0", "RAY_AUTH_MODE": "disabled"}
START_TIMEOUT_S = 300.0  # a busy machine (load 20+) takes minutes to start a node
RUN_TIMEOUT_S = 1800.0


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start_node(temp: Path, *, head_port: int | None, cpus: int) -> subprocess.Popen:
    """One Ray node (`ray start --block` in its own session), on free loopback ports."""
    common = ["--node-ip-address", "127.0.0.1", "--num-cpus", str(cpus), "--block",
              "--disable-usage-stats", "--dashboard-agent-listen-port", str(free_port()),
              "--metrics-export-port", str(free_port()), "--runtime-env-agent-port",
              str(free_port()), "--object-store-memory", str(200 * 1024 ** 2)]
    if head_port is None:
        port = free_port()
        args = ["--head", "--port", str(port), "--include-dashboard", "false",
                "--ray-client-server-port", str(free_port()), "--temp-dir", str(temp)]
    else:
        args = ["--address", f"127.0.0.1:{head_port}"]
    log = open(temp.parent / f"node-{'head' if head_port is None else 'worker'}.log", "wb")
    proc = subprocess.Popen([RAY, "start", *args, *common], stdout=log, stderr=log,
                            start_new_session=True, env=RAY_ENV)
    proc.port = port if head_port is None else head_port  # type: ignore[attr-defined]
    return proc


def ray_pids(temp: Path, sessions: list[int]) -> dict[int, str]:
    """pid -> command line of this run's Ray processes: in a node's session, or naming
    this run's temp dir (workers and agents that Ray starts in sessions of their own)."""
    out = {}
    for d in Path("/proc").iterdir():
        if not d.name.isdigit():
            continue
        try:
            cmd = (d / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            sid = os.getsid(int(d.name))
        except (OSError, ProcessLookupError):
            continue
        if int(d.name) != os.getpid() and (sid in sessions or str(temp) in cmd):
            out[int(d.name)] = cmd
    return out


def alive_nodes(address: str) -> int | None:
    """The cluster's live nodes, asked from a short-lived driver; None when the driver
    got no answer. Both nodes share 127.0.0.1, so right after the kill a driver may
    attach to the dead raylet (the GCS still lists it until its health checks fail) and
    time out: that is no count of nodes, and it must not read as 0 (CI, 2026-12-06)."""
    code = (f"import ray; ray.init(address={address!r}, log_to_driver=False, "
            "configure_logging=False); print(sum(1 for n in ray.nodes() if n['Alive']))")
    try:
        res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                             timeout=60, env=RAY_ENV)
    except subprocess.TimeoutExpired:
        return None
    lines = res.stdout.strip().splitlines()
    return int(lines[-1]) if lines and lines[-1].isdigit() else None


def wait_nodes(address: str, want: int) -> int:
    deadline = time.monotonic() + START_TIMEOUT_S
    n: int | None = None
    while time.monotonic() < deadline:
        n = alive_nodes(address)
        if n is not None and n >= want:
            return n
        time.sleep(2.0)
    return n or 0


def wait_nodes_down(address: str, want: int) -> tuple[int | None, int]:
    """Live nodes once the cluster has noticed the kill (at most START_TIMEOUT_S), and
    how many queries got no answer on the way. None: no query was answered."""
    deadline = time.monotonic() + START_TIMEOUT_S
    n, unanswered = alive_nodes(address), 0
    while (n is None or n > want) and time.monotonic() < deadline:
        unanswered += n is None
        time.sleep(2.0)
        n = alive_nodes(address)
    return n, unanswered + (n is None)


def count_lines(path: Path) -> int:
    return path.read_bytes().count(b"\n") if path.exists() else 0


def parent(pid: int) -> int:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return 0
    return int(stat.rsplit(")", 1)[1].split()[1])


def kill_raylet_when_busy(temp: Path, node: subprocess.Popen, out: Path, after: int,
                          score: subprocess.Popen) -> bool:
    """SIGKILL the worker node's raylet once an actor it started is running (a child
    of that raylet) and `after` lines exist."""
    while score.poll() is None:
        procs = ray_pids(temp, [node.pid])
        raylets = [p for p, c in procs.items()
                   if os.getsid(p) == node.pid and "/raylet/raylet" in c]
        busy = any("ScoringActor" in c and parent(p) in raylets for p, c in procs.items())
        if busy and count_lines(out) >= after:
            for p in raylets:
                os.kill(p, signal.SIGKILL)
            return True
        time.sleep(0.2)
    return False


def score(address: str, photos: list[str], out: Path) -> subprocess.Popen:
    """The command under test; its log (--verbose: the runner's re-queue lines) goes to
    a file next to the output."""
    err = open(out.with_suffix(".log"), "ab")
    return subprocess.Popen([sys.executable, "-m", "aurum", "score", "--engine", "ray",
                             "--address", address, "--out", str(out), "--quiet",
                             "--verbose", *photos],
                            cwd=REPO, stdout=subprocess.DEVNULL, stderr=err, env=RAY_ENV)


def stop(temp: Path, nodes: list[subprocess.Popen]) -> int:
    """Kill this run's Ray processes by id (SIGTERM, then SIGKILL after 10 s)."""
    sessions = [n.pid for n in nodes]
    for sig, wait in ((signal.SIGTERM, 10.0), (signal.SIGKILL, 5.0)):
        pids = ray_pids(temp, sessions)
        for p in pids:
            try:
                os.kill(p, sig)
            except ProcessLookupError:
                pass
        deadline = time.monotonic() + wait
        while ray_pids(temp, sessions) and time.monotonic() < deadline:
            time.sleep(0.2)
    for n in nodes:
        try:
            n.wait(timeout=5)
        except subprocess.TimeoutExpired:
            pass
    return len(ray_pids(temp, sessions))


def check(out: Path, photos: list[str]) -> dict[str, Any]:
    rows = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]
    files = [r.get("file") for r in rows]
    return {"lines": len(rows), "each_once": sorted(files) == sorted(photos),
            "failed_lines": sum(1 for r in rows if not r.get("ok"))}


def run(n: int, folder: Path) -> dict[str, Any]:
    photos = sorted(str(p) for p in folder.glob("*.jpg"))[:n]
    work = Path(tempfile.mkdtemp(prefix="aurum-rc-", dir="/tmp"))
    temp = work / "ray"
    nodes: list[subprocess.Popen] = []
    drivers: list[subprocess.Popen] = []
    finished = False
    try:
        nodes.append(start_node(temp, head_port=None, cpus=1))
        address = f"127.0.0.1:{nodes[0].port}"  # type: ignore[attr-defined]
        if wait_nodes(address, 1) < 1:
            raise RuntimeError(f"the head did not start: see {work}/node-head.log")
        nodes.append(start_node(temp, head_port=nodes[0].port, cpus=1))  # type: ignore[attr-defined]
        n_nodes = wait_nodes(address, 2)
        out = work / "scores.jsonl"
        t0 = time.perf_counter()
        proc = score(address, photos, out)
        drivers.append(proc)
        killed = kill_raylet_when_busy(temp, nodes[1], out, max(1, n // 3), proc)
        proc.wait(timeout=RUN_TIMEOUT_S)
        runs, codes = 1, [proc.returncode]
        while count_lines(out) < len(photos) and runs < 3:  # the resume rule
            proc = score(address, photos, out)
            drivers.append(proc)
            proc.wait(timeout=RUN_TIMEOUT_S)
            runs, codes = runs + 1, [*codes, proc.returncode]
        seconds = time.perf_counter() - t0
        after, unanswered = wait_nodes_down(address, n_nodes - 1) if killed else (n_nodes, 0)
        finished = True
        requeued = out.with_suffix(".log").read_text(errors="replace").count(" re-queued")
        return {"photos": len(photos), **check(out, photos), "seconds": round(seconds, 1),
                "nodes": n_nodes, "node_killed": killed, "nodes_alive_after": after,
                "unanswered_queries": unanswered, "runs": runs, "exit_codes": codes,
                "requeued": requeued}
    finally:
        for d in drivers:
            if d.poll() is None:
                d.kill()
                d.wait()
        left = stop(temp, nodes)
        if left or not finished:
            print(f"warning: {left} Ray processes of this run still alive; logs kept in "
                  f"{work}", file=sys.stderr)
        else:
            shutil.rmtree(work, ignore_errors=True)


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--photos", type=int, default=60)
    parser.add_argument("--folder", type=Path, default=None,
                        help="photos to score (default: the shared synthetic faces)")
    parser.add_argument("--json", action="store_true", help="print one JSON object only")
    args = parser.parse_args(argv)
    res = run(args.photos, args.folder or shared_dir() / "faces")
    print(json.dumps(res) if args.json else "\n".join(f"{k:>18}: {v}" for k, v in res.items()))
    return 0 if res["each_once"] and res["lines"] == res["photos"] else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
