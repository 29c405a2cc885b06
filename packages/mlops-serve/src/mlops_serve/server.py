"""Running the gateway on a real uvicorn server: in a background thread, or in the foreground.

The listening socket is bound here, before uvicorn starts, so that the port is known at once
(port 0 picks a free one) and a port already in use is a clear error instead of a log line.
"""

from __future__ import annotations

import errno
import json
import socket
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from mlops_core.errors import ServiceError

__all__ = [
    "PortInUseError",
    "ServerHandle",
    "bind_socket",
    "gateway_at",
    "run_foreground",
    "serve_in_background",
    "url_for",
]

_OTHER_PORT = (
    "choose another port: `mlops serve --port N`, the setting serve.port in mlops.toml, "
    "or MLOPS_SERVE__PORT=N (0 picks a free port)"
)


#: longest wait, when stopping, for requests in flight and their background tasks
GRACEFUL_SHUTDOWN_SECONDS = 30.0


class PortInUseError(ServiceError):
    """The gateway's port is taken."""

    exit_code = 2


def url_for(host: str, port: int) -> str:
    """The URL a client on this machine uses to reach ``host:port``."""
    if host in ("0.0.0.0", ""):
        host = "127.0.0.1"
    elif host == "::":
        host = "::1"
    return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"


def gateway_at(url: str, timeout: float = 0.5) -> dict[str, Any] | None:
    """The ``/health`` answer of an mlops gateway at ``url``, or ``None`` if none answers there."""
    from mlops_serve.gateway import SERVICE

    try:
        with urllib.request.urlopen(f"{url}/health", timeout=timeout) as response:
            body = json.loads(response.read())
    except (OSError, ValueError):
        return None
    return body if isinstance(body, dict) and body.get("service") == SERVICE else None


def bind_socket(host: str, port: int) -> socket.socket:
    """A socket bound to ``host:port`` (ready for uvicorn); PortInUseError names the setting."""
    try:
        family, kind, proto, _, address = socket.getaddrinfo(
            host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
        )[0]
    except socket.gaierror as exc:
        raise ServiceError(
            f"cannot bind the gateway to host {host!r}: {exc}",
            fix="set serve.host (MLOPS_SERVE__HOST or `mlops serve --host`) to an address of this machine",
        ) from exc
    sock = socket.socket(family, kind, proto)
    # As uvicorn does: lets a restarted gateway reuse a port in TIME_WAIT; on Linux it does
    # not allow two live listeners on one port, so "in use" is still detected.
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind(address)
    except OSError as exc:
        sock.close()
        if exc.errno != errno.EADDRINUSE:
            raise ServiceError(
                f"cannot bind the gateway to {host}:{port}: {exc.strerror}",
                fix="set serve.host (MLOPS_SERVE__HOST) to an address of this machine, and serve.port "
                "(MLOPS_SERVE__PORT) to a port you may use",
            ) from exc
        url = url_for(host, port)
        if gateway_at(url) is not None:
            raise PortInUseError(
                f"an mlops gateway is already serving at {url} (port {port} is in use)",
                fix=f"use that one, or stop it first; to run a second gateway, {_OTHER_PORT}",
            ) from exc
        raise PortInUseError(f"port {port} on {host} is already in use by another program",
                             fix=f"stop what is using it, or {_OTHER_PORT}") from exc
    return sock


def _uvicorn_server(app: Any, *, log_level: str, access_log: bool, configure_logging: bool) -> Any:
    import uvicorn

    config = uvicorn.Config(
        app,
        log_level=log_level,
        access_log=access_log,
        # In a background thread the host process owns logging; do not reconfigure it.
        log_config=uvicorn.config.LOGGING_CONFIG if configure_logging else None,
        # Stopping waits this long for requests in flight and their background tasks (the
        # announcement that the monitor captures), so a graceful stop loses no served batch.
        timeout_graceful_shutdown=GRACEFUL_SHUTDOWN_SECONDS,
    )
    return uvicorn.Server(config)


@dataclass
class ServerHandle:
    """A gateway served by uvicorn in a background thread. ``stop()`` shuts it down cleanly."""

    url: str
    host: str
    port: int
    _server: Any = field(repr=False)
    _thread: threading.Thread = field(repr=False)
    _socket: socket.socket = field(repr=False)

    @property
    def running(self) -> bool:
        return self._thread.is_alive()

    def stop(self, timeout: float = GRACEFUL_SHUTDOWN_SECONDS + 5) -> None:
        """Stop gracefully: requests in flight and their background tasks finish, the thread is joined."""
        self._server.should_exit = True
        self._thread.join(timeout)
        if self._thread.is_alive():
            self._server.force_exit = True  # in-flight requests did not finish in time
            self._thread.join(timeout)
        self._socket.close()
        if self._thread.is_alive():
            raise ServiceError(
                f"the gateway at {self.url} did not stop within {2 * timeout:.0f} s",
                fix="a request or background task is stuck; see the gateway's log",
            )

    def __enter__(self) -> ServerHandle:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()


def serve_in_background(
    app: Any, host: str = "127.0.0.1", port: int = 0, *, timeout: float = 30.0, log_level: str = "warning"
) -> ServerHandle:
    """Serve ``app`` with a real uvicorn in a thread; returns once ``/health`` answers."""
    sock = bind_socket(host, port)
    bound_port = sock.getsockname()[1]
    url = url_for(host, bound_port)
    server = _uvicorn_server(app, log_level=log_level, access_log=False, configure_logging=False)
    thread = threading.Thread(
        target=server.run, kwargs={"sockets": [sock]}, name=f"mlops-gateway:{bound_port}", daemon=True
    )
    thread.start()
    handle = ServerHandle(url=url, host=host, port=bound_port, _server=server, _thread=thread, _socket=sock)
    deadline = time.monotonic() + timeout
    # The first /health builds the tracker (it may import its tool), so each try may take a while.
    while not _answers(f"{url}/health", timeout=max(1.0, deadline - time.monotonic())):
        if not thread.is_alive():
            sock.close()
            raise ServiceError(f"the gateway at {url} failed to start", fix="see the log above for the error")
        if time.monotonic() > deadline:
            handle.stop()
            raise ServiceError(
                f"the gateway at {url} did not answer /health within {timeout:.0f} s",
                fix="see the log for what it is waiting on",
            )
        time.sleep(0.02)
    return handle


def _answers(url: str, timeout: float) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            return bool(response.status == 200)
    except (OSError, urllib.error.URLError):
        return False


def run_foreground(
    app: Any,
    host: str,
    port: int,
    *,
    log_level: str = "info",
    announce: Callable[[str], None] = print,
) -> None:
    """Serve ``app`` in this thread until Ctrl-C or SIGTERM (what ``mlops serve`` runs)."""
    sock = bind_socket(host, port)
    url = url_for(host, sock.getsockname()[1])
    server = _uvicorn_server(app, log_level=log_level, access_log=True, configure_logging=True)
    announce(f"mlops gateway serving at {url}  (docs: {url}/docs; Ctrl-C stops it)")
    try:
        server.run(sockets=[sock])
    except KeyboardInterrupt:
        # uvicorn re-raises the SIGINT it handled, after a clean shutdown: nothing left to do.
        pass
    finally:
        sock.close()
