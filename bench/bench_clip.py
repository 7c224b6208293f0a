"""Benchmark the CLIP backend at full ViT-B/32 size on this CPU, with no download.

    .venv/bin/python bench/bench_clip.py [--faces 20] [--reps 3] [--json out.json]

A `CLIPModel(CLIPConfig())` with random weights has exactly the architecture and
compute of `openai/clip-vit-base-patch32` (ViT-B/32 vision tower, 12-layer text
tower, 512-d projections; ~151 M parameters, ~600 MB of float32). It is saved with
a CLIP image processor and a small tokenizer to a temp folder, then a fresh child
process (so its RSS holds only what the app would hold) loads it through the real
`ClipBackend` and times it on the shared aligned crops of ~20 shared faces:

- import: `import torch` and transformers' CLIP classes in a fresh process (the
  backend does this inside its loader thread; it is most of a cold start);
- load: `ClipBackend.start()` until `ready` (from_pretrained of model, processor,
  tokenizer, the FaceStats head, and the zero-shot prompt encoding);
- analyze: one face through `ClipBackend.analyze` (crop + preprocessing +
  embedding + heads), p50/p95 over faces x reps;
- embed: `embed_crops` of one pre-cut crop; batch-8: images/s of `embed_crops(8)`;
- RSS at start, after the imports, after load, after inference, and the peak. The
  weights are memory-mapped safetensors: pages count in RSS once touched (the text
  tower while the prompts are encoded, the vision tower on the first images).

Landmarks come from MediaPipe in the parent, so the child never loads it.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))


def _rss_mb() -> float:
    import psutil

    return psutil.Process().memory_info().rss / 2**20


def _peak_mb() -> float:
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


def build(folder: Path, faces: int) -> None:
    """Random full-size CLIP + processor + tokenizer, and the faces' landmarks."""
    import torch
    import transformers

    from aurum.analysers import clip_backend as cb
    from aurum.measure.imaging import load_image
    from aurum.measure.landmarks import FaceFinder
    from aurum.paths import shared_dir

    chars = sorted(set("".join(cb.POSITIVE_PROMPTS + cb.NEGATIVE_PROMPTS).lower()) - {" "})
    vocab = {"<|startoftext|>": 0, "<|endoftext|>": 1}
    for c in chars:
        vocab.setdefault(c, len(vocab))
        vocab.setdefault(c + "</w>", len(vocab))
    tok = transformers.CLIPTokenizer(vocab=vocab, merges=[])
    cfg = transformers.CLIPConfig(text_config=dict(bos_token_id=0, eos_token_id=1,
                                                   pad_token_id=1))
    torch.manual_seed(0)
    model = transformers.CLIPModel(cfg)
    n_params = sum(p.numel() for p in model.parameters())
    n_vision = sum(p.numel() for p in model.vision_model.parameters()) + \
        sum(p.numel() for p in model.visual_projection.parameters())
    model.save_pretrained(folder / "model")
    transformers.CLIPProcessor(image_processor=transformers.CLIPImageProcessorPil(),
                               tokenizer=tok).save_pretrained(folder / "model")
    paths = sorted((shared_dir() / "faces").glob("*.jpg"))
    paths = paths[:: max(1, len(paths) // faces)][:faces]
    finder = FaceFinder(pool_size=1)
    landmarks = [finder.find(load_image(p)).landmarks for p in paths]
    np.savez(folder / "faces.npz", paths=np.array([str(p) for p in paths]),
             landmarks=np.stack(landmarks))
    (folder / "meta.json").write_text(json.dumps(
        {"params": n_params, "vision_params": n_vision, "config": "CLIPConfig() defaults",
         "vision": f"ViT-B/{cfg.vision_config.patch_size} @ {cfg.vision_config.image_size}",
         "model_mb": round(sum(f.stat().st_size for f in (folder / "model").iterdir())
                           / 2**20, 1)}))


def _latencies(b: Any, faces: list, crops: list, reps: int) -> dict:
    """One face at a time: `analyze` (wall and CPU time) and the crop's embedding."""
    lat, emb, cpu = [], [], []
    for _ in range(reps):
        for (rgb, lm), crop in zip(faces, crops, strict=True):
            t, c = time.perf_counter(), time.process_time()
            r = b.analyze(rgb, lm)
            lat.append(time.perf_counter() - t)
            cpu.append(time.process_time() - c)
            assert r["status"] == "ok", r
            t = time.perf_counter()
            b.embed_crops([crop])
            emb.append(time.perf_counter() - t)
    return {"analyze_cpu_s_p50": round(float(np.percentile(cpu, 50)), 3),
            "analyze_ms_p50": round(1000 * float(np.percentile(lat, 50)), 1),
            "analyze_ms_p95": round(1000 * float(np.percentile(lat, 95)), 1),
            "embed_ms_p50": round(1000 * float(np.percentile(emb, 50)), 1),
            "embed_ms_p95": round(1000 * float(np.percentile(emb, 95)), 1),
            "n_latency": len(lat)}


def child(folder: Path, reps: int, threads: int) -> dict:
    """Runs in a fresh process: nothing but the backend is loaded."""
    out: dict = {"rss_start_mb": round(_rss_mb(), 1)}
    t = time.perf_counter()
    import torch
    from transformers import AutoImageProcessor, AutoTokenizer, CLIPModel  # noqa: F401

    out["import_s"] = round(time.perf_counter() - t, 2)
    if threads:
        torch.set_num_threads(threads)
    out["torch_threads"] = torch.get_num_threads()
    from aurum.analysers import clip_backend as cb
    from aurum.measure.crop import aligned_face
    from aurum.measure.imaging import load_image

    data = np.load(folder / "faces.npz")
    faces = [(load_image(p), lm) for p, lm in zip(data["paths"], data["landmarks"], strict=True)]
    crops = [aligned_face(rgb, lm, size=cb.CROP_SIZE) for rgb, lm in faces]
    out["faces"] = len(faces)
    out["rss_imported_mb"] = round(_rss_mb(), 1)
    b = cb.ClipBackend(folder / "model", heads=[cb.known_head("facestats_v1")])
    t = time.perf_counter()
    b.start()
    status = b.wait(600)
    out["load_s"] = round(time.perf_counter() - t, 2)
    out["status"] = status
    out["heads"] = b.describe()["heads"]
    out["rss_after_load_mb"] = round(_rss_mb(), 1)
    for rgb, lm in faces[:2]:  # warm-up
        b.analyze(rgb, lm)
    out.update(_latencies(b, faces, crops, reps))
    batches = [crops[i:i + 8] for i in range(0, len(crops) - 7, 8)] or [crops[:8]]
    b.embed_crops(batches[0])  # warm-up
    n, t = 0, time.perf_counter()
    for _ in range(reps):
        for batch in batches:
            b.embed_crops(batch)
            n += len(batch)
    dt = time.perf_counter() - t
    out["batch8_img_per_s"] = round(n / dt, 1)
    out["batch8_ms_per_batch"] = round(1000 * dt / (n / 8), 1)
    out["rss_end_mb"] = round(_rss_mb(), 1)
    out["loadavg_1min_end"] = round(os.getloadavg()[0], 2)
    out["rss_peak_mb"] = round(_peak_mb(), 1)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--faces", type=int, default=20)
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--json", type=Path, default=None)
    ap.add_argument("--threads", type=int, default=0,
                    help="torch intra-op threads in the child (default: torch's own)")
    ap.add_argument("--child", type=Path, default=None, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        print(json.dumps(child(args.child, args.reps, args.threads)))
        return
    load_before = os.getloadavg()[0]
    with tempfile.TemporaryDirectory(prefix="aurum_bench_clip_") as tmp:
        folder = Path(tmp)
        print("building a random full-size CLIP ViT-B/32 and the faces' landmarks ...",
              flush=True)
        build(folder, args.faces)
        meta = json.loads((folder / "meta.json").read_text())
        env = dict(os.environ, HF_HUB_OFFLINE="1", PYTHONWARNINGS="ignore")
        cmd = [sys.executable, __file__, "--child", str(folder), "--reps", str(args.reps),
               "--threads", str(args.threads)]
        proc = subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=REPO)
        if proc.returncode:
            sys.exit(proc.stderr[-3000:])
        res = json.loads(proc.stdout.strip().splitlines()[-1])
    res["meta"] = meta
    rows = [
        ("model", f"{meta['vision']}, random weights, {meta['params'] / 1e6:.1f} M params "
                  f"({meta['vision_params'] / 1e6:.1f} M vision), {meta['model_mb']} MB"),
        ("status", res["status"]),
        ("torch threads", str(res["torch_threads"])),
        ("import torch + transformers CLIP", f"{res['import_s']:.2f} s"),
        ("load (start -> ready, imported)", f"{res['load_s']:.2f} s"),
        ("cold start (import + load)", f"{res['import_s'] + res['load_s']:.2f} s"),
        ("analyze p50 / p95 (1 face)", f"{res['analyze_ms_p50']:.1f} / "
                                       f"{res['analyze_ms_p95']:.1f} ms  (n={res['n_latency']})"),
        ("analyze CPU time p50 (all threads)", f"{res['analyze_cpu_s_p50'] * 1000:.0f} ms"),
        ("embed p50 / p95 (1 crop)", f"{res['embed_ms_p50']:.1f} / {res['embed_ms_p95']:.1f} ms"),
        ("batch of 8", f"{res['batch8_img_per_s']:.1f} img/s "
                       f"({res['batch8_ms_per_batch']:.0f} ms per batch)"),
        ("RSS start / imported / loaded", f"{res['rss_start_mb']:.0f} / "
                                          f"{res['rss_imported_mb']:.0f} / "
                                          f"{res['rss_after_load_mb']:.0f} MB"),
        ("RSS after inference / peak", f"{res['rss_end_mb']:.0f} / "
                                       f"{res['rss_peak_mb']:.0f} MB"),
    ]
    w = max(len(k) for k, _ in rows)
    print(f"\nCLIP backend on this CPU ({os.cpu_count()} cores), {res['faces']} shared faces; "
          f"load average {load_before:.2f} before, {res['loadavg_1min_end']:.2f} after "
          "(other processes slow every number down)")
    for k, v in rows:
        print(f"  {k:<{w}}  {v}")
    if args.json:
        args.json.write_text(json.dumps(res, indent=2))


if __name__ == "__main__":
    main()
