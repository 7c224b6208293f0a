"""faceres: the converted graph equals an independent reading of the TF.js files, it
tells people apart, missing parts are reported, and its descriptor never leaves memory."""

from __future__ import annotations

import base64
import json
import logging
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from aurum.analysers import faceres as fr
from aurum.analysers.faceres import FaceresModel, FaceresOutput, crop, get_model
from aurum.engine import Engine
from aurum.measure.imaging import load_image
from tests.conftest import FIXTURES, LONDON, LONDON_SMILING, loaded_network


@pytest.fixture(scope="module")
def model() -> FaceresModel:
    return loaded_network(get_model(), "faceres")


@pytest.fixture(scope="module")
def eng() -> Engine:
    return Engine(pool_size=1, load_optional=False)


def _chip(eng: Engine, path: Path) -> np.ndarray:
    rgb = load_image(path)
    return crop(rgb, eng.finder.find(rgb).landmarks)


# ---- an independent interpreter of the TF.js graph (shares no code with the port) ----

def _read(folder: Path) -> tuple[list[dict], dict[str, torch.Tensor]]:
    """The nodes and constants, float16 decoded bit by bit (sign, exponent, mantissa)."""
    doc = json.loads((folder / "faceres.json").read_text())
    data = (folder / "faceres.bin").read_bytes()
    consts, pos = {}, 0
    for w in doc["weightsManifest"][0]["weights"]:
        n = int(np.prod(w["shape"])) if w["shape"] else 1
        if w.get("quantization"):
            bits = np.frombuffer(data, "<u2", n, pos).astype(np.int64)
            pos += 2 * n
            exp, man = (bits >> 10) & 31, bits & 1023
            val = np.where(exp == 0, man / 1024.0 * 2.0 ** -14,
                           (1 + man / 1024.0) * 2.0 ** (exp - 15))
            arr = np.where(bits >> 15, -val, val)
        else:
            arr = np.frombuffer(data, "<i4", n, pos).astype(np.float64)
            pos += 4 * n
        consts[w["name"]] = torch.tensor(arr.reshape(w["shape"]), dtype=torch.float64)
    return doc["modelTopology"]["node"], consts


