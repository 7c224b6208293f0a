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
            small, scale = _downscale(rgb, DETECT_MAX_SIDE)
            dets = _detections(g.short, small, scale)
            detector = "short_range"
            # For counting: the short-range model letterboxes the photo to 128 px, so in
            # a wide group photo (a row of faces) it misses faces the full-range model
            # (192 px) sees. Portraits skip this (it costs ~4 ms of CPU).
            far = _detections(g.full, small, scale) if max(h, w) >= 1.6 * min(h, w) else []
            if not dets:
                dets = far or _detections(g.full, small, scale)
                if not dets and scale < 1.0:
                    dets = _detections(g.full, rgb, 1.0)
                if not dets and max(h, w) > 2 * DETECT_MAX_SIDE:
                    # A small face in a large photo: search tiles at full resolution.
                    dets = _tiled_detections(g.full, rgb, 2 * DETECT_MAX_SIDE)
                detector = "full_range"
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
                    lm = max(meshes, key=lambda a: _box_of(a)[2] * _box_of(a)[3])
                    conf = _match_confidence(_box_of(lm), dets)
                    detector = "mesh"
                    dets = dets or []
                    faces = max(len(meshes), _count_distinct(dets + far))
                else:
                    faces = 0
            else:
                faces = _count_distinct(dets + far)
        if lm is None:
            if dets:
                raise AurumError("face_too_small", "A face was detected but is too small, cut off "
                                 "or turned away to measure its landmarks. Move closer and face "
                                 "the camera.")
            raise AurumError("no_face", "No face was found. Use a clear, well-lit photo of one "
                             "adult face looking at the camera.")
        box = _box_of(lm)
        x0, y0 = max(0.0, box[0]), max(0.0, box[1])
        box = (x0, y0, min(box[0] + box[2], w) - x0, min(box[1] + box[3], h) - y0)
        return DetectedFace(landmarks=lm, bbox=box, confidence=conf, faces_found=max(1, faces),
                            detector=detector)

    def _mirrored_mesh(self, g: _Graphs, rgb: np.ndarray,
                       box: tuple[float, float, float, float]) -> np.ndarray | None:
        """Mesh of the face in `box`: mean of the crop's mesh and its mirror's mesh."""
        from aurum.measure.geometry import mirror_pairs

        crop, x0, y0, f = _square_crop(rgb, box)
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
        return np.mean(first + views, axis=0)


# Canonical views. A face meets the mesh model at a place and scale set by the
# photo's framing and by the detector's box, both of which move when a photo is
# re-saved, resized or cropped; the model's answer moves with them (about 0.5 % of
# the pupil distance per landmark, 1-3 geometric points). So after the first mesh,
# the face is resampled (area-averaged, so resolution drops out) to level pupils
# CANON_IPD px apart at a fixed place in a CANON_SIDE crop, and meshed at a few
# fixed offsets and scales, each plain and mirrored. The offsets are symmetric
# left/right, so a photo and its mirror image give the same set of views. Nothing is
# random: the same pixels give the same landmarks.
CANON_IPD = 64.0
CANON_SIDE = 288
CANON_EYE_Y = 0.42  # pupil line, as a share of the crop side from the top
# (pupil distance in px, x offset, y offset as shares of the side); each is meshed
# plain and mirrored.
CANON_VIEWS: tuple[tuple[float, float, float], ...] = (
    (64.0, 0.0, 0.0), (60.0, -0.02, 0.01), (60.0, 0.02, 0.01))


