"""The face descriptor: dlib's face-recognition ResNet (128-D), for the learned model.

Why this representation: a network trained to tell millions of faces apart carries
cues of a face's appearance that 41 hand-made landmark and texture features miss, and
on the London set a ridge model on it ranks faces better within each sex and moves less
with a smile (see `models/MODEL_CARD.md`).

Pipeline (per request, in `Engine.analyze`): the averaged MediaPipe mesh -> five of its
points where dlib's 5-point predictor puts its landmarks (`MESH_FIVE`: the outer and
inner eye corners and the base of the nose) -> dlib's face-chip geometry and resampling
(150 px, padding 0.25, the alignment the network was trained with) -> the network -> 128
floats. Why the mesh and not dlib's predictor: the predictor, run in the face box, moved
its points with a photo's brightness, size and JPEG noise, and the chip with them; with
the same model, the test-retest p95 of the attractiveness score under the four small
changes of issue 10 was 1.06 points with dlib's points and 0.50 with the mesh's (gamma
1.31 -> 0.32), on the same 40 faces, and 0.45 with the model retrained on mesh-aligned
chips. The mesh's five points, with `MESH_FIVE_OFFSETS`, land 1.7 % of the outer-eye-
corner distance from dlib's (RMS over 211 shared faces). The 68-point predictor
(licensed for non-commercial use) is never used. The network is not mirror-symmetric:
see `MIRROR_AVERAGE` and the model card.

Privacy: the descriptor is an identity template (it can re-identify a person). It
lives in memory only, for the duration of one `analyze` call: it is handed to the
attractiveness model through the `FaceContext` and then dropped. It is never put in
an `Analysis`, a report, the JSON of the API or CLI, a log line or the opt-in store.
`Descriptor.__repr__` hides the values so that even a stray debug print or a logged
exception cannot leak them.

Runtime: the network runs on OpenCV's dnn kernels (`aurum.analysers.descriptor_net`: the same
weights, read from the same file and handed to `cv2.dnn` as an in-memory ONNX graph;
equal to dlib within 1e-4; about 8 ms against dlib's 80-106 ms a face here). OpenCV is
already loaded for MediaPipe, so this runtime costs no import time and little memory
(torch, the runtime before it, cost 1-2 s at start-up and about 190 MB).
`AURUM_DESCRIPTOR_BACKEND` (`opencv` | `dlib`) forces one; training uses dlib, the
reference runtime, so rebuilt artefacts do not depend on OpenCV's kernel choice.

Weights: PyPI `face-recognition-models` 0.3.0 (Davis King's dlib models, packaged by
Adam Geitgey). The files are loaded once, lazily, and checked against a pinned SHA-256;
when dlib or the weights are missing, `status()` says `unavailable: <reason>` and the
rest of the engine keeps working.
"""

from __future__ import annotations

import logging
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
from aurum.paths import sha256_file

log = logging.getLogger("aurum.analysers.descriptor")

DIM = 128
CHIP_SIZE = 150
CHIP_PADDING = 0.25
# Tried and measured (model card): the mean of the chip's and its mirror's outputs.
MIRROR_AVERAGE = False
# The chips the network sees, its outputs averaged: "photo" (the chip as cut),
# "face_only" (the photo outside the mesh's face oval mid grey), "gray" (luminance).
CHIP_VIEWS: tuple[str, ...] = ("photo",)
RESNET_FILE = "dlib_face_recognition_resnet_model_v1.dat"
SHAPE5_FILE = "shape_predictor_5_face_landmarks.dat"
# The mesh points that stand in for dlib's five, in dlib's order: the outer and inner
# corner of the eye on the image's right, the same for the image's left, the base of
# the nose. Each eye corner is the mesh vertex nearest (median over 211 shared faces)
# to dlib's point; the pairs are mirror images of each other in the mesh, so a
# mirrored photo gives the mirrored chip.
MESH_FIVE = (263, 382, 33, 155, 2)
# Where dlib's point sits relative to its mesh vertex, on average, in a frame of the
# face (x: along the pupil line towards the face's midline for the eye points, y:
# down), in units of the pupil distance; mirror-symmetrised (the left and right
# values averaged) so the alignment stays mirror-equivariant. Fitted by
# `fit_five_point_offsets` on 211 shared faces (102 London, 109 SFHQ);
# tests/analysers/test_descriptor.py refits them on 12 shared faces and checks they agree.
MESH_FIVE_OFFSETS = ((0.0181, 0.0079), (-0.0013, -0.0126), (0.0181, 0.0079),
                     (-0.0013, -0.0126), (0.0, 0.0205))
