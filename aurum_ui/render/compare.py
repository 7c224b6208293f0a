"""The Compare tab's panel: the ranked gallery, the ties, the photos shown apart.

Drawn from the compare JSON only (`aurum.compare.rank`), plus one inline overlay
thumbnail per photo (a data URI, never a file). Every number shown is in the JSON.
"""

from __future__ import annotations

import html
from typing import Any

from aurum_ui.render.cards import _fmt


def _interval(block: dict[str, Any]) -> str:
    iv = block.get("interval") or block.get("score_interval")
    return f' <span class="au-cmp-iv">[{iv[0]:.1f}–{iv[1]:.1f}]</span>' if iv else ""


def _scores(e: dict[str, Any]) -> str:
    rows = []
    for key, label in (("final", "Final"), ("geometric", "Geometric"),
                       ("attractiveness", "Attractiveness")):
        b = e.get(key) or {}
        rows.append(f'<div class="au-cmp-score au-cmp-{key}"><span>{label}</span> '
                    f'<b data-score="{key}">{_fmt(b.get("score"))}</b>{_interval(b)}</div>')
    return "".join(rows)


def _checks(e: dict[str, Any]) -> str:
    q = e.get("quality") or {}
    vals = q.get("values") or {}
    failed = set(q.get("failed") or [])
    chips = "".join(
        f'<span class="au-chip {"au-chip-bad" if k in failed else "au-chip-ok"}" '
        f'title="{html.escape(k)}">{"✗" if k in failed else "✓"} '
        f'{html.escape(k.replace("_", " "))} '
        f'{v:.2f}</span>' for k, v in vals.items() if k != "quality")
    ex = e.get("expression") or {}
    if ex:
        word = "neutral" if ex.get("neutral") else "not neutral (smile or open mouth)"
        chips += (f'<span class="au-chip au-chip-ex">expression: {word} · lift '
                  f'{ex["mouth_corner_lift"]:+.3f}</span>')
    return f'<div class="au-cmp-checks">{chips}</div>'


def _card(e: dict[str, Any], thumb: str | None, tied: bool) -> str:
    name = html.escape(str(e.get("file") if e.get("file") is not None else e["index"]))
    if e.get("rank") is not None:
        badge = f'{"=" if tied else ""}{e["rank"]}'
        cls = "au-cmp-card au-cmp-tied" if tied else "au-cmp-card"
    else:
        badge, cls = "–", "au-cmp-card au-cmp-apart"
    img = (f'<img class="au-cmp-thumb" alt="overlay of {name}" src="{thumb}">' if thumb
           else '<div class="au-cmp-thumb au-cmp-nothumb">no face drawn</div>')
    reasons = "".join(f"<li>{html.escape(r)}</li>" for r in e.get("reasons") or [])
    body = _scores(e) + _checks(e) if e.get("ok") else \
        f'<div class="au-cmp-error">{html.escape((e.get("error") or {}).get("code", ""))}</div>'
    return (f'<div class="{cls}" data-file="{name}" data-rank="{e.get("rank") or ""}">'
            f'<div class="au-cmp-top"><span class="au-cmp-rank">{badge}</span>'
            f'<span class="au-cmp-name">{name}</span></div>{img}{body}'
            f'<ul class="au-cmp-reasons">{reasons}</ul></div>')


def _ties_note(doc: dict[str, Any]) -> str:
    if doc.get("tie_margin") is None:
        return f'<div class="au-note">{html.escape(doc.get("tie_rule") or "")}</div>'
    groups = "; ".join(" = ".join(html.escape(str(f)) for f in g) for g in doc["ties"])
    text = (f"Tied (within ±{doc['tie_margin']:.1f} of each other's final score, the "
            f"measurement noise): {groups}." if groups else
            f"No ties: every gap is larger than the measurement noise "
            f"(±{doc['tie_margin']:.1f}).")
    return f'<div class="au-cmp-ties" id="compare-ties">{text}</div>'


def _apart_note(doc: dict[str, Any]) -> str:
    sp = doc.get("same_person") or {}
    if sp.get("status") != "ok":
        return (f'<div class="au-note">Same-person check {html.escape(str(sp.get("status")))}'
                f'</div>')
    if not sp.get("different"):
        return ""
    names = ", ".join(html.escape(str(f)) for f in sp["different"])
    return (f'<div class="au-cmp-warn" id="compare-warning">⚠ {names} '
            f'{"looks" if len(sp["different"]) == 1 else "look"} like a different person '
            f'than {html.escape(str(sp.get("anchor")))}: shown apart, not ranked. (Face '
            f'descriptor distance over {doc["same_person_threshold"]:.3f}; compared in '
            f'memory only.)</div>')


def compare_html(doc: dict[str, Any] | None, thumbs: dict[int, str] | None = None) -> str:
    """The ranked gallery, best first; ties marked "=", other people and failed photos
    apart below."""
    if not doc:
        return ('<div class="au-empty">Add 2 to 12 photos of one person (upload several '
                'at once, or add frames from the Live tab): they are ranked here, best '
                'first, with what separates each from the best.</div>')
    if doc.get("error") and not doc.get("ranking"):
        err = doc["error"]
        return (f'<div class="au-cmp-warn">{html.escape(err.get("code", ""))}: '
                f'{html.escape(err.get("message", ""))}</div>')
    thumbs = thumbs or {}
    ranked = [e for e in doc["ranking"] if e.get("rank") is not None]
    apart = [e for e in doc["ranking"] if e.get("rank") is None]
    cards = "".join(_card(e, thumbs.get(e["index"]), bool(e.get("tied_with"))) for e in ranked)
    out = [_apart_note(doc), _ties_note(doc),
           f'<div class="au-cmp-grid" id="compare-ranked">{cards}</div>']
    if apart:
        more = "".join(_card(e, thumbs.get(e["index"]), False) for e in apart)
        out.append('<div class="au-label au-cmp-apart-title">Shown apart (not ranked)</div>'
                   f'<div class="au-cmp-grid" id="compare-apart">{more}</div>')
    if doc.get("n_photos", 0) < 2:
        out.insert(0, '<div class="au-note">Add at least one more photo to compare.</div>')
    return "".join(out)
