"""Pictures and panels of a report: landmark overlays, plotly figures, HTML cards.

Kept apart from the Gradio app so the same drawings serve the app, notebooks and
tests, and so nothing here needs a web server. Overlays are drawn from cached
landmarks: toggling a layer never re-runs a model. Every number drawn comes from
the report; a part that is unavailable is shown as such, never filled in.
"""

from __future__ import annotations

import base64
import html
import json
import math
from collections.abc import Iterable, Sequence
from functools import lru_cache
from typing import Any

import cv2
import numpy as np

from aurum import geometry as g
from aurum import quality_metrics as qm

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
    "face": ((g.CHEEK_L, g.CHEEK_R), (232, 185, 35), "face width (cheekbones)"),
    "jaw": ((g.JAW_L, g.JAW_R), (255, 150, 40), "jaw width"),
    "ipd": ((g.IRIS_L, g.IRIS_R), (80, 200, 255), "pupil distance"),
    "inner": ((g.EYE_IN_L, g.EYE_IN_R), (180, 140, 255), "inner-eye gap"),
    "eye_l": ((g.EYE_OUT_L, g.EYE_IN_L), (120, 230, 120), "eye width"),
    "eye_r": ((g.EYE_OUT_R, g.EYE_IN_R), (120, 230, 120), "eye width"),
    "nose": ((g.ALAR_L, g.ALAR_R), (255, 110, 180), "nose width"),
    "mouth": ((g.MOUTH_L, g.MOUTH_R), (255, 90, 90), "mouth width"),
}
LEGEND: list[tuple[str, tuple[int, int, int]]] = [
    ("facial thirds (forehead top, glabella, nose base, chin)", THIRDS),
    ("midline", MIDLINE),
] + [(label, colour) for key, (_, colour, label) in WIDTHS.items() if key != "eye_r"]

# Tableau 10: distinct for the common forms of colour blindness.
CLUSTER_COLOURS = ("#4e79a7", "#f28e2b", "#e15759", "#76b7b2", "#59a14f", "#edc948",
                   "#b07aa1", "#ff9da7", "#9c755f", "#bab0ac")


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
    ied = float(np.hypot(*(lm[g.IRIS_L] - lm[g.IRIS_R])))
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
        for i in (g.IRIS_L, g.IRIS_R):
            _dot(out, lm[i], max(2, thick + 1), IRIS)
    # Measurement lines follow the face's own axes, so a tilted head gets tilted guides.
    across = lm[g.CHEEK_R] - lm[g.CHEEK_L]
    cheek_w = float(np.linalg.norm(across)) + 1e-9
    ux = across / cheek_w
    if "thirds" in keys:
        for idx in (g.FOREHEAD_TOP, g.GLABELLA, g.SUBNASALE, g.MENTON):
            p = lm[idx]
            _line(out, p - ux * cheek_w * 0.55, p + ux * cheek_w * 0.55, THIRDS, thick)
            _dot(out, p, thick + 2, THIRDS)
    if "midline" in keys:
        pts = lm[list(g.MIDLINE)]
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

def _fmt(v: Any, nd: int = 1) -> str:
    if v is None or (isinstance(v, float) and not math.isfinite(v)):
        return "–"
    if isinstance(v, (int, float)):
        return f"{v:.{nd}f}"
    return html.escape(str(v))


def _status_reason(status: Any) -> str:
    s = str(status or "unavailable")
    return s.split(":", 1)[1].strip() if s.startswith("unavailable:") else s


def error_html(error: dict[str, Any] | None, *, title: str = "We could not score this photo"
               ) -> str:
    """A friendly panel for a typed error (never a traceback)."""
    err = error or {}
    code = html.escape(str(err.get("code", "error")))
    msg = html.escape(str(err.get("message", "Something went wrong.")))
    return (f'<div class="au-error" role="alert"><div class="au-error-title">{html.escape(title)}'
            f'</div><div>{msg}</div><code>{code}</code></div>')


def _failed_quality_gate(final: dict[str, Any]) -> bool:
    return str(final.get("status", "")).startswith("low_quality")


