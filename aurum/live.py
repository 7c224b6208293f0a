"""The live coach's per-frame path: mesh, pose, quality and coaching tips, fast.

A still photo gets the full pipeline (`Engine.analyze`: detectors, a mirrored and
canonical multi-view mesh, the descriptor, the rating model, the population). A
webcam frame only needs to tell the visitor how to fix the picture, many times a
second, so it gets much less:

- MediaPipe's face mesh in *tracking* mode (`static_image_mode=False`): after the
  first frame the mesh follows the face from its own last landmarks and skips the
  detector. Tracking has state, so each live session gets its own graph
  (`LiveTracker`), and `LivePool` bounds how many exist and releases idle ones.
- The mesh and the detector run on a copy whose long side is at most MEASURE_SIDE
  (the mesh model sees a 192 px face crop whatever the frame size). Their outputs are
  relative coordinates, so the landmarks come back in the *full* frame's pixels and
  the quality checks (the eye distance for resolution, sharpness, exposure) are judged
  on the full frame, as for a photo of that size. Measured: downscaling a 640 x 480
  or 1280 x 720 frame to 320 px saved no CPU (9-10 ms a frame either way; the graph
  crops the face itself), so only frames larger than 640 px are shrunk.
- The short-range face detector runs on a newly found face and then on every
  DETECT_EVERY-th tracked frame: the quality checklist's "detector confidence" is its
  score, as in the full pipeline, at most a few frames old.

Frames arrive un-mirrored (the caller undoes the preview's mirror), so yaw, and
"turn to your left", keep their sign.
"""

from __future__ import annotations

import os
import threading
import time
from collections import OrderedDict
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import cv2
import numpy as np

from aurum.config import Config
from aurum.errors import AurumError
from aurum.measure import quality
from aurum.measure.expression import describe_expression
from aurum.measure.face_measures import measure_face
from aurum.measure.landmarks import landmark_array
from aurum.measure.pose import Pose
from aurum.timing import StageTimer

os.environ.setdefault("GLOG_minloglevel", "2")

MEASURE_SIDE = 640  # the long side of the copy the mesh and detector see
IDLE_RELEASE_S = 20.0  # a session silent this long gives its graphs back
MAX_TRACKERS = 4  # live sessions with graphs at once (the stream's concurrency)
# While the mesh tracks one face, the detector (whose score is the checklist's "detector
# confidence") runs on every DETECT_EVERY-th frame and its score is kept in between: it
# cost 3.3 of the frame's 10 ms, and the score moves slowly (a third of a second at 15
# fps). A face found afresh is always re-detected.
DETECT_EVERY = 5
N_LANDMARKS = 478

NO_FACE = ("No face was found. Use a clear, well-lit photo of one adult face looking at "
           "the camera.")


@dataclass
class LiveFrame:
    """What the coach needs from one frame: landmarks in the full frame's pixels (the
    un-mirrored picture), pose, raw quality values and expression cues; no pixels."""

    image_size: tuple[int, int]
    error: AurumError | None = None
    landmarks: np.ndarray | None = None
    pose: Pose | None = None
    quality_raw: dict[str, Any] | None = None
    expression: dict[str, float] | None = None
    geometry: dict[str, float] | None = None  # measured as for a photo; not scored live
    tracked: bool = False  # the mesh followed the previous frame's face (no re-detection)
    timing_ms: dict[str, float] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return self.error is None

    def report(self, config: Config | None = None) -> dict[str, Any]:
        """The part of the engine's report the coach and the compact checklist read
        (same keys, same `quality.evaluate`): `render.coach_html` takes it as is."""
        cfg = config or Config()
        out: dict[str, Any] = {"ok": self.ok,
                               "error": self.error.to_dict() if self.error else None,
                               "image_size": list(self.image_size),
                               "pose": self.pose.to_dict() if self.pose else None,
                               "quality": None, "expression": None}
        if self.ok and self.quality_raw is not None:
            out["quality"] = quality.evaluate(self.quality_raw, cfg.thresholds)
            out["expression"] = describe_expression(self.expression)
        return out


