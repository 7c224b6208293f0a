#!/usr/bin/env bash
# One-off: lay `aurum/` out in packages by role, then delete this script.
#
#   aurum/            the run-time library: engine, live coach, config, errors, paths
#   aurum/measure/    a face -> numbers: image, landmarks, pose, geometry, quality, ...
#   aurum/analysers/  the optional analysers the engine loads: models, population, store
#   aurum/tools/      offline commands run by hand: cli, training, reference build, ...
#   aurum_ui/render/  presentation (HTML cards, overlays, plotly specs): UI side only
#   tests/<package>/  the tests of each package (measure, analysers, tools, ui)
#
# It moves files with `git mv`, rewrites imports (`from aurum import x`,
# `aurum.x`, `aurum/x.py`) in code, tests, benches, scripts and docs, sorts the
# imports with ruff and checks the result imports. Run it once, from a clean tree,
# after every branch is merged; commit; `git rm scripts/relayout.sh`.
# It stops before touching anything when a module is missing, when a top-level
# module is not placed below, or when the tree is dirty or already laid out.
set -euo pipefail
cd "$(dirname "$0")/.."

PY=${PY:-.venv/bin/python}
RUFF=${RUFF:-.venv/bin/ruff}

if [ -n "$(git status --porcelain --untracked-files=no)" ]; then
  echo "relayout: the work tree has uncommitted changes; commit or stash them first" >&2
  exit 1
fi
if [ -d aurum/measure ] || [ -d aurum/tools ] || [ -d aurum_ui/render ]; then
  echo "relayout: already laid out (aurum/measure, aurum/tools or aurum_ui/render exists)" >&2
  exit 1
fi

"$PY" - <<'PYEOF'
"""Plan, move and rewrite. Stops before the first move if the plan does not fit."""
import ast
import re
import subprocess
import sys
from pathlib import Path

# old module (aurum.<name>) -> new dotted module. `?` marks a module that exists only
# once a given branch is merged (skipped with a note when absent).
STAY = {"__init__", "__main__", "errors", "paths", "config", "engine", "live", "health?"}
MOVES = {
    # measure: a face -> numbers, no learned model
    "imaging": "aurum.measure.imaging",
    "landmarks": "aurum.measure.landmarks",
    "landmark_names": "aurum.measure.landmark_names",
    "pose": "aurum.measure.pose",
    "canonical": "aurum.measure.canonical",
    "crop": "aurum.measure.crop",
    "face_measures": "aurum.measure.face_measures",
    "geometric_components": "aurum.measure.geometric_components",
    "geometry": "aurum.measure.geometry",
    "quality_metrics": "aurum.measure.quality_metrics",
    "quality": "aurum.measure.quality",
    "appearance": "aurum.measure.appearance",
    "shape": "aurum.measure.shape",
    "spec_registry": "aurum.measure.spec_registry",
    # analysers: optional, loaded once by the engine
    "attractiveness": "aurum.analysers.attractiveness",
    "descriptor": "aurum.analysers.descriptor",
    "descriptor_net": "aurum.analysers.descriptor_net",
    "clip_backend": "aurum.analysers.clip_backend",
    "population": "aurum.analysers.population",
    "store": "aurum.analysers.store",
    # tools: offline commands (python -m aurum <command>)
    "cli": "aurum.tools.cli",
    "batch?": "aurum.tools.batch",
    "ray_runner?": "aurum.tools.ray_runner",
    "train_multiset?": "aurum.tools.train_multiset",
    "train_attractiveness": "aurum.tools.train_attractiveness",
    "rated_sets?": "aurum.tools.rated_sets",
    "build_reference": "aurum.tools.build_reference",
    "retest": "aurum.tools.retest",
    "bench": "aurum.tools.bench",
    "model_card": "aurum.tools.model_card",
    # presentation: the UI side
    "render": "aurum_ui.render",
    "render_overlay": "aurum_ui.render.overlay",
    "render_cards": "aurum_ui.render.cards",
    "render_figures": "aurum_ui.render.figures",
}
PACKAGES = {
    "aurum/measure": "What is measured on a face: image decoding, landmarks, pose, the "
                     "geometric components\nand the quality metrics (each a spec with "
                     "its formula), appearance and shape.\nNo learned model, no UI.",
    "aurum/analysers": "The optional analysers `Engine` loads once (each can be missing "
                       "and says why):\nthe face descriptor, the attractiveness model, "
                       "CLIP, the reference population\nand its opt-in store.",
    "aurum/tools": "Offline commands, run by hand or by `python -m aurum <command>`: "
                   "scoring files,\ntraining the attractiveness model, building the "
                   "reference, retest figures,\nbenchmarks and the model card. The app "
                   "never imports them.",
}
DIRS = {"aurum/templates": "aurum/tools/templates"}  # model_card's template
# Tests sit in a folder per package (the engine-wide ones stay in tests/). A test file
# another branch renamed or removed is skipped with a note; conftest.py stays on top.
TEST_MOVES = {
    "test_canonical": "measure", "test_imaging": "measure", "test_specs": "measure",
    "test_attractiveness": "analysers", "test_descriptor": "analysers",
    "test_clip_backend": "analysers", "test_population": "analysers",
    "test_store": "analysers", "test_population_cache": "analysers",
    "test_cli": "tools", "test_retest": "tools", "test_model_card": "tools",
    "test_bench_smoke": "tools", "test_batch": "tools",
    "test_multiset": "tools", "test_heic": "measure", "test_health": "ui",
    "test_upload_limits": "ui", "test_reference_app": "ui",
    "test_ui_handlers": "ui", "test_app_browser": "ui", "test_api": "ui",
}
TEST_RENAMES = {"test_core": "test_engine"}  # the engine's own tests, by its name

