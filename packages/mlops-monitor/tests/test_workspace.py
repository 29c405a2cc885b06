"""Drift checks land in the Evidently workspace, and the Evidently UI of the stack serves it."""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from mlops_core.errors import MlopsError
from mlops_core.plugins import PluginManager
from mlops_core.records import ServiceSpec
from mlops_core.settings import Settings, load_settings
from mlops_monitor import Monitor
from mlops_monitor.paths import evidently_dir
from mlops_monitor.service import SERVICE_NAME, ui_service
from mlops_monitor.workspace import DRIFT_TAB, run_url, share_panel_title

NAMES = [f"f{i}" for i in range(6)]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _checked(monitor: Monitor, make_batch, tabular, *, seed: int, shift: float = 0.0) -> Any:
    """Serve 100 rows and check them (the reference must be set)."""
    monitor.capture(make_batch(tabular(100, len(NAMES), seed=seed, shift=shift), NAMES))
    return monitor.check("proj", "clf", last_n=100)


@pytest.fixture
def json_only(settings: Settings) -> Settings:
    settings.monitor.html_reports = False  # the HTML report is not what these tests are about
    return settings


# -- the service spec --------------------------------------------------------------------------


def test_ui_service_spec(tmp_path: Path, plugins: PluginManager) -> None:
    settings = load_settings(root=tmp_path, monitor={"ui_port": 8123})
    spec = ui_service(settings)
    assert spec is not None
    exe = Path(sys.executable).parent / "evidently"
    assert spec.command == (str(exe), "ui", "--workspace", str(settings.state_dir / "evidently"),
                            "--host", "127.0.0.1", "--port", "8123")
    assert (spec.name, spec.concern, spec.port, spec.port_setting) == (SERVICE_NAME, "monitor", 8123, "monitor.ui_port")
    assert spec.health_url == "http://127.0.0.1:8123/api/projects"
    assert spec.ui_url == "http://127.0.0.1:8123/"
    assert spec.env["DO_NOT_TRACK"] == "1" and spec.ready_timeout == 60
    # The UI reads every run before it answers: a bigger workspace gets more time.
    runs = settings.state_dir / "evidently" / "0190a1b2-0000-7000-8000-000000000000" / "snapshots"
    runs.mkdir(parents=True)
    (runs / "0190a1b2-0000-7000-8000-000000000001.json").write_bytes(b" " * 10_000_000)
    assert ui_service(settings).ready_timeout == 65  # type: ignore[union-attr]
    # The plugin contributes it through the hook, for the plugins' own settings.
    specs = [s for found in plugins.hook.mlops_services(settings=plugins.settings) for s in found or ()]
    assert [s.name for s in specs if s.concern == "monitor"] == [SERVICE_NAME]


