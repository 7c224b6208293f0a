"""Aurum's web app (Gradio 6): one module per tab, handlers testable without a server.

The library (`aurum/`) never imports this package. Importing any module here first
gives Gradio a private cache folder (`tempdir`), which must happen before `gradio`
itself is imported.

Layout: `blocks.build_demo` composes the tabs listed in `blocks.TABS`; each tab
module has `TITLE`, `ID`, `build(ui)` (components, registered by name in `ui`) and
`wire(ui, engine)` (events). Handlers are plain module-level functions that take the
engine explicitly and return a dict keyed by component name; `wiring.UI.on` turns the
names into Gradio components, so an output is never matched by position.
"""

from aurum_ui.tempdir import TEMP_DIR

__all__ = ["TEMP_DIR"]
