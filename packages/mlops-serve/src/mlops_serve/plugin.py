"""The serving concern's plugin: the gateway app, its doctor checks and ``mlops serve``.

Imported when the CLI starts, so FastAPI and uvicorn are imported inside the hooks only.
No ``from __future__ import annotations`` here: typer reads the ``serve`` command's annotations
at run time, and they name ``typer``, which is imported inside :func:`mlops_cli` only.
"""

import errno
import socket
from importlib.metadata import PackageNotFoundError, version
from typing import TYPE_CHECKING, Annotated, Any

from mlops_core.doctor import Check
from mlops_core.hookspecs import hookimpl
from mlops_core.records import ServiceSpec
from mlops_core.settings import Settings

if TYPE_CHECKING:
    import typer

CONCERN = "serve"


@hookimpl
def mlops_gateway_app(settings: Settings) -> Any:
    from mlops_serve.gateway import create_app

    return create_app(settings)


@hookimpl
def mlops_start_gateway(settings: Settings, host: str, port: int) -> Any:
    from mlops_serve.gateway import create_app
    from mlops_serve.server import serve_in_background

    return serve_in_background(create_app(settings), host, port)


@hookimpl
def mlops_services(settings: Settings) -> list[ServiceSpec]:
    """The gateway (``mlops serve``) on ``serve.port``; FastAPI and uvicorn are dependencies."""
    from mlops_serve.service import gateway_spec

    return [gateway_spec(settings)]


@hookimpl
def mlops_doctor_checks(settings: Settings) -> list[Check]:
    checks = []
    for dist in ("fastapi", "uvicorn"):
        try:
            checks.append(Check(CONCERN, f"{dist} installed", "ok", f"{dist} {version(dist)}"))
        except PackageNotFoundError:
            checks.append(Check(CONCERN, f"{dist} installed", "missing", f"{dist} is not installed",
                                "uv add mlops-serve (it depends on fastapi and uvicorn)"))
    checks.append(_port_check(settings.serve.host, settings.serve.port))
    return checks


def _port_check(host: str, port: int) -> Check:
    from mlops_serve.server import gateway_at, url_for

    name = f"port {host}:{port}"
    if port == 0:
        return Check(CONCERN, name, "ok", "serve.port = 0: a free port is picked at start")
    try:
        with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_STREAM) as sock:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.bind((host, port))
    except OSError as exc:
        url = url_for(host, port)
        if exc.errno != errno.EADDRINUSE:
            return Check(CONCERN, name, "fail", f"cannot bind {host}:{port}: {exc.strerror}",
                         "set serve.host / MLOPS_SERVE__HOST to an address of this machine")
        health = gateway_at(url)
        if health is not None:
            return Check(CONCERN, name, "ok", f"the mlops gateway is serving at {url} (version {health.get('version')})")
        return Check(CONCERN, name, "warn", f"port {port} is in use by another program",
                     "stop that program, or set serve.port (MLOPS_SERVE__PORT) to a free port")
    return Check(CONCERN, name, "ok", f"free; `mlops serve` will listen at {url_for(host, port)}")


@hookimpl
def mlops_cli(app: "typer.Typer") -> None:
    import typer

    @app.command("serve")
    def serve(
        ctx: typer.Context,
        host: Annotated[str | None, typer.Option(help="Address to bind (default: setting serve.host).")] = None,
        port: Annotated[
            int | None, typer.Option(min=0, max=65535, help="Port (default: setting serve.port; 0 = any free port).")
        ] = None,
    ) -> None:
        """Serve every project's champion model over HTTP (foreground; Ctrl-C stops it)."""
        from mlops_core.plugins import PluginManager
        from mlops_serve.gateway import create_app
        from mlops_serve.server import run_foreground

        settings = _settings_of(ctx)
        host = host if host is not None else settings.serve.host
        port = port if port is not None else settings.serve.port
        plugins = PluginManager(settings)
        # A port in use raises PortInUseError (an MlopsError): the CLI prints it with its fix.
        run_foreground(create_app(settings, plugins), host, port, announce=typer.echo)


def _settings_of(ctx: Any) -> Settings:
    """The CLI's settings (``ctx.obj`` or ``ctx.obj.settings``), else the workspace's."""
    from mlops_core.settings import load_settings

    obj = ctx.find_root().obj if ctx is not None else None
    for candidate in (obj, getattr(obj, "settings", None)):
        if isinstance(candidate, Settings):
            return candidate
    return load_settings()
