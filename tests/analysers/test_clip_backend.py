"""The CLIP backend through its real loading path, on tiny random models (no network).

A tiny `CLIPModel` (projection_dim 512 so the FaceStats head fits), a tiny CLIP
tokenizer and the CLIP image processor are saved to a temp folder and loaded by the
same `ClipBackend` code that loads `openai/clip-vit-base-patch32` on Spaces.
"""

from __future__ import annotations

import math
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest

from aurum.analysers import clip_backend as cb
from aurum.measure.crop import aligned_face
from tests.conftest import FIXTURES

torch = pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")

BOS, EOS = "<|startoftext|>", "<|endoftext|>"


def _tiny_tokenizer():
    """A character-level CLIP BPE tokenizer covering the prompts (no merges, no download)."""
    chars = sorted(set("".join(cb.POSITIVE_PROMPTS + cb.NEGATIVE_PROMPTS).lower()) - {" "})
    vocab = {BOS: 0, EOS: 1}
    for c in chars:
        vocab.setdefault(c, len(vocab))
        vocab.setdefault(c + "</w>", len(vocab))
    return transformers.CLIPTokenizer(vocab=vocab, merges=[]), len(vocab)


def _save_tiny(folder: Path, *, projection_dim: int = 512, with_tokenizer: bool = True) -> Path:
    tok, n_vocab = _tiny_tokenizer()
    small = dict(hidden_size=32, intermediate_size=64, num_hidden_layers=1,
                 num_attention_heads=2)
    cfg = transformers.CLIPConfig(
        text_config=dict(small, vocab_size=n_vocab, max_position_embeddings=77,
                         bos_token_id=0, eos_token_id=1, pad_token_id=1),
        vision_config=dict(small, image_size=224, patch_size=32),
        projection_dim=projection_dim)
    torch.manual_seed(0)
    transformers.CLIPModel(cfg).save_pretrained(folder)
    if with_tokenizer:
        proc = transformers.CLIPProcessor(image_processor=transformers.CLIPImageProcessorPil(),
                                          tokenizer=tok)
        proc.save_pretrained(folder)
    return folder


@pytest.fixture(scope="module")
def tiny_dir(tmp_path_factory) -> Path:
    return _save_tiny(tmp_path_factory.mktemp("tiny_clip"))


@pytest.fixture(scope="module")
def face():
    from aurum.measure.imaging import load_image
    from aurum.measure.landmarks import FaceFinder

    finder = FaceFinder(pool_size=1)
    out = []
    for path in FIXTURES[:3]:
        rgb = load_image(path)
        out.append((rgb, finder.find(rgb).landmarks))
    return out


class _GatedBackend(cb.ClipBackend):
    """The real backend, held in its loader until the test opens the gate."""

    def __init__(self, *a, **kw):
        super().__init__(*a, **kw)
        self.gate = threading.Event()

    def _load(self):
        assert self.gate.wait(30)
        return super()._load()


@pytest.fixture(scope="module")
def ready(tiny_dir) -> cb.ClipBackend:
    b = cb.ClipBackend(tiny_dir, heads=[cb.known_head("facestats_v1")]).start()
    assert b.wait(120).startswith("ready"), b.status()
    return b


