"""Code a newcomer can change: short functions, and the library free of the UI."""

from __future__ import annotations

import ast
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
MAX_LINES = 120


def _sources() -> list[Path]:
    skip = {".venv", "tests", "data", ".git"}
    return [p for p in ROOT.rglob("*.py") if not skip & set(p.relative_to(ROOT).parts)]


def test_no_function_over_120_lines_outside_tests():
    long = []
    for path in _sources():
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                n = node.end_lineno - node.lineno + 1
                if n > MAX_LINES:
                    long.append(f"{path.relative_to(ROOT)}:{node.lineno} {node.name} "
                                f"({n} lines)")
    assert not long, long


def _imports(path: Path) -> list[str]:
    """Every module `path` imports, `from aurum import x` counted as `aurum.x`."""
    names: list[str] = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names += [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module:
            names += [node.module, *(f"{node.module}.{a.name}" for a in node.names)]
    return names


def test_the_library_never_imports_the_ui():
    for path in (ROOT / "aurum").rglob("*.py"):
        for name in _imports(path):
            assert not name.startswith(("gradio", "aurum_ui", "app")), (path, name)


# The issue-24 limits for the library and the app (tests and bench aside): a module a
# newcomer reads in one sitting, a function that fits on a screen.
FUNCTION_LIMIT, MODULE_LIMIT = 80, 500


def _app_sources() -> list[Path]:
    return [*(ROOT / "aurum").rglob("*.py"), *(ROOT / "aurum_ui").rglob("*.py"),
            ROOT / "app.py"]


def test_library_and_app_functions_and_modules_are_short():
    long = []
    for path in _app_sources():
        src = path.read_text(encoding="utf-8")
        n_lines = len(src.splitlines())
        if n_lines > MODULE_LIMIT:
            long.append(f"{path.relative_to(ROOT)} ({n_lines} lines)")
        for node in ast.walk(ast.parse(src)):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                n = node.end_lineno - node.lineno + 1
                if n > FUNCTION_LIMIT:
                    long.append(f"{path.relative_to(ROOT)}:{node.lineno} {node.name} ({n})")
    assert not long, long


HTML_TAG = re.compile(r"<(div|span|table|tr|td|p|b|i|br|svg|img|ul|li|h[1-6]|a|style)[ >/]")


def test_the_library_draws_nothing():
    """Presentation lives in aurum_ui/render: the library imports no plotly, no HTML
    escaping, no UI module, and writes no HTML tag (a CLI or batch user gets numbers)."""
    for path in (ROOT / "aurum").rglob("*.py"):
        for name in _imports(path):
            assert not name.startswith(("plotly", "html", "aurum_ui", "gradio")), (path, name)
        src = path.read_text(encoding="utf-8")
        assert not HTML_TAG.search(src), (path, HTML_TAG.search(src).group(0))


def test_the_app_never_imports_the_offline_tools():
    """aurum/tools holds the commands run by hand (training, the reference build, batch
    scoring, benchmarks); the run-time library and the UI must start without them."""
    runtime = [p for p in _app_sources() if "tools" not in p.relative_to(ROOT).parts
               and p.name != "__main__.py"]  # `python -m aurum <command>` is the door to them
    assert len(runtime) > 30
    for path in runtime:
        for name in _imports(path):
            assert not name.startswith("aurum.tools"), (path, name)


def test_every_package_says_what_is_inside():
    """A newcomer reads the folder listing, then each package's docstring."""
    for init in [*(ROOT / "aurum").rglob("__init__.py"), *(ROOT / "aurum_ui").rglob("__init__.py")]:
        doc = ast.get_docstring(ast.parse(init.read_text(encoding="utf-8")))
        assert doc and len(doc) > 40, init


def test_tests_sit_beside_their_package():
    """tests/<package>/ mirrors aurum/<package>/ (and ui for aurum_ui)."""
    for pkg in ("measure", "analysers", "tools"):
        assert (ROOT / "aurum" / pkg).is_dir() and list((ROOT / "tests" / pkg).glob("test_*.py"))
    assert list((ROOT / "tests" / "ui").glob("test_*.py"))
