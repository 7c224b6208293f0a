"""Landmark overlays: the photo with the layers a visitor ticks, drawn from cached
landmarks (toggling a layer never re-runs a model)."""

from __future__ import annotations

import base64
import html
from collections.abc import Iterable
from functools import lru_cache

import cv2
import numpy as np

from aurum.measure import landmark_names as ln

# Overlay layers, in drawing order (UI label -> key).
LAYERS: dict[str, str] = {
    "Mesh": "mesh",
    "Contours": "contours",
    "Irises": "irises",
    "Facial thirds": "thirds",
    "Midline": "midline",
    "Widths": "widths",
}
DEFAULT_LAYERS: tuple[str, ...] = ("Contours", "Irises", "Facial thirds", "Midline", "Widths")

# Colours (RGB). One per measurement family so the legend can name them.
GOLD = (232, 185, 35)
MESH = (200, 220, 255)
CONTOUR = (120, 230, 200)
IRIS = (80, 200, 255)
THIRDS = (255, 120, 90)
MIDLINE = (255, 255, 255)
WIDTHS: dict[str, tuple[tuple[int, int], tuple[int, int, int], str]] = {
    # name: ((landmark a, landmark b), colour, label)
    "face": ((ln.CHEEK_L, ln.CHEEK_R), (232, 185, 35), "face width (cheekbones)"),
    "jaw": ((ln.JAW_L, ln.JAW_R), (255, 150, 40), "jaw width"),
    "ipd": ((ln.IRIS_L, ln.IRIS_R), (80, 200, 255), "pupil distance"),
    "inner": ((ln.EYE_IN_L, ln.EYE_IN_R), (180, 140, 255), "inner-eye gap"),
    "eye_l": ((ln.EYE_OUT_L, ln.EYE_IN_L), (120, 230, 120), "eye width"),
    "eye_r": ((ln.EYE_OUT_R, ln.EYE_IN_R), (120, 230, 120), "eye width"),
    "nose": ((ln.ALAR_L, ln.ALAR_R), (255, 110, 180), "nose width"),
    "mouth": ((ln.MOUTH_L, ln.MOUTH_R), (255, 90, 90), "mouth width"),
}
LEGEND: list[tuple[str, tuple[int, int, int]]] = [
    ("facial thirds (forehead top, glabella, nose base, chin)", THIRDS),
    ("midline", MIDLINE),
] + [(label, colour) for key, (_, colour, label) in WIDTHS.items() if key != "eye_r"]


@lru_cache(maxsize=1)
def _connections() -> dict[str, np.ndarray]:
    """MediaPipe's mesh topology (edges between landmark indices), loaded once."""
    from mediapipe.python.solutions import face_mesh_connections as c

    def arr(edges: Iterable[tuple[int, int]]) -> np.ndarray:
        return np.array(sorted(edges), dtype=np.int64)

    return {"mesh": arr(c.FACEMESH_TESSELATION), "contours": arr(c.FACEMESH_CONTOURS),
            "irises": arr(c.FACEMESH_IRISES)}


def fit_image(rgb: np.ndarray, max_side: int = 960,
              interpolation: int = cv2.INTER_AREA) -> tuple[np.ndarray, float]:
    """A copy no larger than `max_side` (kept in session memory for overlays, so a
    layer toggle redraws a small picture instead of the full-size upload). Area
    resampling by default; the live preview passes bilinear (see its overlay)."""
    h, w = rgb.shape[:2]
    f = min(1.0, max_side / max(h, w))
    if f >= 1.0:
        return rgb.copy(), 1.0
    small = cv2.resize(rgb, (max(1, round(w * f)), max(1, round(h * f))),
                       interpolation=interpolation)
    return small, f


def focus(rgb: np.ndarray, landmarks: np.ndarray | None, min_share: float = 0.4
          ) -> tuple[np.ndarray, np.ndarray]:
    """Crop around the face when it fills less than `min_share` of the picture's height,
    so the measurement lines stay readable; returns the crop and the (x, y) offset to
    subtract from landmarks."""
    h, w = rgb.shape[:2]
    if landmarks is None:
        return rgb, np.zeros(2)
    lm = np.asarray(landmarks)[:, :2]
    x0, y0 = lm.min(axis=0)
    x1, y1 = lm.max(axis=0)
    if (y1 - y0) >= min_share * h:
        return rgb, np.zeros(2)
    side = max(x1 - x0, y1 - y0) / min_share
    cx, cy = (x0 + x1) / 2, (y0 + y1) / 2
    left = int(max(0, min(w - side, cx - side / 2)))
    top = int(max(0, min(h - side, cy - side / 2)))
    right, bottom = int(min(w, left + side)), int(min(h, top + side))
    return rgb[top:bottom, left:right], np.array([left, top], dtype=np.float64)


def _pt(p: np.ndarray) -> tuple[int, int]:
    return int(round(float(p[0]) * 16)), int(round(float(p[1]) * 16))  # 4-bit subpixel


def _line(img: np.ndarray, a: np.ndarray, b: np.ndarray, colour: tuple[int, int, int],
          width: int) -> None:
    cv2.line(img, _pt(a), _pt(b), colour, width, cv2.LINE_AA, shift=4)