def score_strip_html(report: dict[str, Any] | None) -> str:
    """One line of the current scores. The Tune tab pins it to the top of a narrow
    screen, where the cards sit below every slider, so a designer on a phone sees what
    a slider move does."""
    if not report:
        return ('<div class="au-strip">Score a photo on the Score tab: its scores follow '
                'your settings here.</div>')
    if not report.get("ok"):
        err = report.get("error") or {}
        why = str(err.get("message") or err.get("code") or "error")
        return f'<div class="au-strip">No score for this photo: {html.escape(why)}</div>'
    final = report.get("final") or {}
    attr = report.get("attractiveness") or {}
    pm = (attr.get("uncertainty") or {}).get("score_plus_minus")
    parts = [f"<b>Final {_fmt(final.get('score'))}</b>",
             f"geometric {_fmt((report.get('geometric') or {}).get('score'))}",
             f"attractiveness {_fmt(attr.get('score'))}"
             + (f" ± {pm:.0f}" if attr.get("score") is not None
                and isinstance(pm, (int, float)) else "")]
    pct = (report.get("percentile") or {}).get("final")
    if pct is not None:
        parts.append(f"percentile {_fmt(pct, 0)}")
    warn = (' <span class="au-strip-warn">⚠ quality gate failed</span>'
            if _failed_quality_gate(final) else "")
    return f'<div class="au-strip">{" · ".join(parts)}{warn}</div>'


def score_cards_html(report: dict[str, Any] | None, id_prefix: str = "") -> str:
    """Final, geometric, attractiveness and percentile as cards; each card says what its
    number is (and, for the learned model, how valid it was measured to be)."""
    if not report:
        return ('<div class="au-empty">Your scores appear here. Upload a photo of one adult '
                'face looking at the camera, or take a webcam snapshot, and press '
                '<b>Score</b>.</div>')
    if not report.get("ok"):
        return error_html(report.get("error"))
    final = report.get("final") or {}
    geo = report.get("geometric") or {}
    attr = report.get("attractiveness") or {}
    pct = report.get("percentile") or {}
    cfg = report.get("config") or {}
    cards = []
    weights = final.get("weights") or {}
    basis = final.get("basis")
    if basis == "blend":
        sub = (f'{weights.get("geometric", 0):.0%} geometric + '
               f'{weights.get("attractiveness", 0):.0%} attractiveness')
    elif basis == "geometric_only":
        sub = "geometric only: the attractiveness model is unavailable"
    elif basis == "attractiveness_only":
        sub = "attractiveness only: no geometric component has weight"
    else:
        sub = _status_reason(final.get("status"))
    warn = ""
    if _failed_quality_gate(final):
        warn = '<div class="au-warn">⚠ the photo failed the quality gate: read with caution</div>'
    cards.append(
        f'<div class="au-card au-final"><div class="au-label">Final score</div>'
        f'<div class="au-big" id="{id_prefix}final-score">{_fmt(final.get("score"))}</div>'
        f'<div class="au-sub">out of 100 · {html.escape(sub)}</div>{warn}</div>')
    cards.append(
        f'<div class="au-card"><div class="au-label">Geometric</div>'
        f'<div class="au-mid" id="{id_prefix}geometric-score">{_fmt(geo.get("score"))}</div>'
        f'<div class="au-sub">closeness of {len(geo.get("components") or [])} proportions '
        f'to cultural canons</div></div>')
    a_score = attr.get("score")
    if a_score is not None:
        validity = attr.get("validity") or {}
        r = validity.get("pearson_r_10fold")
        n = validity.get("n") or validity.get("n_faces")
        vtxt = (f"10-fold r = {r:.2f}" + (f" on {n} rated faces" if n else "")
                if isinstance(r, (int, float)) else "validity not reported")
        est = attr.get("rating_estimate")
        unc = attr.get("uncertainty") or {}
        pm = unc.get("rating_plus_minus")
        if isinstance(est, (int, float)) and isinstance(pm, (int, float)):
            est_txt = f" · London panel rating about {est:.1f} ± {pm:.1f} (1-7)"
        else:
            est_txt = f" · panel rating ≈ {est:.2f}" if isinstance(est, (int, float)) else ""
        spm = unc.get("score_plus_minus")
        big_pm = (f'<span class="au-pm" id="{id_prefix}attractiveness-pm"> ± {spm:.0f}</span>'
                  if isinstance(spm, (int, float)) else "")
        cov = unc.get("coverage")
        cov_txt = (f" · ± covers {cov:.0%} of London faces in cross-validation"
                   if isinstance(cov, (int, float)) else "")
        panels = attr.get("panels") or {}
        meb = panels.get("mebeauty") or {}
        if isinstance(meb.get("rating"), (int, float)):
            vr = (validity.get("mebeauty_val") or {}).get("pearson_r")
            est_txt += (f" · MEBeauty panel about {meb['rating']:.1f}"
                        + (f" ± {meb['plus_minus']:.1f}" if isinstance(
                            meb.get("plus_minus"), (int, float)) else "") + " (1-10)")
            if isinstance(vr, (int, float)):
                vtxt += f", MEBeauty val r = {vr:.2f}"
        terms = attr.get("terms")
        terms_txt = f" · {terms}" if isinstance(terms, str) and terms else ""
        cards.append(
            f'<div class="au-card"><div class="au-label">Attractiveness model</div>'
            f'<div class="au-mid" id="{id_prefix}attractiveness-score">{_fmt(a_score)}'
            f'{big_pm}</div>'
            f'<div class="au-sub">how the raters would likely rate this photo'
            f'{html.escape(est_txt)} · {html.escape(vtxt)}{html.escape(cov_txt)}'
            f'{html.escape(terms_txt)}</div></div>')
    else:
        reason_a = html.escape(_status_reason(attr.get("status")), quote=True)
        cards.append(
            f'<div class="au-card au-off"><div class="au-label">Attractiveness model</div>'
            f'<div class="au-mid">–</div><div class="au-sub" title="{reason_a}">unavailable: '
            f'{reason_a}</div></div>')
    p_final = pct.get("final")
    p_label = "Percentile"
    if p_final is None and pct.get("geometric") is not None:
        p_final, p_label = pct.get("geometric"), "Percentile (geometric)"
    if p_final is not None:
        n = pct.get("n")
        pop = pct.get("population") or cfg.get("percentile_population") or "reference"
        text = pct.get("text") or (f"higher than {p_final:.0f} % of the {pop} faces "
                                   f"(N = {_fmt(n, 0)})")
        cards.append(
            f'<div class="au-card"><div class="au-label">{p_label}</div>'
            f'<div class="au-mid" id="{id_prefix}percentile">{_fmt(p_final, 0)}</div>'
            f'<div class="au-sub">{html.escape(str(text))}</div></div>')
    else:
        cards.append(
            f'<div class="au-card au-off"><div class="au-label">Percentile</div>'
            f'<div class="au-mid">–</div><div class="au-sub">unavailable: '
            f'{html.escape(_status_reason(pct.get("status")))}</div></div>')
    face = report.get("face") or {}
    found = face.get("faces_found") or 1
    banner = ""
    if found > 1:
        banner = (f'<div class="au-info">We found {found} faces and scored the largest of '
                  f'{found}.</div>')
    return f'{banner}<div class="au-cards">{"".join(cards)}</div>{clip_html(attr.get("clip"))}'