root = Path.cwd()
present = {p.stem for p in (root / "aurum").glob("*.py")}

# ---- plan: every top-level module placed, every required source present
placed, missing, skipped = {}, [], []
mods: dict[str, str] = {}
for key, new in MOVES.items():
    name, optional = key.rstrip("?"), key.endswith("?")
    if name in present:
        placed[name] = new
    elif optional:
        skipped.append(name)
    else:
        missing.append(f"aurum/{name}.py")
stay = {s.rstrip("?") for s in STAY}
missing += [f"aurum/{s}.py" for s in STAY if not s.endswith("?") and s not in present]
unplaced = sorted(present - stay - set(placed))
if missing or unplaced:
    for m in missing:
        print(f"relayout: missing source {m}", file=sys.stderr)
    for u in unplaced:
        print(f"relayout: aurum/{u}.py is not placed: add it to STAY or MOVES in "
              "scripts/relayout.sh", file=sys.stderr)
    sys.exit(1)
for old, new in DIRS.items():
    if not (root / old).is_dir():
        print(f"relayout: missing folder {old}", file=sys.stderr)
        sys.exit(1)


def new_path(dotted: str, package: bool) -> str:
    """Where a dotted module lives (a package's is its __init__.py)."""
    return dotted.replace(".", "/") + ("/__init__.py" if package else ".py")


packages_made = {v.rsplit(".", 1)[0] for v in placed.values() if v != "aurum_ui.render"}
packages_made.add("aurum_ui.render")

# ---- move
mods.update({f"aurum.{k}": v for k, v in placed.items()})
for pkg in sorted(packages_made):
    d = root / pkg.replace(".", "/")
    d.mkdir(parents=True, exist_ok=False)
for pkg_dir, doc in PACKAGES.items():
    init = root / pkg_dir / "__init__.py"
    init.write_text(f'"""{doc}\n"""\n')
    subprocess.run(["git", "add", str(init)], check=True)
for name, new in sorted(placed.items()):
    dst = new_path(new, package=new == "aurum_ui.render")
    subprocess.run(["git", "mv", f"aurum/{name}.py", dst], check=True)
    print(f"moved  aurum/{name}.py -> {dst}")
for old, new in DIRS.items():
    subprocess.run(["git", "mv", old, new], check=True)
    print(f"moved  {old}/ -> {new}/")
for name in skipped:
    print(f"skip   aurum/{name}.py (not in this tree: its branch is not merged)")
test_paths = {}
for name, pkg in TEST_MOVES.items():
    src = root / "tests" / f"{name}.py"
    if not src.exists():
        print(f"skip   tests/{name}.py (not in this tree)")
        continue
    (root / "tests" / pkg).mkdir(exist_ok=True)
    init = root / "tests" / pkg / "__init__.py"
    if not init.exists():
        init.write_text("")
        subprocess.run(["git", "add", str(init)], check=True)
    subprocess.run(["git", "mv", str(src), f"tests/{pkg}/{name}.py"], check=True)
    test_paths[f"tests/{name}.py"] = f"tests/{pkg}/{name}.py"
    mods[f"tests.{name}"] = f"tests.{pkg}.{name}"
    print(f"moved  tests/{name}.py -> tests/{pkg}/{name}.py")
for name, new in TEST_RENAMES.items():
    if (root / "tests" / f"{name}.py").exists():
        subprocess.run(["git", "mv", f"tests/{name}.py", f"tests/{new}.py"], check=True)
        test_paths[f"tests/{name}.py"] = f"tests/{new}.py"
        mods[f"tests.{name}"] = f"tests.{new}"
        print(f"moved  tests/{name}.py -> tests/{new}.py")