def _canonical_views(g: _Graphs, rgb: np.ndarray, lm: np.ndarray) -> list[np.ndarray]:
    """Meshes of the canonical views, in photo pixels (see CANON_VIEWS)."""
    from aurum.measure.geometry import IRIS_L, IRIS_R, mirror_pairs

    left, right = lm[IRIS_L, :2], lm[IRIS_R, :2]
    ipd = float(np.hypot(*(right - left)))
    if not CANON_VIEWS or not np.isfinite(ipd) or ipd < 4.0:
        return []
    roll = float(np.arctan2(*(right - left)[::-1]))
    src, pre = _canonical_source(rgb, (left + right) / 2.0, ipd, roll)
    centre = pre[:, :2] @ ((left + right) / 2.0) + pre[:, 2]
    d = pre[:, :2] @ (right - left)
    angle = float(np.degrees(np.arctan2(d[1], d[0])))
    ipd_src = float(np.hypot(*d))
    out = []
    for view_ipd, dx, dy in CANON_VIEWS:
        m = cv2.getRotationMatrix2D((float(centre[0]), float(centre[1])), angle,
                                    view_ipd / ipd_src)
        m[0, 2] += CANON_SIDE * (0.5 + dx) - centre[0]
        m[1, 2] += CANON_SIDE * (CANON_EYE_Y + dy) - centre[1]
        crop = cv2.warpAffine(src, m, (CANON_SIDE, CANON_SIDE), flags=cv2.INTER_LINEAR,
                              borderMode=cv2.BORDER_REPLICATE)
        full = np.vstack([m, [0.0, 0.0, 1.0]]) @ np.vstack([pre, [0.0, 0.0, 1.0]])
        inv = np.linalg.inv(full)[:2]
        scale = view_ipd / ipd
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


def _canonical_source(rgb: np.ndarray, centre: np.ndarray, ipd: float, roll: float
                      ) -> tuple[np.ndarray, np.ndarray]:
    """The region the views need, area-downscaled once to about CANON_IPD (a warp
    alone would alias a large photo); returns it and the 2x3 map photo -> region."""
    h, w = rgb.shape[:2]
    s = CANON_IPD / ipd
    # Half-width of the views' union around the pupils, in photo pixels: the turned
    # square, plus how far the views' centres sit from the pupils, plus a margin.
    widest = CANON_SIDE * ipd / min(v[0] for v in CANON_VIEWS)
    reach = 0.5 * (abs(np.cos(roll)) + abs(np.sin(roll))) + (0.5 - CANON_EYE_Y) + 0.05
    half = int(np.ceil(widest * reach)) + 2
    x0, y0 = int(round(centre[0])) - half, int(round(centre[1])) - half
    cx0, cy0 = max(0, x0), max(0, y0)
    cx1, cy1 = min(w, x0 + 2 * half), min(h, y0 + 2 * half)
    if cx1 <= cx0 or cy1 <= cy0:
        return rgb, np.array([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]])
    region = rgb[cy0:cy1, cx0:cx1]
    fx = fy = 1.0
    if s < 1.0:
        # Halve with pyrDown (cheap) while far above the target, then area-average.
        while s / fx < 0.5 and min(region.shape[:2]) >= 8:
            region = cv2.pyrDown(region)
            fx, fy = region.shape[1] / (cx1 - cx0), region.shape[0] / (cy1 - cy0)
        # INTER_AREA here, not a bilinear warp at this scale: with a bilinear
        # downscale the retest's geometric p95 was 0.89 instead of 0.70.
        tw, th = max(1, round((cx1 - cx0) * s)), max(1, round((cy1 - cy0) * s))
        region = cv2.resize(region, (tw, th), interpolation=cv2.INTER_AREA)
        fx, fy = tw / (cx1 - cx0), th / (cy1 - cy0)
    pre = np.array([[fx, 0.0, -cx0 * fx], [0.0, fy, -cy0 * fy]])
    return np.ascontiguousarray(region), pre


CROP_SIDE = 2.0  # crop side / detector box side: room for forehead, chin and ears
CROP_MAX_PX = 640
CROP_MIN_PX = 384