# The sign, along the pupil line (image left to right), of "towards the face's midline"
# at each of dlib's points: 0 and 1 (outer and inner corner) are on the image's right
# eye, 2 and 3 on its left, 4 on the midline.
_INWARD = (-1.0, -1.0, 1.0, 1.0, 0.0)
_SUBPIXEL = 1024  # see DescriptorModel._chip
# SHA-256 of the files shipped in face-recognition-models==0.3.0.
SHA256 = {
    RESNET_FILE: "55533b28a95800a551ba546ba62fe69625c7e95a7061c338adffead08719da30",
    SHAPE5_FILE: "c4b1e9804792707d3a405c2c16a80a20269e6675021f64a41d30fffafbc41888",
}
LICENCES = {
    "dlib": "dlib-bin 20.0.1.post1 (prebuilt dlib 20.0.1): Boost Software License 1.0",
    "face_recognition_models": "face-recognition-models 0.3.0: LICENSE file CC0 1.0 "
                               "Universal (setup.py metadata says MIT; its README: public "
                               "domain or CC0)",
    "weights": "dlib_face_recognition_resnet_model_v1.dat and "
               "shape_predictor_5_face_landmarks.dat by Davis King, released into the public "
               "domain (dlib-models README); the ResNet was trained on about 3 million faces "
               "(FaceScrub, VGG and images collected from the internet); the 5-point "
               "predictor on images annotated by Davis King. The 68-point predictor (ibug "
               "300-W data, non-commercial) is not used.",
}


@dataclass(frozen=True)
class Descriptor:
    """128 floats; never shown, logged or stored."""

    values: np.ndarray

    def __repr__(self) -> str:  # no values in any printout, log or traceback
        return f"Descriptor(<{DIM}-D identity template, withheld>)"

    __str__ = __repr__

    def normalised(self) -> np.ndarray:
        """Unit length: the model uses direction only (the norm carries image quality)."""
        v = np.asarray(self.values, dtype=np.float64)
        n = float(np.linalg.norm(v))
        return v / n if n > 0 else v


class DescriptorError(Exception):
    """The descriptor could not be computed for this face (the reason is user-safe)."""


def alignment() -> dict[str, Any]:
    """Everything that decides which chip the network sees. A model records it when
    trained and refuses to score descriptors made another way (the numbers would
    look fine and mean something else)."""
    return {"mesh_points": list(MESH_FIVE),
            "offsets": [list(o) for o in MESH_FIVE_OFFSETS],
            "chip_views": list(CHIP_VIEWS), "mirror_average": MIRROR_AVERAGE,
            "chip_size": CHIP_SIZE, "chip_padding": CHIP_PADDING}


def _pupil_frame(lm: np.ndarray) -> tuple[np.ndarray, np.ndarray, float]:
    """Unit vector along the pupil line (image left to right), its normal (down) and
    the pupil distance: the 2-D frame the offsets are stated in (not `pose.face_frame`,
    the 3-D frame of the measurements)."""
    u = lm[IRIS_R, :2] - lm[IRIS_L, :2]
    ipd = float(np.hypot(*u))
    u = u / ipd if ipd > 0 else np.array([1.0, 0.0])
    return u, np.array([-u[1], u[0]]), ipd


def mesh_five_points(landmarks: np.ndarray) -> np.ndarray:
    """(5, 2) photo pixels: dlib's five alignment points, read off the face mesh."""
    lm = np.asarray(landmarks, dtype=np.float64)
    if lm.ndim != 2 or lm.shape[0] <= max(MESH_FIVE) or lm.shape[1] < 2:
        raise DescriptorError("the face mesh is incomplete")
    u, v, ipd = _pupil_frame(lm)
    out = lm[list(MESH_FIVE), :2].copy()
    for k, (dx, dy) in enumerate(MESH_FIVE_OFFSETS):
        out[k] += ipd * (_INWARD[k] * dx * u + dy * v)
    return out