def clip_html(clip: dict[str, Any] | None) -> str:
    """The CLIP heads, when the backend is ready (Spaces), each with its provenance.
    None is validated against human ratings, so none is a card or part of the blend."""
    if not clip or clip.get("status") != "ok":
        return ""
    rows = []
    for name, head in (clip.get("heads") or {}).items():
        score = head.get("score")
        valid = "validated" if head.get("validated") else "not validated"
        rows.append(f'<li><b>{html.escape(name)}</b>: '
                    f'{_fmt(score) if score is not None else html.escape(str(head.get("status")))}'
                    f' <span class="au-small">({valid}; {html.escape(str(head.get("provenance")))}'
                    f')</span></li>')
    return (f'<details class="au-clip" id="clip-heads"><summary>CLIP heads '
            f'({html.escape(str(clip.get("model")))}): experimental, not part of the score'
            f'</summary><ul>{"".join(rows)}</ul></details>')


# Labels and raw-value readings come from each metric's spec (`quality_metrics`).
QUALITY_LABELS: dict[str, str] = qm.labels()  # as at import; the table reads them live


def _raw_text(name: str, raw: dict[str, Any] | None) -> str:
    try:
        detail = qm.get(name).detail
        return detail(raw or {}) if detail is not None else ""
    except (KeyError, TypeError, ValueError):
        return ""


def table_html(rows: str) -> str:
    """An `au-table` in the box that scrolls sideways on a phone: a table's columns then
    never widen the page (the box's width is contained, see assets/app.css)."""
    return f'<div class="au-scroll"><table class="au-table">{rows}</table></div>'


