"""The MLflow server as a stack service, and trackers following the stack (up: server; down: sqlite).

The server tests start the spec's own command on a free port (a real ``mlflow server``) and stop
it by its process group. Discovery (``mlops_core.stack.service_url``, which reads the state file of
``mlops up``) is pointed at that server, because no supervisor runs here; everything the tracker
does afterwards goes to the real server.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import mlops_core.stack
from mlops_core.plugins import PluginManager
from mlops_core.records import ServiceSpec
from mlops_core.settings import Settings, load_settings
from mlops_tracking import plugin
from mlops_tracking.doctor import checks, server_health
from mlops_tracking.endpoint import resolve_endpoint
from mlops_tracking.tracker import MlflowTracker


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _with(settings: Settings, **overrides: Any) -> Settings:
    """The test's settings (same state dir) plus ``overrides``."""
    return load_settings(root=settings.workspace_root, state_dir=str(settings.state_dir), **overrides)


def _stack_runs(monkeypatch: pytest.MonkeyPatch, services: dict[str, str]) -> list[str]:
    """Make discovery report ``services`` (name -> URL) as up; returns the notices printed."""
    notices: list[str] = []
    monkeypatch.setattr(mlops_core.stack, "service_url", lambda settings, name: services.get(name))
    monkeypatch.setattr(mlops_core.stack, "stack_notice", lambda settings, what: notices.append(what))
    return notices


def test_the_services_hook_gives_the_lean_mlflow_server(settings: Settings) -> None:
    port = _free_port()
    settings = _with(settings, tracking={"server_port": port})

    specs = plugin.mlops_services(settings=settings)

    assert specs is not None and len(specs) == 1
    spec = specs[0]
    assert isinstance(spec, ServiceSpec)
    assert (spec.name, spec.concern, spec.port, spec.port_setting) == ("mlflow", "tracking", port, "tracking.server_port")
    command = list(spec.command)
    assert Path(command[0]).name == "mlflow" and command[1] == "server"
    flags = dict(zip(command[2::2], command[3::2], strict=True))
    # The embedded store and artifact root: the same runs and models with the stack up or down.
    assert flags["--backend-store-uri"] == settings.tracking_uri == f"sqlite:///{settings.state_dir / 'mlflow.db'}"
    assert flags["--artifacts-destination"] == settings.artifact_root.resolve().as_uri()
    assert (flags["--host"], flags["--port"], flags["--workers"]) == ("127.0.0.1", str(port), "1")
    assert spec.env == {"MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false"}
    assert spec.health_url == f"http://127.0.0.1:{port}/health"
    assert spec.ui_url == f"http://127.0.0.1:{port}/"
    assert spec.cwd == str(settings.state_dir)
    assert 10 <= spec.ready_timeout <= settings.stack.health_timeout


def test_the_plugin_manager_collects_the_service(plugins: PluginManager) -> None:
    specs = [s for group in plugins.hook.mlops_services(settings=plugins.settings) if group for s in group]
    assert "mlflow" in {s.name for s in specs}


def test_a_configured_database_is_what_the_server_keeps_runs_in(settings: Settings, tmp_path: Path) -> None:
    database = f"sqlite:///{tmp_path / 'elsewhere.db'}"
    spec = plugin.mlops_services(settings=_with(settings, tracking={"uri": database}))[0]
    assert spec.command[spec.command.index("--backend-store-uri") + 1] == database
    # A configured server is not a store the stack's server could use: it keeps the default.
    spec = plugin.mlops_services(settings=_with(settings, tracking={"uri": "http://tracking.example:5000"}))[0]
    assert spec.command[spec.command.index("--backend-store-uri") + 1] == f"sqlite:///{settings.state_dir / 'mlflow.db'}"


