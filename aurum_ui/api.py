"""The hidden API endpoints: `/score` (an image + optional config JSON in, the CLI's
JSON out) and `/compare` (2-12 images + optional config JSON in, the JSON of
`python -m aurum compare` out). Not a tab: their components are invisible."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import gradio as gr

from aurum import compare
from aurum.config import Config
from aurum.engine import Engine
from aurum.errors import AurumError
from aurum.measure.imaging import MAX_BYTES, Refused
from aurum_ui.state import record
from aurum_ui.uploads import PrivateImage, discard_upload
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


def read_uploads(paths: list[Any] | None) -> tuple[list[bytes | Refused], list[str]]:
    """The uploaded files' bytes and names; each temporary file is deleted at once (an
    over-limit one unread, as `PrivateImage` does)."""
    images: list[bytes | Refused] = []
    names: list[str] = []
    for item in paths or []:
        path = Path(getattr(item, "path", None) or str(item))
        names.append(path.name)
        try:
            size = path.stat().st_size
            images.append(Refused(size) if size > MAX_BYTES else path.read_bytes())
        except OSError:
            images.append(b"")
        discard_upload(path)
    return images, names


def api_compare(engine: Engine, files: list[Any] | None, config_json: str = ""
                ) -> dict[str, Any]:
    """Rank 2-12 photos: the same JSON object `python -m aurum compare` prints."""
    t0 = time.perf_counter()
    images, names = read_uploads(files)
    try:
        cfg = Config.from_json(config_json) if (config_json or "").strip() else Config()
        compare.check_count(len(images))
    except AurumError as exc:
        return {"ok": False, "error": exc.to_dict(), "ranking": []}
    cset = compare.analyze_photos(engine, images, names)
    record("compare", None, t0, photos=float(len(images)))
    return compare.rank(engine, cset, cfg)


def build(ui: UI) -> None:
    ui.add("api-image", PrivateImage(visible=False, type="numpy", image_mode=None,
                                     sources=["upload"]))
    ui.add("api-config", gr.Textbox(value="", visible=False))
    ui.add("api-json", gr.JSON(visible=False))
    ui.add("api-button", gr.Button(visible=False))
    ui.add("api-compare-files", gr.File(file_count="multiple", type="filepath",
                                        visible=False))
    ui.add("api-compare-config", gr.Textbox(value="", visible=False))
    ui.add("api-compare-json", gr.JSON(visible=False))
    ui.add("api-compare-button", gr.Button(visible=False))


def wire(ui: UI, engine: Engine) -> None:
    # Registered directly (not through `UI.on`): the API's parameter names come from
    # this signature, and the result is one JSON value, not a set of panels.
    def score(image: bytes | Refused | None, config_json: str = "") -> dict[str, Any]:
        return api_score(engine, image, config_json)

    ui["api-button"].click(score, [ui["api-image"], ui["api-config"]], ui["api-json"],
                           api_name="score", concurrency_id="analyze")

    def compare_photos(files: list[str] | None, config_json: str = "") -> dict[str, Any]:
        return api_compare(engine, files, config_json)

    ui["api-compare-button"].click(compare_photos, [ui["api-compare-files"],
                                                    ui["api-compare-config"]],
                                   ui["api-compare-json"], api_name="compare",
                                   concurrency_id="analyze")
