"""Compare (issue 35): ranking from cached analyses, ties, same person, failed photos.

Four real London photos: person 001 and person 002, each neutral and smiling. The same
analyses are re-ranked under other configs with every model switched off, so a Tune
change provably runs no inference.
"""

from __future__ import annotations

import json
import logging
from dataclasses import replace

import numpy as np
import pytest

from aurum import compare
from aurum.compare import Photo, analyze_photos, check_count, rank, tie_margin
from aurum.config import Config
from aurum.engine import Analysis
from aurum.errors import AurumError
from aurum.paths import models_dir
from tests.conftest import FIXTURES, LONDON, LONDON_SMILING

FOUR = [LONDON[0], LONDON_SMILING[0], LONDON[1], LONDON_SMILING[1]]
NAMES = [f"{p.parent.name}/{p.name}" for p in FOUR]


@pytest.fixture(scope="module")
def cset(engine):
    return analyze_photos(engine, FOUR, NAMES)


@pytest.fixture(scope="module")
def doc(engine, cset):
    return rank(engine, cset, Config())


def test_the_json_has_the_issue_fields(doc):
    assert set(doc) >= {"ranking", "best", "same_person_threshold", "ties", "tie_margin",
                        "tie_rule", "same_person", "config", "timing_ms"}
    assert len(doc["ranking"]) == 4 and doc["ok"] is True
    for e in doc["ranking"]:
        assert set(e) >= {"file", "rank", "final", "same_person", "ok", "reasons"}
        assert isinstance(e["reasons"], list) and e["reasons"]
        assert "score" in e["final"]
    json.dumps(doc, allow_nan=False)


def test_the_other_person_is_shown_apart_and_not_ranked(doc):
    """001's two photos are the set's person (the first photo anchors a 2-2 split);
    002's two are another person: same_person false, no rank, listed after the ranked."""
    sp = {e["file"]: e["same_person"] for e in doc["ranking"]}
    assert sp == {NAMES[0]: True, NAMES[1]: True, NAMES[2]: False, NAMES[3]: False}
    assert doc["same_person"]["anchor"] == NAMES[0]
    assert sorted(doc["same_person"]["different"]) == sorted(NAMES[2:])
    ranked = [e for e in doc["ranking"] if e["rank"] is not None]
    assert {e["file"] for e in ranked} == set(NAMES[:2])
    assert [e["rank"] for e in doc["ranking"][2:]] == [None, None]
    for e in doc["ranking"][2:]:
        assert e["reasons"][0].startswith("not ranked: not the same person")
        assert e["same_person_distance"] > doc["same_person_threshold"]
    assert doc["best"] == ranked[0]["file"]
    scores = [e["final"]["score"] for e in ranked]
    assert scores == sorted(scores, reverse=True)


def test_the_threshold_comes_from_the_calibration_file(doc):
    cal = json.loads((models_dir() / compare.CALIBRATION_FILE).read_text())
    assert doc["same_person_threshold"] == cal["same_person"]["threshold"]
    rates = cal["same_person"]["error_rates"]["london"]
    assert rates["genuine_pairs"] >= 100 and rates["impostor_pairs"] >= 20000
    assert doc["same_person"]["error_rates"] == cal["same_person"]["error_rates"]


def test_a_slider_change_reranks_from_cache_with_no_model(engine, cset, monkeypatch):
    def no_inference(*a, **k):
        raise AssertionError("a model ran during a re-rank")

    monkeypatch.setattr(engine, "analyze", no_inference)
    monkeypatch.setattr(engine.finder, "find", no_inference)
    geo_only = rank(engine, cset, Config.from_dict({"blend_weight": 1.0}))
    attr_only = rank(engine, cset, Config.from_dict({"blend_weight": 0.0}))
    for d in (geo_only, attr_only):
        for e in d["ranking"]:
            if e["ok"]:
                half = "geometric" if d is geo_only else "attractiveness"
                assert e["final"]["score"] == pytest.approx(e[half]["score"], abs=0.01)
    assert geo_only["config"]["blend_weight"] == 1.0
    assert geo_only["tie_margin"] != attr_only["tie_margin"]


def test_the_same_photo_twice_is_a_tie_sharing_rank_one(engine):
    """Identical analyses differ by 0 < the noise: one rank, one tie group."""
    s = analyze_photos(engine, [LONDON[0], LONDON[0]], ["a.jpg", "b.jpg"])
    d = rank(engine, s, Config())
    assert [e["rank"] for e in d["ranking"]] == [1, 1]
    assert d["ties"] == [["a.jpg", "b.jpg"]]
    assert d["ranking"][1]["reasons"][0].startswith("tied with the best")
    assert all(e["same_person"] for e in d["ranking"])
    assert d["ranking"][0]["same_person_distance"] == 0.0


