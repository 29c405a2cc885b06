"""Model serving for the shared MLOps layer: one FastAPI gateway for every project.

``create_app(settings)`` builds the gateway; ``serve_in_background(app)`` runs it on a real
uvicorn in a thread. Both are imported lazily so that ``import mlops_serve`` (and the plugin
module the CLI loads) does not import FastAPI or uvicorn.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from mlops_serve.gateway import create_app
    from mlops_serve.server import ServerHandle, run_foreground, serve_in_background

__all__ = ["ServerHandle", "create_app", "run_foreground", "serve_in_background"]

_HOMES = {
    "create_app": "mlops_serve.gateway",
    "ServerHandle": "mlops_serve.server",
    "run_foreground": "mlops_serve.server",
    "serve_in_background": "mlops_serve.server",
}


def __getattr__(name: str) -> Any:
    if name in _HOMES:
        import importlib

        return getattr(importlib.import_module(_HOMES[name]), name)
    raise AttributeError(f"module 'mlops_serve' has no attribute {name!r}")