def quality_table_html(report: dict[str, Any] | None, *, compact: bool = False) -> str:
    """The checklist: check, value, threshold, pass/fail and the fix for each failure."""
    q = (report or {}).get("quality")
    if not q:
        if report and not report.get("ok"):
            return '<div class="au-empty">No quality checks: no face was measured.</div>'
        return '<div class="au-empty">The photo-quality checklist appears here.</div>'
    rows = []
    for name, m in (q.get("metrics") or {}).items():
        ok = bool(m.get("passed"))
        badge = ('<span class="au-pass">✓ pass</span>' if ok
                 else '<span class="au-fail">✗ fail</span>')
        value = m.get("value")
        frac = 0.0 if value is None else max(0.0, min(1.0, float(value)))
        thr = float(m.get("threshold") or 0.0)
        bar = (f'<div class="au-bar"><b style="width:{frac * 100:.0f}%"></b>'
               f'<u style="left:{thr * 100:.0f}%"></u></div>')
        fix = m.get("fix") or ""
        detail = _raw_text(name, m.get("raw"))
        label = html.escape(qm.labels().get(name, name))
        cls = "au-row-total" if name == "quality" else ""
        if compact:
            rows.append(f'<tr class="{cls}"><td>{label}</td><td>{_fmt(value, 2)}</td>'
                        f'<td>{badge}</td></tr>')
        else:
            rows.append(
                f'<tr class="{cls}" data-check="{html.escape(name)}"><td>{label}'
                f'<div class="au-detail">{html.escape(detail)}</div></td>'
                f'<td>{_fmt(value, 2)}{bar}</td><td>{thr:.2f}</td><td>{badge}</td>'
                f'<td class="au-fix">{html.escape(fix)}</td></tr>')
    head = ("<tr><th>Check</th><th>Value</th><th>Result</th></tr>" if compact else
            "<tr><th>Check</th><th>Value</th><th>Threshold</th><th>Result</th><th>How to fix"
            "</th></tr>")
    verdict = ('<div class="au-verdict au-ok">✓ This photo passes every quality check.</div>'
               if q.get("passed") else
               f'<div class="au-verdict au-bad">✗ {len(q.get("failed") or [])} check(s) '
               f'failed: scores from this photo are less reliable.</div>')
    return verdict + table_html(head + "".join(rows))


def coach_html(report: dict[str, Any] | None) -> str:
    """Live coaching: the fixes for the current frame, most important first."""
    if not report:
        return '<div class="au-empty">Start the camera: tips appear here as you move.</div>'
    if not report.get("ok"):
        err = report.get("error") or {}
        return f'<div class="au-coach au-bad">{html.escape(str(err.get("message", "")))}</div>'
    fixes = list((report.get("quality") or {}).get("fixes") or [])
    if (report.get("expression") or {}).get("neutral") is False:
        fixes.append("Relax your mouth: a neutral expression measures best (a tip, not a "
                     "failed check).")
    if not fixes:
        return '<div class="au-coach au-ok">✓ Looking good: hold still and press Capture.</div>'
    items = "".join(f"<li>{html.escape(f)}</li>" for f in dict.fromkeys(fixes))
    return f'<div class="au-coach au-bad"><ul>{items}</ul></div>'


def vibe_html(report: dict[str, Any] | None) -> str:
    """The face's cluster in the reference population, with its traits."""
    if not report or not report.get("ok"):
        return ""
    vibe = report.get("vibe") or {}
    if vibe.get("cluster") is None:
        reason = html.escape(_status_reason(vibe.get("status")))
        return (f'<div class="au-card au-off au-wide"><div class="au-label">Vibe</div>'
                f'<div class="au-sub">unavailable: {reason}</div></div>')
    traits = vibe.get("traits") or []
    chips = "".join(f'<span class="au-chip">{html.escape(str(t))}</span>' for t in traits)
    pct = vibe.get("distance_percentile")
    closeness = ""
    if isinstance(pct, (int, float)):
        closeness = (f'<div class="au-sub">closer to the centre of this group than '
                     f'{100 - pct:.0f}% of its members</div>')
    cid = vibe.get("cluster")
    colour = CLUSTER_COLOURS[int(cid) % len(CLUSTER_COLOURS)] \
        if isinstance(cid, (int, np.integer)) else CLUSTER_COLOURS[0]
    name = vibe.get("name") or f"group {cid}"
    note = (f'<div class="au-warn" id="vibe-note">{html.escape(str(vibe["note"]))}</div>'
            if vibe.get("note") else "")
    return (f'<div class="au-card au-wide"><div class="au-label">Vibe</div>'
            f'<div class="au-vibe"><i style="background:{colour}"></i>'
            f'{html.escape(str(name))}</div>'
            f'<div class="au-chips">{chips}</div>{closeness}{note}</div>')


