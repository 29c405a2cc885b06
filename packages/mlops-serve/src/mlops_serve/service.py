"""The gateway as a service of the shared stack (``mlops up``): ``mlops serve`` on 127.0.0.1.

Importing this module imports neither FastAPI nor uvicorn.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING

from mlops_core.records import ServiceSpec

if TYPE_CHECKING:
    from mlops_core.settings import Settings

__all__ = ["READY_TIMEOUT", "SERVICE_NAME", "gateway_command", "gateway_spec"]

SERVICE_NAME = "gateway"
#: the gateway answers /health ~1-2 s after start; models load on the first request
READY_TIMEOUT = 30.0


def _mlops_executable() -> tuple[str, ...]:
    # The console script of the interpreter we run in: the same installed plugins as this process.
    script = Path(sys.executable).parent / "mlops"
    if script.is_file():
        return (str(script),)
    return (sys.executable, "-c", "from mlops_core.cli import main; main()")


def gateway_command(settings: Settings, *, port: int | None = None) -> tuple[str, ...]:
    """``mlops serve --host 127.0.0.1 --port <serve.port>``."""
    return (*_mlops_executable(), "serve", "--host", "127.0.0.1",
            "--port", str(settings.serve.port if port is None else port))


def gateway_spec(settings: Settings) -> ServiceSpec:
    """The stack's gateway: every project's champion over HTTP, and the dashboard."""
    port = settings.serve.port
    base = f"http://127.0.0.1:{port}"
    return ServiceSpec(
        name=SERVICE_NAME,
        concern="serve",
        command=gateway_command(settings),
        # The child loads its settings like any `mlops` command: from the workspace (cwd) and
        # the environment. The state dir is passed explicitly so it is this one even when it was
        # chosen by something the child cannot see (an override in the parent process).
        env={"MLOPS_STATE_DIR": str(settings.state_dir)},
        cwd=str(settings.workspace_root),
        port=port,
        port_setting="serve.port",
        health_url=f"{base}/health",
        ui_url=f"{base}/",
        ready_timeout=READY_TIMEOUT,
        # After the tracking server, so its tracker finds the server instead of the embedded store.
        order=60,
    )
