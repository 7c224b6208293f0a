"""MediaPipe 0.10.21 face detection and the 478-point refined face mesh, run offline.

The models ship inside the mediapipe wheel. MediaPipe graph objects are not
thread-safe, so each worker borrows a detector/mesh pair from a small pool: the
app can serve concurrent requests without sharing one graph across threads and
without one graph per Gradio worker thread (memory stays bounded).
"""

from __future__ import annotations

import importlib.util
import os
import queue
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from aurum.errors import AurumError
from aurum.measure.framing import (
    CANON_SIDE,
    box_iou,
    box_of,
    canonical_warps,
    count_distinct,
    downscale,
    match_confidence,
    square_crop,
)
from aurum.measure.mirror import mirror_pairs

os.environ.setdefault("GLOG_minloglevel", "2")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

N_LANDMARKS = 478
DETECT_MAX_SIDE = 640  # the detectors take 128/192 px inputs: a smaller copy is faster


_CLOCK = threading.local()


@contextmanager
def inference_clock() -> Iterator[dict[str, float]]:
    """Time spent inside MediaPipe's models (detector and mesh passes) on this thread,
    and how many passes ran. The bench uses it to tell model inference from Aurum's
    own work: `find` runs the mesh several times by design (canonical views), so
    "the bare models" of a request are all of those passes, not one."""
    acc = {"mesh_ms": 0.0, "mesh_passes": 0, "detector_ms": 0.0, "detector_passes": 0}
    prev = getattr(_CLOCK, "acc", None)
    _CLOCK.acc = acc
    try:
        yield acc
    finally:
        _CLOCK.acc = prev


def _clocked(kind: str, graph, rgb: np.ndarray):
    acc = getattr(_CLOCK, "acc", None)
    if acc is None:
        return graph.process(rgb)
    t0 = time.perf_counter()
    try:
        return graph.process(rgb)
    finally:
        acc[f"{kind}_ms"] += (time.perf_counter() - t0) * 1e3
        acc[f"{kind}_passes"] += 1


@dataclass
class DetectedFace:
    """The chosen face: landmarks in pixels (x, y, z on the x scale), box, confidence."""

    landmarks: np.ndarray  # (478, 3) float64
    bbox: tuple[float, float, float, float]  # x, y, w, h in pixels
    confidence: float | None
    faces_found: int
    detector: str


# The bundled model files each part opens, inside the mediapipe package. The health
# check looks for them (a stat, no model run), so a broken install reports itself
# before the first visitor pays for it; the mesh graph also runs the short-range model.
MODEL_FILES: dict[str, tuple[str, ...]] = {
    "detector": ("modules/face_detection/face_detection_short_range.tflite",
                 "modules/face_detection/face_detection_full_range_sparse.tflite"),
    "mesh": ("modules/face_landmark/face_landmark_with_attention.tflite",
             "modules/face_detection/face_detection_short_range.tflite"),
}


class GraphError(RuntimeError):
    """A MediaPipe graph could not be built; `part` is "mesh" or "detector"."""

    def __init__(self, part: str, exc: BaseException) -> None:
        text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        super().__init__(f"{part} graph failed to load: {text[:200]}")
        self.part = part


class _Graphs:
    def __init__(self, max_faces: int) -> None:
        import mediapipe as mp

        try:
            self.mesh = mp.solutions.face_mesh.FaceMesh(
                static_image_mode=True, refine_landmarks=True, max_num_faces=max_faces,
                min_detection_confidence=0.5)
        except Exception as exc:
            raise GraphError("mesh", exc) from exc
        try:
            self.short = mp.solutions.face_detection.FaceDetection(
                model_selection=0, min_detection_confidence=0.5)
            self.full = mp.solutions.face_detection.FaceDetection(
                model_selection=1, min_detection_confidence=0.5)
        except Exception as exc:
            raise GraphError("detector", exc) from exc


def _mediapipe_dir() -> Path | None:
    """The installed mediapipe package's folder, found without importing it."""
    spec = importlib.util.find_spec("mediapipe")
    return Path(spec.origin).parent if spec is not None and spec.origin else None