def unavailable_html(what: str, status: Any) -> str:
    return (f'<div class="au-empty">{html.escape(what)} unavailable: '
            f'{html.escape(_status_reason(status))}</div>')


# ---------------------------------------------------------------- plotly figures
# Figures are plain plotly JSON specs, not `plotly.graph_objects`: building a
# graph_objects figure validates every property (about 30 ms per figure here), which
# would dominate a slider move. `go.Figure(spec)` turns one into a figure if needed.


class FigureSpec(dict):
    """A plotly figure as a dict (`data`, `layout`); `to_json()` is what Gradio's
    Plot component and plotly.js read."""

    def to_json(self) -> str:
        return json.dumps(self, allow_nan=False, default=_json_default)


def _json_default(v: Any) -> Any:
    if isinstance(v, np.generic):
        return v.item()
    if isinstance(v, np.ndarray):
        return v.tolist()
    raise TypeError(f"not JSON serialisable: {type(v).__name__}")


_FONT = {"family": "ui-sans-serif, system-ui, -apple-system, Segoe UI, Roboto, sans-serif",
         "size": 13, "color": "#334155"}
_AXIS = {"gridcolor": "#e5e7eb", "zeroline": False, "linecolor": "#cbd5e1",
         "automargin": True}


def _layout(height: int, **kw: Any) -> dict[str, Any]:
    out = {"height": height, "font": _FONT, "margin": {"l": 10, "r": 10, "t": 40, "b": 10},
           "paper_bgcolor": "rgba(0,0,0,0)", "plot_bgcolor": "rgba(0,0,0,0)",
           "hoverlabel": {"bgcolor": "#fff", "font": {"size": 12}}}
    out.update(kw)
    return out


# Pixel layout of the breakdown figure. Every row spans the figure's full width, so it
# reads the same on a 326 px phone column as on a desktop (one 0-112 scale, so the grid
# lines of both rows align): the blend is one stacked bar
# (each line of its key under 45 characters), and each component's name sits above its
# bar instead of in a left margin that would take most of a phone's width.
_BD_ROW = 34        # px per geometric component (name above, bar below)
_BD_TOP = 156       # px above the components: blend header, bar, key, components header
_BD_MARGIN = {"l": 8, "r": 8, "t": 8, "b": 28}
_BLEND_COLOURS = {"geometric": "#e8b923", "attractiveness": "#4cc9f0"}