def test_no_service_without_the_evidently_command(settings: Settings, tmp_path: Path,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    fake_bin = tmp_path / "bin"
    fake_bin.mkdir()
    monkeypatch.setattr(sys, "executable", str(fake_bin / "python"))
    assert ui_service(settings) is None


def test_run_url() -> None:
    assert run_url("http://127.0.0.1:8000/", "p", "r") == "http://127.0.0.1:8000/projects/p/reports/r"


# -- the workspace, written by every check -----------------------------------------------------


@pytest.mark.slow
@pytest.mark.integration
def test_a_check_adds_a_run_to_the_project(monitor: Monitor, json_only: Settings, make_batch, tabular) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # Evidently's imports, not ours to fix
        from evidently.ui.workspace import Workspace

    monitor.set_reference("proj", "clf", NAMES, tabular(400, len(NAMES), seed=1))
    first = _checked(monitor, make_batch, tabular, seed=2)
    second = _checked(monitor, make_batch, tabular, seed=3, shift=1.5)
    assert not first.drift_detected and second.drift_detected

    # Reopen the workspace from its folder, as the UI does.
    ws = Workspace(str(evidently_dir(json_only)))
    (project,) = ws.search_project("proj")
    assert "'proj'" in (project.description or "")
    indexed = {r.report.report_id: r for r in monitor.list_reports("proj")}
    assert {r.evidently_project_id for r in indexed.values()} == {str(project.id)}
    assert sorted(str(r) for r in ws.list_runs(project.id)) == sorted(r.evidently_run_id for r in indexed.values())
    for report in (first, second):
        run = ws.get_run(project.id, indexed[report.report_id].evidently_run_id)
        assert run.metadata["report_id"] == report.report_id and run.metadata["model"] == "clf"
        assert "model:clf" in run.tags
        (share,) = [m.share.value for m in run.metric_results.values() if type(m).__name__ == "CountValue"]
        assert share == report.drift_share
    dashboard = ws.get_dashboard(project.id)
    assert [p.title for p in dashboard.panels] == [share_panel_title("clf")]  # one panel per model, made once
    assert [t.title for t in dashboard.tabs] == [DRIFT_TAB]
    # Runs of another model of the project go to the same Evidently project, with a panel of their own.
    monitor.set_reference("proj", "other", NAMES, tabular(400, len(NAMES), seed=1))
    monitor.capture(make_batch(tabular(100, len(NAMES), seed=4), NAMES, model="other"))
    monitor.check("proj", "other", last_n=100)
    assert len(ws.list_runs(project.id)) == 3 and len(ws.list_projects()) == 1
    assert len(ws.get_dashboard(project.id).panels) == 2


@pytest.mark.slow
@pytest.mark.integration
def test_a_lost_project_folder_is_made_again(monitor: Monitor, json_only: Settings, make_batch, tabular) -> None:
    monitor.set_reference("proj", "clf", NAMES, tabular(400, len(NAMES), seed=1))
    first = monitor.workspace.project_id("proj", "clf")
    assert monitor.workspace.project_id("proj", "clf") == first  # found again, not made again
    shutil.rmtree(evidently_dir(json_only) / first)
    report = _checked(monitor, make_batch, tabular, seed=2)
    (indexed,) = monitor.list_reports("proj")
    assert indexed.report == report and indexed.evidently_project_id not in ("", first)
    assert monitor.workspace.runs("proj") == [indexed.evidently_run_id]


@pytest.mark.slow
@pytest.mark.integration
def test_an_unwritable_workspace_fails_the_check_whole(monitor: Monitor, json_only: Settings, make_batch,
                                                        tabular) -> None:
    monitor.set_reference("proj", "clf", NAMES, tabular(400, len(NAMES), seed=1))
    evidently_dir(json_only).parent.mkdir(parents=True, exist_ok=True)
    evidently_dir(json_only).write_text("a file where the workspace folder should be")
    with pytest.raises(MlopsError, match="Evidently workspace") as info:
        _checked(monitor, make_batch, tabular, seed=2)
    assert "writable" in (info.value.fix or "")
    assert monitor.list_reports("proj") == [] and not json_only.reports_dir.exists()


# -- the UI, started from the spec -------------------------------------------------------------


def _get(url: str, timeout: float = 5.0) -> Any:
    with urllib.request.urlopen(url, timeout=timeout) as resp:
        assert 200 <= resp.status < 300
        body = resp.read()
    return json.loads(body) if body[:1] in (b"[", b"{") else body


def _post(url: str, payload: dict[str, Any]) -> Any:
    req = urllib.request.Request(url, data=json.dumps(payload).encode(), headers={"content-type": "application/json"})
    with urllib.request.urlopen(req, timeout=5.0) as resp:
        return json.loads(resp.read())


@pytest.fixture
def ui(json_only: Settings, tmp_path: Path) -> Iterator[tuple[ServiceSpec, subprocess.Popen[bytes]]]:
    """The Evidently UI of the spec, on a free port, until the test ends (stopped by its process group)."""
    json_only.monitor.ui_port = _free_port()
    spec = ui_service(json_only)
    assert spec is not None and spec.health_url
    Path(spec.cwd).mkdir(parents=True, exist_ok=True)
    log = open(tmp_path / "evidently-ui.log", "wb")  # noqa: SIM115 - closed in teardown
    proc = subprocess.Popen(spec.command, env={**os.environ, **spec.env}, cwd=spec.cwd, stdout=log,
                            stderr=subprocess.STDOUT, start_new_session=True)
    try:
        yield spec, proc
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(timeout=15)
        log.close()


def _wait_healthy(spec: ServiceSpec, proc: subprocess.Popen[bytes], log: Path) -> None:
    assert spec.health_url
    deadline = time.monotonic() + spec.ready_timeout
    while time.monotonic() < deadline:
        assert proc.poll() is None, f"evidently ui exited: {log.read_text()[-2000:]}"
        try:
            _get(spec.health_url, timeout=1.0)
            return
        except OSError:
            time.sleep(0.2)
    pytest.fail(f"evidently ui not healthy in {spec.ready_timeout} s: {log.read_text()[-2000:]}")


def _wait_for(condition: Any, timeout: float = 20.0) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value or time.monotonic() > deadline:
            return value
        time.sleep(0.2)


@pytest.mark.slow
@pytest.mark.integration
def test_the_ui_lists_the_projects_and_runs(ui, monitor: Monitor, make_batch, tabular, tmp_path: Path) -> None:
    spec, proc = ui
    monitor.set_reference("proj", "clf", NAMES, tabular(400, len(NAMES), seed=1))
    # The check runs while the UI starts: it must find the new project and run by watching the folder.
    first = _checked(monitor, make_batch, tabular, seed=2)
    _wait_healthy(spec, proc, tmp_path / "evidently-ui.log")
    base = spec.ui_url.rstrip("/") if spec.ui_url else ""
    assert _get(f"{base}/api/version")["version"].startswith("0.7")

    projects = _get(f"{base}/api/projects")
    assert [p["name"] for p in projects] == ["proj"]
    project_id = projects[0]["id"]
    (indexed,) = monitor.list_reports("proj")
    assert indexed.evidently_project_id == project_id

    def listed() -> list[str]:
        return [s["id"] for s in _get(f"{base}/api/projects/{project_id}/snapshots")]

    assert _wait_for(lambda: listed() == [indexed.evidently_run_id]), listed()
    # A run added while the UI is up shows up without a restart.
    second = _checked(monitor, make_batch, tabular, seed=3, shift=1.5)
    new = monitor.list_reports("proj")[0]
    assert new.report == second
    assert _wait_for(lambda: sorted(listed()) == sorted([indexed.evidently_run_id, new.evidently_run_id])), listed()
    # The run's page and the drift-share series the dashboard panel plots.
    assert b"<html" in _get(run_url(base, project_id, new.evidently_run_id)).lower()
    series = _post(f"{base}/api/v2/snapshots/{project_id}/data_series_batch", {"series_filter": [
        {"tags": ["model:clf"], "metadata": {}, "metric": "evidently:metric_v2:DriftedColumnsCount",
         "metric_labels": {"value_type": "share"}}]})
    (share,) = series["series"]
    assert share["values"] == [first.drift_share, second.drift_share]


# -- through the real stack: the CLI links each run to its page --------------------------------


@pytest.mark.slow
@pytest.mark.integration
def test_the_cli_links_runs_while_the_stack_serves_the_ui(plugins: PluginManager, json_only: Settings, make_batch,
                                                          tabular, tmp_path: Path,
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    stack = pytest.importorskip("mlops_core.stack")
    import typer
    from typer.testing import CliRunner

    from mlops_core.stack.discovery import forget_cache

    app = typer.Typer()

    @app.callback()
    def _root() -> None:  # a group, as the real `mlops` app is
        """mlops"""

    plugins.hook.mlops_cli(app=app)
    monkeypatch.chdir(tmp_path)  # the CLI loads the settings of the current workspace: these
    port = _free_port()
    monkeypatch.setenv("MLOPS_MONITOR__UI_PORT", str(port))
    monkeypatch.setenv("MLOPS_MONITOR__HTML_REPORTS", "false")
    json_only.monitor.ui_port = port
    monitor = plugins.require_drift_monitor()
    monitor.set_reference("proj", "clf", NAMES, tabular(400, len(NAMES), seed=1))
    monitor.capture(make_batch(tabular(100, len(NAMES), seed=2), NAMES))
    runner = CliRunner()
    down = runner.invoke(app, ["monitor", "check", "proj", "--model", "clf", "--last", "100"])
    assert down.exit_code == 0, down.output
    assert "(`mlops up` shows it in the Evidently UI)" in down.output
    try:
        up = stack.start_stack(plugins, only=[SERVICE_NAME])
        assert up.started == [SERVICE_NAME]
        forget_cache()
        base = f"http://127.0.0.1:{port}"
        assert stack.service_url(json_only, SERVICE_NAME) == base
        listed = runner.invoke(app, ["monitor", "reports", "proj", "--json"])
        assert listed.exit_code == 0, listed.output
        (entry,) = json.loads(listed.output)
        assert entry["evidently"]["url"] == run_url(base, entry["evidently"]["project_id"], entry["evidently"]["run_id"])
        assert b"<html" in _get(entry["evidently"]["url"]).lower()
        checked = runner.invoke(app, ["monitor", "check", "proj", "--model", "clf", "--last", "100"])
        assert checked.exit_code == 0, checked.output
        assert f"{base}/projects/{entry['evidently']['project_id']}/reports/" in checked.output
    finally:
        stack.stop_stack(json_only)
