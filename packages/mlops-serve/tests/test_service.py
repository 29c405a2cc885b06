"""The gateway as a stack service: the spec ``mlops up`` runs, and that command really serves."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from mlops_core.plugins import PluginManager
from mlops_core.records import ServiceSpec
from mlops_core.settings import Settings, load_settings
from mlops_serve import plugin
from mlops_serve.gateway import SERVICE


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _spec(settings: Settings, port: int) -> ServiceSpec:
    settings = load_settings(root=settings.workspace_root, serve={"port": port})
    specs = plugin.mlops_services(settings=settings)
    assert len(specs) == 1
    return specs[0]


def test_the_services_hook_gives_the_gateway(settings: Settings) -> None:
    port = _free_port()
    spec = _spec(settings, port)

    assert (spec.name, spec.concern, spec.port, spec.port_setting) == ("gateway", "serve", port, "serve.port")
    assert Path(spec.command[0]).name == "mlops"
    assert list(spec.command[1:]) == ["serve", "--host", "127.0.0.1", "--port", str(port)]
    assert spec.health_url == f"http://127.0.0.1:{port}/health"
    assert spec.ui_url == f"http://127.0.0.1:{port}/"
    # The child finds the same workspace and state as the parent.
    assert spec.cwd == str(settings.workspace_root)
    assert spec.env == {"MLOPS_STATE_DIR": str(settings.state_dir)}
    assert 0 < spec.ready_timeout <= settings.stack.health_timeout


def test_the_plugin_manager_collects_it(plugins: PluginManager) -> None:
    specs = [s for group in plugins.hook.mlops_services(settings=plugins.settings) if group for s in group]
    assert "gateway" in {s.name for s in specs}


@pytest.fixture
def started(settings: Settings) -> Iterator[tuple[ServiceSpec, subprocess.Popen[bytes]]]:
    """The spec's command run as ``mlops up`` would (cwd, env); stopped by its process group."""
    spec = _spec(settings, _free_port())
    settings.state_dir.mkdir(parents=True, exist_ok=True)
    log = (settings.state_dir / "gateway.log").open("w")
    env = {k: v for k, v in os.environ.items() if not k.startswith("MLOPS_")}
    proc = subprocess.Popen(list(spec.command), env={**env, **spec.env}, cwd=spec.cwd,
                            stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        yield spec, proc
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGTERM)  # the group we started, nothing else
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
        log.close()


@pytest.mark.slow
@pytest.mark.integration
def test_the_command_serves_health_until_stopped(
    settings: Settings, started: tuple[ServiceSpec, subprocess.Popen[bytes]]
) -> None:
    spec, proc = started
    assert spec.health_url is not None
    deadline = time.monotonic() + max(spec.ready_timeout, 120)
    while True:
        try:
            response = httpx.get(spec.health_url, timeout=1)
            if response.status_code == 200:
                break
        except httpx.HTTPError:
            pass
        if proc.poll() is not None or time.monotonic() > deadline:
            pytest.fail(f"the gateway did not answer: {(settings.state_dir / 'gateway.log').read_text()[-2000:]}")
        time.sleep(0.2)
    assert response.json()["service"] == SERVICE
    assert httpx.get(spec.ui_url or "", timeout=5).status_code == 200

    os.killpg(proc.pid, signal.SIGTERM)
    proc.wait(timeout=30)  # stops gracefully on SIGTERM (a timeout fails the test)