def _square_crop(rgb: np.ndarray, box: tuple[float, float, float, float]
                 ) -> tuple[np.ndarray, float, float, float]:
    """A square, face-centred crop (edges replicated where it leaves the photo),
    resized to 384-640 px; returns it with its offset and scale factor."""
    h, w = rgb.shape[:2]
    x, y, bw, bh = box
    side = int(round(max(bw, bh) * CROP_SIDE))
    side = max(side, 16)
    x0 = int(round(x + bw / 2 - side / 2))
    y0 = int(round(y + bh / 2 - side / 2))
    # Slice the part inside the photo, then replicate its edges only around that
    # window (padding the whole photo first cost 360 MB on a 38 MP upload).
    cx0, cy0 = max(0, x0), max(0, y0)
    cx1, cy1 = min(w, x0 + side), min(h, y0 + side)
    crop = rgb[cy0:cy1, cx0:cx1]
    left, top = cx0 - x0, cy0 - y0
    right, bottom = x0 + side - cx1, y0 + side - cy1
    if left or top or right or bottom:
        crop = cv2.copyMakeBorder(crop, top, bottom, left, right, cv2.BORDER_REPLICATE)
    f = 1.0
    if side > CROP_MAX_PX:
        f = CROP_MAX_PX / side
    elif side < CROP_MIN_PX:
        f = CROP_MIN_PX / side
    if f != 1.0:
        n = max(1, int(round(side * f)))
        f = n / side
        crop = cv2.resize(crop, (n, n), interpolation=cv2.INTER_LINEAR if f < 1 else
                          cv2.INTER_CUBIC)  # AREA cost 12-16 ms here, LINEAR 1 ms
    return np.ascontiguousarray(crop), float(x0), float(y0), f


def _central_mesh(mesh, crop: np.ndarray) -> np.ndarray | None:
    found = _meshes(mesh, crop)
    if not found:
        return None
    c = crop.shape[1] / 2.0
    return min(found, key=lambda a: float(np.hypot(a[:, 0].mean() - c, a[:, 1].mean() - c)))


def _count_distinct(dets: list[tuple[tuple[float, float, float, float], float]]) -> int:
    """Faces, not detections: the two detectors (and the short-range one on its own,
    at two scales) report one face more than once; a box whose centre lies inside a
    larger box already counted is the same face."""
    kept: list[tuple[float, float, float, float]] = []
    for box, _ in sorted(dets, key=lambda d: d[0][2] * d[0][3], reverse=True):
        cx, cy = box[0] + box[2] / 2, box[1] + box[3] / 2
        if not any(k[0] <= cx <= k[0] + k[2] and k[1] <= cy <= k[1] + k[3] for k in kept):
            kept.append(box)
    return len(kept)


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
        if all(_iou(d[0], k[0]) < 0.3 for k in kept):
            kept.append(d)
    return kept


def _downscale(rgb: np.ndarray, max_side: int) -> tuple[np.ndarray, float]:
    h, w = rgb.shape[:2]
    s = max(h, w)
    if s <= max_side:
        return rgb, 1.0
    f = max_side / s
    # INTER_LINEAR, not INTER_AREA: AREA at a non-integer factor took 12-20 ms on a
    # 1350 px photo against 1 ms, and the detector resizes to 128/192 px itself.
    return cv2.resize(rgb, (max(1, round(w * f)), max(1, round(h * f))),
                      interpolation=cv2.INTER_LINEAR), f


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


def _box_of(lm: np.ndarray) -> tuple[float, float, float, float]:
    x0, y0 = lm[:, 0].min(), lm[:, 1].min()
    x1, y1 = lm[:, 0].max(), lm[:, 1].max()
    return float(x0), float(y0), float(x1 - x0), float(y1 - y0)


def _iou(a: tuple[float, float, float, float], b: tuple[float, float, float, float]) -> float:
    ax1, ay1, bx1, by1 = a[0] + a[2], a[1] + a[3], b[0] + b[2], b[1] + b[3]
    iw = max(0.0, min(ax1, bx1) - max(a[0], b[0]))
    ih = max(0.0, min(ay1, by1) - max(a[1], b[1]))
    inter = iw * ih
    union = a[2] * a[3] + b[2] * b[3] - inter
    return inter / union if union > 0 else 0.0


def _match_confidence(box: tuple[float, float, float, float],
                      dets: list[tuple[tuple[float, float, float, float], float]]
                      ) -> float | None:
    best, conf = 0.0, None
    for dbox, score in dets:
        iou = _iou(box, dbox)
        if iou > best:
            best, conf = iou, score
    return conf if best > 0.2 else None
