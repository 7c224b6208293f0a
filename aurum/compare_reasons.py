"""What separates a photo from the best one, in words, from numbers the reports hold.

Every reason quotes the measurement it rests on (an angle, the mouth-corner lift, the
face's mean brightness, the sharpness ratio, the inter-eye distance in pixels), so a
reader can check it in the photo's report. A cue is named only when it differs from
the best photo's by more than a display step (`STEPS`): smaller differences are within
what re-saving a photo moves them and would be noise dressed as a reason.
"""

from __future__ import annotations

import math
from typing import Any

# Display steps: a cue is worded when it differs from the best photo's by this much.
STEPS = {
    "angle_deg": 5.0,        # head angle (yaw and pitch together), degrees
    "luma": 20.0,            # mean face brightness, 0-255
    "crushed_share": 0.05,   # share of face pixels crushed to black or white
    "sharpness_ratio": 0.7,  # this photo's sharpness ratio under 0.7 x the best's
    "face_size_ratio": 0.7,  # inter-eye distance under 0.7 x the best's
    "eye_aspect": 0.05,      # eyelid gap over eye width
    "score": 1.0,            # a half's score, points (geometric, attractiveness)
}


def _raw(report: dict[str, Any], metric: str) -> dict[str, Any]:
    q = report.get("quality") or {}
    return ((q.get("metrics") or {}).get(metric) or {}).get("raw") or {}


def _pose_reason(rep: dict[str, Any], best: dict[str, Any]) -> str | None:
    pose, bpose = rep.get("pose") or {}, best.get("pose") or {}
    if not pose or not bpose:
        return None
    angle = math.hypot(pose["yaw"], pose["pitch"])
    b_angle = math.hypot(bpose["yaw"], bpose["pitch"])
    if angle - b_angle < STEPS["angle_deg"]:
        return None
    front = ((rep.get("quality") or {}).get("metrics") or {}).get("frontality", {})
    how = ("head turned" if abs(pose["yaw"]) >= abs(pose["pitch"])
           else "chin " + ("up" if pose["pitch"] > 0 else "down"))
    value = front.get("value")
    return (f"{how} {angle:.0f}° (frontality {value:.2f}; best photo {b_angle:.0f}°)"
            if value is not None else f"{how} {angle:.0f}° (best photo {b_angle:.0f}°)")


def _expression_reason(rep: dict[str, Any], best: dict[str, Any]) -> str | None:
    ex, bex = rep.get("expression") or {}, best.get("expression") or {}
    if not ex or not bex or ex["neutral"] == bex["neutral"]:
        return None
    if ex["neutral"]:
        return "neutral expression (the best photo is not)"
    if ex["mouth_corner_lift"] > bex["mouth_corner_lift"] and ex["mouth_corner_lift"] > 0.01:
        return f"smiling (mouth-corner lift {ex['mouth_corner_lift']:.3f})"
    return f"mouth open (lip gap {ex['mouth_opening']:.3f} of the mouth width)"


def _exposure_reasons(rep: dict[str, Any], best: dict[str, Any]) -> list[str]:
    e, b = _raw(rep, "exposure"), _raw(best, "exposure")
    if not e or not b:
        return []
    out = []
    d = e["mean_luma"] - b["mean_luma"]
    if abs(d) >= STEPS["luma"]:
        word = "darker" if d < 0 else "brighter"
        out.append(f"{word} exposure (face brightness {e['mean_luma']:.0f} against "
                   f"{b['mean_luma']:.0f} of 255)")
    for key, word in (("under_share", "black"), ("over_share", "white")):
        if e[key] - b[key] >= STEPS["crushed_share"]:
            out.append(f"{e[key]:.0%} of the face crushed to {word}")
    return out


def _detail_reasons(rep: dict[str, Any], best: dict[str, Any]) -> list[str]:
    out = []
    s, bs = _raw(rep, "sharpness"), _raw(best, "sharpness")
    if s and bs and bs["sharpness_ratio"] > 0 and \
            s["sharpness_ratio"] < STEPS["sharpness_ratio"] * bs["sharpness_ratio"]:
        out.append(f"softer focus (sharpness ratio {s['sharpness_ratio']:.2f} against "
                   f"{bs['sharpness_ratio']:.2f})")
    r, br = _raw(rep, "resolution"), _raw(best, "resolution")
    if r and br and r["inter_eye_px"] < STEPS["face_size_ratio"] * br["inter_eye_px"]:
        out.append(f"smaller face in the frame (eyes {r['inter_eye_px']:.0f} px apart "
                   f"against {br['inter_eye_px']:.0f})")
    o, bo = _raw(rep, "eyes_open"), _raw(best, "eyes_open")
    if o and bo and bo["eye_aspect"] - o["eye_aspect"] >= STEPS["eye_aspect"]:
        out.append(f"eyes less open (eyelid gap {o['eye_aspect']:.2f} of the eye width "
                   f"against {bo['eye_aspect']:.2f})")
    return out


def _score_reasons(e: dict[str, Any], best: dict[str, Any], margin: float | None
                   ) -> list[str]:
    gap = best["final"]["score"] - e["final"]["score"]
    noise = f" (the noise is ±{margin:.1f})" if margin is not None else ""
    if e["rank"] == best["rank"]:
        return [f"tied with the best: final {e['final']['score']:.1f} against "
                f"{best['final']['score']:.1f}, a difference within the measurement "
                f"noise{noise}"]
    parts = []
    for half in ("geometric", "attractiveness"):
        a, b = e[half]["score"], best[half]["score"]
        if a is not None and b is not None and abs(b - a) >= STEPS["score"]:
            parts.append(f"{half} {a - b:+.1f}")
    why = f" ({', '.join(parts)})" if parts else ""
    return [f"final {gap:.1f} points below the best{why}"]


def reasons_against(e: dict[str, Any], best: dict[str, Any] | None, rep: dict[str, Any],
                    best_rep: dict[str, Any] | None, margin: float | None,
                    threshold: float | None = None) -> list[str]:
    """The reasons shown for one photo (its ranking entry `e`, its full report `rep`)
    against the best photo's entry and report."""
    if not e["ok"]:
        err = e.get("error") or {}
        return [f"not ranked: {err.get('code')}: {err.get('message')}"]
    if e["same_person"] is False:
        t = f" (threshold {threshold:.3f})" if threshold is not None else ""
        return [f"not ranked: not the same person as the others (face descriptor "
                f"distance {e['same_person_distance']:.2f}{t})"]
    out: list[str] = []
    if best is None or best_rep is None:
        return out
    if e is best:
        out.append("best final score of the set")
    else:
        out += _score_reasons(e, best, margin)
        for r in (_pose_reason(rep, best_rep), _expression_reason(rep, best_rep)):
            if r:
                out.append(r)
        out += _exposure_reasons(rep, best_rep) + _detail_reasons(rep, best_rep)
    failed = (e.get("quality") or {}).get("failed") or []
    if failed:
        out.append(f"failed the quality checks: {', '.join(failed)} (score with caution)")
    return out
