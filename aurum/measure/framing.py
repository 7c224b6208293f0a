"""Where in the photo the face models look, and what the boxes they return mean.

Pure pixel and box arithmetic (numpy and OpenCV, no MediaPipe): the detector's
downscaled copy, the square crop around a detected face, the canonical views the mesh
is run on, and box overlap for counting faces. Kept apart from `landmarks`, which runs
the graphs, so the geometry can be read and tested without a model. (The one aligned
crop every analyser shares is `aurum.measure.crop`.)
"""

from __future__ import annotations

import cv2
import numpy as np

from aurum.measure.landmark_names import IRIS_L, IRIS_R

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


def canonical_warps(rgb: np.ndarray, lm: np.ndarray
                    ) -> list[tuple[np.ndarray, np.ndarray, float]]:
    """Each canonical view of the face whose first mesh is `lm` (see CANON_VIEWS): its
    CANON_SIDE px crop, the 2x3 map from crop back to photo pixels and its scale (crop
    px per photo px). Empty when the pupils are too close or not finite to place them."""
    left, right = lm[IRIS_L, :2], lm[IRIS_R, :2]
    ipd = float(np.hypot(*(right - left)))
    if not CANON_VIEWS or not np.isfinite(ipd) or ipd < 4.0:
        return []
    roll = float(np.arctan2(*(right - left)[::-1]))
    src, pre = canonical_source(rgb, (left + right) / 2.0, ipd, roll)
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
        out.append((crop, inv, view_ipd / ipd))
    return out


def canonical_source(rgb: np.ndarray, centre: np.ndarray, ipd: float, roll: float
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


def square_crop(rgb: np.ndarray, box: tuple[float, float, float, float]
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


def downscale(rgb: np.ndarray, max_side: int) -> tuple[np.ndarray, float]:
    """A copy at most `max_side` px on its longer side, and its scale: the detectors
    see 128/192 px anyway, so a large photo costs only its resize."""
    h, w = rgb.shape[:2]
    s = max(h, w)
    if s <= max_side:
        return rgb, 1.0
    f = max_side / s
    # INTER_LINEAR, not INTER_AREA: AREA at a non-integer factor took 12-20 ms on a
    # 1350 px photo against 1 ms, and the detector resizes to 128/192 px itself.
    return cv2.resize(rgb, (max(1, round(w * f)), max(1, round(h * f))),
                      interpolation=cv2.INTER_LINEAR), f


def box_of(lm: np.ndarray) -> tuple[float, float, float, float]:
    """The landmarks' bounding box (x, y, w, h), as a detector box is given."""
    x0, y0 = lm[:, 0].min(), lm[:, 1].min()
    x1, y1 = lm[:, 0].max(), lm[:, 1].max()
    return float(x0), float(y0), float(x1 - x0), float(y1 - y0)


def box_iou(a: tuple[float, float, float, float], b: tuple[float, float, float, float]) -> float:
    """Intersection over union of two (x, y, w, h) boxes: one face seen twice."""
    ax1, ay1, bx1, by1 = a[0] + a[2], a[1] + a[3], b[0] + b[2], b[1] + b[3]
    iw = max(0.0, min(ax1, bx1) - max(a[0], b[0]))
    ih = max(0.0, min(ay1, by1) - max(a[1], b[1]))
    inter = iw * ih
    union = a[2] * a[3] + b[2] * b[3] - inter
    return inter / union if union > 0 else 0.0


def count_distinct(dets: list[tuple[tuple[float, float, float, float], float]]) -> int:
    """Faces, not detections: the two detectors (and the short-range one on its own,
    at two scales) report one face more than once; a box whose centre lies inside a
    larger box already counted is the same face."""
    kept: list[tuple[float, float, float, float]] = []
    for box, _ in sorted(dets, key=lambda d: d[0][2] * d[0][3], reverse=True):
        cx, cy = box[0] + box[2] / 2, box[1] + box[3] / 2
        if not any(k[0] <= cx <= k[0] + k[2] and k[1] <= cy <= k[1] + k[3] for k in kept):
            kept.append(box)
    return len(kept)


def match_confidence(box: tuple[float, float, float, float],
                     dets: list[tuple[tuple[float, float, float, float], float]]
                     ) -> float | None:
    """The score of the detection that overlaps `box` most, when it overlaps enough
    to be the same face: a face the mesh found on its own still reports the
    detector's confidence when the detector saw it too."""
    best, conf = 0.0, None
    for dbox, score in dets:
        iou = box_iou(box, dbox)
        if iou > best:
            best, conf = iou, score
    return conf if best > 0.2 else None
