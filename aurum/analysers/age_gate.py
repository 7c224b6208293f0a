"""The adults-only gate: no score of any kind for a face that looks under 18.

Why a gate and not a flag: a public face-rating demo must never rate a child, whatever
the uploader meant, so `Engine.analyze` runs this check right after the face descriptor
and, when it withholds, stops: the attractiveness model, CLIP and the population never
run, and `score` returns `ok: false` with the code `apparent_minor` (the landmarks stay
for the overlay). The check is about how the photo looks, never a statement about the
person's age, and nothing of it (no estimate, no margin) goes into the report.

The detector is a regularised logistic classifier, fitted by `python -m aurum
train-age-gate` (aurum/tools/age_gate) on the shared synthetic minors against the shared
adults, on features the engine already computes:
- the L2-normalised 128-D face descriptor (aurum.analysers.descriptor; memory only);
- face proportions from the frontalised mesh (`PROPORTION_NAMES`): a child's eyes sit
  low in a short, wide face, its irises are large for its face, its nose and jaw short.
Its coefficients, standardisation and threshold live in models/age_gate.json with a
SHA-256 of their canonical JSON, checked at load (docs/age-gate.md has the curve).

Missing or unloadable model: every score is withheld with the code
`age_gate_unavailable` (a public demo must never score a child because a file is
missing); the status panel says why. The same when the descriptor cannot be computed.
"""

from __future__ import annotations

import hashlib
import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from aurum.errors import AurumError

GATE_FILE = "age_gate.json"
Z_CLIP = 4.0  # standardised features are clipped to +-Z_CLIP training SDs

MINOR_MESSAGE = ("This face may belong to someone under 18, so Aurum gives it no score. "
                 "Aurum rates photos of adults only; this automatic check looks at the "
                 "photo, it does not know anyone's age, and when in doubt it withholds.")
UNAVAILABLE_MESSAGE = ("The adults-only check could not run ({reason}), so no score is "
                       "given: Aurum never scores a face it could not check.")

# Scale-free ratios of the frontalised mesh (x right, y up). Mesh indices: forehead top
# 10, menton 152, cheekbones 234/454, jaw angles 132/361, outer/inner eye corners
# 33/133 and 263/362, irises 468/473 with their rims 469-472 and 474-477, nose bridge
# 168, subnasale 2, alae 48/278, mouth corners 61/291, upper lip 0.
PROPORTION_NAMES: tuple[str, ...] = (
    "eye_height", "face_aspect", "iris_to_face", "eye_to_face", "ipd_to_face",
    "nose_to_face", "lower_to_face", "mouth_to_face", "nose_width_to_face",
    "jaw_to_cheek", "lip_to_chin")


def proportions(front: np.ndarray) -> np.ndarray:
    """The age cues of a face's shape, each a ratio of two mesh distances."""
    p = np.asarray(front, dtype=np.float64)[:, :2]

    def d(a: int, b: int) -> float:
        return float(np.linalg.norm(p[a] - p[b]))

    width = max(d(234, 454), 1e-9)
    top, chin = p[10, 1], p[152, 1]
    height = max(abs(top - chin), 1e-9)
    eyes_y = 0.5 * (p[468, 1] + p[473, 1])
    iris = 0.25 * (d(469, 471) + d(470, 472) + d(474, 476) + d(475, 477))
    return np.array([
        abs(eyes_y - chin) / height,  # a child's eyes sit low in the face
        height / width,  # a short, wide face
        iris / width,  # irises near adult size in a small face
        0.5 * (d(33, 133) + d(263, 362)) / width,
        d(468, 473) / width,
        d(168, 2) / height,
        abs(p[2, 1] - chin) / height,
        d(61, 291) / width,
        d(48, 278) / width,
        d(132, 361) / width,
        abs(p[0, 1] - chin) / height,
    ])


def age_cues(age_probs: np.ndarray) -> np.ndarray:
    """faceres's age head as three numbers: its expected age, and the probability
    mass it puts under 18 and under 13 (how the face looks to it, never a fact)."""
    p = np.asarray(age_probs, dtype=np.float64).ravel()
    p = p / max(float(p.sum()), 1e-12)
    return np.array([float(p @ np.arange(p.size)), float(p[:18].sum()), float(p[:13].sum())])


# The feature groups, in the order they are concatenated, and their sizes.
GROUPS: dict[str, int] = {"descriptor": 128, "proportions": len(PROPORTION_NAMES),
                          "faceres": 1024, "age": 3}


def gate_features(groups: tuple[str, ...] | list[str], descriptor: Any, front: np.ndarray,
                  faceres: Any = None, age_probs: Any = None) -> np.ndarray:
    """The detector's input: the named groups' features, concatenated. `descriptor` and
    `faceres` are L2-normalised vectors; a group whose input is None raises ValueError."""
    parts = []
    for g in groups:
        source = {"descriptor": descriptor, "proportions": front, "faceres": faceres,
                  "age": age_probs}[g]
        if source is None:
            raise ValueError(f"the {g} input is unavailable")
        parts.append(proportions(source) if g == "proportions" else age_cues(source)
                     if g == "age" else np.asarray(source, dtype=np.float64).ravel())
    return np.concatenate(parts)


