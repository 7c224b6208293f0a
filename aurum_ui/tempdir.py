"""Gradio's private cache folder, set up before Gradio is imported."""

from __future__ import annotations

import atexit
import os
import shutil
import tempfile
from pathlib import Path


def _private_temp_dir() -> Path:
    """Gradio writes uploads and outputs under GRADIO_TEMP_DIR: give it a folder only
    this process can read, removed at exit, so nothing outlives the server."""
    parent = os.environ.get("GRADIO_TEMP_DIR") or None
    if parent:
        Path(parent).mkdir(parents=True, exist_ok=True)
    path = Path(tempfile.mkdtemp(prefix="aurum-gradio-", dir=parent))
    path.chmod(0o700)
    atexit.register(shutil.rmtree, path, True)
    os.environ["GRADIO_TEMP_DIR"] = str(path)
    return path


TEMP_DIR = _private_temp_dir()
os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")  # no phone-home at start-up
