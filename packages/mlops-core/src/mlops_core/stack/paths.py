"""Where the stack keeps its files: one place decides every path under ``settings.stack_dir``."""

from __future__ import annotations

import hashlib
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from mlops_core.settings import Settings

__all__ = ["StackPaths", "stack_paths"]

#: a unix socket path longer than this does not fit in sockaddr_un (108 bytes, NUL included)
_MAX_SOCKET_PATH = 100


@dataclass(frozen=True)
class StackPaths:
    """The files of one stack (one state directory)."""

    dir: Path
    logs_dir: Path
    #: the supervisord config written by ``mlops up``
    config: Path
    pidfile: Path
    socket: Path
    #: supervisord's own log (starts, exits, restarts, kills)
    daemon_log: Path
    #: services as ``mlops up`` last started them: ports, health and UI URLs (read by clients)
    state: Path
    #: restart counts per service, written by the event listener
    restarts: Path
    listener_log: Path

    def log(self, service: str) -> Path:
        """The log file of ``service`` (stdout and stderr together)."""
        return self.logs_dir / f"{service}.log"


def _socket_path(stack_dir: Path) -> Path:
    path = stack_dir / "supervisor.sock"
    if len(str(path)) <= _MAX_SOCKET_PATH:
        return path
    # Deep state dirs (pytest's tmp_path, long home folders) overflow sockaddr_un; a short path
    # derived from the stack dir keeps one socket per stack, the same for every caller.
    digest = hashlib.sha1(str(stack_dir).encode()).hexdigest()[:16]
    return Path(tempfile.gettempdir()) / f"mlops-stack-{digest}.sock"


def stack_paths(settings: Settings) -> StackPaths:
    """The stack's files for ``settings`` (nothing is created)."""
    d = settings.stack_dir
    return StackPaths(
        dir=d,
        logs_dir=settings.logs_dir,
        config=d / "supervisord.conf",
        pidfile=d / "supervisord.pid",
        socket=_socket_path(d),
        daemon_log=d / "supervisord.log",
        state=d / "state.json",
        restarts=d / "restarts.json",
        listener_log=d / "restart-listener.log",
    )