def _detect(g: _Graphs, rgb: np.ndarray) -> tuple[list, list, str]:
    """The face detector's boxes on `rgb` (short range first, then full range, then at
    full resolution, then in tiles), the full-range boxes of a wide photo (for
    counting), and which detector found the boxes."""
    h, w = rgb.shape[:2]
    small, scale = downscale(rgb, DETECT_MAX_SIDE)
    dets = _detections(g.short, small, scale)
    # For counting: the short-range model letterboxes the photo to 128 px, so in a wide
    # group photo (a row of faces) it misses faces the full-range model (192 px) sees.
    # Portraits skip this (it costs ~4 ms of CPU).
    far = _detections(g.full, small, scale) if max(h, w) >= 1.6 * min(h, w) else []
    if dets:
        return dets, far, "short_range"
    dets = far or _detections(g.full, small, scale)
    if not dets and scale < 1.0:
        dets = _detections(g.full, rgb, 1.0)
    if not dets and max(h, w) > 2 * DETECT_MAX_SIDE:
        # A small face in a large photo: search tiles at full resolution.
        dets = _tiled_detections(g.full, rgb, 2 * DETECT_MAX_SIDE)
    return dets, far, "full_range"


class FaceFinder:
    """Finds faces and meshes; picks the largest face and says how many there were."""

    def __init__(self, pool_size: int = 2, max_faces: int = 6) -> None:
        self.max_faces = max_faces
        # Each slot holds a graph pair, or None: "free, build one when needed". A
        # thread waits for a slot, so at most `pool_size` pairs ever exist.
        self._pool: queue.Queue[_Graphs | None] = queue.Queue()
        for _ in range(max(1, pool_size)):
            self._pool.put(None)
        # The last graph build's outcome, for the health check: None until one ran.
        self.build_error: GraphError | None = None
        self.built = False

    @contextmanager
    def _graphs(self) -> Iterator[_Graphs]:
        g = self._pool.get()
        if g is None:
            try:
                g = _Graphs(self.max_faces)
            except BaseException as exc:
                self._pool.put(None)  # give the slot back, or later requests wait forever
                if isinstance(exc, GraphError):
                    self.build_error = exc
                raise
            self.built, self.build_error = True, None
        try:
            yield g
        except AurumError:
            self._pool.put(g)  # a user-level outcome: the graphs are fine
            raise
        except BaseException:
            self._pool.put(None)  # a graph that raised may be broken: rebuild it next time
            raise
        else:
            self._pool.put(g)

    def warm_up(self) -> None:
        """Build one graph pair now so the first request does not pay for it."""
        with self._graphs():
            pass

    def status(self) -> dict[str, str]:
        """Each part's state ("ready: ..." or "unavailable: <reason>") from its model
        files (a stat each) and the last graph build; never builds or runs a graph."""
        root = _mediapipe_dir()
        out: dict[str, str] = {}
        for part, files in MODEL_FILES.items():
            if root is None:
                out[part] = "unavailable: mediapipe is not installed"
                continue
            missing = [f.rsplit("/", 1)[-1] for f in files if not (root / f).is_file()]
            if missing:
                out[part] = f"unavailable: model file missing: {', '.join(missing)}"
            elif self.build_error is not None and self.build_error.part == part:
                out[part] = f"unavailable: {self.build_error}"
            else:
                out[part] = ("ready: mediapipe 0.10.21 (bundled models)" if self.built else
                             "ready: mediapipe 0.10.21 (bundled models; graphs not built yet)")
        return out

    def find(self, rgb: np.ndarray) -> DetectedFace:
        """Largest face in `rgb` (H, W, 3 uint8) or `AurumError('no_face')`.

        The mesh runs on a square crop around the detected face and on its mirror
        image, then on `CANON_VIEWS` canonical views of the face (see
        `_canonical_views`); the result is the mean of all of them, the mirrored
        meshes re-indexed left for right. MediaPipe alone is not mirror-equivariant
        (a photo and its mirror image differed by 2.6 geometric points on average)
        and one mesh moves by about 0.5 % of the pupil distance when the photo is
        re-saved, resized or brightened: the mean of views that meet the model at
        fixed, mirror-symmetric positions removes the bias and most of that noise.
        """
        h, w = rgb.shape[:2]
        with self._graphs() as g:
            dets, far, detector = _detect(g, rgb)
            lm = None
            conf: float | None = None
            if dets:
                dets.sort(key=lambda d: d[0][2] * d[0][3], reverse=True)
                box, conf = dets[0]
                lm = self._mirrored_mesh(g, rgb, box)
            if lm is None:
                # The detector missed (or its crop failed): let the mesh graph search
                # the whole photo, as MediaPipe does on its own.
                meshes = _meshes(g.mesh, rgb)
                if meshes:
                    lm = max(meshes, key=lambda a: box_of(a)[2] * box_of(a)[3])
                    conf = match_confidence(box_of(lm), dets)
                    detector = "mesh"
                    dets = dets or []
                    faces = max(len(meshes), count_distinct(dets + far))
                else:
                    faces = 0
            else:
                faces = count_distinct(dets + far)
        if lm is None:
            if dets:
                raise AurumError("face_too_small", "A face was detected but is too small, cut off "
                                 "or turned away to measure its landmarks. Move closer and face "
                                 "the camera.")
            raise AurumError("no_face", "No face was found. Use a clear, well-lit photo of one "
                             "adult face looking at the camera.")
        box = box_of(lm)
        x0, y0 = max(0.0, box[0]), max(0.0, box[1])
        box = (x0, y0, min(box[0] + box[2], w) - x0, min(box[1] + box[3], h) - y0)
        return DetectedFace(landmarks=lm, bbox=box, confidence=conf, faces_found=max(1, faces),
                            detector=detector)

    def _mirrored_mesh(self, g: _Graphs, rgb: np.ndarray,
                       box: tuple[float, float, float, float]) -> np.ndarray | None:
        """Mesh of the face in `box`: mean of the crop's mesh and its mirror's mesh."""
        passes = self._mesh_passes(g, rgb, box)
        return None if passes is None else np.mean(passes, axis=0)

    def _mesh_passes(self, g: _Graphs, rgb: np.ndarray,
                     box: tuple[float, float, float, float]) -> list[np.ndarray] | None:
        """Every mesh pass the landmarks average (the crop, its mirror, the canonical
        views): apart so a study can look at the passes (scripts/geohair_collect.py)."""
        crop, x0, y0, f = square_crop(rgb, box)
        cx = crop.shape[1] / 2.0
        plain = _central_mesh(g.mesh, crop)
        # cv2.flip: numpy's reverse-and-copy of the 640 px crop cost 3 ms.
        flipped = _central_mesh(g.mesh, cv2.flip(crop, 1))
        if plain is None and flipped is None:
            return None
        if flipped is not None:
            flipped = flipped[mirror_pairs()]
            flipped[:, 0] = 2 * cx - flipped[:, 0]
        first = [m for m in (plain, flipped) if m is not None]
        for m in first:
            m[:, :3] /= f
            m[:, 0] += x0
            m[:, 1] += y0
        views = _canonical_views(g, rgb, np.mean(first, axis=0))
        return first + views


