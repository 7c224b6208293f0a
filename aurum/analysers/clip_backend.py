"""CLIP image embeddings of the shared face crop, and the heads applied to them.

For deployments that reach the Hugging Face hub (Spaces). Everywhere else the code
is the same but reports `unavailable: <reason>` quickly and never blocks:

- `ClipBackend.start()` loads in a background thread; `status()` is `loading`,
  `ready: <model>` or `unavailable: <reason>`. With `HF_HUB_OFFLINE` (or
  `TRANSFORMERS_OFFLINE`) set, or a local model folder, everything is loaded with
  `local_files_only=True`, so a missing cache fails in milliseconds instead of
  ~27 s of network retries.
- `analyze(rgb, landmarks)` returns at once with `{"status": ..., "score": None}`
  when the model is not ready, and never raises.
- torch and transformers are imported inside the loader only, so importing this
  module (and `aurum`) stays cheap.

Embeddings: `CLIPModel.get_image_features` on `aurum.measure.crop.aligned_face(rgb,
landmarks, size=224)` (the one crop used everywhere), preprocessed by the model's
own image processor, L2-normalised. In transformers 5.x `get_image_features`
returns a `BaseModelOutputWithPooling` whose `pooler_output` is the projected
embedding (4.x returned the tensor itself); `_features` accepts both.

Heads (none of them is validated against human ratings, so the backend has no
headline `score`; `default_head` names the one a UI should show first):

- `zero_shot`: prompt contrast, no extra weights. t+ and t- are the normalised
  means of the normalised text embeddings of the positive and negative prompt
  sets; raw = cos(e, t+) - cos(e, t-); score = 100 * sigmoid(s * raw) with s the
  model's own logit scale (exp(logit_scale), 100 for OpenAI CLIP). That is CLIP's
  zero-shot softmax probability of the "attractive" class in a two-class
  choice, in percent. The prompts are encoded once at load; the text tower is
  then dropped, requests run the vision tower only.
- FaceStats-format MLP checkpoints (512 -> 256 -> 64 -> 1, ReLU, keys `net.0.*`,
  `net.2.*`, `net.4.*`): SHA-256 checked against a pinned value *before*
  unpickling, then `torch.load(path, weights_only=True)`. `KNOWN_HEADS` lists the
  checkpoints we know with their provenance. `facestats_v1` (the shared
  `facestats_regressor_v1.pt`) was trained on file-name-hash pseudo-labels: it is
  loaded only to prove the format works, is labelled so, and is never the default.
"""

from __future__ import annotations

import logging
import math
import os
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from aurum.paths import sha256_file, shared_dir

log = logging.getLogger("aurum.clip")

DEFAULT_MODEL = "openai/clip-vit-base-patch32"
CROP_SIZE = 224  # the shared crop's side; the model's processor normalises it
ZERO_SHOT = "zero_shot"
ZERO_SHOT_PROVENANCE = "zero-shot CLIP prompt contrast; not validated against human ratings"
POSITIVE_PROMPTS = (
    "a photo of an attractive person",
    "a close-up photo of an attractive face",
    "a portrait of a good-looking person",
)
NEGATIVE_PROMPTS = (
    "a photo of an unattractive person",
    "a close-up photo of an unattractive face",
    "a portrait of a plain-looking person",
)
MAX_LOGIT_SCALE = 100.0  # CLIP clamps its learned temperature here during training

# FaceStats-format checkpoints we know: name -> pinned SHA-256, provenance, validation.
# raw_mean / raw_sd: the head's own output spread, used only to map raw to 0-100.
KNOWN_HEADS: dict[str, dict[str, Any]] = {
    "facestats_v1": {
        "file": "facestats_regressor_v1.pt",
        "sha256": "bc770ea35dca0dff5d60a315140b04c2ae6d9b08245439827d21ca6bc03892d3",
        "provenance": "FaceStats v1: trained on file-name-hash pseudo-labels; "
                      "carries no information",
        "validated": False,
        "raw_mean": 1.25,
        "raw_sd": 0.10,
    },
}
FACESTATS_KEYS = {"net.0.weight": (256, 512), "net.0.bias": (256,),
                  "net.2.weight": (64, 256), "net.2.bias": (64,),
                  "net.4.weight": (1, 64), "net.4.bias": (1,)}


