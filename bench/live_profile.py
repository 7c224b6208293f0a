"""Where a Live visitor's browser spends its CPU: the bench's headless Chromium pages
(bench/live_fps.py's fake camera and stamp) in three phases, each measured alone:

- idle: the Live tab open, camera off;
- preview: camera on (the 30 fps preview plays), not streaming;
- stream: streaming to the app, as in the fps bench.

For each phase it prints CPU seconds per second by process (the app server, and
Chromium's browser, GPU/compositor, renderer, network and video-capture processes),
the overlays shown per second, and for the stream phase optionally the first page's
main-thread split (CDP Performance metrics) and its JavaScript self time by function
(CDP sampling profiler). Used to choose the live levers (bench/README.md).

    .venv/bin/python bench/live_profile.py --pages 1 --js-profile
    .venv/bin/python bench/live_profile.py --pages 4 --camera-size 640x480 --seconds 8
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from bench import live_fps as lf  # noqa: E402
from bench.load import launch, stop  # noqa: E402


def _kind(cmd: list[str]) -> str:
    """A Chromium process's role from its command line."""
    for c in cmd:
        if c.startswith("--utility-sub-type="):
            sub = c.split("=", 1)[1]
            return "video-capture" if "video_capture" in sub else (
                "network" if "network" in sub else "utility")
        if c.startswith("--type="):
            return {"gpu-process": "gpu", "renderer": "renderer"}.get(c[7:], c[7:])
    return "browser"


def cpu_by_kind(server_pid: int | None, browser_pid: int | None) -> Counter:
    """CPU seconds so far: the server's tree, and the browser's processes by role."""
    import psutil

    out: Counter = Counter()
    if server_pid is not None:
        out["server"] = lf.tree_cpu_s(server_pid) or 0.0
    if browser_pid is None:
        return out
    try:
        root = psutil.Process(browser_pid)
        procs = [root, *root.children(True)]
    except psutil.Error:
        return out
    for p in procs:
        try:
            t = p.cpu_times()
            out[_kind(p.cmdline())] += t.user + t.system
        except psutil.Error:
            pass
    return out


def phase(name: str, pages: list[Any], seconds: float, pids: tuple[int | None, int | None],
          cdp: Any = None) -> dict[str, Any]:
    """CPU per second by process over `seconds`, and overlays shown per second."""
    n0 = [pg.evaluate("window.__live.events.length") for pg in pages]
    m0 = _metrics(cdp)
    c0, t0 = cpu_by_kind(*pids), time.monotonic()
    time.sleep(seconds)
    c1, dt = cpu_by_kind(*pids), time.monotonic() - t0
    m1 = _metrics(cdp)
    n1 = [pg.evaluate("window.__live.events.length") for pg in pages]
    per_s = {k: round((c1[k] - c0.get(k, 0.0)) / dt, 3) for k in sorted(c1)}
    fps = [round((b - a) / dt, 2) for a, b in zip(n0, n1, strict=True)]
    row = {"phase": name, "cpu_s_per_s": per_s,
           "browser_total": round(sum(v for k, v in per_s.items() if k != "server"), 3),
           "fps": fps, "load": round(os.getloadavg()[0], 2)}
    if m0 and m1:
        row["page1_main_thread_ms_per_s"] = {
            k: round((m1[k] - m0[k]) * 1000 / dt, 1) for k in
            ("TaskDuration", "ScriptDuration", "LayoutDuration", "RecalcStyleDuration")}
    print(f"{name:8s} browser {row['browser_total']:.3f} CPU-s/s  "
          + "  ".join(f"{k} {v:.3f}" for k, v in per_s.items())
          + f"  overlays/s {fps}  load {row['load']}", flush=True)
    if "page1_main_thread_ms_per_s" in row:
        print(f"         page 1 main thread ms/s: {row['page1_main_thread_ms_per_s']}")
    return row


def _metrics(cdp: Any) -> dict[str, float] | None:
    if cdp is None:
        return None
    return {m["name"]: m["value"] for m in cdp.send("Performance.getMetrics")["metrics"]}


def js_profile(cdp: Any, seconds: float, top: int = 18) -> list[tuple[str, float]]:
    """Self time (ms per second) by JavaScript function, sampled over `seconds`."""
    cdp.send("Profiler.enable")
    cdp.send("Profiler.setSamplingInterval", {"interval": 500})
    cdp.send("Profiler.start")
    time.sleep(seconds)
    prof = cdp.send("Profiler.stop")["profile"]
    nodes = {n["id"]: n for n in prof["nodes"]}
    deltas = prof.get("timeDeltas", [])
    self_us: Counter = Counter()
    for node_id, d in zip(prof.get("samples", []), deltas, strict=False):
        f = nodes[node_id]["callFrame"]
        url = f.get("url", "").rsplit("/", 1)[-1][:28]
        self_us[f"{f.get('functionName') or '(anon)'} {url}:{f.get('lineNumber', 0)}"] += d
    return [(k, round(v / 1000 / seconds, 1)) for k, v in self_us.most_common(top)]


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--pages", type=int, default=1)
    p.add_argument("--seconds", type=float, default=6.0)
    p.add_argument("--camera-size", default="640x480")
    p.add_argument("--viewport", default="1360x1000")
    p.add_argument("--js-profile", action="store_true")
    p.add_argument("--arg", action="append", default=[], help="extra Chromium flag")
    p.add_argument("--env", action="append", default=[], metavar="NAME=VALUE")
    args = p.parse_args(argv)
    from playwright.sync_api import sync_playwright

    proc, url = launch(REPO, dict(e.split("=", 1) for e in args.env))
    lf.VIEWPORT = dict(zip(("width", "height"), map(int, args.viewport.split("x")),
                           strict=True))
    print(f"live profile: {args.pages} page(s), camera {args.camera_size}, "
          f"{' '.join(args.env + args.arg)}  load {os.getloadavg()[0]:.2f}", flush=True)
    try:
        with tempfile.TemporaryDirectory() as tmp, sync_playwright() as pw:
            clip = Path(tmp) / "face.y4m"
            lf.write_clip(lf.FACE, clip, *map(int, args.camera_size.split("x")))
            browser = lf.fake_camera_browser(pw, clip, args.arg)
            pids = (proc.pid, lf.browser_pid(clip))
            try:
                pages = []
                for _ in range(args.pages):
                    ctx = browser.new_context(viewport=lf.VIEWPORT, permissions=["camera"])
                    ctx.add_init_script(lf.INIT_JS)
                    pg = ctx.new_page()
                    pg.goto(url)
                    pg.get_by_role("tab", name="Live").click()
                    pages.append(pg)
                cdp = pages[0].context.new_cdp_session(pages[0])
                cdp.send("Performance.enable")
                time.sleep(2)
                phase("idle", pages, args.seconds, pids, cdp)
                for pg in pages:
                    pg.locator("#live-cam").get_by_text("Click to Access Webcam").click()
                    pg.wait_for_selector("#live-cam video", timeout=60_000)
                time.sleep(2)
                phase("preview", pages, args.seconds, pids, cdp)
                for pg in pages:
                    pg.locator("#live-cam button.capture-button").click()
                for pg in pages:
                    pg.wait_for_selector("#live-overlay img", timeout=120_000)
                time.sleep(4)
                phase("stream", pages, args.seconds, pids, cdp)
                if args.js_profile:
                    print("page 1 JavaScript self time, ms per second:")
                    for name, ms in js_profile(cdp, args.seconds):
                        print(f"  {ms:7.1f}  {name}")
            finally:
                browser.close()
    finally:
        stop(proc)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
