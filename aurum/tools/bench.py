"""`python -m aurum bench`: where the time and memory go, against the project's targets.

Performance targets live here and in `bench/README.md`, never in timed tests: a
loaded CI machine must not turn a slow run into a red build, but a regression must
be visible to whoever runs the bench. Every figure is measured in this run on the
shared images; the bare MediaPipe face mesh is timed on the same decoded pixels,
interleaved with the engine, so the ratio cancels most of the machine's noise.
"""

from __future__ import annotations

import argparse
import dataclasses
import gc
import io
import json
import os
import platform
import subprocess
import sys
import time
import zlib
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from aurum.paths import REPO_DIR, shared_dir

# (key, label, comparison, target). Kept in one place so the table, the JSON and
# bench/README.md say the same thing.
# The bare models are the face mesh and the face descriptor (issue 13): the engine's
# overhead is judged against both, and the p95 budget includes the descriptor.
TARGETS: list[tuple[str, str, str, float]] = [
    ("ratio_e2e_to_bare_mesh", "analyze+score / 1 mesh pass+descriptor (p50)", "<=", 1.5),
    ("ratio_e2e_to_pipeline_models", "analyze+score / the model passes it runs (p50)",
     "<=", 1.5),
    ("cpu_ratio_e2e_to_bare_mesh", "same ratio in process CPU time (p50)", "<=", 1.5),
    ("london_e2e_p95_ms", "analyze+score p95 on 1350x1350 (ms)", "<=", 150.0),
    ("slider_p50_ms", "slider re-score p50 (ms)", "<", 2.0),
    ("rss_growth_mb", "RSS growth 100 -> last score (MB)", "<", 20.0),
]


def _stats(values: Sequence[float]) -> dict[str, float | int | None]:
    if not values:
        return {"n": 0, "p50": None, "p95": None, "mean": None, "max": None}
    a = np.asarray(values, dtype=np.float64)
    return {"n": int(a.size), "p50": round(float(np.percentile(a, 50)), 3),
            "p95": round(float(np.percentile(a, 95)), 3), "mean": round(float(a.mean()), 3),
            "max": round(float(a.max()), 3)}


def _images(quick: bool) -> tuple[list[Path], list[Path]]:
    shared = shared_dir()
    faces = sorted((shared / "faces").glob("*.jpg"))
    london = sorted((shared / "london" / "neutral_front").glob("*.jpg"))
    if not faces or not london:
        raise SystemExit(f"bench: shared images not found under {shared} (set AURUM_SHARED)")
    if quick:
        return faces[:6], london[:4]
    return faces, london


def _rss_mb() -> float:
    import psutil

    return psutil.Process().memory_info().rss / 1e6


def _bare_timers(engine: Any) -> tuple[Any, Any]:
    """The descriptor and faceres, each on a bare mesh's landmarks and timed (ms; 0 when
    the model is missing or the mesh found no face)."""
    from aurum.analysers.descriptor import get_model
    from aurum.measure.landmarks import landmark_array

    desc = get_model()
    has_faceres = engine.faceres is not None and engine.faceres.load()

    def timed(run: Any, ready: bool) -> Any:
        def call(rgb: np.ndarray, found: Any) -> float:
            if not ready or not found:
                return 0.0
            h, w = rgb.shape[:2]
            pts = landmark_array(found[0], w, h)[:, :2]
            t = time.perf_counter()
            run(rgb, pts)
            return (time.perf_counter() - t) * 1e3
        return call

    return (timed(desc.compute, desc.load()),
            timed(lambda rgb, pts: engine.faceres.compute(rgb, pts, engine.faceres_mirror),
                  has_faceres))


