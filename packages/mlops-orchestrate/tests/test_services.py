"""The stack's service specs: what ``mlops up`` is told to run (no process is started here)."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

from mlops_core.plugins import PluginManager
from mlops_core.records import ServiceSpec
from mlops_core.settings import Settings, load_settings
from mlops_orchestrate import plugin
from mlops_orchestrate.services import API_SERVER, DAG_PROCESSOR, SCHEDULER, services, stack_env


def _by_name(specs: list[ServiceSpec]) -> dict[str, ServiceSpec]:
    return {s.name: s for s in specs}


def test_three_services_on_the_configured_port_with_the_venvs_airflow(settings: Settings) -> None:
    settings.orchestrate.api_port = 18080
    specs = _by_name(services(settings))
    assert list(specs) == [API_SERVER, SCHEDULER, DAG_PROCESSOR]
    airflow = str(Path(sys.executable).parent / "airflow")
    assert specs[API_SERVER].command == (airflow, "api-server")
    assert specs[SCHEDULER].command == (airflow, "scheduler", "--skip-serve-logs")
    assert specs[DAG_PROCESSOR].command == (airflow, "dag-processor")

    api = specs[API_SERVER]
    assert (api.port, api.port_setting) == (18080, "orchestrate.api_port")
    assert api.health_url == "http://127.0.0.1:18080/execution/health"
    assert api.ui_url == "http://127.0.0.1:18080/"
    assert api.setup == ((sys.executable, "-m", "mlops_orchestrate.prepare", "--workspace-root",
                          str(settings.workspace_root)),)
    assert api.order < specs[SCHEDULER].order < specs[DAG_PROCESSOR].order
    for name in (SCHEDULER, DAG_PROCESSOR):
        assert (specs[name].port, specs[name].health_url, specs[name].setup) == (None, None, ())
    assert {s.concern for s in specs.values()} == {"orchestrate"}
    assert {s.cwd for s in specs.values()} == {str(settings.workspace_root)}


def test_the_services_share_the_embedded_runners_airflow_home(settings: Settings) -> None:
    env = stack_env(settings)
    home = settings.airflow_home
    assert env["AIRFLOW_HOME"] == str(home)
    assert env["AIRFLOW_CONFIG"] == str(home / "airflow.cfg")
    assert env["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"] == f"sqlite:///{home / 'airflow.db'}"
    assert env["AIRFLOW__CORE__DAGS_FOLDER"] == str(home / "dags")
    assert env["AIRFLOW__CORE__LOAD_EXAMPLES"] == "False"
    assert env["AIRFLOW__CORE__EXECUTOR"] == "LocalExecutor"
    assert env["AIRFLOW__CORE__PARALLELISM"] == "4"
    assert env["AIRFLOW__API__HOST"] == "127.0.0.1"
    assert env["AIRFLOW__API__PORT"] == "8080"
    assert env["AIRFLOW__API__WORKERS"] == "1"
    assert env["AIRFLOW__CORE__EXECUTION_API_SERVER_URL"] == "http://127.0.0.1:8080/execution/"
    assert env["AIRFLOW__CORE__AUTH_MANAGER"].endswith("SimpleAuthManager")
    assert env["PYTHONDONTWRITEBYTECODE"] == ""
    # only what this package sets: the supervisor adds its own environment
    assert "PATH" not in env and "HOME" not in env
    assert all(isinstance(v, str) for v in env.values())


def test_ports_and_parallelism_follow_the_settings(settings: Settings) -> None:
    settings.orchestrate.api_port = 28080
    settings.orchestrate.parallelism = 32
    env = stack_env(settings)
    assert env["AIRFLOW__API__PORT"] == "28080"
    assert env["AIRFLOW__CORE__EXECUTION_API_SERVER_URL"] == "http://127.0.0.1:28080/execution/"
    assert env["AIRFLOW__CORE__PARALLELISM"] == "32"


def test_tasks_get_the_callers_state_dir_even_when_it_is_not_the_default(tmp_path: Path,
                                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    for name in [n for n in os.environ if n.startswith("MLOPS_")]:
        monkeypatch.delenv(name)
    elsewhere = tmp_path / "elsewhere" / "state"
    monkeypatch.setenv("MLOPS_STATE_DIR", str(elsewhere))  # as in `MLOPS_STATE_DIR=... mlops up`
    caller = load_settings(root=tmp_path)
    env = stack_env(caller)
    assert env["MLOPS_STATE_DIR"] == str(elsewhere)
    assert env["AIRFLOW_HOME"] == str(elsewhere / "airflow")
    assert "MLOPS_ORCHESTRATE__AIRFLOW_HOME" not in env

    # A task process loads its settings from the baked workspace root under exactly that env.
    monkeypatch.delenv("MLOPS_STATE_DIR")
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    task = load_settings(root=tmp_path)
    assert task.state_dir == caller.state_dir and task.airflow_home == caller.airflow_home


def test_an_explicit_airflow_home_travels_too(settings: Settings, tmp_path: Path) -> None:
    settings.orchestrate.airflow_home = tmp_path / "af"
    assert stack_env(settings)["MLOPS_ORCHESTRATE__AIRFLOW_HOME"] == str(tmp_path / "af")


def test_the_hook_offers_the_services_only_when_airflow_runs_pipelines(plugins: PluginManager,
                                                                      settings: Settings) -> None:
    collected = [spec for specs in plugins.hook.mlops_services(settings=settings) for spec in specs or []]
    assert {API_SERVER, SCHEDULER, DAG_PROCESSOR} <= {s.name for s in collected}
    settings.orchestrate.runner = "inprocess"
    assert plugin.mlops_services(settings=settings) is None


def test_with_the_stack_down_pipelines_use_the_embedded_runner_and_say_so(
        settings: Settings, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    from mlops_core.stack import discovery
    from mlops_orchestrate.runner import AirflowRunner

    monkeypatch.setattr(discovery, "_noticed", set())  # it says so once per process
    assert isinstance(plugin.mlops_pipeline_runner(settings=settings), AirflowRunner)
    assert isinstance(plugin.mlops_pipeline_runner(settings=settings), AirflowRunner)
    assert capsys.readouterr().err == "stack is down: pipelines uses the embedded default\n"

    settings.stack.use_when_up = False  # embedded by choice: nothing to say
    monkeypatch.setattr(discovery, "_noticed", set())
    assert isinstance(plugin.mlops_pipeline_runner(settings=settings), AirflowRunner)
    assert capsys.readouterr().err == ""


def test_doctor_says_pipelines_run_embedded_while_the_stack_is_down(settings: Settings) -> None:
    rows = {c.name: c for c in plugin.mlops_doctor_checks(settings=settings)}
    assert rows["stack airflow"].status == "ok"
    assert rows["stack airflow"].detail.startswith("stack not running: pipelines run embedded")
    settings.orchestrate.runner = "inprocess"
    assert "stack airflow" not in {c.name for c in plugin.mlops_doctor_checks(settings=settings)}