def test_with_the_stack_down_the_tracker_is_embedded_and_says_so_once(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    notices = _stack_runs(monkeypatch, {})

    first, second = MlflowTracker(settings), MlflowTracker(settings)

    assert first.endpoint.mode == second.endpoint.mode == "embedded"
    assert first.uri == settings.tracking_uri and not first.remote
    assert notices == ["tracking", "tracking"]  # stack_notice itself prints only the first


def test_the_real_notice_is_printed_once_per_process(settings: Settings) -> None:
    code = (
        "from mlops_core.settings import load_settings\n"
        "from mlops_tracking.endpoint import resolve_endpoint\n"
        f"s = load_settings(state_dir={str(settings.state_dir)!r})\n"
        "print(resolve_endpoint(s).mode, resolve_endpoint(s).mode)\n"
    )
    done = subprocess.run([sys.executable, "-c", code], check=False, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["embedded", "embedded"]
    assert done.stderr.count("stack is down: tracking uses the embedded default") == 1


def test_a_configured_uri_or_use_when_up_off_ignores_the_stack(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    notices = _stack_runs(monkeypatch, {"mlflow": "http://127.0.0.1:1"})
    configured = _with(settings, tracking={"uri": f"sqlite:///{settings.state_dir / 'other.db'}"})
    assert resolve_endpoint(configured).mode == "configured"
    off = _with(settings, stack={"use_when_up": False})
    assert resolve_endpoint(off) == resolve_endpoint(off, notice=False)
    assert resolve_endpoint(off).mode == "embedded"
    assert notices == []  # off is a choice, not a fallback
    assert resolve_endpoint(settings).uri == "http://127.0.0.1:1"


@pytest.fixture
def stack_server(settings: Settings) -> Iterator[tuple[Settings, str]]:
    """The spec's command, started as ``mlops up`` would, on a free port; stopped by process group."""
    settings = _with(settings, tracking={"server_port": _free_port()})
    spec = plugin.mlops_services(settings=settings)[0]
    assert spec.health_url is not None
    log_path = settings.state_dir / "mlflow.log"
    log = log_path.open("w")
    proc = subprocess.Popen(list(spec.command), env={**os.environ, **spec.env}, cwd=spec.cwd,
                            stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    url = spec.health_url.removesuffix("/health")
    try:
        deadline = time.monotonic() + max(spec.ready_timeout, 180)
        while server_health(url, timeout=1).status != "ok":
            if proc.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"mlflow server did not start: {log_path.read_text()[-2000:]}")
            time.sleep(0.3)
        yield settings, url
    finally:
        os.killpg(proc.pid, signal.SIGTERM)  # the group of the server we started, nothing else
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
        log.close()


@pytest.mark.slow
@pytest.mark.integration
def test_trackers_follow_the_stack_and_share_runs_and_models_with_embedded_mode(
    stack_server: tuple[Settings, str], monkeypatch: pytest.MonkeyPatch, tiny_project: Any, tmp_path: Path
) -> None:
    settings, url = stack_server
    project, name = tiny_project.name, tiny_project.model_name
    rows = [[0, 0, 0], [1, 1, 1]]

    def register(tracker: MlflowTracker, threshold: float) -> str:
        handle = tracker.start_run(project, params={"threshold": threshold})
        handle.log_metrics(0, {"loss": threshold})
        run = handle.finish()
        version = tracker.register_model(project, run.run_id, tiny_project.save_model(
            tmp_path / f"m{threshold}", [1, 1, 1], threshold), tiny_project.schema, name=name)
        tracker.set_alias(version, "champion")
        return run.run_id

    # 1. Stack up: the tracker uses the server; a new experiment stores artifacts through the
    #    server's proxy, which writes them into <artifact_root>/<project> as embedded mode does.
    _stack_runs(monkeypatch, {"mlflow": url})
    served = MlflowTracker(settings, flush_interval=0.1)
    assert served.endpoint.mode == "stack" and served.remote and served.uri == url
    first = register(served, 1.5)
    experiment = served.client.get_experiment_by_name(project)
    assert experiment.artifact_location == f"mlflow-artifacts:/{project}"
    assert served.client.get_model_version_download_uri(name, "1").startswith(f"mlflow-artifacts:/{project}/")
    assert list((settings.artifact_root / project).rglob("MLmodel"))
    assert served.load_model(project, name).predict(rows) == [0, 1]
    assert (settings.state_dir / "model-cache").is_dir()  # downloaded through the proxy
    assert served.run_record(first).url.startswith(f"{url}/#/experiments/")
    assert _doctor_server(settings).detail.startswith(f"stack server {url} healthy")

    # 2. Stack down: an embedded tracker on the same sqlite store sees the server's run, loads the
    #    version stored behind the proxy from the local folder, and adds a version to that experiment.
    _stack_runs(monkeypatch, {})
    embedded = MlflowTracker(settings, writer="thread", flush_interval=0.1)
    assert embedded.endpoint.mode == "embedded" and embedded.uri == settings.tracking_uri
    assert [r.run_id for r in embedded.runs(project)] == [first]
    assert embedded.load_model(project, name).version == "1"
    register(embedded, 2.5)
    assert embedded.load_model(project, name).predict(rows) == [0, 1]
    assert embedded.load_model(project, name).version == "2"
    assert "stack is down" in _doctor_server(settings).detail

    # 3. An experiment created in embedded mode (file: artifacts), then the stack comes up: the
    #    server-backed tracker loads that version from its local file location.
    prefixed = _with(settings, tracking={"server_port": settings.tracking.server_port, "experiment_prefix": "e-"})
    embedded_only = MlflowTracker(prefixed, writer="thread", flush_interval=0.1)
    register(embedded_only, -0.5)
    assert embedded_only.client.get_experiment_by_name(f"e-{project}").artifact_location.startswith("file://")

    _stack_runs(monkeypatch, {"mlflow": url})
    again = MlflowTracker(settings, flush_interval=0.1)
    loaded = again.load_model(project, name)
    assert (loaded.version, loaded.predict(rows)) == ("3", [1, 1])
    # ... and the version written while the stack was down, behind the proxy, loads through it.
    again.set_alias(next(v for v in again.model_versions(project, name) if v.version == "2"), "champion")
    assert again.load_model(project, name).predict(rows) == [0, 1]


def _doctor_server(settings: Settings) -> Any:
    return next(row for row in checks(settings) if row.name == "server")


@pytest.fixture
def real_stack(settings: Settings) -> Iterator[Settings]:
    """``mlops up --only mlflow`` for real (supervisord), on free ports; ``mlops down`` after."""
    from mlops_core.stack import start_stack, stop_stack

    settings = _with(settings, tracking={"server_port": _free_port()}, serve={"port": _free_port()},
                     orchestrate={"api_port": _free_port()}, monitor={"ui_port": _free_port()})
    try:
        start_stack(PluginManager(settings), only=["mlflow"])
        yield settings
    finally:
        stop_stack(settings)


@pytest.mark.slow
@pytest.mark.integration
def test_with_the_real_stack_up_a_tracker_finds_the_server_and_registers_through_it(
    real_stack: Settings, tiny_project: Any, tmp_path: Path
) -> None:
    settings = real_stack
    url = f"http://127.0.0.1:{settings.tracking.server_port}"

    tracker = MlflowTracker(settings, flush_interval=0.1)

    assert tracker.endpoint.mode == "stack" and tracker.uri == url
    handle = tracker.start_run(tiny_project.name, params={"threshold": 1.5})
    handle.log_metrics(0, {"loss": 0.1})
    run = handle.finish()
    version = tracker.register_model(tiny_project.name, run.run_id, tiny_project.save_model(
        tmp_path / "m", [1, 1, 1], 1.5), tiny_project.schema, name=tiny_project.model_name)
    tracker.set_alias(version, "champion")
    assert tracker.load_model(tiny_project.name, tiny_project.model_name).predict([[0, 0, 0], [1, 1, 1]]) == [0, 1]
    assert list((settings.artifact_root / tiny_project.name).rglob("MLmodel"))  # via the proxy
    assert _doctor_server(settings).detail.startswith(f"stack server {url} healthy")
