"""`GET /health` and the `status` API: the health report (`aurum.health`) for machines.

The route is a plain Starlette route handed to Gradio's FastAPI app when it is created
(`launch_kwargs()["app_kwargs"]`), so it answers with a real HTTP code (503 when no
score can be made) from the first request on, and sits next to Gradio's own routes.
"""

from __future__ import annotations

import weakref
from typing import Any

import gradio as gr
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from aurum import health
from aurum.engine import Engine
from aurum_ui.state import LATENCY, STARTED

# Which engine serves which app: the route finds its Blocks through the request
# (tests serve several apps, each with its own engine, in one process).
ENGINES: weakref.WeakKeyDictionary[gr.Blocks, Engine] = weakref.WeakKeyDictionary()


def health_report(engine: Engine) -> dict[str, Any]:
    return health.report(engine, list(LATENCY), STARTED)


def http_code(report: dict[str, Any]) -> int:
    """200 for healthy and degraded (the app still scores), 503 when it cannot."""
    return 503 if report["status"] == "unhealthy" else 200


async def health_endpoint(request: Request) -> JSONResponse:
    blocks = getattr(request.app, "blocks", None)
    engine = ENGINES.get(blocks) if blocks is not None else None
    if engine is None:
        return JSONResponse({"status": "unhealthy", "down": ["engine"],
                             "parts": {}, "version": health.version()}, status_code=503)
    report = health_report(engine)
    return JSONResponse(report, status_code=http_code(report),
                        headers={"Cache-Control": "no-store"})


def routes() -> list[Route]:
    return [Route("/health", health_endpoint, methods=["GET"])]


def register(demo: gr.Blocks, engine: Engine) -> None:
    """Tie `demo` to `engine` for the route, add the `status` API, and read the version
    now (a git call) so the first health check does not pay for it."""
    ENGINES[demo] = engine
    health.version()

    def status() -> dict[str, Any]:
        """The health report: status, each part's state and reason, latency, uptime."""
        return health_report(engine)

    # No concurrency limit: a monitor must not wait behind photos being scored.
    gr.api(status, api_name="status", concurrency_limit=None, queue=False)
