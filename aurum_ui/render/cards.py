"""HTML panels of a report: score cards, the quality checklist, the coach, the vibe.

Every number shown comes from the report; a part that is unavailable is shown as
such, never filled in.
"""

from __future__ import annotations

import html
import math
from typing import Any

import numpy as np

from aurum.measure import quality_metrics as qm

# Tableau 10: distinct for the common forms of colour blindness.
CLUSTER_COLOURS = ("#4e79a7", "#f28e2b", "#e15759", "#76b7b2", "#59a14f", "#edc948",
                   "#b07aa1", "#ff9da7", "#9c755f", "#bab0ac")


def _fmt(v: Any, nd: int = 1) -> str:
    if v is None or (isinstance(v, float) and not math.isfinite(v)):
        return "–"
    if isinstance(v, (int, float)):
        return f"{v:.{nd}f}"
    return html.escape(str(v))


def _status_reason(status: Any) -> str:
    s = str(status or "unavailable")
    return s.split(":", 1)[1].strip() if s.startswith("unavailable:") else s


# The adults-only gate's panels say what happened without naming an age: the check is
# about how a photo looks, not a fact about the person (aurum.analysers.age_gate).
GATE_TITLES = {"apparent_minor": "Adults only: no score for this photo",
               "age_gate_unavailable": "No score: the adults-only check is unavailable"}


def error_html(error: dict[str, Any] | None, *, title: str | None = None) -> str:
    """A friendly panel for a typed error (never a traceback)."""
    err = error or {}
    title = title or GATE_TITLES.get(str(err.get("code")), "We could not score this photo")
    code = html.escape(str(err.get("code", "error")))
    msg = html.escape(str(err.get("message", "Something went wrong.")))
    return (f'<div class="au-error" role="alert"><div class="au-error-title">{html.escape(title)}'
            f'</div><div>{msg}</div><code>{code}</code></div>')


def note(text: str) -> str:
    """A plain one-line message (escaped)."""
    return f'<div class="au-note">{html.escape(text)}</div>'


def faces_note(report: dict[str, Any] | None) -> str:
    """The overlay's caption when the photo holds several faces."""
    n = ((report or {}).get("face") or {}).get("faces_found") or 1
    return f"We scored the largest of {n} faces." if n > 1 else ""


def ok_html(inner_html: str) -> str:
    """A success line; `inner_html` is trusted markup (callers escape what they insert)."""
    return f'<div class="au-verdict au-ok">✓ {inner_html}</div>'


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
    geo = report.get("geometric") or {}
    attr = report.get("attractiveness") or {}
    cards = [
        _final_card(report.get("final") or {}, id_prefix),
        f'<div class="au-card"><div class="au-label">Geometric</div>'
        f'<div class="au-mid" id="{id_prefix}geometric-score">{_fmt(geo.get("score"))}</div>'
        f'<div class="au-sub">closeness of {len(geo.get("components") or [])} proportions '
        f'to cultural canons</div></div>',
        _attractiveness_card(attr, id_prefix),
        _percentile_card(report.get("percentile") or {}, report.get("config") or {},
                         id_prefix)]
    face = report.get("face") or {}
    found = face.get("faces_found") or 1
    banner = ""
    if found > 1:
        banner = (f'<div class="au-info">We found {found} faces and scored the largest of '
                  f'{found}.</div>')
    return f'{banner}<div class="au-cards">{"".join(cards)}</div>{clip_html(attr.get("clip"))}'


def _final_card(final: dict[str, Any], id_prefix: str) -> str:
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
    return (f'<div class="au-card au-final"><div class="au-label">Final score</div>'
            f'<div class="au-big" id="{id_prefix}final-score">{_fmt(final.get("score"))}</div>'
            f'<div class="au-sub">out of 100 · {html.escape(sub)}</div>{warn}</div>')


def _attractiveness_card(attr: dict[str, Any], id_prefix: str) -> str:
    a_score = attr.get("score")
    if a_score is None:
        reason_a = html.escape(_status_reason(attr.get("status")), quote=True)
        return (f'<div class="au-card au-off"><div class="au-label">Attractiveness model</div>'
                f'<div class="au-mid">–</div><div class="au-sub" title="{reason_a}">'
                f'unavailable: {reason_a}</div></div>')
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
    meb = (attr.get("panels") or {}).get("mebeauty") or {}
    if isinstance(meb.get("rating"), (int, float)):
        vr = (validity.get("mebeauty_val") or {}).get("pearson_r")
        est_txt += (f" · MEBeauty panel about {meb['rating']:.1f}"
                    + (f" ± {meb['plus_minus']:.1f}" if isinstance(
                        meb.get("plus_minus"), (int, float)) else "") + " (1-10)")
        if isinstance(vr, (int, float)):
            vtxt += f", MEBeauty val r = {vr:.2f}"
    terms = attr.get("terms")
    terms_txt = f" · {terms}" if isinstance(terms, str) and terms else ""
    # A visitor reads the number, its ± and one line; the panels, validity, coverage
    # and terms wait behind "details" (and in the About tab and the footer).
    more = f"{est_txt.removeprefix(' · ')} · {vtxt}{cov_txt}{terms_txt}"
    return (f'<div class="au-card"><div class="au-label">Attractiveness model'
            f'{_terms_badge(terms)}</div>'
            f'<div class="au-mid" id="{id_prefix}attractiveness-score">{_fmt(a_score)}'
            f'{big_pm}</div>'
            f'<div class="au-sub">how the raters would likely rate this photo</div>'
            f'<details class="au-more" id="{id_prefix}attractiveness-details"><summary>'
            f'details</summary><div class="au-sub">{html.escape(more)}</div></details></div>')


def _terms_badge(terms: Any) -> str:
    """The data's terms as a short badge ("research use" for non-commercial data) that
    links to the footer, where every data set is credited with its terms."""
    text = str(terms or "")
    label = "research use" if "non-commercial" in text else "terms"
    return (f' <a class="au-badge" href="#au-terms" title="{html.escape(text, quote=True)}">'
            f'{label}</a>')


def _percentile_card(pct: dict[str, Any], cfg: dict[str, Any], id_prefix: str) -> str:
    p_final = pct.get("final")
    p_label = "Percentile"
    if p_final is None and pct.get("geometric") is not None:
        p_final, p_label = pct.get("geometric"), "Percentile (geometric)"
    if p_final is None:
        return (f'<div class="au-card au-off"><div class="au-label">Percentile</div>'
                f'<div class="au-mid">–</div><div class="au-sub">unavailable: '
                f'{html.escape(_status_reason(pct.get("status")))}</div></div>')
    n = pct.get("n")
    pop = pct.get("population") or cfg.get("percentile_population") or "reference"
    text = pct.get("text") or (f"higher than {p_final:.0f} % of the {pop} faces "
                               f"(N = {_fmt(n, 0)})")
    return (f'<div class="au-card"><div class="au-label">{p_label}</div>'
            f'<div class="au-mid" id="{id_prefix}percentile">{_fmt(p_final, 0)}</div>'
            f'<div class="au-sub">{html.escape(str(text))}</div></div>')


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


# Labels and raw-value readings come from each metric's spec (`quality_metrics`), read
# live by the table.


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
        if report and str((report.get("error") or {}).get("code")) in GATE_TITLES:
            return '<div class="au-empty">No quality checks: adults only, no score.</div>'
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
