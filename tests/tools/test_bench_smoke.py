"""`python -m aurum bench --quick` runs end to end and reports every figure.

No timing is asserted here (targets belong to the bench, not to CI); this only
checks that the bench measures what bench/README.md says it measures.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from aurum.paths import REPO_DIR

pytestmark = pytest.mark.shared  # the bench times the shared faces

STAGES = {"decode", "detect_mesh", "pose", "geometry", "quality"}


@pytest.mark.slow
@pytest.mark.timeout(600)
def test_quick_bench_prints_the_table_and_writes_json(tmp_path: Path):
    out = tmp_path / "bench.json"
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    proc = subprocess.run([sys.executable, "-m", "aurum", "bench", "--quick", "--json", str(out)],
                          cwd=REPO_DIR, env=env, capture_output=True, text=True, timeout=540)
    assert proc.returncode == 0, proc.stderr[-3000:]
    for label in ("analyze+score (end to end)", "bare FaceMesh.process", "bare faceres",
                  "slider re-score",
                  "RSS MB over analyze+score loop", "CLI batch", "London 1350x1350",
                  "12 MP phone JPEG", "target"):
        assert label in proc.stdout, label
    r = json.loads(out.read_text())
    assert set(r) >= {"meta", "all", "london", "slider", "memory", "cli", "targets"}
    for part in ("all", "london"):
        block = r[part]
        assert block["images"] > 0 and block["answered_ok"] == block["images"]
        assert block["bare_found"] == block["images"]
        for key in ("analyze_ms", "score_ms", "e2e_ms", "bare_mesh_ms", "e2e_cpu_ms"):
            assert block[key]["n"] == block["images"]
            assert 0 < block[key]["p50"] <= block[key]["p95"]
        assert set(block["stages_ms"]) >= STAGES
        # faceres is shipped: timed bare on every found mesh, and a model pass of the
        # pipeline (the means add up: the passes' mean holds both network stages')
        assert block["bare_faceres_ms"]["n"] == block["images"]
        stages = block["stages_ms"]
        assert block["pipeline_models_ms"]["mean"] >= (stages["descriptor"]["mean"]
                                                       + stages["faceres"]["mean"]) - 0.01
        assert block["ratio_p50"] > 0 and block["cpu_ratio_p50"] > 0
    assert r["london"]["images"] == r["meta"]["london"]
    phone = r["phone"]  # decoded, turned upright by its EXIF tag, and answered
    assert phone["images"] == 2 and phone["answered_ok"] == 2
    assert phone["size"] == [4032, 3024] and phone["e2e_ms"]["n"] == 2
    assert set(phone["stages_ms"]) >= STAGES
    assert r["slider"]["ms"]["n"] >= 100 and r["slider"]["distinct_final_scores"] > 1
    mem = r["memory"]
    assert len(mem["at"]) == 3 and all(v > 0 for v in mem["at"].values())
    cli = r["cli"]
    assert cli["exit_code"] == 0 and cli["lines"] == cli["images"] == cli["ok"]
    assert cli["images_per_s"] > 0
    keys = {t["key"] for t in r["targets"]}
    assert keys == {"ratio_e2e_to_bare_mesh", "ratio_e2e_to_pipeline_models",
                    "cpu_ratio_e2e_to_bare_mesh", "london_e2e_p95_ms", "slider_p50_ms",
                    "rss_growth_mb"}
    assert all(isinstance(t["met"], bool) for t in r["targets"])