def _canonical_views(g: _Graphs, rgb: np.ndarray, lm: np.ndarray) -> list[np.ndarray]:
    """Meshes of the canonical views (`framing.canonical_warps`), plain and mirrored,
    in photo pixels."""
    out = []
    for crop, inv, scale in canonical_warps(rgb, lm):
        out += view_meshes(g, crop, inv, scale)
    return out


def view_meshes(g: _Graphs, crop: np.ndarray, inv: np.ndarray, scale: float
                ) -> list[np.ndarray]:
    """One canonical view's meshes, plain and mirrored, mapped back to photo pixels
    (`inv`, `scale`: the view's warp back): apart so a study can feed an altered view."""
    out = []
    for mirrored in (False, True):
        found = _central_mesh(g.mesh, cv2.flip(crop, 1) if mirrored else crop)
        if found is None:
            continue
        if mirrored:
            found = found[mirror_pairs()]
            found[:, 0] = CANON_SIDE - found[:, 0]
        back = np.empty_like(found)
        back[:, :2] = found[:, :2] @ inv[:, :2].T + inv[:, 2]
        back[:, 2] = found[:, 2] / scale
        out.append(back)
    return out


def _central_mesh(mesh, crop: np.ndarray) -> np.ndarray | None:
    found = _meshes(mesh, crop)
    if not found:
        return None
    c = crop.shape[1] / 2.0
    return min(found, key=lambda a: float(np.hypot(a[:, 0].mean() - c, a[:, 1].mean() - c)))


