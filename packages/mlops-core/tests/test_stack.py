"""The stack against a real supervisord and real processes (no stand-ins).

A small test plugin offers two services: an HTTP server with a health URL and a process without
a port. Every stack started here is stopped in teardown, by `stop_stack` and then by pid.
"""

from __future__ import annotations

import os
import signal
import socket
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import psutil
import pytest

from mlops_core.errors import ServiceError
from mlops_core.hookspecs import hookimpl
from mlops_core.plugins import PluginManager
from mlops_core.records import ServiceSpec
from mlops_core.settings import Settings, load_settings
from mlops_core.stack import service_url, stack_status, start_stack, stop_stack
from mlops_core.stack.daemon import daemon_pid
from mlops_core.stack.health import port_free
from mlops_core.stack.paths import stack_paths

pytestmark = [pytest.mark.slow, pytest.mark.integration]

PY = sys.executable


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def web_spec(port: int, **kw: object) -> ServiceSpec:
    return ServiceSpec(
        name="web", concern="serve",
        command=(PY, "-m", "http.server", str(port), "--bind", "127.0.0.1"),
        port=port, port_setting="serve.port",
        health_url=f"http://127.0.0.1:{port}/", ui_url=f"http://127.0.0.1:{port}/",
        ready_timeout=30, order=10, **kw,  # type: ignore[arg-type]
    )


def worker_spec(probe: str = "", **kw: object) -> ServiceSpec:
    code = "import time; print('worker up', flush=True); time.sleep(3600)"
    if probe:  # report whether `probe` answered when the worker started (a multi-line command)
        code = (
            "import time, urllib.request\n"
            f"try:\n    urllib.request.urlopen({probe!r}, timeout=2); print('probe answered', flush=True)\n"
            "except Exception as exc:\n    print('probe failed', exc, flush=True)\n"
            "time.sleep(3600)\n"
        )
    return ServiceSpec(name="worker", concern="orchestrate", command=(PY, "-c", code), order=20, **kw)  # type: ignore[arg-type]


class ServicesPlugin:
    """Offers whatever specs the test gives it."""

    def __init__(self, specs: list[ServiceSpec]) -> None:
        self.specs = specs

    @hookimpl
    def mlops_services(self, settings: Settings) -> list[ServiceSpec]:
        return self.specs


@pytest.fixture
def stack_settings(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Settings]:
    for name in list(os.environ):
        if name.startswith("MLOPS_"):
            monkeypatch.delenv(name)
    settings = load_settings(root=tmp_path, stack={"health_timeout": 40, "stop_timeout": 5})
    yield settings
    # Teardown: whatever a test left running, stop it and make sure nothing survives.
    result = stop_stack(settings)
    assert not _alive(result.pids), "stop_stack left processes behind"


def manager(settings: Settings, specs: list[ServiceSpec]) -> PluginManager:
    return PluginManager(settings, plugins=[ServicesPlugin(specs)], entrypoints=False)


def _alive(pids: list[int]) -> list[int]:
    alive = []
    for pid in pids:
        try:
            if psutil.Process(pid).status() != psutil.STATUS_ZOMBIE:
                alive.append(pid)
        except psutil.NoSuchProcess:
            pass
    return alive


def wait_for(check: Callable[[], object], timeout: float = 30.0) -> object:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError(f"condition not met within {timeout} s")


def by_name(settings: Settings) -> dict[str, object]:
    return {s.name: s for s in stack_status(settings) or []}


def test_up_twice_crash_restart_and_down(stack_settings: Settings) -> None:
    port = free_port()
    pm = manager(stack_settings, [web_spec(port), worker_spec(probe=f"http://127.0.0.1:{port}/")])

    first = start_stack(pm)
    assert first.daemon_started and first.started == ["web", "worker"]
    # order 20 started only once order 10 was healthy
    assert "probe answered" in stack_paths(stack_settings).log("worker").read_text()
    status = by_name(stack_settings)
    assert status["web"].up and status["worker"].up
    assert status["web"].port == port and status["worker"].port is None
    assert status["web"].url == f"http://127.0.0.1:{port}/"
    assert service_url(stack_settings, "web") == f"http://127.0.0.1:{port}"
    pids = {name: s.pid for name, s in status.items()}
    assert all(pids.values())

    # up again: the same supervisord, the same processes, nothing started
    daemon = daemon_pid(stack_paths(stack_settings))
    again = start_stack(pm)
    assert not again.daemon_started and again.started == []
    assert sorted(again.already_running) == ["web", "worker"]
    assert daemon_pid(stack_paths(stack_settings)) == daemon
    assert {name: s.pid for name, s in by_name(stack_settings).items()} == pids

    # a crash: supervisord starts it again and the restart is counted
    os.kill(pids["web"], signal.SIGKILL)
    restarted = wait_for(lambda: (s := by_name(stack_settings)["web"]).up and s.pid != pids["web"] and s.restarts == 1 and s)
    assert restarted.pid != pids["web"]  # type: ignore[attr-defined]
    assert by_name(stack_settings)["worker"].restarts == 0

    # down: every process of the tree recorded before stopping is gone
    tree = psutil.Process(daemon).children(recursive=True)
    result = stop_stack(stack_settings)
    assert result.was_running and sorted(result.stopped) == ["web", "worker"]
    assert daemon in result.pids and all(p.pid in result.pids for p in tree)
    assert _alive(result.pids) == []
    assert stack_status(stack_settings) is None
    assert service_url(stack_settings, "web") is None
    assert stop_stack(stack_settings).was_running is False


