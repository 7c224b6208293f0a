"""One spec per photo-quality metric: everything about a metric in one place.

Config thresholds and presets, the quality report (`quality.evaluate`), the
population's bulk re-gating (`quality.norm_vector` / `passes`) and the checklist
(`render.quality_table_html`) are all generated from `METRICS`. Adding a metric is
one `QualityMetric(...)` entry here (plus, if it needs a raw value nobody measures
yet, one key in `quality.measure`) and a rebuild of the reference population, whose
artefacts record the metric list (a stale build is refused with a clear reason).

Raw values are measured once per photo in `quality.measure` (pixels, degrees);
each spec's `normalise` maps them to [0, 1] (1 = ideal for analysis), so a
threshold move re-evaluates without touching pixels. Vocabulary follows OFIQ
(ISO/IEC 29794-5).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

Raw = dict[str, Any]

FRONTALITY_FULL_SCALE_DEG = 30.0
OVERALL = "quality"  # the mean of every metric, gated by its own threshold
OVERALL_LABEL = "Overall quality"
OVERALL_FIX = "Fix the failed checks above; together they pull quality under the bar."
# The overall pass mark per preset ("strict" and "demo" are the legacy engine's).
OVERALL_THRESHOLDS: dict[str, float] = {"strict": 0.6, "default": 0.45, "demo": 0.3}
NO_VALUE_FIX = "The face detector did not confirm this face; use a clearer photo."


@dataclass(frozen=True)
class QualityMetric:
    """A quality check: `normalise(raw) -> [0, 1] or None` (None = not measured, fails),
    passed when >= the threshold. `fix` says how to pass (text, or a function of the
    raw values); `detail` is the human reading of the raw values for the checklist.
    `presets` gives the pass mark under named presets other than "default"."""

    name: str
    label: str
    raw_keys: tuple[str, ...]
    normalise: Callable[[Raw], float | None]
    fix: str | Callable[[Raw], str]
    threshold: float
    detail: Callable[[Raw], str] | None = None
    presets: dict[str, float] = field(default_factory=dict)

    def fix_text(self, raw: Raw) -> str:
        return self.fix(raw) if callable(self.fix) else self.fix

    def threshold_for(self, preset: str) -> float:
        return self.presets.get(preset, self.threshold)


def _clip01(x: float) -> float:
    return max(0.0, min(1.0, x))


def _sigmoid(x: float) -> float:
    return 1.0 / (1.0 + math.exp(-max(-60.0, min(60.0, x))))


def _frontality(raw: Raw) -> float:
    return max(0.0, 1.0 - math.hypot(raw["yaw"], raw["pitch"]) / FRONTALITY_FULL_SCALE_DEG)


def _exposure(raw: Raw) -> float:
    under = _clip01(1 - raw["under_share"] / 0.35) * min(1.0, raw["mean_luma"] / 70.0)
    over = _clip01(1 - raw["over_share"] / 0.35) * min(1.0, (255.0 - raw["mean_luma"]) / 50.0)
    return max(0.0, min(under, over))


def _frontality_fix(raw: Raw) -> str:
    parts = []
    if abs(raw["yaw"]) >= 5:
        side = "left" if raw["yaw"] > 0 else "right"
        parts.append(f"your head is turned {abs(raw['yaw']):.0f}° to your {side}")
    if abs(raw["pitch"]) >= 5:
        parts.append(f"your chin is {abs(raw['pitch']):.0f}° "
                     f"{'up' if raw['pitch'] > 0 else 'down'}")
    detail = " and ".join(parts) if parts else "your head is turned"
    return f"Turn your head toward the camera: {detail}."


def _exposure_fix(raw: Raw) -> str:
    if raw["mean_luma"] < 128:
        return "More light: the face is too dark (face the light, avoid backlight)."
    return "Less light: the face is over-exposed (avoid direct flash or sun)."


METRICS: list[QualityMetric] = [
    QualityMetric(
        "confidence", "Face detector confidence", ("confidence",),
        normalise=lambda r: r["confidence"],
        fix="Use a clearer photo: one face, in focus, not covered.",
        threshold=0.7, presets={"strict": 0.7, "demo": 0.7}),
    QualityMetric(
        "frontality", "Facing the camera", ("yaw", "pitch", "roll"),
        normalise=_frontality, fix=_frontality_fix, threshold=0.3,
        detail=lambda r: f"yaw {r['yaw']:+.0f}°, pitch {r['pitch']:+.0f}°, "
                         f"roll {r['roll']:+.0f}°",
        presets={"strict": 0.5, "demo": 0.1}),
    QualityMetric(
        "symmetry", "Even, neutral expression", ("symmetry_index",),
        normalise=lambda r: max(0.0, 1.0 - r["symmetry_index"] / 0.04),
        fix="Look straight at the camera with a neutral expression and even light.",
        threshold=0.3, detail=lambda r: f"asymmetry {r['symmetry_index']:.3f}",
        presets={"strict": 0.4, "demo": 0.1}),
    QualityMetric(
        # OFIQ's inter-eye distance sigmoid: centred at 70 px, width 20 px.
        "resolution", "Resolution (eye distance)", ("inter_eye_px", "face_height_px"),
        normalise=lambda r: _sigmoid((r["inter_eye_px"] - 70.0) / 20.0),
        fix="Move closer or use a higher-resolution photo (eyes at least 70 px apart).",
        threshold=0.3, detail=lambda r: f"{r['inter_eye_px']:.0f} px between pupils",
        presets={"strict": 0.4, "demo": 0.1}),
    QualityMetric(
        # log scale between a ratio of 0.05 (a Gaussian blur of sigma 4 % of the
        # inter-eye distance) and 0.6 (sharper than 90 % of the shared faces).
        "sharpness", "Sharpness", ("sharpness_ratio", "laplacian_var"),
        normalise=lambda r: _clip01(math.log10(max(r["sharpness_ratio"], 1e-6) / 0.05)
                                    / math.log10(0.6 / 0.05)),
        fix="Hold the camera still and focus on the face.",
        threshold=0.2, detail=lambda r: f"detail ratio {r['sharpness_ratio']:.2f}",
        presets={"strict": 0.3, "demo": 0.1}),
    QualityMetric(
        "exposure", "Exposure", ("mean_luma", "under_share", "over_share", "luma_p5",
                                 "luma_p95"),
        normalise=_exposure, fix=_exposure_fix, threshold=0.3,
        detail=lambda r: f"mean brightness {r['mean_luma']:.0f}/255",
        presets={"strict": 0.5, "demo": 0.1}),
    QualityMetric(
        "eyes_open", "Eyes open", ("eye_aspect",),
        normalise=lambda r: _clip01((r["eye_aspect"] - 0.08) / 0.14),
        fix="Open your eyes and look at the camera.",
        threshold=0.3, detail=lambda r: f"eye opening {r['eye_aspect']:.2f}",
        presets={"strict": 0.4, "demo": 0.1}),
]


def get(name: str) -> QualityMetric:
    for m in METRICS:
        if m.name == name:
            return m
    raise KeyError(name)


class _Names(Sequence[str]):
    """The metric names in `METRICS` order, read live: code that iterates
    `QUALITY_METRICS` always sees the current specs (tests register extra ones)."""

    def __getitem__(self, i: Any) -> Any:
        return tuple(m.name for m in METRICS)[i]

    def __len__(self) -> int:
        return len(METRICS)

    def __repr__(self) -> str:
        return repr(tuple(self))


NAMES: Sequence[str] = _Names()


def labels() -> dict[str, str]:
    """Checklist label of every metric and of the overall mean."""
    return {**{m.name: m.label for m in METRICS}, OVERALL: OVERALL_LABEL}


def register(spec: QualityMetric) -> None:
    """Add a metric at run time (the normal way is an entry in `METRICS`)."""
    if spec.name == OVERALL or any(m.name == spec.name for m in METRICS):
        raise ValueError(f"a quality metric named {spec.name!r} exists already")
    METRICS.append(spec)


def unregister(name: str) -> None:
    METRICS.remove(get(name))


@contextmanager
def registered(spec: QualityMetric) -> Iterator[QualityMetric]:
    """`register` for the duration of a `with` block (tests, experiments)."""
    register(spec)
    try:
        yield spec
    finally:
        unregister(spec.name)
