"""Where Aurum finds shared data, its built models and its writable data folder.

Each location can be overridden by an environment variable so CI, Spaces and
developers' machines can lay things out differently without code changes.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

REPO_DIR = Path(__file__).resolve().parent.parent


def shared_dir() -> Path:
    """The read-only shared data (faces, London set), `AURUM_SHARED` or `../shared`."""
    return Path(os.environ.get("AURUM_SHARED", REPO_DIR.parent / "shared")).resolve()


def models_dir() -> Path:
    """Built artefacts committed with the project (`AURUM_MODELS` to override)."""
    return Path(os.environ.get("AURUM_MODELS", REPO_DIR / "models")).resolve()


def data_dir() -> Path:
    """Writable per-deployment data (opt-in store), `AURUM_DATA_DIR` or `./data`."""
    path = Path(os.environ.get("AURUM_DATA_DIR", REPO_DIR / "data")).resolve()
    return path


def reference_dir(default: Path | None = None) -> Path:
    """The reference population's folder: `AURUM_REFERENCE` (a folder written by
    `build-reference --out`), else `default` (the models folder)."""
    env = os.environ.get("AURUM_REFERENCE")
    return Path(env).resolve() if env else Path(default or models_dir()).resolve()


def sha256_file(path: Path) -> str:
    """SHA-256 of a file, read in 1 MiB blocks: the one hash that pins weights files
    and keys photos (feature cache, resumable output) across the project."""
    h = hashlib.sha256()
    with Path(path).open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()
