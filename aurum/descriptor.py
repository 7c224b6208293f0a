"""The face descriptor: dlib's face-recognition ResNet (128-D), for the learned model.

Why this representation: a network trained to tell millions of faces apart carries
cues of a face's appearance that 41 hand-made landmark and texture features miss, and
on the London set a ridge model on it ranks faces better within each sex and moves less
with a smile (see `models/MODEL_CARD.md`).

Pipeline (per request, in `Engine.analyze`): the MediaPipe face box -> dlib's 5-point
shape predictor inside that box (eye corners and the base of the nose; never the
68-point predictor, whose training data is licensed for non-commercial use only) ->
`dlib.get_face_chip` (150 px, padding 0.25, the alignment the network was trained
with) -> the network -> 128 floats. The network is not mirror-symmetric: a mirrored
photo moves the score by 1.4 points on average (up to 4.2 on 17 faces). Averaging the
chip's and its mirror image's outputs halved that, but cost London 10-fold r 0.03 and
the hair-colour fairness check in a full training run, so the single chip is kept
(`MIRROR_AVERAGE`, see the model card).

Privacy: the descriptor is an identity template (it can re-identify a person). It
lives in memory only, for the duration of one `analyze` call: it is handed to the
attractiveness model through the `FaceContext` and then dropped. It is never put in
an `Analysis`, a report, the JSON of the API or CLI, a log line or the opt-in store.
`Descriptor.__repr__` hides the values so that even a stray debug print or a logged
exception cannot leak them.

Runtime: the network runs on torch's CPU kernels (`aurum.descriptor_torch`, the same
weights read from the same file; equal to dlib within 1e-4; 17 ms against dlib's
106 ms a face here) when torch imports, otherwise on dlib's own BLAS-free kernels.
Importing torch costs about 1-2 s at start-up and about 240 MB of memory
(`AURUM_DESCRIPTOR_BACKEND=dlib` trades that for 6x slower descriptors). `AURUM_DESCRIPTOR_BACKEND`
(`torch` | `dlib`) forces one; training uses dlib, the reference runtime, so rebuilt
artefacts do not depend on torch's kernel choice.

Weights: PyPI `face-recognition-models` 0.3.0 (Davis King's dlib models, packaged by
Adam Geitgey). The files are loaded once, lazily, and checked against a pinned SHA-256;
when dlib or the weights are missing, `status()` says `unavailable: <reason>` and the
rest of the engine keeps working.
"""

from __future__ import annotations

import hashlib
import logging
import os
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

log = logging.getLogger("aurum.descriptor")

DIM = 128
CHIP_SIZE = 150
CHIP_PADDING = 0.25
# Tried and measured (model card): the mean of the chip's and its mirror's outputs.
MIRROR_AVERAGE = False
RESNET_FILE = "dlib_face_recognition_resnet_model_v1.dat"
SHAPE5_FILE = "shape_predictor_5_face_landmarks.dat"
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


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with Path(path).open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


