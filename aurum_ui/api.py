"""The hidden `/score` API endpoint: an image (+ optional config JSON) in, the CLI's
JSON out. Not a tab: its components are invisible."""

from __future__ import annotations

import time
from typing import Any

import gradio as gr

from aurum.config import Config
from aurum.engine import Engine
from aurum.errors import AurumError
from aurum.measure.imaging import Refused
from aurum_ui.state import record
from aurum_ui.uploads import PrivateImage
from aurum_ui.wiring import UI


def api_score(engine: Engine, image: bytes | Refused | None, config_json: str = ""
              ) -> dict[str, Any]:
    """Score one image: the same JSON object the CLI prints (`file` is null).
    `config_json` is optional: the file the Tune tab exports / the CLI's --config."""
    t0 = time.perf_counter()
    try:
        cfg = Config.from_json(config_json) if (config_json or "").strip() else Config()
    except AurumError as exc:
        return {"file": None, "ok": False, "error": exc.to_dict()}
    analysis = engine.analyze(image)
    report = engine.score(analysis, cfg).to_dict()
    report["file"] = None
    record("api", analysis, t0)
    return report


def build(ui: UI) -> None:
    ui.add("api-image", PrivateImage(visible=False, type="numpy", image_mode=None,
                                     sources=["upload"]))
    ui.add("api-config", gr.Textbox(value="", visible=False))
    ui.add("api-json", gr.JSON(visible=False))
    ui.add("api-button", gr.Button(visible=False))


def wire(ui: UI, engine: Engine) -> None:
    # Registered directly (not through `UI.on`): the API's parameter names come from
    # this signature, and the result is one JSON value, not a set of panels.
    def score(image: bytes | Refused | None, config_json: str = "") -> dict[str, Any]:
        return api_score(engine, image, config_json)

    ui["api-button"].click(score, [ui["api-image"], ui["api-config"]], ui["api-json"],
                           api_name="score", concurrency_id="analyze")