def downscale(rgb: np.ndarray, max_side: int = MEASURE_SIDE) -> np.ndarray:
    """A copy whose long side is at most `max_side` (the frame itself if smaller)."""
    h, w = rgb.shape[:2]
    s = max(h, w)
    if s <= max_side:
        return rgb
    f = max_side / s
    return cv2.resize(rgb, (max(1, round(w * f)), max(1, round(h * f))),
                      interpolation=cv2.INTER_AREA if f < 0.5 else cv2.INTER_LINEAR)


class LiveTracker:
    """One live session's graphs: a tracking face mesh and a short-range detector.
    Not thread-safe (MediaPipe graphs are not): `LivePool` lends it to one call at a
    time. `static=True` builds a static-mode mesh instead (for measuring the lever)."""

    def __init__(self, *, measure_side: int = MEASURE_SIDE, static: bool = False,
                 detect: bool = True) -> None:
        import mediapipe as mp

        self.measure_side = measure_side
        self.mesh = mp.solutions.face_mesh.FaceMesh(
            static_image_mode=static, refine_landmarks=True, max_num_faces=1,
            min_detection_confidence=0.5, min_tracking_confidence=0.5)
        self.detector = mp.solutions.face_detection.FaceDetection(
            model_selection=0, min_detection_confidence=0.5) if detect else None
        self._had_face = False
        self.frames = 0
        self._confidence_kept: float | None = None
        self._since_detect = DETECT_EVERY  # frames since the detector last ran

    def close(self) -> None:
        """Free the graphs now (MediaPipe holds native memory until closed)."""
        for g in (self.mesh, self.detector):
            if g is not None:
                try:
                    g.close()
                except Exception:  # closing twice, or a graph that failed: nothing to free
                    pass
        self.mesh = self.detector = None  # type: ignore[assignment]

    def process(self, rgb: np.ndarray) -> LiveFrame:
        """Measure one un-mirrored RGB frame (H, W, 3 uint8). Never raises for a frame
        without a face: the error goes in `.error`, as in `Engine.analyze`."""
        h, w = rgb.shape[:2]
        out = LiveFrame(image_size=(w, h))
        timing = out.timing_ms
        lap = StageTimer(timing)

        small = np.ascontiguousarray(downscale(rgb, self.measure_side))
        lap("downscale")
        res = self.mesh.process(small)
        lap("mesh")
        faces = res.multi_face_landmarks or []
        self.frames += 1
        out.tracked = bool(faces) and self._had_face
        self._had_face = bool(faces)
        if not faces:
            out.error = AurumError("no_face", NO_FACE)
            timing["total"] = round(sum(timing.values()), 3)
            return out
        lm = landmark_array(faces[0], w, h)
        if lm.shape[0] != N_LANDMARKS:
            out.error = AurumError("no_face", NO_FACE)
            return out
        if out.tracked and self._since_detect < DETECT_EVERY - 1:
            self._since_detect += 1
            confidence = self._confidence_kept
        else:
            confidence = self._confidence_kept = self._confidence(small, lm, w, h)
            self._since_detect = 0
        lap("detector")
        x0, y0 = max(0.0, float(lm[:, 0].min())), max(0.0, float(lm[:, 1].min()))
        box = (x0, y0, min(float(lm[:, 0].max()), w) - x0, min(float(lm[:, 1].max()), h) - y0)
        m = measure_face(rgb, lm, confidence, box, lap)
        out.quality_raw, out.expression, out.geometry = m.quality_raw, m.expression, m.geometry
        out.landmarks, out.pose = lm, m.pose
        timing["total"] = round(sum(timing.values()), 3)
        return out

    def _confidence(self, small: np.ndarray, lm: np.ndarray, w: int, h: int) -> float | None:
        """The short-range detector's score for the meshed face (the box that overlaps
        it most), as the full pipeline reports; None when it does not see that face."""
        if self.detector is None:
            return None
        res = self.detector.process(small)
        x0, y0 = lm[:, 0].min(), lm[:, 1].min()
        mesh_box = (x0, y0, lm[:, 0].max() - x0, lm[:, 1].max() - y0)
        best, conf = 0.0, None
        for d in res.detections or []:
            b = d.location_data.relative_bounding_box
            box = (b.xmin * w, b.ymin * h, b.width * w, b.height * h)
            iou = _iou(mesh_box, box)
            if iou > best:
                best, conf = iou, float(d.score[0]) if d.score else 0.0
        return conf if best > 0.2 else None