def payload_sha256(payload: dict[str, Any]) -> str:
    """SHA-256 of the model's canonical JSON (sorted keys, no spaces): what the file
    pins and the loader checks, so a hand-edited coefficient is refused."""
    text = json.dumps(payload, sort_keys=True, separators=(",", ":"), allow_nan=False)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class GateModel:
    """Standardise, clip, then a linear score: withheld when it reaches the threshold."""

    mean: np.ndarray
    scale: np.ndarray
    coef: np.ndarray  # on the standardised, clipped, group-weighted features
    intercept: float
    threshold: float  # on the logit scale
    sha256: str
    groups: tuple[str, ...]
    weight: np.ndarray  # each feature's group weight (a group's share of the penalty)

    def logit(self, x: np.ndarray) -> float:
        z = np.clip((np.asarray(x, dtype=np.float64) - self.mean) / self.scale,
                    -Z_CLIP, Z_CLIP) * self.weight
        return float(z @ self.coef + self.intercept)

    def withholds(self, x: np.ndarray) -> bool:
        value = self.logit(x)
        return not math.isfinite(value) or value >= self.threshold


def read_model(path: Path) -> GateModel:
    """Load and check models/age_gate.json; raises ValueError/OSError with the reason."""
    data = json.loads(Path(path).read_text(encoding="utf-8"))
    payload = data["model"]
    if payload_sha256(payload) != data.get("sha256"):
        raise ValueError(f"{Path(path).name}: SHA-256 does not match its coefficients")
    groups = tuple(payload["groups"])
    if any(g not in GROUPS for g in groups):
        raise ValueError(f"{Path(path).name}: unknown feature group in {groups}")
    weight = np.concatenate([np.full(GROUPS[g], float(payload["group_weight"][g]))
                             for g in groups])
    arrays = [np.asarray(payload[k], dtype=np.float64) for k in ("mean", "scale", "coef")]
    if any(a.shape != weight.shape for a in arrays):
        raise ValueError(f"{Path(path).name}: feature count does not match this version")
    if not all(np.all(np.isfinite(a)) for a in arrays) or np.any(arrays[1] <= 0):
        raise ValueError(f"{Path(path).name}: non-finite or zero-scale coefficients")
    return GateModel(*arrays, float(payload["intercept"]), float(payload["threshold"]),
                     data["sha256"], groups, weight)


class AgeGate:
    """Loaded once per engine; `check(ctx)` raises the gate's AurumError or returns."""

    def __init__(self, models: Path) -> None:
        self.path = Path(models) / GATE_FILE
        self.model: GateModel | None = None
        try:
            self.model = read_model(self.path)
            self._status = f"ready: logistic gate {self.model.sha256[:12]}"
            self._check_chip()
        except FileNotFoundError:
            self._status = f"unavailable: {GATE_FILE} not found in {self.path.parent}"
        except Exception as exc:  # unreadable: withhold every score, say why
            self._status = f"unavailable: {GATE_FILE}: {str(exc)[:200]}"

    def _check_chip(self) -> None:
        """Refuse a gate fitted on faceres chips made another way (another crop, size or
        network): its logits would be read off features it never saw, silently. Moving
        faceres' crop from 1.3 to 1.2 moved one fixture adult's logit from -0.14 to
        0.58 under the old gate (threshold 0.11); the attractiveness model has the same
        check (`attractiveness.py`)."""
        if not self.needs_faceres():
            return
        from aurum.analysers.faceres import alignment

        data = json.loads(self.path.read_text(encoding="utf-8"))
        trained = data.get("provenance", {}).get("faceres_alignment")
        if trained != alignment():
            self.model = None
            raise ValueError("fitted on other faceres chips than this engine makes "
                             "(retrain: python -m aurum train-age-gate): "
                             f"{trained} against {alignment()}")

    def status(self) -> str:
        return self._status

    def readiness(self, descriptor: Any, faceres: Any) -> str:
        """The gate's status for the Status panel and /health: ready only when its
        model loaded AND the networks it reads are not known to be down."""
        if self.model is None:
            return self._status
        needs = [("descriptor", descriptor)]
        if self.needs_faceres():
            needs.append(("faceres", faceres))
        for name, part in needs:
            state = "switched off" if part is None else str(part.status())
            if part is None or state.startswith("unavailable"):
                return f"unavailable: needs the {name} ({state})"
        return self._status

    def needs_faceres(self) -> bool:
        return self.model is not None and bool({"faceres", "age"} & set(self.model.groups))

    def check(self, ctx: Any, faceres: Any = None) -> str:
        """"passed" when the face may be scored; raises `apparent_minor` when it looks
        under 18, `age_gate_unavailable` when the check cannot run. `faceres` is the
        faceres output of the plain chip (not mirror-averaged: what the gate learnt)."""
        if self.model is None:
            raise unavailable(self._status.removeprefix("unavailable: "))
        desc = getattr(ctx, "descriptor", None)
        if desc is None:
            raise unavailable(f"face descriptor {getattr(ctx, 'descriptor_status', '')}")
        if faceres is None and self.needs_faceres():
            raise unavailable(f"faceres {getattr(ctx, 'faceres_status', '')}")
        x = gate_features(self.model.groups, desc.normalised(), ctx.front,
                          None if faceres is None else faceres.normalised(),
                          None if faceres is None else faceres.age_probs)
        if self.model.withholds(x):
            raise AurumError("apparent_minor", MINOR_MESSAGE)
        return "passed"


def unavailable(reason: str) -> AurumError:
    return AurumError("age_gate_unavailable", UNAVAILABLE_MESSAGE.format(reason=reason))


def withhold(result: Any) -> None:
    """What an Analysis keeps of a face a gate stopped: where it is and its landmarks
    (the overlay). Every measurement a score is made from is dropped, so no later
    `score` (a Tune slider, the API's config) can compute one; `age_gate` says why."""
    code = result.error.code if result.error is not None else ""
    result.age_gate = "withheld" if code == "apparent_minor" else \
        f"unavailable: {result.error.message}" if result.error is not None else "withheld"
    result.pose = result.geometry = result.quality_raw = result.expression = None
    result.attractiveness = result.clip = result.population = None
    result.extra = {}
