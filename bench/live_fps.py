"""Live tab at camera speed: processed frames per second and capture-to-overlay latency,
as a visitor's browser sees them, for 1 and for N visitors at once.

Headless Chromium plays a face clip (a committed fixture face, swaying a few pixels,
30 fps) as its fake webcam. A script injected into each page stamps every frame the
Live tab captures with a 10-bit sequence number (a row of black/white blocks in the
grey top-left corner, away from the face) and notes when it was captured. The server
draws its overlay on that same picture, so when a new overlay image arrives the page
reads the stamp back from it: one new overlay = one processed frame, and the time
since that frame's capture is the latency (decode and layout included, up to the next
animation frame). Nothing in the app knows about the stamp.

    .venv/bin/python bench/live_fps.py                        # launch app.py, 1 and 4 visitors
    .venv/bin/python bench/live_fps.py --visitors 1 --seconds 10
    .venv/bin/python bench/live_fps.py --app-dir /tmp/old     # measure another checkout
    .venv/bin/python bench/live_fps.py --memory-minutes 5     # RSS over a long session
    .venv/bin/python bench/live_fps.py --url http://127.0.0.1:7860/ --pid 1234
    .venv/bin/python bench/live_fps.py --client protocol      # no browser: the server alone

The machine is shared: the header prints the load average; read the figures with it.
Loopback only. Exits 0 even when a target is missed: it measures, it does not gate.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from bench.load import _tree_rss, launch, stop  # noqa: E402

CHROMIUM = "/usr/bin/chromium"
FACE = REPO / "tests" / "fixtures" / "faces" / "sfhq_sample_3x6_007.jpg"
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--no-first-run",
        # Several visitors are several pages of one browser: none may be throttled.
        "--disable-background-timer-throttling", "--disable-renderer-backgrounding",
        "--disable-backgrounding-occluded-windows"]
VIEWPORT = {"width": 1360, "height": 1000}
TARGETS = {"fps_1": 10.0, "fps_each_4": 4.0, "latency_p50_ms": 200.0}

BITS, BLOCK, X0, Y0 = 10, 16, 8, 8  # the stamp: 10 blocks of 16 px from (8, 8)

# Runs in every page before Gradio: stamp each webcam frame the moment it is encoded
# (Gradio's streaming webcam calls canvas.toDataURL("image/jpeg") once per frame), and
# read the stamp back from each new #live-overlay image.
INIT_JS = """
(() => {
  const BITS = __BITS__, BLOCK = __BLOCK__, X0 = __X0__, Y0 = __Y0__;
  const caps = new Map(); let seq = 0;
  const live = {events: [], frameW: 0, captures: []};
  window.__live = live;
  const orig = HTMLCanvasElement.prototype.toDataURL;
  HTMLCanvasElement.prototype.toDataURL = function (type, q) {
    if (type === 'image/jpeg' && this.width >= 320) {
      const ctx = this.getContext('2d');
      seq = (seq + 1) % (1 << BITS);
      ctx.save(); ctx.setTransform(1, 0, 0, 1, 0, 0);
      for (let i = 0; i < BITS; i++) {
        ctx.fillStyle = (seq >> i) & 1 ? '#fff' : '#000';
        ctx.fillRect(X0 + i * BLOCK, Y0, BLOCK, BLOCK);
      }
      ctx.restore();
      const now = performance.now();
      caps.set(seq, now); live.frameW = this.width; live.captures.push(now);
      if (live.captures.length > 20000) live.captures.splice(0, 10000);
      if (caps.size > 600) caps.delete(caps.keys().next().value);
    }
    return orig.call(this, type, q);
  };
  const probe = document.createElement('canvas');
  let lastSrc = null;
  const read = (el, t) => {
    // Read the stamp from the displayed <img> itself (no second decode of the image).
    // Only the stamp's row of blocks is copied and read, once: the reader's own cost
    // is paid by the same CPU as the page it measures.
    el.decode().then(() => {
      if (!el.naturalWidth) return;
      const s = el.naturalWidth / (live.frameW || el.naturalWidth);
      const y = Math.round((Y0 + BLOCK / 2) * s), x0 = Math.round(X0 * s);
      const w = Math.ceil(BITS * BLOCK * s);
      if (probe.width !== w) { probe.width = w; probe.height = 1; }
      const c = probe.getContext('2d', {willReadFrequently: true});
      c.drawImage(el, x0, y, w, 1, 0, 0, w, 1);
      const row = c.getImageData(0, 0, w, 1).data;
      let v = 0;
      for (let i = 0; i < BITS; i++) {
        const x = Math.min(w - 1, Math.round((i * BLOCK + BLOCK / 2) * s));
        if ((row[4 * x] + row[4 * x + 1] + row[4 * x + 2]) / 3 > 128) v |= 1 << i;
      }
      const t0 = caps.get(v);
      live.events.push({t: t, seq: v, latency: t0 === undefined ? null : t - t0});
      if (live.events.length > 20000) live.events.splice(0, 10000);
    }, () => {});
  };
  const check = () => {
    const el = document.querySelector('#live-overlay img');
    const src = el ? el.getAttribute('src') : null;
    if (src && src !== lastSrc) {
      lastSrc = src;
      requestAnimationFrame(() => read(el, performance.now()));
    }
  };
  new MutationObserver(check).observe(document, {subtree: true, childList: true,
                                                 attributes: true, attributeFilter: ['src']});
})();
""".replace("__BITS__", str(BITS)).replace("__BLOCK__", str(BLOCK)).replace(
    "__X0__", str(X0)).replace("__Y0__", str(Y0))


def write_clip(src: Path, dst: Path, w: int = 640, h: int = 480, frames: int = 60,
               fps: int = 30) -> None:
    """A Y4M clip of one photo swaying +-8 px left and right (so the tracker tracks a
    moving face), on a grey background that leaves room for the stamp."""
    import cv2
    from PIL import Image

    im = Image.open(src).convert("RGB")
    im.thumbnail((h - 40, h - 40))
    with dst.open("wb") as f:
        f.write(f"YUV4MPEG2 W{w} H{h} F{fps}:1 Ip A1:1 C420jpeg\n".encode())
        for k in range(frames):
            dx = int(round(8 * np.sin(2 * np.pi * k / frames)))
            canvas = Image.new("RGB", (w, h), (200, 200, 200))
            canvas.paste(im, ((w - im.width) // 2 + dx, 40))
            f.write(b"FRAME\n")
            f.write(cv2.cvtColor(np.asarray(canvas), cv2.COLOR_RGB2YUV_I420).tobytes())


BROWSER_NICE = 0  # --browser-nice


def chromium() -> str:
    """The Chromium binary, or a wrapper that starts it at a lower CPU priority: the
    visitors' browsers stand in for other machines, and on this 2-core box they
    otherwise take the CPU the server needs (see bench/README.md)."""
    if BROWSER_NICE <= 0:
        return CHROMIUM
    wrapper = Path(tempfile.gettempdir()) / f"aurum-chromium-nice{BROWSER_NICE}"
    if not wrapper.exists():
        wrapper.write_text(f'#!/bin/sh\nexec nice -n {BROWSER_NICE} {CHROMIUM} "$@"\n')
        wrapper.chmod(0o755)
    return str(wrapper)


tree_rss_mb = _tree_rss


def tree_cpu_s(pid: int | None) -> float | None:
    """CPU seconds (user + system) used so far by a process and its children."""
    if pid is None:
        return None
    import psutil

    try:
        proc = psutil.Process(pid)
        total = 0.0
        for p in [proc, *proc.children(True)]:
            t = p.cpu_times()
            total += t.user + t.system
        return total
    except psutil.Error:
        return None


def browser_pid(clip: Path) -> int | None:
    """The Chromium started with this clip (its renderers are its children)."""
    import psutil

    for p in psutil.process_iter(["cmdline"]):
        cmd = p.info["cmdline"] or []
        if any(str(clip) in c for c in cmd) and not any(c.startswith("--type=") for c in cmd):
            return p.pid
    return None


def fake_camera_browser(pw: Any, clip: Path, extra_args: list[str] | tuple[str, ...] = ()
                        ) -> Any:
    """Headless Chromium whose camera plays `clip` (a Y4M file), granted without asking."""
    return pw.chromium.launch(executable_path=chromium(), args=[
        *ARGS, *extra_args, "--use-fake-ui-for-media-stream",
        "--use-fake-device-for-media-stream", f"--use-file-for-fake-video-capture={clip}"])


def start_visitor(browser: Any, url: str) -> Any:
    """One visitor: a fresh context (own session), the Live tab, camera streaming."""
    ctx = browser.new_context(viewport=VIEWPORT, permissions=["camera"])
    ctx.add_init_script(INIT_JS)
    pg = ctx.new_page()
    pg.goto(url)
    pg.wait_for_selector("#tab-live, button[role=tab]", timeout=120_000)
    pg.get_by_role("tab", name="Live").click()
    pg.locator("#live-cam").get_by_text("Click to Access Webcam").click()
    pg.locator("#live-cam button.capture-button").click()  # start streaming
    return pg


SERVER_FRAMES_JS = ("+((document.querySelector('#live-overlay [data-frames]') || {dataset: {}})"
                    ".dataset.frames || -1)")


def _say(msg: str) -> None:
    """Progress on stderr (a stuck step shows where)."""
    print(f"  [{time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def summarise(events: list[dict[str, Any]], t0: float, t1: float) -> dict[str, Any]:
    inside = [e for e in events if t0 <= e["t"] < t1]
    lat = np.array([e["latency"] for e in inside if e["latency"] is not None], dtype=float)
    return {"frames": len(inside), "fps": round(len(inside) / ((t1 - t0) / 1000), 2),
            "latency_p50_ms": round(float(np.percentile(lat, 50)), 1) if lat.size else None,
            "latency_p95_ms": round(float(np.percentile(lat, 95)), 1) if lat.size else None,
            "unmatched": int(sum(e["latency"] is None for e in inside))}


def measure(pw: Any, url: str, visitors: int, seconds: float, warmup: float, clip: Path,
            pid: int | None) -> dict[str, Any]:
    browser = fake_camera_browser(pw, clip)
    try:
        pages = []
        for i in range(visitors):
            pages.append(start_visitor(browser, url))
            _say(f"visitor {i + 1} streaming")
        for pg in pages:
            pg.wait_for_selector("#live-overlay img", timeout=120_000)
        _say("all overlays up; warm-up")
        time.sleep(warmup)
        rss0 = tree_rss_mb(pid)
        bpid = browser_pid(clip)
        cpu0 = (tree_cpu_s(pid), tree_cpu_s(bpid))
        starts = [pg.evaluate("performance.now()") for pg in pages]
        served0 = [pg.evaluate(SERVER_FRAMES_JS) for pg in pages]
        load0 = os.getloadavg()[0]
        time.sleep(seconds)
        _say("window over; collecting")
        cpu1 = (tree_cpu_s(pid), tree_cpu_s(bpid))
        served1 = [pg.evaluate(SERVER_FRAMES_JS) for pg in pages]
        out = []
        for pg, t0, a, b in zip(pages, starts, served0, served1, strict=True):
            events = pg.evaluate("window.__live.events")
            sent = pg.evaluate(f"window.__live.captures.filter(t => t >= {t0} && "
                               f"t < {t0 + seconds * 1000}).length")
            shown = pg.evaluate("(document.querySelector('#live-fps') || {}).innerText || null")
            out.append({**summarise(events, t0, t0 + seconds * 1000), "page_fps": shown,
                        "sent_fps": round(sent / seconds, 2),
                        "server_frames": b - a if a >= 0 and b >= 0 else None})
        lat = [o["latency_p50_ms"] for o in out if o["latency_p50_ms"] is not None]
        frames = max(1, sum(o["frames"] for o in out))

        def per_frame(i: int) -> float | None:
            a, b = cpu0[i], cpu1[i]
            return None if a is None or b is None else round((b - a) * 1000 / frames, 1)

        return {"server_cpu_ms_per_frame": per_frame(0),
                "browser_cpu_ms_per_frame": per_frame(1),
                "visitors": visitors, "seconds": seconds, "per_visitor": out,
                "fps_min": min(o["fps"] for o in out),
                "fps_mean": round(float(np.mean([o["fps"] for o in out])), 2),
                "latency_p50_ms": round(float(np.median(lat)), 1) if lat else None,
                "load_1min": [round(load0, 2), round(os.getloadavg()[0], 2)],
                "server_rss_mb": [rss0, tree_rss_mb(pid)]}
    finally:
        browser.close()


# ------------------------------------------------------------ the protocol-level client

def _stream_fn(url: str) -> tuple[int, int]:
    """(fn_index, trigger id) of the stream event of `#live-cam`, from the app's config."""
    import httpx

    cfg = httpx.get(url.rstrip("/") + "/config", timeout=30).json()
    cam = next(c["id"] for c in cfg["components"]
               if (c.get("props") or {}).get("elem_id") == "live-cam")
    for i, dep in enumerate(cfg["dependencies"]):
        for target, event in dep["targets"]:
            if target == cam and event == "stream":
                return int(dep.get("id", i)), cam
    raise SystemExit("no stream event on #live-cam")