def _tiled_detections(det, rgb: np.ndarray, tile: int
                      ) -> list[tuple[tuple[float, float, float, float], float]]:
    """Full-range detections on overlapping full-resolution tiles, in photo pixels."""
    h, w = rgb.shape[:2]
    step = tile * 3 // 4
    out = []
    for y in range(0, max(1, h - tile // 4), step):
        for x in range(0, max(1, w - tile // 4), step):
            crop = np.ascontiguousarray(rgb[y:y + tile, x:x + tile])
            for (bx, by, bw, bh), score in _detections(det, crop, 1.0):
                out.append(((bx + x, by + y, bw, bh), score))
    kept: list[tuple[tuple[float, float, float, float], float]] = []
    for d in sorted(out, key=lambda d: -d[1]):  # one box per face across tile overlaps
        if all(box_iou(d[0], k[0]) < 0.3 for k in kept):
            kept.append(d)
    return kept


def _detections(det, rgb: np.ndarray, scale: float
                ) -> list[tuple[tuple[float, float, float, float], float]]:
    res = _clocked("detector", det, rgb)
    h, w = rgb.shape[:2]
    out = []
    for d in res.detections or []:
        b = d.location_data.relative_bounding_box
        box = (b.xmin * w / scale, b.ymin * h / scale, b.width * w / scale, b.height * h / scale)
        out.append((box, float(d.score[0]) if d.score else 0.0))
    return out


def _meshes(mesh, rgb: np.ndarray) -> list[np.ndarray]:
    res = _clocked("mesh", mesh, rgb)
    h, w = rgb.shape[:2]
    out = []
    for face in res.multi_face_landmarks or []:
        a = landmark_array(face, w, h)
        if a.shape[0] == N_LANDMARKS:
            out.append(a)
    return out


# One NormalizedLandmark as MediaPipe serialises it: field 1 (length 15) holding x, y, z
# as float32 fields 1-3 (tags 0x0d, 0x15, 0x1d), each followed by its 4 payload bytes.
# 17 bytes when x, y and z are all set (any value, 0.0 included: landmark.proto is
# proto2, which keeps set fields) and visibility and presence are not.
_LM_RECORD = 17
_LM_TAGS = ((0, 0x0A), (1, 0x0F), (2, 0x0D), (7, 0x15), (12, 0x1D))
_LM_FLOAT_COLS = np.r_[3:7, 8:12, 13:17]


def landmark_array(face: Any, w: int, h: int) -> np.ndarray:
    """(n, 3) photo-pixel landmarks of one face (x * w, y * h, z * w), float64.

    Why not a loop over `face.landmark`: reading 478 protobuf objects' attributes
    cost about 0.25 ms a mesh, 2 ms a request over its eight passes. The serialised
    message is read with numpy instead when its layout is the plain one (every record
    17 bytes, the tags where they belong); otherwise (a coordinate left unset, an extra
    field such as visibility) the loop runs. The fast path is only an optimisation: a
    MediaPipe that wrote visibility would turn it off, correctly but slower, and
    tests/test_engine.py's length check is the tripwire for that. Both give the same
    floats: the float32 values widened to float64 and multiplied by the image size.
    """
    buf = face.SerializeToString()
    n = len(buf) // _LM_RECORD
    if n and len(buf) == n * _LM_RECORD:
        rec = np.frombuffer(buf, dtype=np.uint8).reshape(n, _LM_RECORD)
        if all(bool(np.all(rec[:, col] == tag)) for col, tag in _LM_TAGS):
            xyz = np.ascontiguousarray(rec[:, _LM_FLOAT_COLS]).view("<f4").astype(np.float64)
            return xyz * np.array([float(w), float(h), float(w)])
    return np.array([(p.x * w, p.y * h, p.z * w) for p in face.landmark], dtype=np.float64)
