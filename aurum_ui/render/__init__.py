"""Pictures and panels of a report: landmark overlays, plotly figures, HTML cards.

Kept apart from the Gradio app so the same drawings serve the app, notebooks and
tests, and so nothing here needs a web server. Overlays are drawn from cached
landmarks: toggling a layer never re-runs a model. Every number drawn comes from
the report; a part that is unavailable is shown as such, never filled in.

One name for three modules: `overlay` (the photo and its layers), `cards` (HTML
panels) and `figures` (plotly specs).
"""

from __future__ import annotations

from aurum_ui.render.cards import (  # noqa: F401  (the panels' one entry point)
    coach_html,
    error_html,
    faces_note,
    note,
    ok_html,
    quality_table_html,
    score_cards_html,
    score_strip_html,
    table_html,
    unavailable_html,
    vibe_html,
)
from aurum_ui.render.figures import (  # noqa: F401
    breakdown_figure,
    histogram_figure,
    map_figure,
)
from aurum_ui.render.overlay import (  # noqa: F401
    DEFAULT_LAYERS,
    LAYERS,
    data_uri,
    fit_image,
    focus,
    overlay,
    overlay_html,
)
