"""Where a photo comes from besides an upload: the bundled example, a webcam frame.

Both end as bytes or a path that `Engine.analyze` reads as it reads an upload, so every
photo takes the same decode path.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np


def example_path() -> Path | None:
    """The public-domain NASA astronaut portrait that scikit-image ships, found without
    importing scikit-image; None when it is not installed (the UI then hides the
    example button and asks for an upload)."""
    try:
        spec = importlib.util.find_spec("skimage")
    except (ImportError, ValueError):
        return None
    if spec is None or spec.origin is None:
        return None
    path = Path(spec.origin).parent / "data" / "astronaut.png"
    return path if path.is_file() else None


def frame_bytes(frame: np.ndarray) -> bytes:
    """Encode a webcam frame (already in memory) as PNG bytes in memory, so a captured
    frame takes the same decode path as an upload."""
    import cv2

    ok, buf = cv2.imencode(".png", cv2.cvtColor(np.asarray(frame, dtype=np.uint8),
                                                cv2.COLOR_RGB2BGR))
    return buf.tobytes() if ok else b""
