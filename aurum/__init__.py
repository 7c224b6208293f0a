"""Aurum: face analysis on real models, with scores that say what they are.

The public face, in the way `face_recognition.face_encodings(img)` is one line:

    from aurum import Engine, Config

    engine = Engine()                      # loads the models once (about a second)
    report = engine.run("photo.jpg")       # analyze + score; never raises for a bad photo
    report.to_dict()["final"]["score"]     # the JSON the CLI prints (docs/api.md)

    analysis = engine.analyze("photo.jpg")               # every model, once
    engine.score(analysis, Config(blend_weight=1.0))      # re-scored in milliseconds

`Engine`, `Config`, `Analysis`, `Report` and `AurumError` are the public names; they
load on first use, so `import aurum.errors` (or the CLI's `config` command) does not
pay for the face models. Inside: `engine` (analyze once, score cheaply under any
config), `live` (the webcam coach), `compare` (rank one person's photos), `config`,
`errors`, `paths`, `health`, with
`measure/` (a face -> numbers) and `analysers/` (the optional models the engine loads).
`tools/` holds the offline commands (`python -m aurum <command>`). The library never
imports Gradio, plotly or the UI: the CLI, the tests and batch jobs run headless.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from aurum.errors import AurumError

if TYPE_CHECKING:
    from aurum.config import Config
    from aurum.engine import Analysis, Engine, Report

__version__ = "0.1.0"

__all__ = ["Analysis", "AurumError", "Config", "Engine", "Report", "__version__"]


def __getattr__(name: str) -> Any:
    """The engine and its types, imported when first asked for (PEP 562)."""
    if name == "Config":
        from aurum.config import Config

        return Config
    if name in ("Engine", "Analysis", "Report"):
        from aurum import engine

        return getattr(engine, name)
    raise AttributeError(f"module 'aurum' has no attribute {name!r}")
