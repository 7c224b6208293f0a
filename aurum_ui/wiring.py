"""Components by name, and events whose handlers return dicts keyed by those names.

Handlers never see Gradio components: they return `{"score-cards": html, ...}` and
`UI.on` maps each name to its component (Gradio leaves components a handler does not
mention unchanged). So adding an output is one dict entry plus its name in the
event's `outputs`, and a handler can be unit-tested with no server and no Blocks.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from typing import Any

import gradio as gr


class UI(dict):
    """name -> component for the whole app; names are the components' elem_ids where
    they have one, so the browser tests and the handlers use the same words."""

    def __init__(self) -> None:
        super().__init__()
        self.demo: gr.Blocks | None = None
        self.engine: Any = None  # the engine the app serves, for text built from its models

    def add(self, name: str, component: Any) -> Any:
        if name in self:
            raise KeyError(f"two components named {name!r}")
        self[name] = component
        return component

    def on(self, triggers: Any, fn: Callable[..., dict[str, Any]], inputs: Sequence[str],
           outputs: Iterable[str], **kw: Any) -> Any:
        """Wire `fn(*input values) -> {output name: value}` to one trigger (a bound
        listener such as `ui["score-button"].click`) or a list of them."""
        out_names = tuple(outputs)
        out = [self[n] for n in out_names]
        run = keyed(fn, self, out_names)
        ins = [self[n] for n in inputs]
        if isinstance(triggers, (list, tuple)):
            return gr.on(triggers, run, ins, out, **kw)
        return triggers(run, ins, out, **kw)


def keyed(fn: Callable[..., dict[str, Any]], ui: dict[str, Any], outputs: Sequence[str]
          ) -> Callable[..., Any]:
    """`fn` with its name-keyed result turned into a component-keyed one; an unknown
    name fails loudly here instead of silently updating nothing in the browser."""
    allowed = set(outputs)

    def run(*args: Any) -> Any:
        result = fn(*args)
        unknown = set(result) - allowed
        if unknown:
            raise KeyError(f"{fn.__name__} returned outputs not wired: {sorted(unknown)}")
        if not result:
            return [gr.skip()] * len(outputs)
        return {ui[k]: v for k, v in result.items()}

    run.__name__ = getattr(fn, "__name__", "handler")
    return run


def with_engine(fn: Callable[..., dict[str, Any]], engine: Any) -> Callable[..., Any]:
    """`fn` with the engine bound as its first argument (handlers take it explicitly,
    so tests can pass any engine)."""

    def run(*args: Any) -> Any:
        return fn(engine, *args)

    run.__name__ = fn.__name__
    return run