def _stamped_frames(face: Path, w: int, h: int) -> list[np.ndarray]:
    """The clip's frames as the mirrored webcam shows them (the stamp goes on after)."""
    from PIL import Image

    im = Image.open(face).convert("RGB")
    im.thumbnail((h - 40, h - 40))
    out = []
    for k in range(30):
        dx = int(round(8 * np.sin(2 * np.pi * k / 30)))
        canvas = Image.new("RGB", (w, h), (200, 200, 200))
        canvas.paste(im, ((w - im.width) // 2 + dx, 40))
        out.append(np.ascontiguousarray(np.asarray(canvas)[:, ::-1]))
    return out


def _stamp_uri(frames: list[np.ndarray], seq: int) -> str:
    import base64

    import cv2

    a = frames[seq % len(frames)].copy()
    for i in range(BITS):
        a[Y0:Y0 + BLOCK, X0 + i * BLOCK:X0 + (i + 1) * BLOCK] = 255 if (seq >> i) & 1 else 0
    ok, jpg = cv2.imencode(".jpg", a[..., ::-1], [cv2.IMWRITE_JPEG_QUALITY, 92])
    return "data:image/jpeg;base64," + base64.b64encode(jpg.tobytes()).decode()


def _read_stamp(html: str, frame_w: int) -> int | None:
    import base64

    import cv2

    i = html.find("base64,")
    if i < 0:
        return None
    j = html.find('"', i)
    im = cv2.imdecode(np.frombuffer(base64.b64decode(html[i + 7:j]), np.uint8),
                      cv2.IMREAD_GRAYSCALE)
    s, v = im.shape[1] / frame_w, 0
    for k in range(BITS):
        if im[round((Y0 + BLOCK / 2) * s), round((X0 + k * BLOCK + BLOCK / 2) * s)] > 128:
            v |= 1 << k
    return v


async def _protocol_visitor(client: Any, base: str, stream: tuple[int, Any, Any],
                            size: tuple[int, int], every: float, t_start: float,
                            t_end: float) -> dict[str, Any]:
    """One visitor of `measure_protocol`: joins, streams stamped frames until `t_end`,
    and times each answer from its stamp (frames before `t_start` are warm-up)."""
    import asyncio
    import random
    import string

    fn_index, trigger, frames = stream
    sh = "".join(random.choices(string.ascii_lowercase + string.digits, k=11))
    sent: dict[int, float] = {}
    got: list[tuple[float, float | None]] = []

    def body(uri: str) -> dict[str, Any]:
        return {"data": [{"url": uri}, None, None], "fn_index": fn_index,
                "event_data": {"value": {"url": uri}, "is_value_data": True},
                "trigger_id": trigger, "session_hash": sh}

    seq = 1
    sent[seq] = time.perf_counter()
    r = await client.post(f"{base}/queue/join", json=body(_stamp_uri(frames, seq)))
    event_id = r.json()["event_id"]

    async def reader() -> None:
        async with client.stream("GET", f"{base}/queue/data", timeout=None,
                                 params={"session_hash": sh}) as resp:
            async for line in resp.aiter_lines():
                if not line.startswith("data:"):
                    continue
                msg = json.loads(line[5:])
                for d in (msg.get("output") or {}).get("data") or []:
                    if isinstance(d, str) and "au-overlay" in d:
                        now = time.perf_counter()
                        v = _read_stamp(d, size[0])
                        got.append((now, now - sent[v] if v in sent else None))
                if msg.get("msg") == "process_completed":
                    return

    task = asyncio.create_task(reader())
    while time.perf_counter() < t_end:
        await asyncio.sleep(every)
        seq = (seq + 1) % (1 << BITS)
        uri = _stamp_uri(frames, seq)
        sent[seq] = time.perf_counter()
        await client.post(f"{base}/stream/{event_id}", json=body(uri))
    await client.post(f"{base}/stream/{event_id}/close", json={})
    task.cancel()
    inside = [g for g in got if g[0] >= t_start]
    lat = np.array([g[1] * 1000 for g in inside if g[1] is not None], dtype=float)
    return {"frames": len(inside), "fps": round(len(inside) / (t_end - t_start), 2),
            "latency_p50_ms": round(float(np.percentile(lat, 50)), 1) if lat.size else None,
            "latency_p95_ms": round(float(np.percentile(lat, 95)), 1) if lat.size else None,
            "sent_fps": round(1 / every, 2), "page_fps": None, "unmatched": 0,
            "server_frames": None}


def measure_protocol(url: str, visitors: int, seconds: float, warmup: float, face: Path,
                     size: tuple[int, int], every: float, pid: int | None) -> dict[str, Any]:
    """N visitors without a browser: each joins the stream event as the page does
    (`queue/join`, then `stream/{event_id}` posts of stamped JPEG frames every `every`
    seconds, answers read from `queue/data`), so only the server's cost is measured
    (and this one light Python client's). Same stamp, same figures as the browser run."""
    import asyncio

    import httpx

    fn_index, trigger = _stream_fn(url)
    frames = _stamped_frames(face, *size)
    base = url.rstrip("/") + "/gradio_api"

    async def run() -> list[dict[str, Any]]:
        async with httpx.AsyncClient(timeout=60) as client:
            t0 = time.perf_counter()
            return await asyncio.gather(*[_protocol_visitor(
                client, base, (fn_index, trigger, frames), size, every, t0 + warmup,
                t0 + warmup + seconds) for _ in range(visitors)])

    load0, cpu0 = os.getloadavg()[0], tree_cpu_s(pid)
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(1) as ex:  # its own event loop (Playwright's runs here)
        out = ex.submit(lambda: asyncio.run(run())).result()
    cpu1 = tree_cpu_s(pid)
    frames_n = max(1, sum(o["frames"] for o in out))
    lat = [o["latency_p50_ms"] for o in out if o["latency_p50_ms"] is not None]
    return {"client": "protocol", "visitors": visitors, "seconds": seconds, "per_visitor": out,
            "server_cpu_ms_per_frame": None if cpu0 is None or cpu1 is None else
            round((cpu1 - cpu0) * 1000 / frames_n, 1),  # warm-up frames included
            "browser_cpu_ms_per_frame": None,
            "fps_min": min(o["fps"] for o in out),
            "fps_mean": round(float(np.mean([o["fps"] for o in out])), 2),
            "latency_p50_ms": round(float(np.median(lat)), 1) if lat else None,
            "load_1min": [round(load0, 2), round(os.getloadavg()[0], 2)],
            "server_rss_mb": [None, tree_rss_mb(pid)]}


def memory_run(pw: Any, url: str, minutes: float, clip: Path, pid: int | None,
               every_s: float = 15.0) -> dict[str, Any]:
    """One visitor streaming for `minutes`; server RSS and the visitor's fps sampled."""
    browser = fake_camera_browser(pw, clip)
    try:
        pg = start_visitor(browser, url)
        pg.wait_for_selector("#live-overlay img", timeout=120_000)
        samples = []
        t_end = time.time() + minutes * 60
        while time.time() < t_end:
            now = pg.evaluate("performance.now()")
            events = pg.evaluate("window.__live.events.slice(-400)")
            recent = summarise(events, now - every_s * 1000, now)
            samples.append({"t_s": round(minutes * 60 - (t_end - time.time())),
                            "rss_mb": tree_rss_mb(pid), "fps": recent["fps"],
                            "load_1min": round(os.getloadavg()[0], 2)})
            print(f"  t={samples[-1]['t_s']:4d} s  RSS {samples[-1]['rss_mb']} MB  "
                  f"fps {recent['fps']}  load {samples[-1]['load_1min']}", flush=True)
            time.sleep(every_s)
        rss = [s["rss_mb"] for s in samples if s["rss_mb"] is not None]
        half = len(rss) // 2
        return {"minutes": minutes, "samples": samples,
                "rss_first_min_mb": rss[min(4, len(rss) - 1)] if rss else None,
                "rss_last_mb": rss[-1] if rss else None,
                "rss_growth_second_half_mb": round(rss[-1] - rss[half], 1) if rss else None}
    finally:
        browser.close()


def _print_run(n: int, r: dict[str, Any]) -> None:
    print(f"{n} visitor(s): fps min {r['fps_min']} mean {r['fps_mean']}  "
          f"latency p50 {r['latency_p50_ms']} ms  load {r['load_1min']}  "
          f"RSS {r['server_rss_mb']} MB")
    print(f"   CPU per processed frame: server {r['server_cpu_ms_per_frame']} ms, "
          f"browser {r['browser_cpu_ms_per_frame']} ms")
    for i, v in enumerate(r["per_visitor"]):
        print(f"   visitor {i + 1}: {v['frames']} frames  {v['fps']} fps  p50 "
              f"{v['latency_p50_ms']} ms  p95 {v['latency_p95_ms']} ms  page "
              f"shows {v['page_fps']!r}  frames sent {v['sent_fps']}/s  "
              f"unmatched {v['unmatched']}  server processed {v['server_frames']}")


def _print_targets(runs: list[dict[str, Any]]) -> None:
    for r in runs:
        key = "fps_1" if r["visitors"] == 1 else None
        if key:
            print(f"target >= {TARGETS[key]} fps, 1 visitor: "
                  f"{'MET' if r['fps_min'] >= TARGETS[key] else 'MISSED'}")
        elif r["visitors"] == 4:
            print(f"target >= {TARGETS['fps_each_4']} fps each, 4 visitors: "
                  f"{'MET' if r['fps_min'] >= TARGETS['fps_each_4'] else 'MISSED'}")
        if r["latency_p50_ms"] is not None:
            print(f"target capture-to-overlay p50 <= {TARGETS['latency_p50_ms']:g} ms, "
                  f"{r['visitors']} visitor(s): "
                  f"{'MET' if r['latency_p50_ms'] <= TARGETS['latency_p50_ms'] else 'MISSED'}")


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--url", help="a running app (loopback only); default: launch app.py")
    p.add_argument("--pid", type=int, help="the running app's pid, for its RSS")
    p.add_argument("--app-dir", type=Path, default=REPO, help="checkout whose app.py to launch")
    p.add_argument("--visitors", type=int, nargs="+", default=[1, 4])
    p.add_argument("--seconds", type=float, default=10.0)
    p.add_argument("--warmup", type=float, default=5.0)
    p.add_argument("--memory-minutes", type=float, default=0.0,
                   help="also stream one visitor this long and sample server RSS")
    p.add_argument("--face", type=Path, default=FACE)
    p.add_argument("--camera-fps", type=int, default=30,
                   help="the fake camera's frame rate (the issue's figure is at 30)")
    p.add_argument("--viewport", default="1360x1000", help="each page's size, WxH")
    p.add_argument("--client", choices=["browser", "protocol"], default="browser",
                   help="browser: headless Chromium pages (the issue's figure); protocol: "
                        "a light Python client speaking Gradio's stream protocol (the "
                        "server's capacity without four browsers on the same 2 cores)")
    p.add_argument("--stream-every", type=float, default=0.066,
                   help="protocol client: seconds between frames (the app's stream_every)")
    p.add_argument("--browser-nice", type=int, default=0,
                   help="run Chromium at this nice level (e.g. 10): the server then gets "
                        "the CPU first, as if the visitors were on other machines")
    p.add_argument("--camera-size", default="640x480",
                   help="the fake camera's frame size, WxH (at least 320 wide: the stamp)")
    p.add_argument("--env", action="append", default=[], metavar="NAME=VALUE",
                   help="environment of the launched app, e.g. AURUM_LIVE_STATIC=1 (the "
                        "live levers, see aurum_ui/tabs/live.py); repeatable")
    p.add_argument("--json", type=Path, help="write every figure here as JSON too")
    return p


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    from playwright.sync_api import sync_playwright

    proc = None
    url, pid = args.url, args.pid
    if url is None:
        proc, url = launch(args.app_dir.resolve(),
                           dict(e.split("=", 1) for e in args.env))
        pid = proc.pid
    elif not any(h in url for h in ("127.0.0.1", "localhost", "[::1]")):
        raise SystemExit("loopback only")
    global VIEWPORT, BROWSER_NICE
    BROWSER_NICE = args.browser_nice
    VIEWPORT = dict(zip(("width", "height"), map(int, args.viewport.split("x")), strict=True))
    result: dict[str, Any] = {"app_dir": str(args.app_dir), "env": args.env,
                              "camera_fps": args.camera_fps, "viewport": args.viewport,
                              "camera_size": args.camera_size,
                              "browser_nice": args.browser_nice, "client": args.client,
                              "cpus": os.cpu_count(),
                              "load_at_start": [round(x, 2) for x in os.getloadavg()],
                              "runs": []}
    print(f"live fps bench: {url}  {' '.join(args.env)}  cpus {os.cpu_count()}  "
          f"load {result['load_at_start']}")
    try:
        with tempfile.TemporaryDirectory() as tmp, sync_playwright() as pw:
            clip = Path(tmp) / "face.y4m"
            cw, ch = map(int, args.camera_size.split("x"))
            write_clip(args.face, clip, cw, ch, fps=args.camera_fps)
            for n in args.visitors:
                if args.client == "protocol":
                    r = measure_protocol(url, n, args.seconds, args.warmup, args.face,
                                         (cw, ch), args.stream_every, pid)
                else:
                    r = measure(pw, url, n, args.seconds, args.warmup, clip, pid)
                result["runs"].append(r)
                _print_run(n, r)
            if args.memory_minutes > 0:
                print(f"memory: one visitor for {args.memory_minutes:g} min")
                result["memory"] = m = memory_run(pw, url, args.memory_minutes, clip, pid)
                print(f"  RSS after ~1 min {m['rss_first_min_mb']} MB, at the end "
                      f"{m['rss_last_mb']} MB, growth over the second half "
                      f"{m['rss_growth_second_half_mb']} MB")
    finally:
        if proc is not None:
            stop(proc)
    _print_targets(result["runs"])
    if args.json:
        args.json.write_text(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
