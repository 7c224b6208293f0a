"""What another processor does to MediaPipe's output, as a seeded perturbation.

MediaPipe's TFLite/XNNPACK kernels pick their instructions by processor, so the same
photo gives slightly different landmarks on another CPU. Measured on the 359 reference
photos (a 2-core AMD EPYC without AVX-512 against the AVX-512 machine that built the
committed reference): the shape embedding moved by up to 0.045 units, one of the 14
proportions by up to 2.4 % (114 faces by more than 1e-4), the attractiveness score by
up to 0.08 points (p95 0.03).

The model here: every landmark coordinate jittered by JITTER of the face's RMS landmark
radius, and a share WARPED of the faces (the measured 114 of 359) also bent by a smooth
random warp (a second-order polynomial in the face's own coordinates, amplitude NOISE
of that radius). Calibrated on the same 359 faces with every face warped: at NOISE =
3e-4 the embedding moves by up to 0.049 (the measured 0.045, p95 0.036), and the
proportions by up to 11 % (canthal tilt, an angle near zero, aside), well past the
measured 2.4 %.
"""

from __future__ import annotations

import hashlib

import numpy as np

NOISE = 3e-4
JITTER = 1e-5
WARPED = 114 / 359
ATTRACTIVENESS_NOISE = 0.08  # points: the largest cross-processor difference measured


def _rng(seed: int, key: str) -> np.random.Generator:
    digest = hashlib.sha256(f"{seed}:{key}".encode()).digest()
    return np.random.default_rng(int.from_bytes(digest[:8], "little"))


def perturb_landmarks(landmarks: np.ndarray, seed: int, key: str = "",
                      scale: float = NOISE) -> np.ndarray:
    """One face's (478, 3) landmarks as another processor might return them. Seeded by
    (seed, key) so that a face gets the same perturbation whatever order it comes in."""
    lm = np.asarray(landmarks, dtype=np.float64)
    rng = _rng(seed, key)
    centre = lm[:, :2].mean(axis=0)
    radius = float(np.sqrt(((lm[:, :2] - centre) ** 2).sum(axis=1).mean()))
    u = (lm[:, :2] - centre) / radius
    basis = np.stack([u[:, 0], u[:, 1], u[:, 0] ** 2, u[:, 0] * u[:, 1], u[:, 1] ** 2], 1)
    out = lm.copy()
    warp = basis @ rng.normal(size=(5, 2))
    if rng.uniform() < WARPED:
        out[:, :2] += scale * radius * warp
    out += rng.normal(size=lm.shape) * JITTER * radius
    return out


def perturb_data(data: dict, seed: int, scale: float = NOISE) -> dict:
    """The build's analysed numbers (`reference.faces.analyse_all`) with every face's
    landmarks perturbed and its attractiveness score moved by up to 0.08 points."""
    out = dict(data)
    out["landmarks"] = np.array([perturb_landmarks(lm, seed, face_id, scale)
                                 for face_id, lm in zip(data["ids"], data["landmarks"],
                                                        strict=True)])
    attr = np.asarray(data["attractiveness"], dtype=np.float64)
    shift = np.array([_rng(seed, "attr:" + i).uniform(-1, 1) for i in data["ids"]])
    out["attractiveness"] = attr + ATTRACTIVENESS_NOISE * shift
    return out
