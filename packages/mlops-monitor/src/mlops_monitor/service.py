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

__all__ = ["SERVICE_NAME", "evidently_executable", "ui_base_url", "ui_service", "workspace_megabytes"]

#: the stack's name for the Evidently UI
SERVICE_NAME = "evidently-ui"
#: seconds to wait for an empty workspace: the UI answers in ~8-16 s here (it imports all of Evidently)
READY_TIMEOUT = 60.0
#: and per MB of runs in the workspace: it parses every run into memory before it lists projects
#: (72 MB of runs took 15 s on this 2-core machine under load; 2.5x margin)
READY_SECONDS_PER_MB = 0.5


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
        # Not /api/version: that answers before the workspace is read, which happens on the first
        # project request and takes seconds per run; healthy must mean the pages can be served.
        # Once loaded, this is an in-memory listing (~40 ms).
        health_url=f"{base}/api/projects",
        ui_url=f"{base}/",
        ready_timeout=READY_TIMEOUT + READY_SECONDS_PER_MB * workspace_megabytes(settings),
        # Independent of the other services; after them so the heavier ones get the CPU first.
        order=80,
    )


def workspace_megabytes(settings: Settings) -> float:
    """Size of the runs in the Evidently workspace, in MB (0 if it does not exist yet)."""
    root = evidently_dir(settings)
    if not root.is_dir():
        return 0.0
    total = 0
    for path in root.glob("*/snapshots/*.json"):
        try:
            total += path.stat().st_size
        except OSError:  # removed while we looked
            pass
    return total / 1e6


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
