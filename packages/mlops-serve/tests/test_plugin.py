"""The plugin: gateway app hook, doctor checks, `mlops serve`, and a light import."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import typer
from fastapi import FastAPI
from typer.testing import CliRunner

from mlops_core.plugins import PluginManager
from mlops_core.settings import Settings, load_settings
from mlops_serve import plugin
from mlops_serve.gateway import create_app
from mlops_serve.server import PortInUseError, serve_in_background


@pytest.fixture
def occupied_port() -> Iterator[int]:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        yield sock.getsockname()[1]


def _with_port(settings: Settings, port: int) -> Settings:
    return load_settings(root=settings.workspace_root, serve={"port": port})


def test_the_gateway_app_hook_gives_the_gateway(settings: Settings) -> None:
    app = plugin.mlops_gateway_app(settings=settings)

    assert isinstance(app, FastAPI)
    assert "/predict/{project}/{model}" in {getattr(r, "path", "") for r in app.routes}


def test_the_entry_point_registers_the_plugin(plugins: PluginManager) -> None:
    assert plugins.has("serve"), plugins.failures
    assert isinstance(plugins.gateway_app(), FastAPI)


def test_start_gateway_serves_in_the_background_until_stopped(settings: Settings) -> None:
    plugins = PluginManager(settings, plugins=[plugin], entrypoints=False)

    gateway = plugins.start_gateway(port=0)
    try:
        health = httpx.get(f"{gateway.url}/health").json()
    finally:
        gateway.stop()

    assert health["service"] == "mlops-gateway"
    with pytest.raises(httpx.ConnectError):
        httpx.get(f"{gateway.url}/health")


def test_doctor_finds_fastapi_uvicorn_and_a_free_port(settings: Settings) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        free = probe.getsockname()[1]
    checks = {c.name: c for c in plugin.mlops_doctor_checks(settings=_with_port(settings, free))}

    assert checks["fastapi installed"].status == "ok"
    assert checks["uvicorn installed"].status == "ok"
    assert checks[f"port 127.0.0.1:{free}"].status == "ok"
    assert "free" in checks[f"port 127.0.0.1:{free}"].detail


def test_doctor_warns_about_a_port_taken_by_another_program(settings: Settings, occupied_port: int) -> None:
    [check] = [c for c in plugin.mlops_doctor_checks(settings=_with_port(settings, occupied_port))
               if c.name.startswith("port")]

    assert check.status == "warn"
    assert "in use by another program" in check.detail
    assert "MLOPS_SERVE__PORT" in check.fix


def test_doctor_recognises_our_gateway_on_the_port(settings: Settings) -> None:
    app = create_app(settings, PluginManager(settings, entrypoints=False))
    with serve_in_background(app) as running:
        [check] = [c for c in plugin.mlops_doctor_checks(settings=_with_port(settings, running.port))
                   if c.name.startswith("port")]

    assert check.status == "ok"
    assert f"serving at {running.url}" in check.detail


def _cli() -> typer.Typer:
    app = typer.Typer()

    @app.callback()
    def main() -> None:
        """A stand-in for the core's `mlops` app."""

    plugin.mlops_cli(app=app)
    return app


def test_serve_command_has_host_and_port_options() -> None:
    result = CliRunner().invoke(_cli(), ["serve", "--help"])

    assert result.exit_code == 0, result.output
    assert "--host" in result.output and "--port" in result.output


def test_serve_on_a_busy_port_is_a_clear_error(settings: Settings, occupied_port: int) -> None:
    result = CliRunner().invoke(_cli(), ["serve", "--port", str(occupied_port)], obj=settings)

    assert isinstance(result.exception, PortInUseError)
    assert "MLOPS_SERVE__PORT" in (result.exception.fix or "")


SERVE_SCRIPT = textwrap.dedent(
    """
    import sys
    from pathlib import Path

    import typer

    from mlops_core.settings import load_settings
    from mlops_serve.plugin import mlops_cli

    app = typer.Typer()

    @app.callback()
    def main(ctx: typer.Context) -> None:
        # Siblings' plugins are not what this test is about: only core and serve load.
        ctx.obj = load_settings(root=Path(sys.argv[1]), disabled_plugins=["hw", "data", "tracking", "orchestrate", "monitor"])

    mlops_cli(app)
    app(args=["serve", "--port", "0"])
    """
)


@pytest.mark.slow
def test_mlops_serve_runs_in_the_foreground_until_ctrl_c(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MLOPS_")}
    with subprocess.Popen([sys.executable, "-c", SERVE_SCRIPT, str(tmp_path)], stdout=subprocess.PIPE,
                          stderr=subprocess.PIPE, text=True, env=env) as proc:
        try:
            assert proc.stdout is not None and proc.stderr is not None
            line = proc.stdout.readline()
            assert line.startswith("mlops gateway serving at http://127.0.0.1:"), line + proc.stderr.read()
            url = line.split()[4]
            health = _poll_health(url)
            proc.send_signal(signal.SIGINT)
            code = proc.wait(timeout=15)
            errors = proc.stderr.read()
        finally:
            if proc.poll() is None:
                proc.kill()

    assert health["service"] == "mlops-gateway"
    assert code == 0, errors
    assert "Traceback" not in errors


def _poll_health(url: str) -> dict:
    import time

    deadline = time.monotonic() + 20
    while True:
        try:
            return httpx.get(f"{url}/health", timeout=5).json()
        except httpx.TransportError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.05)


def test_importing_the_plugin_imports_no_web_stack() -> None:
    code = (
        "import sys, json, typer; import mlops_serve, mlops_serve.plugin as p; "
        "app = typer.Typer(); p.mlops_cli(app=app); "
        "print(json.dumps([m for m in ('fastapi', 'uvicorn', 'starlette', 'httpx') if m in sys.modules]))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)

    assert json.loads(out.stdout) == []