def _iou(a: tuple[float, ...], b: tuple[float, ...]) -> float:
    ax1, ay1, bx1, by1 = a[0] + a[2], a[1] + a[3], b[0] + b[2], b[1] + b[3]
    iw = max(0.0, min(ax1, bx1) - max(a[0], b[0]))
    ih = max(0.0, min(ay1, by1) - max(a[1], b[1]))
    inter = iw * ih
    union = a[2] * a[3] + b[2] * b[3] - inter
    return float(inter / union) if union > 0 else 0.0


class LivePool:
    """Live sessions' trackers by session key: at most `max_trackers` exist; one idle
    for `idle_s` is closed at the next call; when the pool is full the least recently
    used idle one is closed (its visitor's next frame simply starts a new track)."""

    def __init__(self, max_trackers: int = MAX_TRACKERS, idle_s: float = IDLE_RELEASE_S,
                 **tracker_kw: Any) -> None:
        self.max_trackers = max(1, max_trackers)
        self.idle_s = idle_s
        self.tracker_kw = tracker_kw
        self._lock = threading.Condition()
        # key -> [tracker, last used (monotonic), busy, released while busy]
        self._slots: OrderedDict[str, list[Any]] = OrderedDict()

    def __len__(self) -> int:
        with self._lock:
            return len(self._slots)

    def keys(self) -> list[str]:
        with self._lock:
            return list(self._slots)

    @contextmanager
    def tracker(self, key: str) -> Iterator[LiveTracker]:
        """Lend `key`'s tracker (built on first use) to the caller, alone."""
        with self._lock:
            while True:
                self._sweep_locked()
                slot = self._slots.get(key)
                if slot is not None and not slot[2]:
                    break
                if slot is None and (len(self._slots) < self.max_trackers
                                     or self._evict_locked()):
                    slot = self._slots[key] = [None, time.monotonic(), False, False]
                    break
                self._lock.wait(0.05)  # this session's previous frame, or a full pool
            slot[2] = True
            self._slots.move_to_end(key)
        ok = False
        try:
            if slot[0] is None:
                slot[0] = LiveTracker(**self.tracker_kw)
            yield slot[0]
            ok = True
        finally:
            with self._lock:
                slot[1], slot[2] = time.monotonic(), False
                # A graph that raised may be broken: start afresh next time. A session
                # that ended during its last frame goes now.
                if (not ok or slot[3]) and self._slots.get(key) is slot:
                    self._drop_locked(key)
                self._lock.notify_all()

    def release(self, key: str | None) -> None:
        """The session ended: close its graphs (now, or when its frame in flight ends)."""
        if key is None:
            return
        with self._lock:
            slot = self._slots.get(key)
            if slot is not None and not slot[2]:
                self._drop_locked(key)
            elif slot is not None:
                slot[3] = True  # busy: closed when its frame in flight returns

    def close_all(self) -> None:
        with self._lock:
            for key in [k for k, s in self._slots.items() if not s[2]]:
                self._drop_locked(key)

    def _sweep_locked(self) -> None:
        now = time.monotonic()
        for key in [k for k, s in self._slots.items() if not s[2] and now - s[1] > self.idle_s]:
            self._drop_locked(key)

    def _evict_locked(self) -> bool:
        for key, slot in self._slots.items():  # least recently used first
            if not slot[2]:
                self._drop_locked(key)
                return True
        return False

    def _drop_locked(self, key: str) -> None:
        slot = self._slots.pop(key, None)
        if slot is not None and slot[0] is not None:
            slot[0].close()