class DescriptorModel:
    """Loads dlib and the two weight files once (lazily, thread-safe); computes
    descriptors. dlib's network object is not documented as thread-safe, so calls
    are serialised by a lock (the app's concurrency is 2 cores anyway)."""

    def __init__(self, weights: Path | None = None, check_sha: bool = True,
                 backend: str | None = None) -> None:
        self._weights = weights
        self.backend_wanted = (backend or os.environ.get("AURUM_DESCRIPTOR_BACKEND")
                               or "auto").lower()
        self.backend = "none"
        self.backend_note = ""
        self._torch: Any = None
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
                if self.backend_wanted in ("auto", "torch"):
                    # Synchronous: loading torch in a background thread (serving on
                    # dlib meanwhile) was measured and did not bring the first score
                    # sooner on 2 busy cores (the import holds the GIL), and one
                    # runtime for every request is simpler to reason about.
                    self._load_torch(paths[RESNET_FILE])
                self._loaded = True
            except DescriptorError as exc:
                self._error = str(exc)
            except Exception as exc:  # a broken wheel must not take the engine down
                self._error = f"could not load dlib's models ({type(exc).__name__}: {exc})"
            self.load_ms = round((time.perf_counter() - t0) * 1000, 1)
            if self._error:
                log.warning("face descriptor unavailable: %s", self._error)
            return self._loaded

    def _load_torch(self, weights: Path) -> None:
        try:
            from aurum.descriptor_torch import TorchResNet

            net = TorchResNet(weights, threads=1)
            self._torch, self.backend, self.backend_note = net, "torch", ""
        except Exception as exc:  # no torch: dlib's kernels, said so
            self.backend_note = (f"torch runtime unavailable "
                                 f"({type(exc).__name__}: {str(exc)[:120]})")
            log.warning("face descriptor on dlib: %s", self.backend_note)

    def wait_for_runtime(self, timeout: float = 60.0) -> str:
        """Block until a background torch load has finished (bench and tests)."""
        t0 = time.perf_counter()
        while self.backend_note == "torch runtime loading" and \
                time.perf_counter() - t0 < timeout:
            time.sleep(0.05)
        return self.backend

    @property
    def ready(self) -> bool:
        return self._loaded

    def status(self) -> str:
        if self._loaded:
            runtime = ("torch CPU kernels (equal to dlib within 1e-4)" if self.backend == "torch"
                       else "dlib-bin kernels" + (f"; {self.backend_note}"
                                                  if self.backend_note else ""))
            return (f"ready: dlib face-recognition ResNet v1 (128-D, 5-point alignment) on "
                    f"{runtime}, weights SHA-256 {self.sha256}")
        if self._error:
            return f"unavailable: {self._error}"
        return "not loaded yet (loads on first use)"

    def info(self) -> dict[str, Any]:
        """For the Status tab and the model card: what it is, licences, checksum."""
        return {"status": self.status(), "licences": dict(LICENCES),
                "weights_sha256": dict(SHA256), "chip": f"{CHIP_SIZE} px, padding "
                f"{CHIP_PADDING}", "privacy": "identity template: memory only, never "
                "stored, logged or returned"}

    def licence_summary(self) -> str:
        return ("dlib: Boost Software License 1.0; face-recognition-models 0.3.0: CC0 1.0; "
                "ResNet and 5-point weights: public domain (Davis King); the 68-point "
                "predictor (non-commercial data) is not used")

    # -- computing ----------------------------------------------------------------
    def five_points(self, rgb: np.ndarray, bbox: tuple[float, float, float, float]) -> Any:
        """dlib's 5-point landmarks inside the MediaPipe face box (x, y, w, h)."""
        x, y, w, h = (float(v) for v in bbox)
        rect = self._dlib.rectangle(int(round(x)), int(round(y)),
                                    int(round(x + w)), int(round(y + h)))
        return self._sp(rgb, rect)

    def chip(self, rgb: np.ndarray, bbox: tuple[float, float, float, float]) -> np.ndarray:
        """The aligned 150 px face chip the network sees (uint8 RGB)."""
        if not self.load():
            raise DescriptorError(self._error or "the models are not loaded")
        img = np.ascontiguousarray(rgb, dtype=np.uint8)
        with self._lock:
            shape = self.five_points(img, bbox)
            return np.asarray(self._dlib.get_face_chip(img, shape, size=CHIP_SIZE,
                                                       padding=CHIP_PADDING))

    def compute(self, rgb: np.ndarray, bbox: tuple[float, float, float, float]) -> Descriptor:
        """The 128-D descriptor of the face in `bbox`; DescriptorError if impossible."""
        if not self.load():
            raise DescriptorError(self._error or "the models are not loaded")
        if rgb.ndim != 3 or rgb.shape[2] != 3:
            raise DescriptorError("the descriptor needs an RGB image")
        img = np.ascontiguousarray(rgb, dtype=np.uint8)
        net = self._torch  # read once: a background load may set it at any time
        with self._lock:
            shape = self.five_points(img, bbox)
            chip = np.asarray(self._dlib.get_face_chip(img, shape, size=CHIP_SIZE,
                                                       padding=CHIP_PADDING))
            pair = [chip, np.ascontiguousarray(chip[:, ::-1])] if MIRROR_AVERAGE else [chip]
            if net is None:
                values = np.mean([np.array(self._net.compute_face_descriptor(c),
                                           dtype=np.float64) for c in pair], axis=0)
        if net is not None:  # outside dlib's lock: the torch net has its own
            values = net.forward_batch(pair).mean(axis=0)
        if values.shape != (DIM,) or not np.all(np.isfinite(values)):
            raise DescriptorError("the descriptor is not a finite 128-D vector")
        return Descriptor(values)

    def compute_safe(self, rgb: np.ndarray, bbox: tuple[float, float, float, float]
                     ) -> tuple[Descriptor | None, str]:
        """(descriptor, "ok") or (None, "unavailable: <reason>"); never raises, and
        never logs the values (only the kind of failure)."""
        try:
            return self.compute(rgb, bbox), "ok"
        except DescriptorError as exc:
            return None, f"unavailable: {exc}"
        except Exception as exc:
            log.warning("face descriptor failed (%s)", type(exc).__name__)
            return None, f"unavailable: descriptor failed ({type(exc).__name__})"

    def compute_chip(self, chip: np.ndarray, runtime: str = "dlib") -> Descriptor:
        """The descriptor of an already aligned chip on one runtime (`dlib` or
        `torch`): used to compare the two."""
        if not self.load():
            raise DescriptorError(self._error or "the models are not loaded")
        img = np.ascontiguousarray(chip, dtype=np.uint8)
        if runtime == "torch":
            if self._torch is None:
                raise DescriptorError(self.backend_note or "the torch runtime is not loaded")
            return Descriptor(self._torch.forward(img))
        with self._lock:
            values = np.array(self._net.compute_face_descriptor(img), dtype=np.float64)
        return Descriptor(values)


_DEFAULT: DescriptorModel | None = None
_DEFAULT_LOCK = threading.Lock()


def get_model() -> DescriptorModel:
    """The process-wide descriptor model (weights loaded on first use, once)."""
    global _DEFAULT
    with _DEFAULT_LOCK:
        if _DEFAULT is None:
            _DEFAULT = DescriptorModel()
        return _DEFAULT