def breakdown_figure(report: dict[str, Any] | None) -> FigureSpec | None:
    """How the final score is made (a stacked bar of the weighted geometric and
    attractiveness scores, the attractiveness interval as an error bar), then each
    geometric component's sub-score, its value against the ideal on hover."""
    if not report or not report.get("ok") or not (report.get("geometric") or {}).get(
            "components"):
        return None
    comps = sorted(report["geometric"]["components"], key=lambda c: c["score"])
    n = len(comps)
    height = _BD_TOP + n * _BD_ROW + _BD_MARGIN["t"] + _BD_MARGIN["b"]
    plot_h = height - _BD_MARGIN["t"] - _BD_MARGIN["b"]

    def y_of(px: float) -> float:  # pixels from the plot area's top -> paper fraction
        return 1.0 - px / plot_h

    labels = [g.DESCRIPTIONS.get(c["name"], c["name"]).split(" (")[0] for c in comps]
    hover = [
        f"<b>{html.escape(g.DESCRIPTIONS.get(c['name'], c['name']))}</b><br>"
        f"your value {c['value']:.3f} · ideal {c['ideal']:.3f} ± {c['tolerance']:.3f}<br>"
        f"sub-score {c['score']:.1f} · weight {c['weight']:.2f}<br>"
        f"<i>{html.escape(c.get('ideal_source', ''))}</i>" for c in comps]
    colours = [f"hsl({int(c['score'] * 1.2)}, 65%, 50%)" if c["weight"] > 0 else "#cbd5e1"
               for c in comps]
    ys = list(range(n))
    data: list[dict[str, Any]] = [
        {"type": "bar", "orientation": "h", "x": [c["score"] for c in comps], "y": ys,
         "width": 0.42, "marker": {"color": colours}, "hovertext": hover,
         "hoverinfo": "text", "text": [f"{c['score']:.0f}" for c in comps],
         "textposition": "outside", "cliponaxis": False, "name": "sub-score",
         "xaxis": "x", "yaxis": "y"}]
    annotations: list[dict[str, Any]] = [
        {"text": html.escape(lab) + ("" if c["weight"] > 0 else " (weight 0)"),
         "xref": "x", "x": 0, "xanchor": "left", "yref": "y", "y": i, "yanchor": "bottom",
         "yshift": 0.21 * _BD_ROW, "showarrow": False, "font": {"size": 11.5}}
        for i, (lab, c) in enumerate(zip(labels, comps, strict=True))]

    final = report.get("final") or {}
    weights = final.get("weights") or {}
    attr_block = report.get("attractiveness") or {}
    a_pm = (attr_block.get("uncertainty") or {}).get("score_plus_minus")
    key_lines = []
    for name, val in (("geometric", report["geometric"].get("score")),
                      ("attractiveness", attr_block.get("score"))):
        w = float(weights.get(name) or 0.0)
        pm = a_pm if name == "attractiveness" and isinstance(a_pm, (int, float)) else None
        part = None if val is None else round(float(val) * w, 2)
        err = None if pm is None or val is None else round(float(pm) * w, 2)
        swatch = f'<span style="color:{_BLEND_COLOURS[name]}">■</span>'
        if val is None:
            key_lines.append(f"{swatch} {name}: unavailable")
        else:
            key_lines.append(f"{swatch} {name} {val:.1f}{f' ± {pm:.0f}' if pm else ''} "
                             f"× {w:.2f} = <b>{part:.1f}</b>")
        data.append({
            "type": "bar", "orientation": "h", "x": [part or 0.0], "y": ["blend"],
            "name": f"blend: {name}", "marker": {"color": _BLEND_COLOURS[name]},
            "customdata": [key_lines[-1]], "hovertemplate": "%{customdata}<extra></extra>",
            "error_x": {"type": "data", "array": [err or 0.0], "visible": bool(err),
                        "color": "#64748b", "thickness": 1.5, "width": 5},
            "xaxis": "x2", "yaxis": "y2"})
    how = {"geometric_only": "the geometric score alone (attractiveness unavailable)",
           "attractiveness_only": "the attractiveness score alone"}.get(
        str(final.get("basis")), "the two scores, weighted")
    head = ("<b>How the final score is made</b>" if final.get("score") is None else
            f"<b>Final {final['score']:.1f}</b> = {how}")
    annotations += [
        {"text": head, "xref": "paper", "x": 0, "xanchor": "left", "yref": "paper",
         "y": y_of(0), "yanchor": "top", "showarrow": False, "font": {"size": 13}},
        {"text": "<br>".join(key_lines), "xref": "paper", "x": 0, "xanchor": "left",
         "align": "left", "yref": "paper", "y": y_of(60), "yanchor": "top",
         "showarrow": False, "font": {"size": 12}},
        {"text": "<b>Geometric components</b><br><span style=\"font-size:11px\">"
                 "sub-score 0-100 · tap a bar: value vs ideal</span>",
         "xref": "paper", "x": 0, "xanchor": "left", "align": "left", "yref": "paper",
         "y": y_of(106), "yanchor": "top", "showarrow": False, "font": {"size": 13}}]
    layout = _layout(
        height, showlegend=False, barmode="stack", annotations=annotations,
        margin=_BD_MARGIN, hovermode="closest",
        xaxis={**_AXIS, "domain": [0, 1], "range": [0, 112], "anchor": "y",
               "tickvals": [0, 25, 50, 75, 100], "fixedrange": True},
        yaxis={**_AXIS, "anchor": "x", "domain": [0, y_of(_BD_TOP)],
               "range": [-0.6, n - 0.4], "showticklabels": False,
               "gridcolor": "rgba(0,0,0,0)", "fixedrange": True},
        xaxis2={**_AXIS, "domain": [0, 1], "range": [0, 112], "anchor": "y2",
                "tickvals": [0, 25, 50, 75, 100], "ticks": "", "showticklabels": False,
                "fixedrange": True},
        yaxis2={**_AXIS, "anchor": "x2", "domain": [y_of(54), y_of(24)],
                "showticklabels": False, "fixedrange": True},
    )
    return FigureSpec(data=data, layout=layout)


