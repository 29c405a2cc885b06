"""The Evidently UI as a service of the shared stack (``mlops up``), and links into it.

The UI only reads the workspace folder the drift checks write (``<state_dir>/evidently``) and
watches it, so runs added while it runs show up without a restart. Nothing here imports Evidently.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from mlops_core.records import ServiceSpec

from mlops_monitor.paths import evidently_dir

if TYPE_CHECKING:
    from mlops_core.settings import Settings

__all__ = ["SERVICE_NAME", "evidently_executable", "ui_base_url", "ui_service"]

#: the stack's name for the Evidently UI
SERVICE_NAME = "evidently-ui"
#: seconds to wait for it: it answers in ~8-10 s here (it imports all of Evidently first)
READY_TIMEOUT = 60.0


def evidently_executable() -> Path | None:
    """The ``evidently`` command of this environment (next to the running Python), or ``None``."""
    exe = Path(sys.executable).parent / ("evidently.exe" if os.name == "nt" else "evidently")
    return exe if exe.is_file() else None


def ui_service(settings: Settings) -> ServiceSpec | None:
    """``evidently ui`` on ``monitor.ui_port`` over the drift workspace; ``None`` if Evidently is not installed."""
    exe = evidently_executable()
    if exe is None:
        return None
    port = settings.monitor.ui_port
    base = f"http://127.0.0.1:{port}"
    return ServiceSpec(
        name=SERVICE_NAME,
        concern="monitor",
        command=(str(exe), "ui", "--workspace", str(evidently_dir(settings)),
                 "--host", "127.0.0.1", "--port", str(port)),
        env={
            # Evidently's UI sends usage telemetry unless this is set; a local platform should not.
            "DO_NOT_TRACK": "1",
            # /api/version (the health check) otherwise runs `git rev-parse` in Evidently's install
            # folder on every call, and reports the commit of whatever repository holds the venv.
            "GIT_COMMIT": "-",
        },
        cwd=str(settings.state_dir),
        port=port,
        port_setting="monitor.ui_port",
        # Cheap and answers only once the app (and its workspace) is loaded.
        health_url=f"{base}/api/version",
        ui_url=f"{base}/",
        ready_timeout=READY_TIMEOUT,
        # Independent of the other services; after them so the heavier ones get the CPU first.
        order=80,
    )


def ui_base_url(settings: Settings) -> str | None:
    """The running stack's Evidently UI base URL, or ``None`` (stack down, or the stack code not installed)."""
    try:
        from mlops_core.stack import service_url
    except ImportError:
        return None
    try:
        return service_url(settings, SERVICE_NAME)
    except Exception:  # a link is a convenience: never fail a check or a listing over it
        return None
