"""Settings that turn cached measurements into scores.

Everything a designer tunes lives here as plain data, round-trips to JSON (the
file the CLI's `--config` reads and the UI exports) and is validated on load so a
bad file gives a clear `bad_config` error instead of a crash deep in scoring.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterator, Mapping
from dataclasses import asdict, dataclass, field, fields, replace
from pathlib import Path
from typing import Any

from aurum.errors import AurumError
from aurum.measure import geometric_components, quality_metrics
from aurum.measure.quality_metrics import PRESETS, Thresholds, preset_thresholds

# The quality metrics' names, in spec order (a live view of `quality_metrics.METRICS`).
# The threshold presets and `Thresholds` live beside the specs they are made from.
QUALITY_METRICS = quality_metrics.NAMES


@dataclass
class Component:
    """One proportion of the geometric score: a canon (`ideal`), how far from it still
    scores well (`tolerance`, one standard deviation of a Gaussian) and its `weight`."""

    ideal: float
    tolerance: float
    weight: float = 1.0


class _DefaultComponents(Mapping[str, Component]):
    """name -> the spec's default `Component`, read live from `geometric_components`
    (a registered component is a new slider and config key at once). Ideals are
    cultural canons, never laws, and each spec says where its ideal comes from."""

    def __getitem__(self, name: str) -> Component:
        try:
            c = geometric_components.get(name)
        except KeyError:
            raise KeyError(name) from None
        return Component(c.ideal, c.tolerance, c.weight)

    def __iter__(self) -> Iterator[str]:
        return iter(geometric_components.NAMES)

    def __len__(self) -> int:
        return len(geometric_components.COMPONENTS)


DEFAULT_COMPONENTS: Mapping[str, Component] = _DefaultComponents()


@dataclass
class Config:
    """All tunable settings; `preset` records where a designer started from."""

    preset: str = "default"
    thresholds: Thresholds = field(default_factory=Thresholds)
    components: dict[str, Component] = field(
        default_factory=lambda: {k: replace(v) for k, v in DEFAULT_COMPONENTS.items()}
    )
    blend_weight: float = 0.6
    percentile_population: str = "reference"  # or "reference+store"

    def to_dict(self) -> dict[str, Any]:
        return {
            "preset": self.preset,
            "thresholds": self.thresholds.to_dict(),
            "components": {k: asdict(v) for k, v in self.components.items()},
            "blend_weight": self.blend_weight,
            "percentile_population": self.percentile_population,
        }

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2)

    @classmethod
    def from_dict(cls, data: Any) -> Config:
        """Build and validate; unknown keys and out-of-range values raise `bad_config`."""
        if not isinstance(data, dict):
            raise AurumError("bad_config", "The configuration must be a JSON object.")
        unknown = set(data) - {f.name for f in fields(cls)}
        if unknown:
            raise AurumError("bad_config", f"Unknown configuration keys: {sorted(unknown)}.")
        base = preset(str(data.get("preset", "default"))) if "preset" in data else cls()
        cfg = replace(base, components={k: replace(v) for k, v in base.components.items()})
        if "thresholds" in data:
            th = data["thresholds"]
            if not isinstance(th, dict):
                raise AurumError("bad_config", "'thresholds' must be an object.")
            values = cfg.thresholds.to_dict()
            bad = set(th) - set(values)
            if bad:
                raise AurumError("bad_config", f"Unknown thresholds: {sorted(bad)}.")
            for k, v in th.items():
                values[k] = _number(v, f"thresholds.{k}", 0.0, 1.0)
            cfg.thresholds = Thresholds(**values)
        if "components" in data:
            comps = data["components"]
            if not isinstance(comps, dict):
                raise AurumError("bad_config", "'components' must be an object.")
            for name, spec in comps.items():
                if name not in DEFAULT_COMPONENTS:
                    raise AurumError("bad_config", f"Unknown geometric component '{name}'.")
                if not isinstance(spec, dict) or set(spec) - {"ideal", "tolerance", "weight"}:
                    raise AurumError(
                        "bad_config",
                        f"components.{name} takes only 'ideal', 'tolerance' and 'weight'.",
                    )
                cur = cfg.components[name]
                cfg.components[name] = Component(
                    ideal=_number(spec.get("ideal", cur.ideal), f"components.{name}.ideal",
                                  -1e6, 1e6),
                    tolerance=_number(spec.get("tolerance", cur.tolerance),
                                      f"components.{name}.tolerance", 1e-6, 1e6),
                    weight=_number(spec.get("weight", cur.weight),
                                   f"components.{name}.weight", 0.0, 100.0),
                )
        if "blend_weight" in data:
            cfg.blend_weight = _number(data["blend_weight"], "blend_weight", 0.0, 1.0)
        if "percentile_population" in data:
            pop = data["percentile_population"]
            if pop not in ("reference", "reference+store"):
                raise AurumError(
                    "bad_config",
                    "percentile_population must be 'reference' or 'reference+store'.",
                )
            cfg.percentile_population = pop
        return cfg

    @classmethod
    def from_json(cls, text: str) -> Config:
        try:
            data = json.loads(text)
        except (ValueError, RecursionError) as exc:  # JSONDecodeError, huge ints, deep nesting
            raise AurumError("bad_config", f"The configuration is not valid JSON: "
                             f"{str(exc)[:200]}.") from exc
        return cls.from_dict(data)

    @classmethod
    def load(cls, path: str | Path) -> Config:
        try:
            text = Path(path).read_text(encoding="utf-8")
        except OSError as exc:
            raise AurumError("bad_config", f"Cannot read configuration file: {exc}.") from exc
        return cls.from_json(text)


def _number(value: Any, name: str, lo: float, hi: float) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise AurumError("bad_config", f"{name} must be a number, got {value!r}.")
    try:
        v = float(value)
    except (OverflowError, ValueError) as exc:  # an integer too large for a float
        raise AurumError("bad_config", f"{name} must be between {lo:g} and {hi:g}.") from exc
    if not math.isfinite(v) or v < lo or v > hi:
        raise AurumError("bad_config", f"{name} must be between {lo:g} and {hi:g}, got {v:g}.")
    return v


def preset(name: str) -> Config:
    """A fresh config starting from a named threshold preset."""
    if name not in PRESETS:
        raise AurumError("bad_config", f"Unknown preset '{name}'; choose from {sorted(PRESETS)}.")
    return Config(preset=name, thresholds=Thresholds(**preset_thresholds(name)))