def fit_five_point_offsets(meshes: list[np.ndarray], dlib_points: list[np.ndarray]
                           ) -> np.ndarray:
    """The mean offset of dlib's points from their mesh vertices, in the face frame
    of `MESH_FIVE_OFFSETS` (mirror-symmetrised); (5, 2)."""
    offs = np.zeros((len(meshes), 5, 2))
    for i, (lm, pts) in enumerate(zip(meshes, dlib_points, strict=True)):
        u, v, ipd = _pupil_frame(np.asarray(lm, dtype=np.float64))
        for k, j in enumerate(MESH_FIVE):
            d = (np.asarray(pts[k], dtype=np.float64) - lm[j, :2]) / ipd
            offs[i, k] = (_INWARD[k] * float(d @ u), float(d @ v))
    m = offs.mean(axis=0)
    sym = m.copy()
    for a, b in ((0, 2), (1, 3)):
        sym[a] = sym[b] = (m[a] + m[b]) / 2.0
    sym[4, 0] = 0.0
    return sym


def face_only(img: np.ndarray, landmarks: np.ndarray) -> np.ndarray:
    """A copy of the photo with everything outside the mesh's face oval mid grey."""
    pts = np.round(np.asarray(landmarks)[list(FACE_OVAL), :2] * 4).astype(np.int32)
    mask = np.zeros(img.shape[:2], np.uint8)
    cv2.fillPoly(mask, [pts], 255, lineType=cv2.LINE_AA, shift=2)
    out = np.full_like(img, 128)
    cv2.copyTo(img, mask, out)
    return out


def weights_dir() -> Path | None:
    """Where face-recognition-models keeps its .dat files, or None when not installed."""
    try:
        import importlib.util

        spec = importlib.util.find_spec("face_recognition_models")
    except (ImportError, ValueError):
        return None
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(list(spec.submodule_search_locations)[0]) / "models"