def _dot(img: np.ndarray, p: np.ndarray, r: int, colour: tuple[int, int, int]) -> None:
    cv2.circle(img, _pt(p), r * 16, colour, -1, cv2.LINE_AA, shift=4)


def overlay(rgb: np.ndarray, landmarks: np.ndarray | None, layers: Iterable[str] = DEFAULT_LAYERS,
            *, scale: float = 1.0) -> np.ndarray:
    """Draw the chosen layers on a copy of `rgb`; `landmarks` are in the pixels of the
    image they were measured on, `scale` maps them onto `rgb` (a resized copy)."""
    out = rgb.copy()
    if landmarks is None:
        return out
    keys = {LAYERS.get(name, name) for name in layers}
    lm = np.asarray(landmarks, dtype=np.float64)[:, :2] * scale
    ied = float(np.hypot(*(lm[ln.IRIS_L] - lm[ln.IRIS_R])))
    thick = max(1, round(ied / 70))
    con = _connections()
    if "mesh" in keys:
        layer = out.copy()
        for a, b in con["mesh"]:
            _line(layer, lm[a], lm[b], MESH, 1)
        out = cv2.addWeighted(layer, 0.45, out, 0.55, 0)
    if "contours" in keys:
        for a, b in con["contours"]:
            _line(out, lm[a], lm[b], CONTOUR, thick)
    if "irises" in keys:
        for a, b in con["irises"]:
            _line(out, lm[a], lm[b], IRIS, thick)
        for i in (ln.IRIS_L, ln.IRIS_R):
            _dot(out, lm[i], max(2, thick + 1), IRIS)
    # Measurement lines follow the face's own axes, so a tilted head gets tilted guides.
    across = lm[ln.CHEEK_R] - lm[ln.CHEEK_L]
    cheek_w = float(np.linalg.norm(across)) + 1e-9
    ux = across / cheek_w
    if "thirds" in keys:
        for idx in (ln.FOREHEAD_TOP, ln.GLABELLA, ln.SUBNASALE, ln.MENTON):
            p = lm[idx]
            _line(out, p - ux * cheek_w * 0.55, p + ux * cheek_w * 0.55, THIRDS, thick)
            _dot(out, p, thick + 2, THIRDS)
    if "midline" in keys:
        pts = lm[list(ln.MIDLINE)]
        for a, b in zip(pts[:-1], pts[1:], strict=True):
            _line(out, a, b, MIDLINE, thick)
    if "widths" in keys:
        uy = np.array([-ux[1], ux[0]])  # perpendicular, for end ticks
        tick = max(3.0, ied * 0.06)
        for (a, b), colour, _ in WIDTHS.values():
            pa, pb = lm[a], lm[b]
            _line(out, pa, pb, colour, thick + 1)
            for p in (pa, pb):
                _line(out, p - uy * tick, p + uy * tick, colour, thick + 1)
    return out


def data_uri(rgb: np.ndarray, fmt: str = "jpeg", quality: int = 88) -> str:
    """Encode in memory as a data URI: the browser shows the overlay without the
    server ever writing the user's face to a file (Gradio saves image outputs to
    its cache folder; HTML with an inline image does not touch the disk)."""
    bgr = cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR)
    params = [cv2.IMWRITE_WEBP_QUALITY, quality] if fmt == "webp" else \
        [cv2.IMWRITE_JPEG_QUALITY, quality]
    ok, buf = cv2.imencode(".jpg" if fmt in ("jpg", "jpeg") else f".{fmt}", bgr, params)
    if not ok:  # pragma: no cover - OpenCV always has JPEG
        ok, buf = cv2.imencode(".jpg", bgr)
        fmt = "jpeg"
    mime = "jpeg" if fmt in ("jpg", "jpeg") else fmt
    return f"data:image/{mime};base64," + base64.b64encode(buf.tobytes()).decode("ascii")


EMPTY_OVERLAY = ("Upload a photo or take a snapshot, then press <b>Score</b>: the landmarks "
                 "and measurement lines appear here.")


def overlay_html(rgb: np.ndarray | None, landmarks: np.ndarray | None,
                 layers: Iterable[str], *, scale: float = 1.0, note: str = "",
                 empty: str = EMPTY_OVERLAY) -> str:
    """The overlay as an inline image plus a colour legend for the measurement lines."""
    if rgb is None:
        return f'<div class="au-empty">{empty}</div>'
    img = overlay(rgb, landmarks, layers, scale=scale)
    keys = {LAYERS.get(n, n) for n in layers}
    items = []
    if "thirds" in keys:
        items.append(LEGEND[0])
    if "midline" in keys:
        items.append(LEGEND[1])
    if "widths" in keys:
        items.extend(LEGEND[2:])
    legend = "".join(
        f'<span class="au-key"><i style="background:rgb{c}"></i>{html.escape(t)}</span>'
        for t, c in items)
    note_html = f'<div class="au-note">{html.escape(note)}</div>' if note else ""
    return (f'<figure class="au-overlay"><img alt="Your photo with the face landmarks and '
            f'measurement lines drawn on it" src="{data_uri(img)}"/>'
            f'<figcaption>{legend}</figcaption>{note_html}</figure>')


# ---------------------------------------------------------------- HTML panels