def test_ties_chain_from_the_group_top_with_competition_ranks():
    entries = [{"final": {"score": s}, "file": f, "index": i, "tied_with": []}
               for i, (f, s) in enumerate([("a", 70.0), ("b", 69.5), ("c", 69.0),
                                            ("d", 60.0)])]
    compare._tie_groups(entries, 0.7)
    assert [e["rank"] for e in entries] == [1, 1, 3, 4]  # c is 1.0 below a's top: no tie
    assert entries[0]["tied_with"] == ["b"] and entries[2]["tied_with"] == []
    compare._tie_groups(entries, None)
    assert [e["rank"] for e in entries] == [1, 2, 3, 4]


def test_tie_margin_interpolates_the_measured_table():
    cal = {"tie": {"final_retest_p95": {"0.0": 0.8, "0.5": 0.6, "1.0": 0.7}}}
    assert tie_margin(cal, 0.25) == pytest.approx(0.7)
    assert tie_margin(cal, 1.0) == pytest.approx(0.7)
    assert tie_margin({"status": "unavailable: x"}, 0.6) is None


def test_a_failed_photo_keeps_its_code_in_place(engine, tmp_path):
    cut = tmp_path / "cut.jpg"
    cut.write_bytes(FIXTURES[0].read_bytes()[:4000])
    s = analyze_photos(engine, [LONDON[2], cut, tmp_path / "missing.jpg"],
                       ["ok.jpg", "cut.jpg", "missing.jpg"])
    d = rank(engine, s, Config())
    by = {e["file"]: e for e in d["ranking"]}
    assert by["ok.jpg"]["rank"] == 1 and d["best"] == "ok.jpg"
    assert by["cut.jpg"]["ok"] is False and by["cut.jpg"]["rank"] is None
    assert by["cut.jpg"]["error"]["code"] == "truncated_image"
    assert by["missing.jpg"]["error"]["code"] == "file_not_found"
    assert by["cut.jpg"]["reasons"][0].startswith("not ranked: truncated_image")
    assert by["cut.jpg"]["same_person"] is None


def test_any_ok_false_result_is_handled_generically(engine, cset):
    """A gate added elsewhere (e.g. apparent_minor) answers ok: false with its code:
    Compare needs no change to show it in place."""
    gated = Photo("minor.jpg", Analysis(source=None, error=AurumError(
        "apparent_minor", "This face looks under 18: no score.")))
    s = compare.add_photos(cset, [gated], compare.load_calibration(engine.models))
    d = rank(engine, s, Config())
    e = next(e for e in d["ranking"] if e["file"] == "minor.jpg")
    assert e["ok"] is False and e["rank"] is None and e["final"]["score"] is None
    assert e["error"]["code"] == "apparent_minor"
    assert e["reasons"] == ["not ranked: apparent_minor: This face looks under 18: no score."]
    assert d["ranking"][-1] is e


def test_nothing_rankable_says_so(engine, tmp_path):
    s = analyze_photos(engine, [tmp_path / "a.jpg", tmp_path / "b.jpg"], ["a", "b"])
    d = rank(engine, s, Config())
    assert d["ok"] is False and d["best"] is None and d["error"]["code"] == "nothing_to_rank"


@pytest.mark.parametrize("n", [0, 1, 13])
def test_only_2_to_12_photos(n):
    with pytest.raises(AurumError) as exc:
        check_count(n)
    assert exc.value.code == "bad_photo_count"
    check_count(2)
    check_count(12)


def test_reasons_quote_the_numbers(doc):
    """The smiling photo of 001 against the neutral one, or the reverse: the reasons
    name the expression difference with the mouth-corner lift."""
    ranked = [e for e in doc["ranking"] if e["rank"] is not None]
    second = ranked[1]
    text = " ".join(second["reasons"])
    assert ("tied with the best" in text) or ("below the best" in text)
    if not ranked[0]["expression"]["neutral"] or not second["expression"]["neutral"]:
        assert "smiling (mouth-corner lift" in text or "neutral expression" in text


def test_intervals_for_every_score(doc):
    for e in doc["ranking"]:
        if e["ok"]:
            for key in ("final", "geometric"):
                lo, hi = e[key]["interval"]
                assert lo <= e[key]["score"] <= hi
            lo, hi = e["attractiveness"]["score_interval"]
            assert lo <= e["attractiveness"]["score"] <= hi


def test_descriptors_never_reach_the_json_the_repr_or_a_log(engine, caplog):
    """Neither identity template (dlib's 128-D, faceres' 1024-D) reaches the JSON, a
    repr or a log; both stay in the Photo, out of the Analysis."""
    from tests.analysers.test_descriptor import _floats, _leaks, _leaks_text

    caplog.set_level(logging.DEBUG)
    s = analyze_photos(engine, FOUR[:2], NAMES[:2])
    d = rank(engine, s, Config())
    text = json.dumps(d) + repr(s.photos) + repr(s)
    logs = "\n".join(r.getMessage() for r in caplog.records)
    for p in s.photos:
        assert p.descriptor is not None and p.descriptor.shape == (128,)
        assert p.faceres is not None and p.faceres.shape == (1024,)
        for vec, chance in ((p.descriptor, 16), (p.faceres, 40)):
            assert _leaks(_floats(d), vec) <= chance
            assert _leaks_text(text, vec) <= chance
            assert _leaks_text(logs, vec) == 0
        assert "descriptor" not in vars(p.analysis) and "faceres" not in vars(p.analysis)
    assert "withheld" in repr(s.photos[0])