def _same(x: torch.Tensor, k: int, s: int) -> torch.Tensor:
    """NHWC -> padded NCHW, TensorFlow's SAME rule."""
    h = x.shape[1]
    out = -(-h // s)
    tot = max((out - 1) * s + k - h, 0)
    return F.pad(x.permute(0, 3, 1, 2), (tot // 2, tot - tot // 2, tot // 2, tot - tot // 2))


def _depthwise(x: torch.Tensor, w: torch.Tensor, s: int) -> torch.Tensor:
    """Depthwise convolution as k x k shifted products (NCHW in, NHWC out)."""
    k = w.shape[0]
    h_out = (x.shape[2] - k) // s + 1
    acc = torch.zeros(x.shape[0], x.shape[1], h_out, h_out, dtype=x.dtype)
    for i in range(k):
        for j in range(k):
            patch = x[:, :, i:i + s * (h_out - 1) + 1:s, j:j + s * (h_out - 1) + 1:s]
            acc += patch * w[i, j, :, 0][None, :, None, None]
    return acc.permute(0, 2, 3, 1)


def _interpret(nodes: list[dict], t: dict[str, torch.Tensor], chip: np.ndarray
               ) -> tuple[np.ndarray, np.ndarray, float]:
    """Every TF op as written in the graph (no folding), float64."""
    t = dict(t)
    t["input_1"] = torch.tensor(np.asarray(chip, np.float64))[None]
    for n in nodes:
        op, ins, a = n["op"], n.get("input", []), n.get("attr", {})
        if op in ("Const", "Placeholder"):
            continue
        x = t[ins[0]]
        if op in ("Conv2D", "DepthwiseConv2dNative"):
            w, s = t[ins[1]], int(a["strides"]["list"]["i"][1])
            assert base64.b64decode(a["padding"]["s"]) == b"SAME"
            xin = _same(x, w.shape[0], s)
            y = (F.conv2d(xin, w.permute(3, 2, 0, 1), stride=s).permute(0, 2, 3, 1)
                 if op == "Conv2D" else _depthwise(xin, w, s))
        elif op in ("Add", "Mul", "Minimum", "Maximum"):
            f = {"Add": torch.add, "Mul": torch.mul, "Minimum": torch.minimum,
                 "Maximum": torch.maximum}[op]
            y = f(x, t[ins[1]])
        elif op == "Relu":
            y = torch.relu(x)
        elif op == "Mean":
            y = x.mean(dim=(1, 2))
        elif op == "_FusedMatMul":
            y = x @ t[ins[1]] + t[ins[2]]
            if len(a["fused_ops"]["list"]["s"]) == 2:
                y = torch.relu(y)
        elif op == "Sigmoid":
            y = torch.sigmoid(x)
        elif op == "Softmax":
            y = torch.softmax(x, -1)
        else:
            raise AssertionError(f"op {op} not interpreted")
        t[n["name"]] = y
    return (t["global_pooling/Mean"].numpy().ravel(), t["age_pred/Softmax"].numpy().ravel(),
            float(t["gender_pred/Sigmoid"].reshape(-1)[0]))


def test_port_equals_an_independent_run_of_the_graph_within_1e4(model, eng):
    """The OpenCV port (ONNX in memory, batch norms folded) against a plain float64
    interpreter of the upstream graph, op by op, on real and mirrored chips."""
    nodes, consts = _read(fr.weights_dir())
    chip = _chip(eng, FIXTURES[0])
    worst = 0.0
    for c in (chip, np.ascontiguousarray(chip[:, ::-1])):
        d, age, sex = _interpret(nodes, consts, c)
        out = model.compute_chip(c)
        worst = max(worst, float(np.abs(out.values - d).max()),
                    float(np.abs(out.age_probs - age).max()), abs(out.sex - sex))
        assert out.values.shape == (1024,) and float(np.abs(d).max()) > 0.1
    assert worst < 1e-4, worst


@pytest.mark.shared
def test_same_person_neutral_and_smiling_are_nearest(model, eng):
    """Identity sanity on shared London pairs: each neutral photo's nearest smiling
    photo (of 8 people) is the same person's, with a clear gap."""
    idx = (0, 9, 20, 33, 47, 58, 71, 90)
    neutral = np.array([model.compute_chip(_chip(eng, LONDON[i])).normalised() for i in idx])
    smiling = np.array([model.compute_chip(_chip(eng, LONDON_SMILING[i])).normalised()
                        for i in idx])
    sim = neutral @ smiling.T
    assert list(np.argmax(sim, axis=1)) == list(range(len(idx)))
    off = sim[~np.eye(len(idx), dtype=bool)]
    assert np.diag(sim).min() > off.max()


def test_a_mirrored_photo_gives_the_mirrored_chip(eng):
    rgb = load_image(FIXTURES[1])
    a = crop(rgb, eng.finder.find(rgb).landmarks).astype(float)
    flipped = np.ascontiguousarray(rgb[:, ::-1])
    b = crop(flipped, eng.finder.find(flipped).landmarks)[:, ::-1].astype(float)
    # the mesh on the mirrored photo is not the exact mirror of the mesh: a few grey
    # levels on average, far from a shifted or rotated chip (tens)
    assert np.abs(a - b).mean() < 6.0


def test_the_face_only_chip_greys_the_surround_and_is_recorded(eng, monkeypatch):
    """MASK_MARGIN set: the corners (hair, background) are the constant grey, the face's
    centre is the unmasked chip's, and the setting is in `alignment` (so a model fitted
    on the other chip refuses it); off, `alignment` is what earlier models recorded."""
    rgb = load_image(FIXTURES[0])
    lm = eng.finder.find(rgb).landmarks
    monkeypatch.setattr(fr, "MASK_MARGIN", None)
    plain, off = crop(rgb, lm).astype(int), fr.alignment()
    assert set(off) == {"crop_scale", "size", "weights_sha256"}
    monkeypatch.setattr(fr, "MASK_MARGIN", 0.0)
    masked = crop(rgb, lm).astype(int)
    assert fr.alignment()["mask_margin"] == 0.0 and fr.alignment() != off
    for corner in (masked[:20, :20], masked[:20, -20:], masked[-20:, :20], masked[-20:, -20:]):
        assert np.all(corner == fr.MASK_GREY)
    centre = (slice(80, 144), slice(80, 144))  # nose and cheeks: well inside the oval
    assert np.array_equal(masked[centre], plain[centre])
    assert np.abs(plain[:20, :20] - fr.MASK_GREY).mean() > 10  # the photo was not grey


def test_heads_and_mirror_average(model, eng):
    chip = _chip(eng, FIXTURES[2])
    one, both = model.compute_chip(chip), model.compute_chip(chip, mirror_average=True)
    mirror = model.compute_chip(np.ascontiguousarray(chip[:, ::-1]))
    assert np.allclose(both.values, (one.values + mirror.values) / 2)
    assert abs(one.age_probs.sum() - 1) < 1e-5 and 0.0 <= one.sex <= 1.0
    assert 14 < one.age_years < 80


def test_missing_and_altered_files_are_unavailable_with_a_reason(tmp_path):
    m = FaceresModel(folder=tmp_path)
    assert m.load() is False and m.status().startswith("unavailable: ")
    assert "not found" in m.status()
    out, status = m.compute_safe(np.zeros((64, 64, 3), np.uint8), np.zeros((478, 3)))
    assert out is None and status.startswith("unavailable: ")
    for name in fr.SHA256:
        (tmp_path / name).write_bytes(b"not the weights")
    m = FaceresModel(folder=tmp_path)
    assert m.load() is False and "SHA-256" in m.status()
    # a corrupt graph that passes no checksum check still fails with a reason
    m = FaceresModel(folder=tmp_path, check_sha=False)
    assert m.load() is False and m.status().startswith("unavailable: ")


def test_converter_refuses_an_op_it_does_not_read():
    from aurum.analysers.faceres_net import FormatError, onnx_graph

    nodes = [{"name": "input_1", "op": "Placeholder"},
             {"name": "x", "op": "Tanh", "input": ["input_1"]}]
    with pytest.raises(FormatError, match="Tanh"):
        onnx_graph(nodes, {})


def test_a_missing_faceres_says_why_and_withholds_rather_than_scores_unchecked(tmp_path):
    """Missing weights never crash the engine: the status names the reason. The
    adults-only gate reads faceres, so without it a public request gets no score
    (`age_gate_unavailable`, the overlay's landmarks kept); an engine without the gate
    (the offline trainers, adults by declaration) keeps scoring."""
    e = Engine(pool_size=1)
    broken = FaceresModel(folder=tmp_path)
    broken.load()
    e.faceres = broken
    assert e.status()["faceres"].startswith("unavailable: ")
    rep = e.run(FIXTURES[0]).to_dict()
    assert not rep["ok"] and rep["error"]["code"] == "age_gate_unavailable"
    assert not (rep["geometric"] or {}).get("score") and not (rep["final"] or {}).get("score")
    ungated = Engine(pool_size=1, load_optional=False, age_gate=False)
    ungated.faceres = broken
    rep = ungated.run(FIXTURES[0]).to_dict()
    assert rep["ok"] and isinstance(rep["geometric"]["score"], float)


def _hits(numbers: list[float], v: np.ndarray) -> int:
    have = {round(float(x), 4) for x in numbers}
    return max(sum(round(float(x), 4) in have for x in vec if abs(x) > 1e-3)
               for vec in (v, v / np.linalg.norm(v)))


def _numbers(obj) -> list[float]:
    if isinstance(obj, dict):
        return [x for v in obj.values() for x in _numbers(v)]
    if isinstance(obj, (list, tuple)):
        return [x for v in obj for x in _numbers(v)]
    if isinstance(obj, (int, float)) and not isinstance(obj, bool):
        return [float(obj)]
    return []


def test_the_descriptor_and_heads_never_leave_memory(model, caplog):
    """Like dlib's descriptor: not in the Analysis, the report JSON or the logs; its
    repr withholds the values; the age estimate is not reported as a fact."""
    caplog.set_level(logging.DEBUG)
    e = Engine(pool_size=1)
    seen: list[FaceresOutput] = []
    run = e._run_faceres

    def spy(ctx, result):
        run(ctx, result)
        seen.append(ctx.faceres)

    e._run_faceres = spy
    analysis = e.analyze(FIXTURES[3])
    assert analysis.ok and len(seen) == 1 and isinstance(seen[0], FaceresOutput)
    out = seen[0]
    assert not any(isinstance(v, FaceresOutput) for v in vars(analysis).values())
    report = e.score(analysis).to_dict()
    text = json.dumps(report)
    nums = _numbers(report)
    assert _hits(nums, out.values) <= 16, "faceres values in the report"
    assert "faceres" in report["timing_ms"] and "age" not in json.dumps(report["face"])
    shown = repr(out) + str(out) + f"{out}"
    assert "withheld" in shown and not any(f"{v:.4f}" in shown for v in out.values[:50])
    logs = "\n".join(r.getMessage() for r in caplog.records)
    assert not any(f"{v:.4f}" in logs for v in out.values if abs(v) > 1e-3)
    assert "age_years" not in text and "faceres" not in json.dumps(report.get("extra", {}))