def _latency(engine: Any, paths: list[Path], config: Any) -> dict[str, Any]:
    """Per image: analyze from the file (read + decode included, as the CLI does), score,
    and the bare models (one face-mesh pass, then the descriptor aligned on that mesh) on the same
    decoded pixels, interleaved. faceres on that mesh is timed too, on its own line: it is
    a model pass of the pipeline, but the ratio to the bare models keeps issue 13's
    definition (mesh + descriptor)."""
    import mediapipe as mp

    from aurum.measure.imaging import load_image
    from aurum.measure.landmarks import inference_clock

    bare_descriptor, bare_faceres = _bare_timers(engine)
    bare = mp.solutions.face_mesh.FaceMesh(static_image_mode=True, refine_landmarks=True,
                                           max_num_faces=1)
    rows = []
    try:
        warm = load_image(paths[0])
        bare_descriptor(warm, bare.process(warm).multi_face_landmarks)
        bare_faceres(warm, bare.process(warm).multi_face_landmarks)
        engine.score(engine.analyze(paths[0]), config)
        for path in paths:
            rgb = load_image(path)
            c0, t0 = time.process_time(), time.perf_counter()
            found = bare.process(rgb).multi_face_landmarks
            mesh_ms = (time.perf_counter() - t0) * 1e3
            desc_ms = bare_descriptor(rgb, found)
            bare_cpu_ms = (time.process_time() - c0) * 1e3
            bare_ms = (time.perf_counter() - t0) * 1e3
            faceres_ms = bare_faceres(rgb, found)  # outside both the bare and the e2e window
            c1, t1 = time.process_time(), time.perf_counter()
            with inference_clock() as clock:
                analysis = engine.analyze(path)
            t2 = time.perf_counter()
            report = engine.score(analysis, config)
            c3, t3 = time.process_time(), time.perf_counter()
            rows.append({"file": path.name, "size": list(rgb.shape[1::-1]),
                         "bare_ms": bare_ms, "bare_found": bool(found),
                         "bare_mesh_only_ms": mesh_ms, "bare_descriptor_ms": desc_ms,
                         "bare_faceres_ms": faceres_ms,
                         "analyze_ms": (t2 - t1) * 1e3, "score_ms": (t3 - t2) * 1e3,
                         "e2e_ms": (t3 - t1) * 1e3, "ok": report.ok,
                         "bare_cpu_ms": bare_cpu_ms, "e2e_cpu_ms": (c3 - c1) * 1e3,
                         "mesh_passes": clock["mesh_passes"],
                         "models_ms": clock["mesh_ms"] + clock["detector_ms"]
                         + analysis.timing_ms.get("descriptor", 0.0)
                         + analysis.timing_ms.get("faceres", 0.0),
                         "stages": dict(analysis.timing_ms)})
    finally:
        bare.close()
    return _summarise(rows)


def _stage_stats(timings: Sequence[dict[str, float]]) -> dict[str, Any]:
    """Per engine stage, the statistics over requests (`Analysis.timing_ms` of each;
    the total is left out, it is the sum)."""
    stages: dict[str, list[float]] = {}
    for timing in timings:
        for name, ms in timing.items():
            if name != "analyze_total":
                stages.setdefault(name, []).append(ms)
    return {k: _stats(v) for k, v in stages.items()}


def _summarise(rows: list[dict[str, Any]]) -> dict[str, Any]:
    e2e = _stats([r["e2e_ms"] for r in rows])
    bare = _stats([r["bare_ms"] for r in rows])
    ratios = [r["e2e_ms"] / r["bare_ms"] for r in rows if r["bare_ms"] > 0]
    models = _stats([r["models_ms"] for r in rows])
    # CPU time of the whole process (MediaPipe's graph threads included): on a shared,
    # oversubscribed machine wall time also counts waiting for a core; CPU time does not.
    e2e_cpu = _stats([r["e2e_cpu_ms"] for r in rows])
    bare_cpu = _stats([r["bare_cpu_ms"] for r in rows])
    return {
        "images": len(rows),
        "answered_ok": sum(r["ok"] for r in rows),
        "bare_found": sum(r["bare_found"] for r in rows),
        "analyze_ms": _stats([r["analyze_ms"] for r in rows]),
        "score_ms": _stats([r["score_ms"] for r in rows]),
        "e2e_ms": e2e,
        "bare_mesh_ms": bare,
        "bare_mesh_only_ms": _stats([r["bare_mesh_only_ms"] for r in rows]),
        "bare_descriptor_ms": _stats([r["bare_descriptor_ms"] for r in rows]),
        "bare_faceres_ms": _stats([r["bare_faceres_ms"] for r in rows if r["bare_faceres_ms"]]),
        "stages_ms": _stage_stats([r["stages"] for r in rows]),
        "ratio_p50": round(e2e["p50"] / bare["p50"], 3) if bare["p50"] else None,
        "e2e_cpu_ms": e2e_cpu,
        "bare_mesh_cpu_ms": bare_cpu,
        "cpu_ratio_p50": round(e2e_cpu["p50"] / bare_cpu["p50"], 3) if bare_cpu["p50"]
        else None,
        "ratio_per_image": _stats(ratios),
        # The same models as the pipeline runs them (every detector and mesh pass, the
        # descriptor and faceres stages, each with its crop), timed inside the request:
        # what is left is Aurum's own work.
        "mesh_passes": _stats([r["mesh_passes"] for r in rows]),
        "pipeline_models_ms": models,
        "own_work_ms": _stats([r["e2e_ms"] - r["models_ms"] for r in rows]),
        "ratio_pipeline_p50": round(e2e["p50"] / models["p50"], 3) if models["p50"] else None,
        "slowest": sorted(({"file": r["file"], "size": r["size"],
                            "e2e_ms": round(r["e2e_ms"], 1)} for r in rows),
                          key=lambda r: -r["e2e_ms"])[:3],
    }


