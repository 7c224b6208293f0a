"""Aurum: face analysis on real models, with scores that say what they are.

The run-time library: `engine` (analyze a photo once, score it cheaply under any
config), `live` (the webcam coach), `compare` (rank one person's photos), `config`,
`errors`, `paths`, `health`, with
`measure/` (a face -> numbers) and `analysers/` (the optional models the engine loads).
`tools/` holds the offline commands (`python -m aurum <command>`). The library never
imports Gradio, plotly or the UI: the CLI, the tests and batch jobs run headless.
"""

from aurum.errors import AurumError

__version__ = "0.1.0"

__all__ = ["AurumError", "__version__"]
