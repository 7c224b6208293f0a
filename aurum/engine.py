"""The two phases: `analyze` (run every model once) and `score` (pure, cheap).

Designers' sliders, the CLI's `--config` and the API all call `score` on a cached
`Analysis`, so changing a weight or threshold never re-runs inference.
Optional parts (the attractiveness model, the reference population) are loaded
once; when one is missing its part of the report says so and the rest still works.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from aurum.analysers.age_gate import AgeGate, withhold
from aurum.analysers.clip_backend import get_backend
from aurum.analysers.store import store_status
from aurum.config import Config
from aurum.errors import GATE_CODES, AurumError
from aurum.measure import geometry, quality
from aurum.measure.expression import describe_expression
from aurum.measure.face_measures import expression_cues, measure_face  # noqa: F401  (re-exported)
from aurum.measure.imaging import load_image
from aurum.measure.landmarks import DetectedFace, FaceFinder
from aurum.measure.pose import Pose
from aurum.paths import models_dir, reference_dir
from aurum.timing import StageTimer

log = logging.getLogger("aurum")


@dataclass
class FaceContext:
    """What the optional analysers get: the pixels and every measurement so far.
    It lives only for the duration of `analyze` (the image is never stored)."""

    rgb: np.ndarray
    face: DetectedFace
    front: np.ndarray
    pose: Pose
    geometry: dict[str, float]
    quality: dict[str, Any]
    # The 128-D face descriptor (an identity template): memory only, never copied
    # into the Analysis; None with the reason in descriptor_status when unavailable.
    descriptor: Any = None
    descriptor_status: str = "unavailable: not computed"
    # faceres (`aurum.analysers.faceres.FaceresOutput`): a second identity template with
    # the age and sex heads' estimates; memory only, like the descriptor.
    faceres: Any = None
    faceres_status: str = "unavailable: not computed"


class AttractivenessModel(Protocol):
    """A model of human ratings; `analyze` is config-independent, so it runs once."""

    name: str

    def status(self) -> str: ...

    def analyze(self, ctx: FaceContext) -> dict[str, Any]: ...

    def facts(self) -> dict[str, Any]: ...


class Population(Protocol):
    """The reference population: placement in analyze, percentiles in score."""

    def status(self) -> str: ...

    def place(self, ctx: FaceContext) -> dict[str, Any]: ...

    def percentile(self, scores: dict[str, float | None], config: Config) -> dict[str, Any]: ...

    # What the app shows of the population, and the opt-in store behind it.
    def map_layout(self) -> dict[str, Any]: ...

    def reference_summary(self, config: Config) -> dict[str, Any]: ...

    def opt_in(self, report_dict: dict[str, Any], embedding: Any) -> str: ...

    def forget(self, point_id: str) -> bool: ...


@dataclass
class AnalyserStep:
    """One optional analyser in `Engine.analyze`'s loop, the one interface they share:
    `run(ctx, analysis)` fills its part of the analysis from the face context;
    `failed(analysis, status)` records why it could not (None: the error is the
    photo's). `stage` names its timing (and, for an extra analyser, its report key)."""

    stage: str
    run: Callable[[FaceContext, Analysis], None]
    failed: Callable[[Analysis, str], None] | None = None


def _failed_into(attr: str) -> Callable[[Analysis, str], None]:
    """A `failed` that leaves `{"status": ...}` in the analysis field `attr`, so the
    report says why this part is missing and the rest still works."""

    def failed(analysis: Analysis, status: str) -> None:
        value = _status_only(status) if attr == "attractiveness" else {"status": status}
        setattr(analysis, attr, value)

    return failed


def extra_analyser(stage: str, compute: Callable[[FaceContext], dict[str, Any]]
                   ) -> AnalyserStep:
    """An analyser whose dict goes to the report's "extra".<stage> (JSON, API, CLI); a
    failure there becomes its status, never the photo's error."""

    def run(ctx: FaceContext, analysis: Analysis) -> None:
        analysis.extra[stage] = compute(ctx)

    def failed(analysis: Analysis, status: str) -> None:
        analysis.extra[stage] = {"status": status}

    return AnalyserStep(stage, run, failed)


@dataclass
class Analysis:
    """Every measurement of one image; no pixels unless `keep_image` was asked for."""

    source: str | None
    error: AurumError | None = None
    image_size: tuple[int, int] | None = None
    face: dict[str, Any] | None = None
    landmarks: np.ndarray | None = None
    pose: Pose | None = None
    quality_raw: dict[str, Any] | None = None
    geometry: dict[str, float] | None = None
    expression: dict[str, float] | None = None
    attractiveness: dict[str, Any] | None = None
    clip: dict[str, Any] | None = None  # the CLIP backend's answer (the report nests it)
    population: dict[str, Any] | None = None
    age_gate: str = "not run"  # "passed", "withheld" or "unavailable: <reason>"
    extra: dict[str, Any] = field(default_factory=dict)  # extra analysers' outputs
    timing_ms: dict[str, float] = field(default_factory=dict)
    image: np.ndarray | None = None

    @property
    def ok(self) -> bool:
        return self.error is None


@dataclass
class Report:
    """The scored result; `to_dict()` is the one JSON contract (CLI, API, tests)."""

    data: dict[str, Any]

    def to_dict(self) -> dict[str, Any]:
        return self.data

    @property
    def ok(self) -> bool:
        return bool(self.data["ok"])


def _status_only(status: str) -> dict[str, Any]:
    return {"score": None, "status": status}


class Engine:
    """Holds the loaded models; one instance per process serves many threads. `run` for
    a one-shot answer, or `analyze` once and `score` as often as the settings change
    (what makes a slider move cost milliseconds). A missing optional model never raises:
    its part of the report says "unavailable: <reason>" (`status()`)."""

    def __init__(self, *, models: Path | None = None, load_optional: bool = True,
                 pool_size: int = 2, reference: Path | None = None,
                 attractiveness_model: str | None = None, age_gate: bool = True) -> None:
        self.models = models or models_dir()
        # The population for percentiles, vibes and the map: a folder written by
        # `build-reference --out` (`--reference` / AURUM_REFERENCE), else the built-in
        # one next to the models.
        self.reference = Path(reference) if reference else reference_dir(self.models)
        # which attractiveness model: "london+mebeauty" (default, non-commercial terms),
        # "london" (CC BY 4.0 data) or a model file; else AURUM_ATTRACTIVENESS_MODEL
        self.attractiveness_choice = attractiveness_model
        self.finder = FaceFinder(pool_size=pool_size)
        # The adults-only gate: always loaded (a small JSON). `age_gate=False` is for the
        # offline trainers only (adults by declaration); no user-facing path turns it off.
        self.age_gate: AgeGate | None = AgeGate(self.models) if age_gate else None
        self.attractiveness: AttractivenessModel | None = None
        self.population: Population | None = None
        self.attractiveness_status = "unavailable: not loaded"
        self.population_status = "unavailable: not loaded"
        # More analysers (README: "Add an analyser"): each runs after the built-in ones
        # and its dict lands in the report under "extra".<stage>.
        self.extra_analysers: list[AnalyserStep] = []
        from aurum.analysers.descriptor import get_model

        # Loaded lazily on first use (or below): a missing dlib only costs its part.
        self.descriptor: Any = get_model()
        from aurum.analysers import faceres

        # Also lazy; None switches it off (the models that read it then say so).
        self.faceres: Any = faceres.get_model()
        # Whether faceres averages each chip with its mirror image: the attractiveness
        # model in use says (a model trained on averaged descriptors needs them).
        self.faceres_mirror = False
        if load_optional:
            self._load_optional()

    def _load_optional(self) -> None:
        if self.descriptor is not None:
            self.descriptor.load()
        if self.faceres is not None:
            self.faceres.load()
        try:
            from aurum.analysers import attractiveness

            self.attractiveness = attractiveness.load_default(self.models,
                                                              self.attractiveness_choice)
            self.attractiveness_status = self.attractiveness.status()
            self.faceres_mirror = bool(getattr(self.attractiveness, "faceres_mirror", False))
        except Exception as exc:  # a missing model must not take the engine down
            self.attractiveness_status = f"unavailable: {_reason(exc)}"
            log.warning("attractiveness model %s", self.attractiveness_status)
        try:
            from aurum.analysers import population

            self.population = population.load_default(self.reference)
            self.population_status = self.population.status()
            if self.reference.resolve() != Path(self.models).resolve():
                self.population_status += f" (loaded from the folder '{self.reference.name}')"
        except Exception as exc:
            self.population_status = f"unavailable: {_reason(exc)}"
            log.warning("reference population %s", self.population_status)

    def status(self) -> dict[str, str]:
        """What is loaded and why a part is not, for the UI's status panel."""
        graphs = self.finder.status()
        return {"face_mesh": graphs["mesh"], "detector": graphs["detector"],
                "age_gate": self.age_gate.readiness(self.descriptor, self.faceres)
                if self.age_gate is not None else "switched off (offline training engine)",
                "attractiveness": self.attractiveness_status,
                "descriptor": self.descriptor.status() if self.descriptor is not None
                else "unavailable: switched off",
                "descriptor_licence": self.descriptor.licence_summary()
                if self.descriptor is not None else "n/a",
                "faceres": self.faceres.status() if self.faceres is not None
                else "unavailable: switched off",
                "clip": self.clip.status(),
                "population": self.population_status,
                "store": store_status()}

    @property
    def clip(self) -> Any:
        """The CLIP backend: one per process (its weights are large), loaded in the
        background by `start_background`; until then, and offline, it answers
        "loading"/"unavailable" at once."""
        return get_backend()

    def warm_up(self, example: Any = None) -> None:
        """Initialise the models before the first visitor: a full analysis of `example`
        when given (every graph; the first inference costs ~0.6 s), else the face-mesh
        graphs only."""
        if example is not None:
            self.analyze(example)
        else:
            self.finder.warm_up()

    def start_background(self) -> None:
        """Start what loads in the background (CLIP); never blocks a request."""
        self.clip.start()

    def close(self) -> None:
        """Release what holds a lock or a connection (the opt-in store)."""
        from aurum.analysers.store import close_shared_store

        close_shared_store()

    def analysers(self) -> list[AnalyserStep]:
        """The optional analysers, in the order `analyze` runs them (the descriptor
        and faceres first: the attractiveness model reads them), then any in `extra_analysers`."""
        steps = []
        if self.descriptor is not None:
            steps.append(AnalyserStep("descriptor", self._run_descriptor))
        if self.faceres is not None:
            steps.append(AnalyserStep("faceres", self._run_faceres))
        if self.age_gate is not None:
            # Gates come before scores: nothing that scores runs for a withheld face
            # (no `failed`: its AurumError ends the analysis).
            steps.append(AnalyserStep("age_gate", self._run_age_gate))
        if self.attractiveness is not None:
            steps.append(AnalyserStep("attractiveness", self._run_attractiveness,
                                      _failed_into("attractiveness")))
        # The CLIP backend (Spaces): immediate "loading"/"unavailable" until its
        # background load finishes; its heads are labelled, never blended.
        steps.append(AnalyserStep("clip", self._run_clip))
        if self.population is not None:
            steps.append(AnalyserStep("population", self._run_population,
                                      _failed_into("population")))
        return steps + self.extra_analysers

    def _run_descriptor(self, ctx: FaceContext, result: Analysis) -> None:
        ctx.descriptor, ctx.descriptor_status = self.descriptor.compute_safe(
            ctx.rgb, ctx.face.landmarks)

    def _run_faceres(self, ctx: FaceContext, result: Analysis) -> None:
        ctx.faceres, ctx.faceres_status = self.faceres.compute_safe(
            ctx.rgb, ctx.face.landmarks, self.faceres_mirror)

    def _run_age_gate(self, ctx: FaceContext, result: Analysis) -> None:
        assert self.age_gate is not None
        faceres = ctx.faceres
        if self.faceres_mirror and faceres is not None and self.age_gate.needs_faceres():
            # the gate learnt the plain chip's outputs; the model in use averages mirrors
            faceres, _ = self.faceres.compute_safe(ctx.rgb, ctx.face.landmarks, False)
        result.age_gate = self.age_gate.check(ctx, faceres)

    def _run_attractiveness(self, ctx: FaceContext, result: Analysis) -> None:
        assert self.attractiveness is not None
        result.attractiveness = self.attractiveness.analyze(ctx)

    def _run_clip(self, ctx: FaceContext, result: Analysis) -> None:
        result.clip = self.clip.analyze(ctx.rgb, ctx.face.landmarks)

    def _run_population(self, ctx: FaceContext, result: Analysis) -> None:
        assert self.population is not None
        result.population = self.population.place(ctx)

    def _run_analysers(self, ctx: FaceContext, result: Analysis, lap: StageTimer) -> None:
        """Each optional analyser in turn; one that fails says so in its own slot and
        the rest still run (a gate raises its AurumError, which stops them all)."""
        for step in self.analysers():
            try:
                step.run(ctx, result)
            except Exception as exc:
                if step.failed is None:
                    raise
                log.exception("%s failed", step.stage)
                step.failed(result, f"unavailable: {_reason(exc)}")
            lap(step.stage)

    def analyze(self, image: Any, *, source: str | None = None, bgr: bool = False,
                keep_image: bool = False,
                on_context: Callable[[FaceContext], None] | None = None) -> Analysis:
        """Run every model once on one photo (a path, bytes, a file object or an RGB
        array; `bgr=True` for OpenCV's order) and keep the measurements, no scores.
        Never raises for user input: an unreadable photo, or one with no face, has
        `.error` (an `AurumError`) and `.ok` False, so a batch never stops on one.
        Pixels are dropped unless `keep_image` (the UI's overlay) asks for them.
        `on_context(ctx)` sees the face context after the analysers (memory only): how
        `aurum.compare` takes the descriptor without it entering the Analysis."""
        if source is None and isinstance(image, (str, Path)):
            source = str(image)
        result = Analysis(source=source)
        timing = result.timing_ms
        lap = StageTimer(timing)

        try:
            rgb = load_image(image, bgr=bgr)
            lap("decode")
            h, w = rgb.shape[:2]
            result.image_size = (w, h)
            face = self.finder.find(rgb)
            lap("detect_mesh")
            m = measure_face(rgb, face.landmarks, face.confidence, face.bbox, lap)
            result.face = {"bbox": [round(v, 1) for v in face.bbox],
                           "confidence": None if face.confidence is None
                           else round(face.confidence, 4),
                           "faces_found": face.faces_found, "detector": face.detector}
            result.landmarks = face.landmarks
            result.pose, result.geometry, result.quality_raw = m.pose, m.geometry, m.quality_raw
            result.expression = m.expression
            ctx = FaceContext(rgb=rgb, face=face, front=m.front, pose=m.pose,
                              geometry=m.geometry, quality=m.quality_raw)
            if keep_image:  # before the gate: a withheld face keeps its overlay
                result.image = rgb
            self._run_analysers(ctx, result, lap)
            if on_context is not None:
                on_context(ctx)
        except AurumError as exc:
            result.error = exc
            if exc.code in GATE_CODES:
                withhold(result)
        except Exception as exc:  # never a traceback for the user; logged for us
            log.exception("analyze failed")
            result.error = AurumError("internal_error", f"Analysis failed unexpectedly "
                                      f"({type(exc).__name__}).")
        timing["analyze_total"] = round(sum(v for k, v in timing.items()), 3)
        # One line per photo for operators: outcome and cost only, never pixels or the
        # file's name (a name can identify a person).
        log.debug("analyze: %s, faces=%s, %.1f ms",
                  result.error.code if result.error else "ok",
                  result.face["faces_found"] if result.face else 0, timing["analyze_total"])
        return result

    def score(self, analysis: Analysis, config: Config | None = None) -> Report:
        """Turn an `Analysis` into the report under `config` (default `Config()`): pure
        and cheap, no model runs, so new weights or thresholds re-score a photo in
        milliseconds. `Report.to_dict()` is the JSON the CLI prints and the API returns."""
        t0 = time.perf_counter()
        cfg = config or Config()
        out: dict[str, Any] = {
            "file": analysis.source,
            "ok": analysis.ok,
            "error": analysis.error.to_dict() if analysis.error else None,
            "image_size": list(analysis.image_size) if analysis.image_size else None,
            "face": analysis.face,
            "pose": analysis.pose.to_dict() if analysis.pose else None,
            "quality": None,
            "geometric": None,
            "attractiveness": None,
            "final": None,
            "percentile": None,
            "vibe": None,
            "expression": None,
            "config": {"preset": cfg.preset, "blend_weight": cfg.blend_weight},
            "age_gate": {"status": analysis.age_gate},
            "timing_ms": dict(analysis.timing_ms),
        }
        if not analysis.ok:
            out["timing_ms"]["score"] = round((time.perf_counter() - t0) * 1000, 3)
            return Report(out)
        assert analysis.quality_raw is not None and analysis.geometry is not None
        out["quality"] = quality.evaluate(analysis.quality_raw, cfg.thresholds)
        geo = geometry.score(analysis.geometry, cfg)
        out["geometric"] = geo
        attr = analysis.attractiveness or _status_only(self.attractiveness_status)
        if analysis.clip is not None:  # shown beside the model's score, never blended
            attr = {**attr, "clip": analysis.clip}
        out["attractiveness"] = attr
        out["final"] = blend(geo.get("score"), attr.get("score"), cfg.blend_weight,
                             quality_passed=out["quality"]["passed"])
        scores = {"final": out["final"]["score"], "geometric": geo.get("score"),
                  "attractiveness": attr.get("score")}
        out["percentile"] = self._percentile(scores, cfg)
        pop = analysis.population or {}
        out["vibe"] = dict(pop.get("vibe") or {"cluster": None,
                                               "status": pop.get("status",
                                                                 self.population_status)})
        out["expression"] = expr = describe_expression(analysis.expression)
        if expr and not expr["neutral"] and out["vibe"].get("cluster") is not None:
            out["vibe"]["note"] = ("You seem to be smiling or to have your mouth open: the "
                                   "vibes group face shapes, and an expression moves a face "
                                   "between them. A neutral photo gives the truer group.")
        if analysis.extra:
            out["extra"] = dict(analysis.extra)
        out["timing_ms"]["score"] = round((time.perf_counter() - t0) * 1000, 3)
        return Report(out)

    def _percentile(self, scores: dict[str, float | None], cfg: Config) -> dict[str, Any]:
        """Where the scores fall in the reference population, or why that is unknown."""
        if self.population is None:
            return {"final": None, "status": self.population_status}
        try:
            return self.population.percentile(scores, cfg)
        except Exception as exc:
            log.exception("percentile failed")
            return {"status": f"unavailable: {_reason(exc)}"}

    def run(self, image: Any, config: Config | None = None, **kw: Any) -> Report:
        """`score(analyze(image), config)`, for one-shot callers (the CLI, the API):
        keep the `Analysis` yourself when the same photo will be scored again."""
        return self.score(self.analyze(image, **kw), config)


def blend(geometric: float | None, attractiveness: float | None, weight: float, *,
          quality_passed: bool = True) -> dict[str, Any]:
    """final = w * geometric + (1 - w) * attractiveness; says which half is missing."""
    g_ok = geometric is not None and math.isfinite(geometric)
    a_ok = attractiveness is not None and math.isfinite(attractiveness)
    if g_ok and a_ok:
        value = weight * geometric + (1 - weight) * attractiveness  # type: ignore[operator]
        weights, basis = {"geometric": weight, "attractiveness": 1 - weight}, "blend"
    elif g_ok:
        value, weights, basis = geometric, {"geometric": 1.0, "attractiveness": 0.0}, \
            "geometric_only"
    elif a_ok:
        value, weights, basis = attractiveness, {"geometric": 0.0, "attractiveness": 1.0}, \
            "attractiveness_only"
    else:
        return {"score": None, "weights": None, "basis": None,
                "status": "unavailable: neither score could be computed"}
    status = "ok" if quality_passed else "low_quality: the photo failed the quality gate; " \
        "treat the score with caution"
    return {"score": round(float(value), 2), "weights": weights, "basis": basis,  # type: ignore[arg-type]
            "status": status}


def _reason(exc: BaseException) -> str:
    msg = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return msg[:300]
