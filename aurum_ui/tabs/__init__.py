"""One module per tab. Each has `TITLE`, `ID`, `build(ui)` and `wire(ui, engine)`;
`aurum_ui.blocks.TABS` lists them in display order; `aurum_ui.panels` refreshes the
report panels they declare (`REFRESH_ON_SCORE`)."""
