#!/usr/bin/env bash
# The README's test command: make the venv, install, lint, run every test.
# pytest's exit 5 (no tests collected) is a failure here, never a silent pass.
set -uo pipefail
cd "$(dirname "$0")/.."
# mediapipe 0.10.21 and numpy 1.26 have wheels for CPython 3.9-3.12 only.
PY=$(command -v python3.11 || command -v python3.12 || command -v python3)
"$PY" -c 'import sys; sys.exit(not (3, 9) <= sys.version_info[:2] <= (3, 12))' || {
  echo "Aurum needs Python 3.9-3.12 (mediapipe 0.10.21); found $("$PY" --version)" >&2
  exit 1
}
"$PY" -m venv .venv
.venv/bin/python -m pip install -q --disable-pip-version-check -r requirements-test.txt || exit 1
export HF_HUB_OFFLINE=1
.venv/bin/ruff check . || exit 1
.venv/bin/python -m pytest -q -p no:cacheprovider "$@"
rc=$?
if [ "$rc" -eq 5 ]; then
  echo "pytest collected no tests: failing" >&2
  exit 1
fi
exit "$rc"
