"""Aurum: face analysis on real models, with scores that say what they are.

The library never imports Gradio: the CLI, the tests and batch jobs run headless.
"""

from aurum.errors import AurumError

__version__ = "0.1.0"

__all__ = ["AurumError", "__version__"]
