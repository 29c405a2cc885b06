"""The plugin's hooks: runner choice, DAG files on registration, retrain requests, doctor, CLI."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from mlops_core.plugins import PluginManager
from mlops_core.providers import PipelineRunner
from mlops_core.records import DriftReport, ProjectInfo, RetrainRequest
from mlops_core.settings import Settings
from mlops_orchestrate import plugin
from mlops_orchestrate.dagfiles import dag_file_path, write_dag_file
from mlops_orchestrate.runner import AirflowRunner

REPORT = DriftReport(project="demo", model="demo-model", version="3", report_id="r-123", drift_share=0.75,
                     drifted_columns=3, total_columns=4, threshold=0.5, drift_detected=True)


def _register(settings: Settings, *names: str, inactive: tuple[str, ...] = ()) -> None:
    import json

    settings.registry_path.parent.mkdir(parents=True, exist_ok=True)
    settings.registry_path.write_text(json.dumps({
        n: {"name": n, "path": "/x", "active": n not in inactive} for n in (*names, *inactive)
    }))


def test_plugin_module_imports_no_airflow() -> None:
    code = ("import sys, mlops_orchestrate.plugin, mlops_orchestrate.runner, mlops_orchestrate.commands, "
            "mlops_orchestrate.services, mlops_orchestrate.rest_runner, mlops_orchestrate.client, "
            "mlops_orchestrate.standalone, mlops_orchestrate.prepare; print('airflow' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_the_airflow_runner_is_provided_only_when_configured(plugins: PluginManager, settings: Settings) -> None:
    runner = plugins.pipeline_runner()
    assert isinstance(runner, AirflowRunner) and runner.name == "airflow"
    assert isinstance(runner, PipelineRunner)
    settings.orchestrate.runner = "inprocess"
    assert plugin.mlops_pipeline_runner(settings=settings) is None


def test_drift_asks_for_a_run_of_the_projects_dag(plugins: PluginManager) -> None:
    requests = plugins.emit("mlops_drift_detected", report=REPORT)
    # ours comes first, before the core's trylast fallback
    request = requests[0]
    assert isinstance(request, RetrainRequest)
    assert (request.project, request.model, request.status) == ("demo", "demo-model", "pending")
    assert request.source_ref == "drift:r-123"
    assert request.how == "airflow dag mlops__demo"
    assert "0.75" in request.reason and "0.50" in request.reason
    assert len(request.request_id) == 12 and request.requested_at
    assert request.request_id != plugin.mlops_drift_detected(settings=plugins.settings, report=REPORT).request_id


def test_drift_leaves_the_request_to_the_core_when_pipelines_run_in_process(settings: Settings) -> None:
    settings.orchestrate.runner = "inprocess"
    assert plugin.mlops_drift_detected(settings=settings, report=REPORT) is None


def test_registering_a_project_writes_its_dag_file(plugins: PluginManager, settings: Settings) -> None:
    plugins.emit("mlops_project_registered", project=ProjectInfo(name="demo", path="/x"))
    assert dag_file_path(settings, "demo").is_file()
    plugins.emit("mlops_project_registered", project=ProjectInfo(name="gone", path="/x", active=False))
    assert not dag_file_path(settings, "gone").exists()
    assert plugins.event_errors == []


def _rows(settings: Settings) -> dict[str, tuple[str, str, str]]:
    return {c.name: (c.status, c.detail, c.fix) for c in plugin.mlops_doctor_checks(settings=settings)}


def test_doctor_reports_airflow_db_and_dag_files(settings: Settings) -> None:
    rows = _rows(settings)
    assert rows["airflow installed"][0] == "ok" and rows["airflow installed"][1].startswith("Airflow 3.")
    assert rows["metadata db"][0] == "ok" and "first pipeline run creates it" in rows["metadata db"][1]
    assert rows["dag files"][0] == "ok"

    _register(settings, "a", "b")
    write_dag_file(settings, "a")
    write_dag_file(settings, "old")
    status, detail, fix = _rows(settings)["dag files"]
    assert status == "warn" and "missing: b" in detail and "unregistered projects: old" in detail
    assert fix == "mlops dags write"

    write_dag_file(settings, "b")
    dag_file_path(settings, "old").unlink()
    assert _rows(settings)["dag files"][0] == "ok"


def test_cli_list_write_and_dags_sub_app(settings: Settings, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    import typer

    app = typer.Typer()
    plugin.mlops_cli(app=app)
    monkeypatch.chdir(tmp_path)  # load_settings() in the commands finds this workspace
    (tmp_path / "mlops.toml").write_text("")
    cli = CliRunner()
    _register(settings, "stale-project")
    write_dag_file(settings, "stale-project")

    result = cli.invoke(app, ["dags", "list"])
    assert result.exit_code == 0, result.output
    assert "mlops__stale-project" in result.output

    result = cli.invoke(app, ["dags", "write"])
    assert result.exit_code == 0, result.output
    # the registry sync marks the project inactive (it is not installed): its file goes
    assert "removed" in result.output
    assert not dag_file_path(settings, "stale-project").exists()
    from mlops_core.registry import ProjectRegistry

    installed = [i.name for i in ProjectRegistry(settings).stored().values() if i.active]
    for name in installed:
        assert dag_file_path(settings, name).is_file()