PHONE_SIZE = (4032, 3024)  # a 12-megapixel phone camera, stored landscape


def phone_photo(path: Path) -> bytes:
    """A London photo as a phone delivers a portrait shot: 12 megapixels, stored on its
    side with EXIF orientation 6, JPEG quality 90. The shared images are at most 1350 px,
    but visitors upload straight from their phones, where decoding alone took longer
    than all the models (134-178 of 227-285 ms before the JPEG fast path). Noise like
    a sensor's (SD 10 levels, seeded by the file name) brings the file to about 2 MB,
    near a real phone's 2-4 MB: the upscaled photo alone compresses to 1 MB and decodes
    faster."""
    import cv2
    from PIL import Image

    from aurum.measure.imaging import load_image

    rgb = load_image(path)
    wide, tall = PHONE_SIZE[1], PHONE_SIZE[0]  # the upright portrait: 3024 x 4032
    side = min(wide, tall)
    face = cv2.resize(rgb, (side, side), interpolation=cv2.INTER_CUBIC)
    top = (tall - side) // 2
    upright = cv2.copyMakeBorder(face, top, tall - side - top, 0, 0, cv2.BORDER_REFLECT_101)
    noise = np.empty(upright.shape, np.int16)
    cv2.setRNGSeed(zlib.crc32(path.name.encode()) & 0x7FFFFFFF)
    cv2.randn(noise, 0, 10)
    upright = cv2.add(upright, noise, dtype=cv2.CV_8U)
    stored = Image.fromarray(upright).transpose(Image.Transpose.ROTATE_90)  # camera order
    exif = Image.Exif()
    exif[0x0112] = 6
    buf = io.BytesIO()
    stored.save(buf, "JPEG", quality=90, exif=exif.tobytes())
    return buf.getvalue()


def _phone(engine: Any, paths: list[Path], config: Any) -> dict[str, Any]:
    """analyze+score on phone-sized JPEG bytes (decode included), with its stages."""
    photos = [phone_photo(p) for p in paths]
    engine.score(engine.analyze(photos[0]), config)  # warm
    e2e, timings, ok = [], [], 0
    for data in photos:
        t0 = time.perf_counter()
        analysis = engine.analyze(data)
        report = engine.score(analysis, config)
        e2e.append((time.perf_counter() - t0) * 1e3)
        ok += bool(report.ok and analysis.image_size == (PHONE_SIZE[1], PHONE_SIZE[0]))
        timings.append(analysis.timing_ms)
    return {"images": len(photos), "answered_ok": ok, "size": list(PHONE_SIZE),
            "mean_mb": round(sum(map(len, photos)) / len(photos) / 1e6, 2),
            "e2e_ms": _stats(e2e), "stages_ms": _stage_stats(timings)}


def _slider(engine: Any, paths: list[Path], repeats: int) -> dict[str, Any]:
    """`score` on cached analyses while a designer drags the blend and a weight slider."""
    from aurum.config import Config

    analyses = [a for a in (engine.analyze(p) for p in paths) if a.ok]
    base = Config()
    configs = []
    for i in range(20):
        cfg = dataclasses.replace(base, blend_weight=i / 19,
                                  components={k: dataclasses.replace(v)
                                              for k, v in base.components.items()})
        cfg.components["symmetry_index"].weight = 0.5 + i / 10
        cfg.thresholds = base.thresholds.replace(quality=0.3 + i / 50)
        configs.append(cfg)
    times = []
    finals = set()
    for i in range(repeats):
        analysis, cfg = analyses[i % len(analyses)], configs[i % len(configs)]
        t0 = time.perf_counter()
        report = engine.score(analysis, cfg)
        times.append((time.perf_counter() - t0) * 1e3)
        finals.add(report.to_dict()["final"]["score"])
    return {"ms": _stats(times), "analyses": len(analyses), "configs": len(configs),
            "distinct_final_scores": len(finals)}


