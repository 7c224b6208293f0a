"""How much a score moves when the same photo is degraded or re-lit, and how long
features + prediction take per request.

Why: a score that follows the camera rather than the face misleads; the card reports
the change per perturbation so a reader can judge it.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from typing import Any

import cv2
import numpy as np

from aurum.analysers.attractiveness import LearnedAttractiveness
from aurum.tools.training.common.recording import measure, recording_engine
from aurum.tools.training.london.data import DESCRIPTOR_BACKEND, Dataset, as_descriptor


def _perturbations() -> dict[str, Callable[[np.ndarray], np.ndarray]]:
    def lowres(im: np.ndarray) -> np.ndarray:  # the pupils ~40 px apart
        h, w = im.shape[:2]
        return cv2.resize(im, (max(1, int(w * 0.22)), max(1, int(h * 0.22))),
                          interpolation=cv2.INTER_AREA)

    def jpeg(im: np.ndarray) -> np.ndarray:
        ok, buf = cv2.imencode(".jpg", cv2.cvtColor(im, cv2.COLOR_RGB2BGR),
                               [cv2.IMWRITE_JPEG_QUALITY, 25])
        return cv2.cvtColor(cv2.imdecode(buf, cv2.IMREAD_COLOR), cv2.COLOR_BGR2RGB)

    def gamma(g: float) -> Callable[[np.ndarray], np.ndarray]:
        lut = np.round(255 * (np.arange(256) / 255.0) ** g).astype(np.uint8)
        return lambda im: cv2.LUT(im, lut)

    def cast(gains: tuple[float, float, float]) -> Callable[[np.ndarray], np.ndarray]:
        return lambda im: np.clip(im * np.array(gains), 0, 255).astype(np.uint8)

    def sidelight(im: np.ndarray) -> np.ndarray:
        ramp = np.linspace(0.7, 1.2, im.shape[1])[None, :, None]
        return np.clip(im * ramp, 0, 255).astype(np.uint8)

    return {
        "low resolution (pupils ~40 px apart)": lowres,
        "JPEG quality 25": jpeg,
        "darker (gamma 1.5)": gamma(1.5),
        "brighter (gamma 0.67)": gamma(1 / 1.5),
        "warm white balance": cast((1.12, 1.0, 0.85)),
        "cool white balance": cast((0.88, 1.0, 1.12)),
        "defocus (Gaussian blur 2.5 px)": lambda im: cv2.GaussianBlur(im, (0, 0), 2.5),
        "mirrored": lambda im: np.ascontiguousarray(im[:, ::-1]),
        "side light (0.7x to 1.2x ramp)": sidelight,
    }


def robustness(ds: Dataset, model: LearnedAttractiveness, n_faces: int) -> dict[str, Any]:
    """Score change (0-100 points) when the same photo is degraded or re-lit."""
    from aurum.measure.imaging import load_image

    if n_faces <= 0:
        return {}
    step = max(1, len(ds.faces) // n_faces)
    chosen = list(range(0, len(ds.faces), step))[:n_faces]
    engine, rec = recording_engine(DESCRIPTOR_BACKEND)
    perts = _perturbations()
    deltas: dict[str, list[float]] = {k: [] for k in perts}
    lost: dict[str, int] = {k: 0 for k in perts}
    scalar_names = sorted(ds.raw[0].scalars)
    spread = {n: float(np.nanstd([r.scalars[n] for r in ds.raw])) for n in scalar_names}
    shifts: dict[str, dict[str, list[float]]] = {n: {k: [] for k in perts}
                                                 for n in scalar_names}
    for i in chosen:
        rgb = load_image(ds.faces[i].neutral)
        base = model.analyze_raw(ds.raw[i], as_descriptor(ds.desc[i]))["score"]
        for name, fn in perts.items():
            raw, _ = measure(engine, rec, fn(rgb))
            out = model.analyze_raw(raw, as_descriptor(rec.desc)) if raw is not None \
                else {"score": None}
            if out["score"] is None or base is None:
                lost[name] += 1
            else:
                deltas[name].append(float(out["score"]) - float(base))
            if raw is not None:
                for n in scalar_names:
                    d = abs(raw.scalars[n] - ds.raw[i].scalars[n])
                    if math.isfinite(d) and spread[n] > 0:
                        shifts[n][name].append(d / spread[n])
    rows = {k: {"n": len(v), "lost": lost[k],
                "mean_abs_change": float(np.mean(np.abs(v))) if v else None,
                "mean_change": float(np.mean(v)) if v else None,
                "max_abs_change": float(np.max(np.abs(v))) if v else None}
            for k, v in deltas.items()}
    # per feature: the worst perturbation's mean shift, in between-face SDs
    sensitivity = {n: max((float(np.mean(v)) for v in per.values() if v), default=None)
                   for n, per in shifts.items()}
    return {"faces": len(chosen), "perturbations": rows, "feature_shift_sd": sensitivity}


def request_timing(model: LearnedAttractiveness, contexts: Sequence[Any]) -> dict[str, float]:
    """Features + prediction per request, from the engine's FaceContext (ms)."""
    if not contexts:
        return {}
    for ctx in contexts[:2]:
        model.analyze(ctx)
    times = []
    for _ in range(5):
        for ctx in contexts:
            t = time.perf_counter()
            model.analyze(ctx)
            times.append((time.perf_counter() - t) * 1000)
    return {"median_ms": float(np.median(times)), "min_ms": float(np.min(times)),
            "p90_ms": float(np.percentile(times, 90)), "n": len(times)}