@dataclass(frozen=True)
class HeadSpec:
    """One FaceStats-format MLP head: where it is and what it is allowed to claim."""

    name: str
    path: Path
    sha256: str
    provenance: str
    validated: bool = False
    raw_mean: float = 0.0
    raw_sd: float = 1.0

    @property
    def scale(self) -> str:
        return (f"score = 100 * Phi((raw - {self.raw_mean:g}) / {self.raw_sd:g}): the head's "
                "position within its own output spread, not a population percentile")


def known_head(name: str, path: str | Path | None = None) -> HeadSpec:
    """A `HeadSpec` for a name in `KNOWN_HEADS`, at `path` or its default location."""
    info = KNOWN_HEADS[name]
    where = Path(path) if path else shared_dir() / "models" / info["file"]
    return HeadSpec(name=name, path=where, sha256=info["sha256"],
                    provenance=info["provenance"], validated=info["validated"],
                    raw_mean=info["raw_mean"], raw_sd=info["raw_sd"])


def default_heads() -> list[HeadSpec]:
    """The FaceStats head at `AURUM_FACESTATS_HEAD` (default: the shared v1 file)."""
    return [known_head("facestats_v1", os.environ.get("AURUM_FACESTATS_HEAD") or None)]


def offline_mode() -> bool:
    """True when `HF_HUB_OFFLINE` or `TRANSFORMERS_OFFLINE` is set to a true value."""
    return any(os.environ.get(k, "").strip().lower() in {"1", "true", "yes", "on"}
               for k in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE"))


@dataclass
class _Loaded:
    """Everything `analyze` needs, swapped in atomically once loading is over."""

    torch: Any
    model: Any
    processor: Any
    dim: int
    heads: dict[str, Any]  # name -> _ZeroShot | _MLPHead
    head_status: dict[str, str]
    preprocessing: str


class _ZeroShot:
    def __init__(self, t_pos: Any, t_neg: Any, scale: float) -> None:
        self.direction = t_pos - t_neg  # cos(e, t+) - cos(e, t-) = e . (t+ - t-)
        self.scale = scale

    def __call__(self, emb: Any) -> tuple[float, float]:
        raw = float(emb @ self.direction)
        return raw, 100.0 / (1.0 + math.exp(-self.scale * raw))


class _MLPHead:
    def __init__(self, spec: HeadSpec, net: Any) -> None:
        self.spec, self.net = spec, net

    def __call__(self, emb: Any) -> tuple[float, float]:
        raw = float(self.net(emb[None])[0, 0])
        z = (raw - self.spec.raw_mean) / self.spec.raw_sd
        return raw, 50.0 * (1.0 + math.erf(z / math.sqrt(2.0)))


class ClipBackend:
    """CLIP embeddings and heads, loaded in the background; safe to share across threads.

    model: hub id or local folder (default `AURUM_CLIP_MODEL` or `DEFAULT_MODEL`).
    heads: FaceStats-format heads (default `default_heads()`); the zero-shot head is
    added when the model folder has a tokenizer. cache_dir: the Hugging Face cache
    to use (default: the library's own). enabled: `AURUM_CLIP=0` disables the backend.
    """

    def __init__(self, model: str | Path | None = None, *, heads: list[HeadSpec] | None = None,
                 positive_prompts: tuple[str, ...] = POSITIVE_PROMPTS,
                 negative_prompts: tuple[str, ...] = NEGATIVE_PROMPTS,
                 cache_dir: str | Path | None = None, enabled: bool | None = None) -> None:
        self.model_name = str(model or os.environ.get("AURUM_CLIP_MODEL") or DEFAULT_MODEL)
        self.head_specs = list(default_heads() if heads is None else heads)
        self.positive_prompts = tuple(positive_prompts)
        self.negative_prompts = tuple(negative_prompts)
        self.cache_dir = str(cache_dir) if cache_dir else None
        if enabled is None:
            enabled = os.environ.get("AURUM_CLIP", "1").strip().lower() not in {"0", "false",
                                                                                 "no", "off"}
        self.enabled = enabled
        self._status = "unavailable: not started" if enabled else \
            "unavailable: disabled (AURUM_CLIP=0)"
        self._loaded: _Loaded | None = None
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()
        self._done = threading.Event()
        self.load_seconds: float | None = None

    # ---- life cycle -------------------------------------------------------------------
    def start(self) -> ClipBackend:
        """Begin loading in a daemon thread; returns at once. Idempotent."""
        with self._lock:
            if self._thread is not None or not self.enabled:
                if not self.enabled:
                    self._done.set()
                return self
            self._status = "loading"
            self._thread = threading.Thread(target=self._run, name="aurum-clip-loader",
                                            daemon=True)
            self._thread.start()
        return self

    def wait(self, timeout: float | None = None) -> str:
        """Block until loading has finished (or `timeout`); returns `status()`.
        For scripts and tests, never for the request path."""
        if self._thread is not None or not self.enabled:
            self._done.wait(timeout)
        return self.status()

    def status(self) -> str:
        return self._status

    def describe(self) -> dict[str, Any]:
        """Status of the backend and of each head, for a status panel."""
        loaded = self._loaded
        heads: dict[str, Any] = {}
        if loaded is not None:
            for name, st in loaded.head_status.items():
                prov, val = self._provenance(name)
                heads[name] = {"status": st, "provenance": prov, "validated": val}
        return {"status": self._status, "model": self.model_name, "offline": offline_mode(),
                "load_seconds": self.load_seconds, "default_head": self.default_head(),
                "embedding_dim": loaded.dim if loaded else None, "heads": heads,
                "preprocessing": loaded.preprocessing if loaded else None}

    def _run(self) -> None:
        t0 = time.perf_counter()
        try:
            loaded = self._load()
            self._loaded = loaded
            self._status = f"ready: {self.model_name}"
            log.info("CLIP %s loaded in %.1f s; heads %s", self.model_name,
                     time.perf_counter() - t0, loaded.head_status)
        except Exception as exc:  # any failure becomes a status, never a crash
            self._status = f"unavailable: {self._reason(exc)}"
            log.warning("CLIP backend %s", self._status)
        finally:
            self.load_seconds = round(time.perf_counter() - t0, 3)
            self._done.set()

    def _local_dir(self) -> Path | None:
        p = Path(self.model_name).expanduser()
        return p if p.is_dir() else None

    def _reason(self, exc: BaseException) -> str:
        local = self._local_dir()
        if isinstance(exc, ImportError):
            return f"torch/transformers not importable ({exc})"[:300]
        if local is None and isinstance(exc, OSError):
            # hub ids are "owner/name"; anything else that fails is a missing folder
            looks_like_path = self.model_name.startswith(("/", ".", "~")) or \
                self.model_name.count("/") > 1
            if looks_like_path and not Path(self.model_name).expanduser().exists():
                return f"model folder not found: {self.model_name}"
            if offline_mode():
                return (f"HF_HUB_OFFLINE is set and {self.model_name} is not in the local "
                        "Hugging Face cache")
            return (f"could not load {self.model_name} from the Hugging Face hub or cache "
                    "(no network? HF_HUB_OFFLINE=1 makes this fail at once)")
        msg = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        return msg[:300]

    def _fetch(self) -> Path:
        """Resolve a hub id to a local snapshot *before* torch is imported: where the
        hub cannot be reached the load fails without the process paying ~300 MB for
        torch and transformers (the app's RSS stays at ~355 MB instead of ~680 MB)."""
        from huggingface_hub import snapshot_download

        if self.model_name.startswith(("/", ".", "~")) or self.model_name.count("/") > 1:
            raise FileNotFoundError(self.model_name)  # a folder that does not exist
        folder = snapshot_download(
            self.model_name, cache_dir=self.cache_dir, local_files_only=offline_mode(),
            allow_patterns=["*.json", "*.txt", "*.safetensors"])
        path = Path(folder)
        if not any(path.glob("*.safetensors")):
            raise OSError(f"{self.model_name} has no safetensors weights")
        return path

    def _load(self) -> _Loaded:
        local = self._local_dir()
        source = str(local if local is not None else self._fetch())

        import torch  # lazily: importing aurum must not pay for torch/transformers
        from transformers import AutoImageProcessor, AutoTokenizer, CLIPModel

        kw: dict[str, Any] = {"local_files_only": True}
        model = CLIPModel.from_pretrained(source, **kw)
        model.eval()
        dim = int(model.config.projection_dim)
        try:
            processor = AutoImageProcessor.from_pretrained(source, **kw)
            preprocessing = f"{type(processor).__name__} from {self.model_name}"
        except Exception as exc:  # a model folder without processor config
            from transformers import CLIPImageProcessorPil

            processor = CLIPImageProcessorPil()
            preprocessing = f"default CLIP preprocessing ({self._reason(exc)})"
        heads: dict[str, Any] = {}
        status: dict[str, str] = {}
        try:
            tokenizer = AutoTokenizer.from_pretrained(source, **kw)
            heads[ZERO_SHOT] = self._zero_shot(torch, model, tokenizer)
            status[ZERO_SHOT] = "ok"
        except Exception as exc:
            status[ZERO_SHOT] = f"unavailable: no usable tokenizer ({self._reason(exc)})"
        # The prompts are encoded once; requests only use the vision tower.
        model.text_model = None
        model.text_projection = None
        for spec in self.head_specs:
            try:
                heads[spec.name] = _MLPHead(spec, load_facestats(spec, dim))
                status[spec.name] = "ok"
            except Exception as exc:
                status[spec.name] = f"unavailable: {self._reason(exc)}"
                log.warning("CLIP head %s %s", spec.name, status[spec.name])
        return _Loaded(torch=torch, model=model, processor=processor, dim=dim, heads=heads,
                       head_status=status, preprocessing=preprocessing)

    def _zero_shot(self, torch: Any, model: Any, tokenizer: Any) -> _ZeroShot:
        def mean_direction(prompts: tuple[str, ...]) -> Any:
            tok = tokenizer(list(prompts), padding=True, return_tensors="pt")
            # transformers 5 builds an empty-vocabulary tokenizer for a folder without
            # tokenizer files: every word becomes <unk>, and the contrast would be 0.
            unk = tokenizer.unk_token_id
            for ids, mask in zip(tok["input_ids"].tolist(), tok["attention_mask"].tolist(),
                                 strict=True):
                inner = ids[1:sum(mask) - 1]
                if unk is not None and unk in inner or not inner:
                    raise ValueError("the tokenizer does not cover the prompts (unknown tokens)")
            with torch.inference_mode():
                t = _features(model.get_text_features(input_ids=tok["input_ids"],
                                                      attention_mask=tok["attention_mask"]))
            t = torch.nn.functional.normalize(t.float(), dim=-1).mean(0)
            return torch.nn.functional.normalize(t, dim=0)

        scale = min(float(model.logit_scale.detach().exp()), MAX_LOGIT_SCALE)
        return _ZeroShot(mean_direction(self.positive_prompts),
                         mean_direction(self.negative_prompts), scale)

    # ---- inference -----------------------------------------------------------------------
    def default_head(self) -> str:
        """The head a UI shows first: never an unvalidated checkpoint such as FaceStats v1."""
        validated = [s.name for s in self.head_specs if s.validated]
        return validated[0] if validated else ZERO_SHOT

    def _provenance(self, name: str) -> tuple[str, bool]:
        if name == ZERO_SHOT:
            return ZERO_SHOT_PROVENANCE, False
        spec = next(s for s in self.head_specs if s.name == name)
        return spec.provenance, spec.validated

    def embed_crops(self, crops: list[np.ndarray]) -> np.ndarray | None:
        """(N, dim) float32 L2-normalised embeddings of RGB uint8 crops; None if not ready."""
        loaded = self._loaded
        if loaded is None:
            return None
        return self._embed(loaded, crops).numpy()

    def embed(self, rgb: np.ndarray, landmarks: np.ndarray) -> np.ndarray | None:
        """The (dim,) embedding of the shared aligned crop; None if not ready."""
        from aurum.measure.crop import aligned_face

        out = self.embed_crops([aligned_face(rgb, landmarks, size=CROP_SIZE)])
        return None if out is None else out[0]

    def _embed(self, loaded: _Loaded, crops: list[np.ndarray]) -> Any:
        torch = loaded.torch
        pixels = loaded.processor(images=list(crops), return_tensors="pt")["pixel_values"]
        with torch.inference_mode():
            feats = _features(loaded.model.get_image_features(pixel_values=pixels))
        return torch.nn.functional.normalize(feats.float(), dim=-1)

    def analyze(self, rgb: np.ndarray, landmarks: np.ndarray, *,
                return_embedding: bool = False) -> dict[str, Any]:
        """Embedding and every head for one face. Immediate when not ready; never raises."""
        loaded = self._loaded
        if loaded is None:
            return {"status": self._status, "score": None}
        try:
            from aurum.measure.crop import aligned_face

            t0 = time.perf_counter()
            crop = aligned_face(rgb, landmarks, size=CROP_SIZE)
            emb = self._embed(loaded, [crop])[0]
            t1 = time.perf_counter()
            heads: dict[str, Any] = {}
            with loaded.torch.inference_mode():
                for name, st in loaded.head_status.items():
                    prov, val = self._provenance(name)
                    entry: dict[str, Any] = {"score": None, "raw": None, "provenance": prov,
                                             "validated": val, "status": st}
                    if name in loaded.heads:
                        raw, score = loaded.heads[name](emb)
                        entry.update(score=round(score, 2), raw=round(raw, 6))
                        if name != ZERO_SHOT:
                            entry["scale"] = loaded.heads[name].spec.scale
                        else:
                            entry["scale"] = ("score = 100 * sigmoid(s * (cos(e, t+) - cos(e, "
                                              f"t-))), s = {loaded.heads[name].scale:.3g}")
                    heads[name] = entry
            out: dict[str, Any] = {
                "status": "ok", "model": self.model_name, "embedding_dim": int(emb.shape[0]),
                # No head is validated against human ratings: no headline score.
                "score": None, "default_head": self.default_head(), "heads": heads,
                "timing_ms": {"embed": round((t1 - t0) * 1000, 2),
                              "heads": round((time.perf_counter() - t1) * 1000, 2)},
            }
            if return_embedding:
                out["embedding"] = [round(float(v), 6) for v in emb]
            return out
        except Exception as exc:
            log.exception("CLIP analyze failed")
            return {"status": f"unavailable: {self._reason(exc)}", "score": None}


def _features(out: Any) -> Any:
    """The projected features from get_image/text_features in transformers 4.x or 5.x."""
    if hasattr(out, "pooler_output"):  # 5.x: BaseModelOutputWithPooling, projected
        return out.pooler_output
    if isinstance(out, tuple):
        return out[1]
    return out


def load_facestats(spec: HeadSpec, dim: int = 512) -> Any:
    """Verify the pinned SHA-256, then load a FaceStats MLP with `weights_only=True`."""
    import torch

    if not spec.path.is_file():
        raise FileNotFoundError(f"head file not found: {spec.path}")
    digest = sha256_file(spec.path)
    if digest != spec.sha256.lower():
        raise ValueError(f"sha256 mismatch for {spec.path.name}: expected {spec.sha256}, "
                         f"got {digest}; refusing to load")
    state = torch.load(spec.path, map_location="cpu", weights_only=True)
    if not isinstance(state, dict) or set(state) != set(FACESTATS_KEYS):
        raise ValueError(f"{spec.path.name} is not a FaceStats state_dict "
                         f"(keys {sorted(state)[:8] if isinstance(state, dict) else type(state)})")
    for key, shape in FACESTATS_KEYS.items():
        if tuple(state[key].shape) != shape:
            raise ValueError(f"{spec.path.name}: {key} has shape {tuple(state[key].shape)}, "
                             f"expected {shape}")
    if dim != FACESTATS_KEYS["net.0.weight"][1]:
        raise ValueError(f"{spec.name} takes 512-d embeddings; the model gives {dim}-d")
    net = torch.nn.Sequential(torch.nn.Linear(512, 256), torch.nn.ReLU(),
                              torch.nn.Linear(256, 64), torch.nn.ReLU(),
                              torch.nn.Linear(64, 1))
    wrapper = torch.nn.Module()
    wrapper.net = net
    wrapper.load_state_dict(state, strict=True)
    return net.eval()


_BACKEND: ClipBackend | None = None
_BACKEND_LOCK = threading.Lock()


def get_backend() -> ClipBackend:
    """The process-wide backend (configured from the environment). Not started:
    call `get_backend().start()` once at app start-up."""
    global _BACKEND
    with _BACKEND_LOCK:
        if _BACKEND is None:
            _BACKEND = ClipBackend()
        return _BACKEND