class DescriptorModel(PinnedNetwork):
    """Loads dlib and the two weight files once (lazily, thread-safe); computes
    descriptors. dlib's network object is not documented as thread-safe, so calls
    are serialised by a lock (the app's concurrency is 2 cores anyway)."""

    LICENCES, SHA256 = LICENCES, SHA256  # this module's pins, for the card

    def __init__(self, weights: Path | None = None, check_sha: bool = True,
                 backend: str | None = None) -> None:
        self._weights = weights
        self.backend_wanted = (backend or os.environ.get("AURUM_DESCRIPTOR_BACKEND")
                               or "auto").lower()
        self.backend = "none"
        self.backend_note = ""
        self._fast: Any = None
        self._check_sha = check_sha
        self._lock = threading.Lock()
        self._loaded = False
        self._error: str | None = None
        self._sp: Any = None
        self._net: Any = None
        self._dlib: Any = None
        self.load_ms: float | None = None
        self.sha256: str | None = None

    # -- loading ------------------------------------------------------------------
    def load(self) -> bool:
        """Load once; True when ready. A failure is remembered with its reason."""
        with self._lock:
            if self._loaded or self._error is not None:
                return self._loaded
            t0 = time.perf_counter()
            try:
                try:
                    import dlib
                except ImportError as exc:
                    raise DescriptorError(f"dlib is not installed ({exc}); "
                                          "pip install dlib-bin") from exc
                folder = self._weights or weights_dir()
                if folder is None:
                    raise DescriptorError("face-recognition-models is not installed "
                                          "(pip install face-recognition-models==0.3.0)")
                paths = {name: Path(folder) / name for name in (RESNET_FILE, SHAPE5_FILE)}
                for name, path in paths.items():
                    if not path.is_file():
                        raise DescriptorError(f"weights file {name} not found in {folder}")
                    if self._check_sha:
                        digest = sha256_file(path)
                        if digest != SHA256[name]:
                            raise DescriptorError(f"{name} has SHA-256 {digest[:12]}..., "
                                                  f"expected {SHA256[name][:12]}...")
                self._sp = dlib.shape_predictor(str(paths[SHAPE5_FILE]))
                self._net = dlib.face_recognition_model_v1(str(paths[RESNET_FILE]))
                self._dlib = dlib
                self.sha256 = SHA256[RESNET_FILE]
                self.backend = "dlib"
                if self.backend_wanted in ("auto", "opencv"):
                    self._load_opencv(paths[RESNET_FILE])
                elif self.backend_wanted != "dlib":
                    # e.g. "torch", the runtime before OpenCV's: say so, loudly, as
                    # dlib's kernels are about ten times slower.
                    self.backend_note = (f"unknown AURUM_DESCRIPTOR_BACKEND "
                                         f"{self.backend_wanted!r} (opencv | dlib); "
                                         f"running on dlib's slower kernels")
                    log.warning("face descriptor: %s", self.backend_note)
                self._loaded = True
            except DescriptorError as exc:
                self._error = str(exc)
            except Exception as exc:  # a broken wheel must not take the engine down
                self._error = f"could not load dlib's models ({type(exc).__name__}: {exc})"
            self.load_ms = round((time.perf_counter() - t0) * 1000, 1)
            if self._error:
                log.warning("face descriptor unavailable: %s", self._error)
            return self._loaded

    def _load_opencv(self, weights: Path) -> None:
        try:
            from aurum.analysers.descriptor_net import OpenCVResNet

            net = OpenCVResNet(weights, CHIP_SIZE)
            self._fast, self.backend, self.backend_note = net, "opencv", ""
        except Exception as exc:  # e.g. an OpenCV without dnn: dlib's kernels, said so
            self.backend_note = (f"OpenCV runtime unavailable "
                                 f"({type(exc).__name__}: {str(exc)[:120]})")
            log.warning("face descriptor on dlib: %s", self.backend_note)

    @property
    def ready(self) -> bool:
        return self._loaded

    def ready_status(self) -> str:
        runtime = ("OpenCV dnn kernels (equal to dlib within 1e-4)"
                   if self.backend == "opencv"
                   else "dlib-bin kernels" + (f"; {self.backend_note}"
                                              if self.backend_note else ""))
        return (f"dlib face-recognition ResNet v1 (128-D, aligned on five "
                f"face-mesh points) on {runtime}, weights SHA-256 {self.sha256}")

    def chip_text(self) -> str:
        return f"{CHIP_SIZE} px, padding {CHIP_PADDING}, aligned on mesh points {MESH_FIVE}"

    def licence_summary(self) -> str:
        return ("dlib: Boost Software License 1.0; face-recognition-models 0.3.0: CC0 1.0; "
                "ResNet and 5-point weights: public domain (Davis King); the 68-point "
                "predictor (non-commercial data) is not used")

    # -- computing ----------------------------------------------------------------
    def _require(self) -> None:
        """Load on first use; DescriptorError with the load's reason if that failed."""
        if not self.load():
            raise DescriptorError(self._error or "the models are not loaded")

    def five_points(self, rgb: np.ndarray, bbox: tuple[float, float, float, float]) -> Any:
        """dlib's own 5-point landmarks inside a face box (x, y, w, h). Not used to
        score: kept to show that the mesh's five points (`mesh_five_points`) land
        where dlib's predictor puts them (tests/analysers/test_descriptor.py)."""
        x, y, w, h = (float(v) for v in bbox)
        rect = self._dlib.rectangle(int(round(x)), int(round(y)),
                                    int(round(x + w)), int(round(y + h)))
        return self._sp(rgb, rect)

    def chip(self, rgb: np.ndarray, landmarks: np.ndarray) -> np.ndarray:
        """The aligned 150 px face chip the network sees (uint8 RGB), from the mesh."""
        self._require()
        img = np.ascontiguousarray(rgb, dtype=np.uint8)
        with self._lock:
            return self._chip(img, mesh_five_points(landmarks))

    def dlib_chip(self, rgb: np.ndarray, bbox: tuple[float, float, float, float]
                  ) -> np.ndarray:
        """The chip dlib's own 5-point predictor would give (for comparison only)."""
        self._require()
        img = np.ascontiguousarray(rgb, dtype=np.uint8)
        with self._lock:
            shape = self.five_points(img, bbox)
            return np.asarray(self._dlib.get_face_chip(img, shape, size=CHIP_SIZE,
                                                       padding=CHIP_PADDING))

    def _chip(self, img: np.ndarray, points: np.ndarray) -> np.ndarray:
        """dlib's face-chip geometry and resampling for five sub-pixel points.

        `full_object_detection` holds integer points; the similarity transform dlib
        fits to them is scale-equivariant, so the points go in multiplied by
        `_SUBPIXEL` (a power of two: the division back is exact) and the chip's
        rectangle comes back divided by it. Rounding the points instead would move a
        small face's chip by up to half a pixel, the jitter this alignment removes.
        """
        dl = self._dlib
        if not np.all(np.isfinite(points)):
            raise DescriptorError("the face's eye and nose points are not finite")
        pts = [dl.point(int(round(x * _SUBPIXEL)), int(round(y * _SUBPIXEL)))
               for x, y in points]
        h, w = img.shape[:2]
        det = dl.full_object_detection(
            dl.rectangle(0, 0, int(w * _SUBPIXEL), int(h * _SUBPIXEL)), pts)
        big = dl.get_face_chip_details(det, CHIP_SIZE, CHIP_PADDING)
        r = big.rect
        rect = dl.drectangle(r.left() / _SUBPIXEL, r.top() / _SUBPIXEL,
                             r.right() / _SUBPIXEL, r.bottom() / _SUBPIXEL)
        details = dl.chip_details(rect, dl.chip_dims(CHIP_SIZE, CHIP_SIZE), big.angle)
        return np.asarray(dl.extract_image_chip(img, details))

    def compute(self, rgb: np.ndarray, landmarks: np.ndarray) -> Descriptor:
        """The 128-D descriptor of the face whose mesh is `landmarks` (478 x 2+, photo
        pixels); DescriptorError if impossible."""
        self._require()
        if rgb.ndim != 3 or rgb.shape[2] != 3:
            raise DescriptorError("the descriptor needs an RGB image")
        img = np.ascontiguousarray(rgb, dtype=np.uint8)
        points = mesh_five_points(landmarks)
        net = self._fast
        with self._lock:
            pair = []
            for view in CHIP_VIEWS:
                src = face_only(img, landmarks) if view == "face_only" else img
                chip = self._chip(src, points)
                if view == "gray":
                    chip = np.repeat(cv2.cvtColor(chip, cv2.COLOR_RGB2GRAY)[:, :, None], 3,
                                     axis=2)
                pair.append(chip)
                if MIRROR_AVERAGE:
                    pair.append(np.ascontiguousarray(chip[:, ::-1]))
            if net is None:
                values = np.mean([np.array(self._net.compute_face_descriptor(c),
                                           dtype=np.float64) for c in pair], axis=0)
        if net is not None:  # outside dlib's lock: the OpenCV net has its own
            values = net.forward_batch(pair).mean(axis=0)
        if values.shape != (DIM,) or not np.all(np.isfinite(values)):
            raise DescriptorError("the descriptor is not a finite 128-D vector")
        return Descriptor(values)

    def compute_safe(self, rgb: np.ndarray, landmarks: np.ndarray
                     ) -> tuple[Descriptor | None, str]:
        """(descriptor, "ok") or (None, "unavailable: <reason>"); never raises, and
        never logs the values (only the kind of failure)."""
        try:
            return self.compute(rgb, landmarks), "ok"
        except DescriptorError as exc:
            return None, f"unavailable: {exc}"
        except Exception as exc:
            log.warning("face descriptor failed (%s)", type(exc).__name__)
            return None, f"unavailable: descriptor failed ({type(exc).__name__})"

    def compute_chip(self, chip: np.ndarray, runtime: str = "dlib") -> Descriptor:
        """The descriptor of an already aligned chip on one runtime (`dlib` or
        `opencv`): used to compare the two."""
        self._require()
        img = np.ascontiguousarray(chip, dtype=np.uint8)
        if runtime == "opencv":
            if self._fast is None:
                raise DescriptorError(self.backend_note or "the OpenCV runtime is not loaded")
            try:
                return Descriptor(self._fast.forward(img))
            except ValueError as exc:
                raise DescriptorError(str(exc)) from exc
        with self._lock:
            values = np.array(self._net.compute_face_descriptor(img), dtype=np.float64)
        return Descriptor(values)


_DEFAULT: ProcessWide[DescriptorModel] = ProcessWide(DescriptorModel)


def get_model() -> DescriptorModel:
    """The process-wide descriptor model (weights loaded on first use, once)."""
    return _DEFAULT.get()