def test_a_photo_without_faceres_falls_back_to_dlibs_rule_and_says_so(cset):
    """Under a rule that reads faceres ("mean" here; a rebuild picks whichever rule
    separates London best), a photo with no faceres descriptor is judged on dlib's
    distance and dlib's own threshold, and the status names it and the reason."""
    cal = compare.load_calibration(models_dir())
    cal = {**cal, "same_person": {**cal["same_person"], "rule_distance": "mean",
                                  "threshold": 0.6, "dlib_fallback_threshold": 0.35}}
    photos = list(cset.photos)
    photos[1] = replace(photos[1], faceres=None, faceres_status="unavailable: test")
    ident = compare.identify(photos, cal)
    assert ident.same_person == [True, True, False, False]
    assert ident.status.startswith("ok: dlib fallback") and NAMES[1] in ident.status
    assert "unavailable: test" in ident.status
    assert ident.basis == ["mean", "dlib fallback", "mean", "mean"]
    assert ident.thresholds == [0.6, 0.35, 0.6, 0.6]
    dist, thr, basis = compare.pair_matrix(photos, cal)
    assert basis[0][1] == "dlib fallback" and thr[0, 1] == 0.35
    assert dist[0, 1] == pytest.approx(np.linalg.norm(photos[0].descriptor -
                                                      photos[1].descriptor))
    both = compare.rule_distance(np.linalg.norm(photos[0].descriptor - photos[2].descriptor),
                                 np.linalg.norm(photos[0].faceres - photos[2].faceres), "mean")
    assert dist[0, 2] == pytest.approx(both)
    assert compare.identify(list(cset.photos), cal).status == "ok"


def test_threshold_choice_is_stable_under_shuffle_jitter_and_processor_noise():
    """The fitted threshold (the artefact) must not move with input order, 1e-9 jitter
    or cross-processor noise. Cross-processor: a descriptor value moves by SD 1.5e-4
    (README), a distance by about 2e-3 at most; checked on distances drawn like
    London's dlib ones (102 genuine, 20,604 impostor pairs)."""
    from aurum.tools.calibrate_compare import STEP, choose_threshold

    rng = np.random.default_rng(35)
    genuine = rng.normal(0.16, 0.04, 102)
    impostor = rng.normal(0.57, 0.06, 20604)
    t = choose_threshold(genuine, impostor)
    assert np.sum(impostor <= t[0]) <= 20 < np.sum(impostor <= t[1] + 1e-4)  # <= 0.1 %
    assert t[1] - STEP < t[0] < t[1]
    for g, i in ((rng.permutation(genuine), rng.permutation(impostor)),
                 (genuine + 1e-9, impostor - 1e-9)):
        assert choose_threshold(g, i) == t
    noisy = impostor + rng.normal(0, 2e-3, impostor.shape)
    again = choose_threshold(genuine, noisy)
    assert abs(again[0] - t[0]) <= STEP + 1e-9  # one grid step at most, with the noise
    if t[1] - t[0] > 2e-3:  # the committed file's case (test below): it does not move
        assert again[0] == t[0]
    assert np.sum(genuine > again[0]) == np.sum(genuine > t[0])


def test_the_committed_rule_has_the_widest_margin_and_room_above_london_genuine():
    """The committed rule is the candidate with the largest d' on London; at most 0.1 %
    of London's impostor pairs match; no London genuine pair is rejected; the threshold
    sits farther than cross-processor noise (2e-3) below the impostor distance that
    bounds it, and well above London's largest genuine distance (room for photos
    farther apart than London's one-session pairs)."""
    cal = json.loads((models_dir() / compare.CALIBRATION_FILE).read_text())["same_person"]
    cands = cal["candidates_london"]
    assert cands[cal["rule_distance"]]["d_prime"] == max(c["d_prime"] for c in cands.values())
    lon = cal["error_rates"]["london"]
    t = cal["threshold"]
    assert lon["threshold"] == t and lon["false_non_matches"] == 0
    assert lon["false_matches"] <= 0.001 * lon["impostor_pairs"]
    assert cal["threshold_below_impostor_distance"] - t > 2e-3
    assert t - lon["genuine_distance_p50_p95_max"][2] > 0.05
    old = cal["old_rule"]["error_rates"]["london"]
    assert old["threshold"] == 0.305 and old["false_non_matches"] == 0


def test_two_threads_give_what_one_gives(engine, doc):
    """The analyses run two at a time (the engine's face-mesh pool, the descriptor's
    locks): the answer must equal a one-thread run's, timing aside."""
    one = rank(engine, analyze_photos(engine, FOUR, NAMES, workers=1), Config())
    two = {k: v for k, v in doc.items() if k != "timing_ms"}
    assert {k: v for k, v in one.items() if k != "timing_ms"} == two