def _memory(engine: Any, paths: list[Path], total: int) -> dict[str, Any]:
    """RSS over `total` consecutive analyze+score calls, cycling through the images."""
    checkpoints = sorted({max(1, total // 10), max(1, total // 2), total})
    gc.collect()
    out: dict[str, Any] = {"start_mb": round(_rss_mb(), 1), "iterations": total, "at": {}}
    for i in range(1, total + 1):
        engine.score(engine.analyze(paths[i % len(paths)]))
        if i in checkpoints:
            out["at"][str(i)] = round(_rss_mb(), 1)
    first, last = out["at"][str(checkpoints[0])], out["at"][str(total)]
    out["growth_mb"] = round(last - first, 1)
    return out


def _cli_throughput(paths: list[Path]) -> dict[str, Any]:
    """The whole CLI as a user runs it, process start and model load included."""
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    t0 = time.perf_counter()
    proc = subprocess.run([sys.executable, "-m", "aurum", "score", *map(str, paths)],
                          cwd=REPO_DIR, env=env, capture_output=True, text=True, timeout=1800)
    wall = time.perf_counter() - t0
    lines = [json.loads(x) for x in proc.stdout.splitlines() if x.strip()]
    return {"images": len(paths), "lines": len(lines), "ok": sum(bool(x["ok"]) for x in lines),
            "exit_code": proc.returncode, "wall_s": round(wall, 2),
            "images_per_s": round(len(paths) / wall, 2) if wall > 0 else None}


def run(quick: bool = False, *, cli: bool = True, memory_iterations: int | None = None,
        slider_repeats: int | None = None) -> dict[str, Any]:
    """Every measurement as one JSON-ready dict (the table is printed from it)."""
    from aurum.config import Config
    from aurum.engine import Engine

    faces, london = _images(quick)
    t0 = time.perf_counter()
    engine = Engine()
    load_s = time.perf_counter() - t0
    engine.finder.warm_up()
    if engine.descriptor is not None:  # load the weights outside the timed requests
        engine.descriptor.load()
    config = Config()
    result: dict[str, Any] = {
        "meta": {"quick": quick, "python": platform.python_version(),
                 "cpus": os.cpu_count(), "machine": platform.machine(),
                 "load_average": round(os.getloadavg()[0], 2),
                 "engine_load_s": round(load_s, 2), "engine_status": engine.status(),
                 "faces": len(faces), "london": len(london)},
    }
    result["all"] = _latency(engine, faces + london, config)
    result["london"] = _latency(engine, london, config)
    result["phone"] = _phone(engine, london[:2] if quick else london[:20], config)
    result["slider"] = _slider(engine, london[:10] + faces[:10],
                               slider_repeats or (300 if quick else 5000))
    result["memory"] = _memory(engine, faces, memory_iterations or (60 if quick else 1000))
    result["cli"] = _cli_throughput(faces[:4] if quick else faces) if cli else None
    result["targets"] = _verdicts(result)
    return result


def _verdicts(r: dict[str, Any]) -> list[dict[str, Any]]:
    values = {
        "ratio_e2e_to_bare_mesh": r["all"]["ratio_p50"],
        "ratio_e2e_to_pipeline_models": r["all"]["ratio_pipeline_p50"],
        "cpu_ratio_e2e_to_bare_mesh": r["all"]["cpu_ratio_p50"],
        "london_e2e_p95_ms": r["london"]["e2e_ms"]["p95"],
        "slider_p50_ms": r["slider"]["ms"]["p50"],
        "rss_growth_mb": r["memory"]["growth_mb"],
    }
    out = []
    for key, label, op, target in TARGETS:
        value = values[key]
        met = None if value is None else (value <= target if op == "<=" else value < target)
        out.append({"key": key, "label": label, "value": value, "target": f"{op} {target:g}",
                    "met": met})
    return out


def _fmt(v: Any) -> str:
    if v is None:
        return "-"
    return f"{v:.2f}" if isinstance(v, float) else str(v)


def table(r: dict[str, Any]) -> str:
    """One plain-text table: latency, stage split, slider, CLI, memory, targets."""
    lines = []
    meta = r["meta"]
    lines.append(f"Aurum bench  ({'quick' if meta['quick'] else 'full'}; {meta['faces']} "
                 f"synthetic + {meta['london']} London images; {meta['cpus']} CPUs, load "
                 f"average {meta['load_average']}; engine load {meta['engine_load_s']} s)")
    head = f"{'measure':<42}{'p50':>10}{'p95':>10}{'mean':>10}{'n':>7}"
    lines += [head, "-" * len(head)]

    def row(label: str, s: dict[str, Any]) -> None:
        lines.append(f"{label:<42}{_fmt(s['p50']):>10}{_fmt(s['p95']):>10}"
                     f"{_fmt(s['mean']):>10}{s['n']:>7}")

    for name, key in (("all images", "all"), ("London 1350x1350", "london")):
        part = r[key]
        lines.append(f"[{name}] answered ok {part['answered_ok']}/{part['images']}, "
                     f"bare mesh found {part['bare_found']}/{part['images']}  (ms)")
        row("  analyze (read+decode+models)", part["analyze_ms"])
        for stage, s in part["stages_ms"].items():
            row(f"    stage {stage}", s)
        row("  score", part["score_ms"])
        row("  analyze+score (end to end)", part["e2e_ms"])
        row("  bare FaceMesh.process (decoded)", part["bare_mesh_only_ms"])
        row("  bare descriptor (on that mesh)", part["bare_descriptor_ms"])
        row("  bare faceres (on that mesh)", part["bare_faceres_ms"])
        row("  bare mesh + descriptor", part["bare_mesh_ms"])
        row("  ratio e2e / bare, per image", part["ratio_per_image"])
        lines.append(f"  {'ratio of p50s e2e / bare':<40}{_fmt(part['ratio_p50']):>10}")
        row("  analyze+score, process CPU time", part["e2e_cpu_ms"])
        row("  bare mesh+descriptor, process CPU", part["bare_mesh_cpu_ms"])
        lines.append(f"  {'ratio of CPU p50s e2e / bare':<40}{_fmt(part['cpu_ratio_p50']):>10}")
        row("  mesh passes per photo", part["mesh_passes"])
        row("  the pipeline's model passes (ms)", part["pipeline_models_ms"])
        row("  Aurum's own work (e2e - models)", part["own_work_ms"])
        lines.append(f"  {'ratio of p50s e2e / model passes':<40}"
                     f"{_fmt(part['ratio_pipeline_p50']):>10}")
    ph = r["phone"]
    lines.append(f"[12 MP phone JPEG, {ph['size'][0]}x{ph['size'][1]} EXIF-rotated, "
                 f"{ph['mean_mb']} MB] answered ok {ph['answered_ok']}/{ph['images']}  (ms)")
    row("  analyze+score (decode included)", ph["e2e_ms"])
    for stage, s in ph["stages_ms"].items():
        row(f"    stage {stage}", s)
    row("slider re-score (cached analysis) ms", r["slider"]["ms"])
    mem = r["memory"]
    lines.append(f"{'RSS MB over analyze+score loop':<42}" + "  ".join(
        f"@{k}: {v}" for k, v in mem["at"].items()) + f"  (start {mem['start_mb']})")
    if r.get("cli"):
        c = r["cli"]
        lines.append(f"{'CLI batch (process start included)':<42}{c['images_per_s']} images/s "
                     f"({c['images']} images in {c['wall_s']} s, {c['lines']} lines, "
                     f"exit {c['exit_code']})")
    lines.append("")
    lines.append(f"{'target':<42}{'value':>10}  {'goal':<10}verdict")
    for t in r["targets"]:
        verdict = "n/a" if t["met"] is None else ("MET" if t["met"] else "MISSED")
        lines.append(f"{t['label']:<42}{_fmt(t['value']):>10}  {t['target']:<10}{verdict}")
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of `python -m aurum bench`; exit 0 even when a target is missed
    (the table says so): the bench measures, CI does not gate on timing."""
    if list(argv or [])[:1] == ["--retest"]:  # test-retest stability: aurum/tools/retest.py
        from aurum.tools import retest

        return retest.main(list(argv or [])[1:])
    parser = argparse.ArgumentParser(prog="python -m aurum bench", description=__doc__)
    parser.add_argument("--quick", action="store_true",
                        help="a few images and short loops (smoke test)")
    parser.add_argument("--json", metavar="OUT", help="also write every figure to this file")
    parser.add_argument("--no-cli", action="store_true", help="skip the CLI throughput run")
    parser.add_argument("--memory-iterations", type=int, default=None,
                        help="analyze+score calls in the RSS loop (default 1000, quick 60)")
    args = parser.parse_args(list(argv or []))
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    result = run(args.quick, cli=not args.no_cli, memory_iterations=args.memory_iterations)
    print(table(result), flush=True)
    if args.json:
        Path(args.json).write_text(json.dumps(result, indent=2), encoding="utf-8")
    return 0