def test_port_taken_names_service_port_and_setting(stack_settings: Settings, tmp_path: Path) -> None:
    port = free_port()
    marker = tmp_path / "setup-ran"
    specs = [web_spec(port, setup=((PY, "-c", f"open({str(marker)!r}, 'w')"),)), worker_spec()]
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", port))
        holder.listen()
        with pytest.raises(ServiceError) as err:
            start_stack(manager(stack_settings, specs))
    text = str(err.value)
    assert f"port {port}" in text and "'web'" in text
    assert "serve.port" in text and "MLOPS_SERVE__PORT" in text
    # nothing was started or run: no supervisord, no setup
    assert daemon_pid(stack_paths(stack_settings)) is None
    assert not stack_paths(stack_settings).config.exists()
    assert not marker.exists()


def test_service_never_healthy_shows_its_log_tail(stack_settings: Settings) -> None:
    dead_port = free_port()  # nothing will listen here
    code = "import time; print('NEVER-HEALTHY-7f3a: cannot find my config', flush=True); time.sleep(3600)"
    stuck = ServiceSpec(name="stuck", concern="monitor", command=(PY, "-c", code), port=dead_port,
                        port_setting="monitor.ui_port", health_url=f"http://127.0.0.1:{dead_port}/health",
                        ready_timeout=4)
    pm = manager(stack_settings, [worker_spec(), stuck])
    started = time.monotonic()
    with pytest.raises(ServiceError) as err:
        start_stack(pm)
    assert time.monotonic() - started < 30
    assert "'stuck'" in err.value.message and "NEVER-HEALTHY-7f3a: cannot find my config" in err.value.message
    assert "mlops logs stuck" in (err.value.fix or "")
    status = by_name(stack_settings)
    assert status["stuck"].state == "STOPPED" and not status["stuck"].up
    assert status["worker"].up  # the healthy one keeps running; `mlops down` stops it


def test_setup_only_then_the_rest_and_no_orphans(stack_settings: Settings, tmp_path: Path) -> None:
    port = free_port()
    marker = tmp_path / "migrated"
    setup = ((PY, "-c", f"print('migrating'); open({str(marker)!r}, 'w').write('ok')"),)
    # The worker starts a child and a double-forked daemon that leaves the process tree.
    stray_pidfile = tmp_path / "stray.pid"
    code = (
        "import os, subprocess, sys, time\n"
        "subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(3600)'])\n"
        "if os.fork() == 0:\n"
        "    os.setsid()\n"
        "    if os.fork() == 0:\n"
        f"        open({str(stray_pidfile)!r}, 'w').write(str(os.getpid())); time.sleep(3600)\n"
        "    os._exit(0)\n"
        "print('worker with children', flush=True); time.sleep(3600)\n"
    )
    worker = ServiceSpec(name="worker", concern="orchestrate", command=(PY, "-c", code), order=20)
    pm = manager(stack_settings, [web_spec(port, setup=setup), worker])

    only = start_stack(pm, only=["web"])
    assert only.started == ["web"] and marker.read_text() == "ok"
    assert "migrating" in stack_paths(stack_settings).log("web").read_text()
    status = by_name(stack_settings)
    assert status["web"].up and status["worker"].state == "STOPPED"
    web_pid = status["web"].pid

    rest = start_stack(pm)
    assert rest.started == ["worker"] and rest.already_running == ["web"]
    assert by_name(stack_settings)["web"].pid == web_pid
    stray = int(wait_for(lambda: stray_pidfile.exists() and stray_pidfile.read_text()))  # type: ignore[arg-type]
    assert psutil.pid_exists(stray)

    result = stop_stack(stack_settings)
    assert stray in result.pids  # found by the stack's environment marker, outside the tree
    assert _alive(result.pids) == [] and not psutil.pid_exists(stray) or psutil.Process(stray).status() == "zombie"


def test_crash_loop_backs_off_then_gives_up(stack_settings: Settings) -> None:
    # Dies at once, every time: each start fails within startsecs, so supervisord waits 1, 2, 3,
    # 4, 5 s between the 6 attempts and then gives up (FATAL); `mlops up` reports it.
    dead_port = free_port()
    crasher = ServiceSpec(name="crasher", concern="serve", command=(PY, "-c", "print('boom: bad config'); raise SystemExit(3)"),
                          port=dead_port, port_setting="serve.port", health_url=f"http://127.0.0.1:{dead_port}/",
                          ready_timeout=120)
    started = time.monotonic()
    with pytest.raises(ServiceError) as err:
        start_stack(manager(stack_settings, [crasher]))
    elapsed = time.monotonic() - started
    assert "FATAL" in err.value.message and "boom: bad config" in err.value.message
    assert 1 + 2 + 3 + 4 + 5 <= elapsed < 90
    status = by_name(stack_settings)["crasher"]
    assert status.state == "FATAL" and status.restarts == 5 and not status.up
    assert stack_paths(stack_settings).log("crasher").read_text().count("boom: bad config") == 6


def test_failed_setup_starts_nothing_and_shows_its_output(stack_settings: Settings) -> None:
    port = free_port()
    failing = ((PY, "-c", "import sys; print('migration failed: table locked'); sys.exit(4)"),)
    pm = manager(stack_settings, [web_spec(port, setup=failing)])
    with pytest.raises(ServiceError) as err:
        start_stack(pm)
    assert "setup of service 'web' failed (4)" in err.value.message
    assert "migration failed: table locked" in err.value.message
    assert by_name(stack_settings)["web"].state == "STOPPED"
    assert port_free(port)
