"""Plotly figures of a report and of the population (plain JSON specs)."""

from __future__ import annotations

import html
import json
import math
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from aurum.measure import geometry as g
from aurum_ui.render.cards import CLUSTER_COLOURS

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

    data, annotations = _component_bars(comps)
    bars, key_lines = _blend_bars(report)
    data += bars
    annotations += _breakdown_headings(report.get("final") or {}, key_lines, y_of)
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


def _component_bars(comps: list[dict[str, Any]]
                    ) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """One bar per geometric component (worst first), its name above it, and its
    value against the ideal on hover."""
    labels = [g.DESCRIPTIONS.get(c["name"], c["name"]).split(" (")[0] for c in comps]
    hover = [
        f"<b>{html.escape(g.DESCRIPTIONS.get(c['name'], c['name']))}</b><br>"
        f"your value {c['value']:.3f} · ideal {c['ideal']:.3f} ± {c['tolerance']:.3f}<br>"
        f"sub-score {c['score']:.1f} · weight {c['weight']:.2f}<br>"
        f"<i>{html.escape(c.get('ideal_source', ''))}</i>" for c in comps]
    colours = [f"hsl({int(c['score'] * 1.2)}, 65%, 50%)" if c["weight"] > 0 else "#cbd5e1"
               for c in comps]
    data: list[dict[str, Any]] = [
        {"type": "bar", "orientation": "h", "x": [c["score"] for c in comps],
         "y": list(range(len(comps))),
         "width": 0.42, "marker": {"color": colours}, "hovertext": hover,
         "hoverinfo": "text", "text": [f"{c['score']:.0f}" for c in comps],
         "textposition": "outside", "cliponaxis": False, "name": "sub-score",
         "xaxis": "x", "yaxis": "y"}]
    annotations: list[dict[str, Any]] = [
        {"text": html.escape(lab) + ("" if c["weight"] > 0 else " (weight 0)"),
         "xref": "x", "x": 0, "xanchor": "left", "yref": "y", "y": i, "yanchor": "bottom",
         "yshift": 0.21 * _BD_ROW, "showarrow": False, "font": {"size": 11.5}}
        for i, (lab, c) in enumerate(zip(labels, comps, strict=True))]
    return data, annotations


def _breakdown_headings(final: dict[str, Any], key_lines: list[str],
                        y_of: Callable[[float], float]) -> list[dict[str, Any]]:
    """The figure's headings: the final score and how it is made, the blend's key, and
    the components' title (placed in pixels from the top by `y_of`)."""
    how = {"geometric_only": "the geometric score alone (attractiveness unavailable)",
           "attractiveness_only": "the attractiveness score alone"}.get(
        str(final.get("basis")), "the two scores, weighted")
    head = ("<b>How the final score is made</b>" if final.get("score") is None else
            f"<b>Final {final['score']:.1f}</b> = {how}")
    return [
        {"text": head, "xref": "paper", "x": 0, "xanchor": "left", "yref": "paper",
         "y": y_of(0), "yanchor": "top", "showarrow": False, "font": {"size": 13}},
        {"text": "<br>".join(key_lines), "xref": "paper", "x": 0, "xanchor": "left",
         "align": "left", "yref": "paper", "y": y_of(60), "yanchor": "top",
         "showarrow": False, "font": {"size": 12}},
        {"text": "<b>Geometric components</b><br><span style=\"font-size:11px\">"
                 "sub-score 0-100 · tap a bar: value vs ideal</span>",
         "xref": "paper", "x": 0, "xanchor": "left", "align": "left", "yref": "paper",
         "y": y_of(106), "yanchor": "top", "showarrow": False, "font": {"size": 13}}]


def _blend_bars(report: dict[str, Any]) -> tuple[list[dict[str, Any]], list[str]]:
    """The final score's stacked bar (each half times its weight, the attractiveness
    interval as an error bar) and its key, one line per half."""
    weights = (report.get("final") or {}).get("weights") or {}
    attr_block = report.get("attractiveness") or {}
    a_pm = (attr_block.get("uncertainty") or {}).get("score_plus_minus")
    bars: list[dict[str, Any]] = []
    key_lines: list[str] = []
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
        bars.append({
            "type": "bar", "orientation": "h", "x": [part or 0.0], "y": ["blend"],
            "name": f"blend: {name}", "marker": {"color": _BLEND_COLOURS[name]},
            "customdata": [key_lines[-1]], "hovertemplate": "%{customdata}<extra></extra>",
            "error_x": {"type": "data", "array": [err or 0.0], "visible": bool(err),
                        "color": "#64748b", "thickness": 1.5, "width": 5},
            "xaxis": "x2", "yaxis": "y2"})
    return bars, key_lines


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