def map_figure(layout: dict[str, Any] | None, user: dict[str, Any] | None = None,
               user_label: str = "you") -> FigureSpec | None:
    """The reference population's 2-D map coloured by vibe cluster, the user on top."""
    if not layout or not layout.get("x"):
        return None
    x = np.asarray(layout["x"], dtype=float)
    y = np.asarray(layout["y"], dtype=float)
    cl = np.asarray(layout.get("cluster") or [0] * len(x))
    clusters = {int(c["id"]): c for c in layout.get("clusters") or []}
    data = []
    for cid in sorted({int(c) for c in cl}):
        m = cl == cid
        info = clusters.get(cid, {})
        name = str(info.get("name", f"group {cid}"))
        traits = "<br>".join(html.escape(str(t)) for t in info.get("traits") or [])
        data.append({
            "type": "scatter", "mode": "markers", "x": x[m].round(4).tolist(),
            "y": y[m].round(4).tolist(), "name": f"{name} ({int(m.sum())})",
            "marker": {"size": 7, "opacity": 0.8,
                       "color": CLUSTER_COLOURS[cid % len(CLUSTER_COLOURS)]},
            "hovertemplate": f"<b>{html.escape(name)}</b><br>{traits}<extra></extra>"})
    if user and user.get("x") is not None and user.get("y") is not None:
        data.append({
            "type": "scatter", "mode": "markers+text", "x": [user["x"]], "y": [user["y"]],
            "name": user_label, "text": [user_label], "textposition": "top center",
            "textfont": {"size": 14, "color": "#111827"},
            "marker": {"size": 20, "symbol": "star", "color": "#111827",
                       "line": {"width": 2, "color": "#ffffff"}},
            "hovertemplate": f"{html.escape(user_label)}<extra></extra>"})
    return FigureSpec(data=data, layout=_layout(
        480, title={"text": f"<b>Reference population</b> (N = {len(x)})<br><span style="
                          f"\"font-size:11px\">coloured by vibe group</span>", "x": 0.01,
                  "font": {"size": 13}},
        margin={"l": 10, "r": 10, "t": 56, "b": 10},
        xaxis={"visible": False}, yaxis={"visible": False},
        legend={"orientation": "h", "y": -0.02}))


def histogram_figure(current: Sequence[float], default: Sequence[float] | None = None,
                     user: float | None = None) -> FigureSpec | None:
    """Reference final scores under the current settings against the defaults, so a
    designer sees how a change moves everyone, not only the face on screen."""
    cur = [round(float(v), 3) for v in current if v is not None and math.isfinite(float(v))]
    if not cur:
        return None
    bins = {"start": 0, "end": 100, "size": 5}
    data = []
    if default is not None:
        d = [round(float(v), 3) for v in default if v is not None and math.isfinite(float(v))]
        data.append({"type": "histogram", "x": d, "xbins": bins, "name": "default settings",
                     "marker": {"color": "#94a3b8"}, "opacity": 0.55})
    data.append({"type": "histogram", "x": cur, "xbins": bins, "name": "current settings",
                 "marker": {"color": "#e8b923"}, "opacity": 0.7})
    shapes, annotations = [], []
    if user is not None:
        shapes.append({"type": "line", "x0": user, "x1": user, "yref": "paper", "y0": 0,
                       "y1": 1, "line": {"color": "#2563eb", "width": 2.5}})  # both themes
        annotations.append({"text": "this face", "x": user, "yref": "paper", "y": 1.0,
                            "yanchor": "bottom", "showarrow": False})
    return FigureSpec(data=data, layout=_layout(
        320, barmode="overlay", shapes=shapes, annotations=annotations,
        legend={"orientation": "h", "y": 1.15},
        xaxis={**_AXIS, "title": {"text": "final score"}, "range": [0, 100]},
        yaxis={**_AXIS, "title": {"text": "faces"}}))
