#!/usr/bin/env bash
# Rebuild every committed artefact in models/ from the shared data (AURUM_SHARED,
# default ../shared): first the attractiveness model and its card, then the
# reference population, which scores its faces with that model. Both steps are
# deterministic: a re-run reproduces the committed files byte for byte.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-.venv/bin/python}
SHARED=${AURUM_SHARED:-../shared}
"$PY" -m aurum train-attractiveness --data "$SHARED/london" --out models/
"$PY" -m aurum build-reference --faces "$SHARED/faces" --faces "$SHARED/london/neutral_front" \
  --like models/ \
  --out models/
git status --short models/ || true