# ---- rewrite
paths = {f"aurum/{k}.py": ("aurum_ui/render/" if v == "aurum_ui.render"
                           else new_path(v, False)) for k, v in placed.items()}
paths.update({f"{o}/": f"{n}/" for o, n in DIRS.items()})
paths.update(test_paths)
# (?![\w/]): a format tag such as "aurum.attractiveness/2" names a file format, not a module
dotted_re = re.compile(r"(?<![\w.])(" + "|".join(
    re.escape(m) for m in sorted(mods, key=len, reverse=True)) + r")(?![\w/])")
path_re = re.compile(r"(?<![\w/.])(" + "|".join(
    re.escape(p) for p in sorted(paths, key=len, reverse=True)) + r")")


def rewrite_from_aurum(src: str) -> str:
    """`from aurum import a, b as c` -> one statement per target package."""
    tree = ast.parse(src)
    lines = src.splitlines(keepends=True)
    edits = []
    for node in ast.walk(tree):
        if not (isinstance(node, ast.ImportFrom) and node.module == "aurum"
                and node.level == 0):
            continue
        if not any(f"aurum.{a.name}" in mods for a in node.names):
            continue
        groups: dict[str, list[str]] = {}
        for a in node.names:
            target = mods.get(f"aurum.{a.name}", f"aurum.{a.name}")
            pkg, mod = target.rsplit(".", 1)
            alias = a.asname or (a.name if mod != a.name else None)
            groups.setdefault(pkg, []).append(f"{mod} as {alias}" if alias else mod)
        first = lines[node.lineno - 1]
        indent = first[:len(first) - len(first.lstrip())]
        comment = ""
        last = lines[node.end_lineno - 1]
        if "#" in last:
            comment = "  " + last[last.index("#"):].rstrip("\n")
        stmts = [f"{indent}from {pkg} import {', '.join(names)}{comment}\n"
                 for pkg, names in groups.items()]
        edits.append((node.lineno, node.end_lineno, "".join(stmts)))
    for start, end, text in sorted(edits, reverse=True):
        lines[start - 1:end] = [text]
    return "".join(lines)


skip_parts = {".venv", ".git", "data", "node_modules", "__pycache__"}
targets = [p for p in root.rglob("*") if p.is_file()
           and not skip_parts & set(p.relative_to(root).parts)
           and (p.suffix in {".py", ".md", ".sh", ".j2", ".toml", ".txt", ".cfg"}
                or p.relative_to(root).as_posix() == ".ci/run")
           and p.relative_to(root).as_posix() != "scripts/relayout.sh"]
changed = []
for p in targets:
    try:
        text = p.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        continue
    new = text
    if p.suffix == ".py":
        new = rewrite_from_aurum(new)
    new = dotted_re.sub(lambda m: mods[m.group(1)], new)
    new = path_re.sub(lambda m: paths[m.group(1)], new)
    if new != text:
        p.write_text(new, encoding="utf-8")
        changed.append(p.relative_to(root).as_posix())

# data files found next to a module that moved one level down
geo = root / "aurum/measure/geometry.py"
g = geo.read_text()
old = 'Path(__file__).with_name("data")'
if old not in g:
    print("relayout: aurum/measure/geometry.py no longer reads its data as expected",
          file=sys.stderr)
    sys.exit(1)
geo.write_text(g.replace(old, 'Path(__file__).resolve().parent.parent / "data"'))
changed.append("aurum/measure/geometry.py")
# a moved test that finds the repository from its own path is one folder deeper
for new in test_paths.values():
    p = root / new
    t = p.read_text()
    if new.count("/") == 2 and "Path(__file__).resolve().parent.parent" in t:
        p.write_text(t.replace("Path(__file__).resolve().parent.parent",
                               "Path(__file__).resolve().parents[2]"))
        changed.append(new)
print(f"rewrote {len(set(changed))} files: " + " ".join(sorted(set(changed))))
PYEOF

# imports sorted again (their module paths changed), then the whole tree checked
"$RUFF" check --fix --select I --quiet . || true
"$RUFF" check .

# the library runs headless: no UI, no plotly, no HTML builder left in aurum/
if grep -rnE "^\s*(from|import) (aurum_ui|gradio|plotly)|aurum_ui\.render" aurum/; then
  echo "relayout: aurum/ still imports presentation code (above)" >&2
  exit 1
fi
"$PY" -c "import aurum.engine, aurum.live, aurum.tools.cli, aurum_ui.blocks, aurum_ui.render"
"$PY" -m aurum config >/dev/null
echo "relayout: done (moves staged, rewrites not). Review git status, run the core suite,"
echo "commit, then: git rm scripts/relayout.sh"