def test_import_and_get_backend_do_not_import_torch():
    code = ("import sys, aurum, aurum.analysers.clip_backend as c; b = c.get_backend(); "
            "assert b is c.get_backend(); print(b.status()); "
            "print('torch' in sys.modules, 'transformers' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True, cwd=Path(__file__).resolve().parents[2]).stdout
    assert out.split("\n")[:2] == ["unavailable: not started", "False False"]


@pytest.mark.shared  # the FaceStats head sample is in ../shared/models
def test_status_goes_loading_then_ready(tiny_dir, face):
    b = _GatedBackend(tiny_dir, heads=[cb.known_head("facestats_v1")])
    assert b.status() == "unavailable: not started"
    b.start()  # returns while the load is held at the gate: start never waits for it
    assert b.status() == "loading"
    rgb, lm = face[0]
    assert b.analyze(rgb, lm) == {"status": "loading", "score": None}
    b.gate.set()
    assert b.wait(120) == f"ready: {tiny_dir}"
    assert b.start() is b and b.status().startswith("ready")  # idempotent
    d = b.describe()
    assert d["embedding_dim"] == 512 and d["default_head"] == "zero_shot"
    assert d["heads"]["facestats_v1"]["status"] == "ok"
    assert d["heads"]["zero_shot"]["status"] == "ok"


def test_embedding_of_a_face_is_normalised(ready, face):
    rgb, lm = face[0]
    e = ready.embed(rgb, lm)
    assert e.shape == (512,) and e.dtype == np.float32
    assert abs(float(np.linalg.norm(e)) - 1.0) < 1e-5
    # the same numbers as the library's own pipeline on the shared crop
    crop = aligned_face(rgb, lm, size=224)
    model = transformers.CLIPModel.from_pretrained(ready.model_name)
    proc = transformers.CLIPImageProcessorPil.from_pretrained(ready.model_name)
    with torch.no_grad():
        ref = cb._features(model.get_image_features(
            pixel_values=proc(images=crop, return_tensors="pt")["pixel_values"]))[0]
    ref = (ref / ref.norm()).numpy()
    assert np.allclose(e, ref, atol=1e-5)
    # batching does not change an embedding; different faces differ
    crops = [aligned_face(r, m, size=224) for r, m in face]
    batch = ready.embed_crops(crops)
    assert batch.shape == (3, 512)
    assert np.allclose(batch[0], e, atol=1e-5)
    assert np.allclose(np.linalg.norm(batch, axis=1), 1.0, atol=1e-5)
    assert not np.allclose(batch[0], batch[1])


@pytest.mark.shared  # the FaceStats head sample is in ../shared/models
def test_analyze_returns_every_head(ready, face):
    rgb, lm = face[0]
    r = ready.analyze(rgb, lm)
    assert r["status"] == "ok" and r["model"] == ready.model_name
    assert r["embedding_dim"] == 512
    assert r["score"] is None and r["default_head"] == "zero_shot"
    assert set(r["heads"]) == {"zero_shot", "facestats_v1"}
    for name, h in r["heads"].items():
        assert h["status"] == "ok", name
        assert math.isfinite(h["raw"]) and 0.0 <= h["score"] <= 100.0
        assert h["validated"] is False
    zs, fs = r["heads"]["zero_shot"], r["heads"]["facestats_v1"]
    assert zs["provenance"] == "zero-shot CLIP prompt contrast; not validated against " \
                               "human ratings"
    assert fs["provenance"] == "FaceStats v1: trained on file-name-hash pseudo-labels; " \
                               "carries no information"
    # the documented zero-shot rule: 100 * sigmoid(s * raw), s = the model's logit scale
    s = min(math.exp(2.6592), 100.0)  # the tiny model's untrained logit_scale
    assert zs["score"] == pytest.approx(100 / (1 + math.exp(-s * zs["raw"])), abs=0.01)
    # FaceStats: 100 * Phi((raw - 1.25) / 0.10)
    z = (fs["raw"] - 1.25) / 0.10
    assert fs["score"] == pytest.approx(50 * (1 + math.erf(z / math.sqrt(2))), abs=0.01)
    assert "embedding" not in r
    assert len(ready.analyze(rgb, lm, return_embedding=True)["embedding"]) == 512
    import json

    json.dumps(r)  # the report is plain JSON


def test_analyze_never_raises(ready):
    r = ready.analyze(np.zeros((10, 10, 3), np.uint8), np.zeros((3, 2)))
    assert r["status"].startswith("unavailable:") and r["score"] is None


@pytest.mark.shared  # the FaceStats head sample is in ../shared/models
def test_facestats_head_pinned_and_weights_only(monkeypatch):
    spec = cb.known_head("facestats_v1")
    assert cb.sha256_file(spec.path) == cb.KNOWN_HEADS["facestats_v1"]["sha256"]
    assert spec.validated is False
    calls = []
    real_load = torch.load

    def spy(*a, **kw):
        calls.append(kw.get("weights_only"))
        return real_load(*a, **kw)

    monkeypatch.setattr(torch, "load", spy)
    net = cb.load_facestats(spec)
    assert calls == [True]
    e = torch.nn.functional.normalize(torch.randn(4, 512), dim=-1)
    with torch.no_grad():
        out = net(e)
    assert out.shape == (4, 1) and torch.isfinite(out).all()


def test_head_path_from_env(monkeypatch, tmp_path):
    monkeypatch.setenv("AURUM_FACESTATS_HEAD", str(tmp_path / "h.pt"))
    assert cb.default_heads()[0].path == tmp_path / "h.pt"
    monkeypatch.delenv("AURUM_FACESTATS_HEAD")
    assert cb.default_heads()[0].path.name == "facestats_regressor_v1.pt"


@pytest.mark.shared  # the FaceStats head sample is in ../shared/models
def test_wrong_sha256_is_refused(tiny_dir, face, monkeypatch):
    good = cb.known_head("facestats_v1")
    bad = cb.HeadSpec(name="tampered", path=good.path, sha256="0" * 64,
                      provenance="test", validated=False)
    loads = []
    monkeypatch.setattr(torch, "load", lambda *a, **kw: loads.append(a) or {})
    with pytest.raises(ValueError, match="sha256 mismatch"):
        cb.load_facestats(bad)
    assert loads == []  # refused before anything is unpickled
    monkeypatch.undo()
    b = cb.ClipBackend(tiny_dir, heads=[bad, good]).start()
    assert b.wait(120).startswith("ready")
    r = b.analyze(*face[0])
    h = r["heads"]["tampered"]
    assert h["score"] is None and h["status"].startswith("unavailable: sha256 mismatch")
    assert "refusing to load" in h["status"]
    assert r["heads"]["facestats_v1"]["status"] == "ok"  # the others still work


def test_offline_hub_id_is_unavailable_fast(monkeypatch, tmp_path, face):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    b = cb.ClipBackend(cb.DEFAULT_MODEL, cache_dir=tmp_path / "empty_cache")
    t0 = time.perf_counter()
    b.start()
    rgb, lm = face[0]
    r = b.analyze(rgb, lm)  # whatever the state, a dict at once
    assert r["score"] is None and isinstance(r["status"], str)
    status = b.wait(60)
    # Not a speed target: without HF_HUB_OFFLINE the hub is retried for ~30 s; with it
    # the lookup fails at once, and torch is never imported for a model that is absent.
    assert time.perf_counter() - t0 < 20
    assert status.startswith("unavailable:") and "HF_HUB_OFFLINE" in status, status
    r = b.analyze(rgb, lm)
    assert r == {"status": status, "score": None}


def test_missing_folder_and_disabled(monkeypatch, tmp_path):
    b = cb.ClipBackend(str(tmp_path / "nope" / "model")).start()
    assert b.wait(60) == f"unavailable: model folder not found: {tmp_path / 'nope' / 'model'}"
    monkeypatch.setenv("AURUM_CLIP", "0")
    d = cb.ClipBackend().start()
    assert d.wait(1) == "unavailable: disabled (AURUM_CLIP=0)"
    assert d.analyze(np.zeros((4, 4, 3), np.uint8), np.zeros((478, 3)))["score"] is None


@pytest.mark.shared  # the FaceStats head sample is in ../shared/models
def test_model_without_tokenizer_and_other_dim(tmp_path, face):
    folder = _save_tiny(tmp_path / "m64", projection_dim=64, with_tokenizer=False)
    b = cb.ClipBackend(folder, heads=[cb.known_head("facestats_v1")]).start()
    assert b.wait(120).startswith("ready")
    r = b.analyze(*face[0])
    assert r["status"] == "ok" and r["embedding_dim"] == 64
    assert r["heads"]["zero_shot"]["status"].startswith("unavailable: no usable tokenizer")
    assert "512-d" in r["heads"]["facestats_v1"]["status"]
    assert all(h["score"] is None for h in r["heads"].values())


def test_ready_backend_reaches_the_report_labelled_and_unblended(ready, face, monkeypatch):
    """End to end through the engine and the UI's renderer: the heads appear with their
    provenance, marked not validated, and the final score does not move."""
    from aurum.engine import Engine
    from aurum_ui import render

    engine = Engine()
    rgb, _ = face[0]
    monkeypatch.setattr("aurum.engine.get_backend", lambda: ready)
    report = engine.run(rgb).to_dict()
    clip = report["attractiveness"]["clip"]
    assert clip["status"] == "ok" and clip["score"] is None
    assert set(clip["heads"]) >= {"zero_shot", "facestats_v1"}
    assert report["final"]["score"] == pytest.approx(
        0.6 * report["geometric"]["score"] + 0.4 * report["attractiveness"]["score"], abs=0.01)
    page = render.score_cards_html(report)
    assert 'id="clip-heads"' in page and "not part of the score" in page
    assert "not validated" in page and "carries no information" in page
