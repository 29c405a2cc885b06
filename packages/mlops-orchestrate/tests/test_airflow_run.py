"""Real ``dag.test()`` runs of generated DAGs, through the runner's subprocess.

The steps are the trivial ones in ``trivial_steps.py``: they record what they saw (upstream state
from XCom, params, settings, process), so the plumbing is checked and not the ML work. One
Airflow home is shared by the module, so only the first run pays for ``airflow db migrate``.
"""

from __future__ import annotations

import json
import os
import sqlite3
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest

from mlops_core.errors import ProjectError
from mlops_core.settings import Settings
from mlops_orchestrate.dagfiles import dag_file_path
from mlops_orchestrate.dags import STEPS
from mlops_orchestrate.home import metadata_db, runs_folder
from mlops_orchestrate.runner import AirflowRunner, describe_dag

pytestmark = [pytest.mark.slow, pytest.mark.integration]

HERE = Path(__file__).parent
STEP_RUNNER = "trivial_steps:run_step"


@pytest.fixture(scope="module")
def shared_home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("airflow")


@pytest.fixture
def af_settings(settings: Settings, shared_home: Path, monkeypatch: pytest.MonkeyPatch) -> Settings:
    settings.orchestrate.airflow_home = shared_home
    # The run subprocess imports the trivial steps from here.
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(filter(None, [str(HERE), os.environ.get("PYTHONPATH")])))
    return settings


class Events:
    def __init__(self) -> None:
        self.seen: list[tuple[str, str, dict[str, Any]]] = []

    def __call__(self, step: str, status: str, detail: Mapping[str, Any]) -> None:
        self.seen.append((step, status, dict(detail)))

    def pairs(self) -> list[tuple[str, str]]:
        return [(s, st) for s, st, _ in self.seen]


def _query(settings: Settings, sql: str, *args: Any) -> list[tuple[Any, ...]]:
    with sqlite3.connect(metadata_db(settings)) as db:
        return db.execute(sql, args).fetchall()


def test_a_run_passes_state_by_xcom_through_every_task_in_order(af_settings: Settings) -> None:
    af_settings.serve.port = 9123  # an override only the caller's settings carry
    events = Events()
    runner = AirflowRunner(af_settings, on_event=events, step_runner=STEP_RUNNER)
    started = time.perf_counter()
    final = runner.run("demo", {"epochs": 3, "lr": 0.5})
    print(f"\nfirst run (migrated={runner.last_run.migrated}): {time.perf_counter() - started:.1f} s")

    assert list(final) == list(STEPS)
    for i, step in enumerate(STEPS):
        assert final[step]["upstream"] == list(STEPS[:i]), step  # the state each task got by XCom
        assert final[step]["params"] == {"epochs": 3, "lr": 0.5}
        assert final[step]["project"] == "demo"
        assert final[step]["state_dir"] == str(af_settings.state_dir)
        assert final[step]["serve_port"] == 9123
    assert final["prepare"]["pid"] != os.getpid()  # ran in the subprocess

    assert events.pairs() == [(s, st) for s in STEPS for st in ("running", "success")]
    assert events.seen[1][2] == final["prepare"]  # success detail: the step's results

    record = runner.last_run
    assert record is not None and record.state == "success"
    assert record.tasks == dict.fromkeys(STEPS, "success")
    assert record.log_file.is_file() and record.log_file.is_relative_to(af_settings.airflow_home / "logs")
    assert [p.name for p in runs_folder(af_settings).iterdir()] == ["mlops__demo.lock"]  # inputs removed
    assert dag_file_path(af_settings, "demo").is_file()

    # What Airflow itself recorded: each task's XCom, pool and priority, in run order.
    rows = _query(af_settings, "SELECT task_id, pool, priority_weight, state FROM task_instance "
                  "WHERE dag_id = ? AND run_id = ? ORDER BY start_date", "mlops__demo", record.run_id)
    assert rows == [(s, "mlops_demo", 1, "success") for s in STEPS]
    assert _query(af_settings, "SELECT pool FROM slot_pool") == [("default_pool",)]  # no such pool: no failure
    [(train_xcom,)] = _query(af_settings, "SELECT value FROM xcom WHERE dag_id = ? AND run_id = ? "
                             "AND task_id = 'train' AND key = 'return_value'", "mlops__demo", record.run_id)
    assert list(json.loads(train_xcom)) == ["prepare", "train"]


def test_a_second_run_does_not_migrate_again(af_settings: Settings) -> None:
    runner = AirflowRunner(af_settings, step_runner=STEP_RUNNER)
    started = time.perf_counter()
    final = runner.run("demo", {"epochs": 4})
    print(f"\nsecond run: {time.perf_counter() - started:.1f} s")
    assert runner.last_run is not None and runner.last_run.migrated is False
    assert final["deploy"]["params"] == {"epochs": 4}


def test_a_failing_step_raises_project_error_with_task_and_log_tail(af_settings: Settings) -> None:
    events = Events()
    runner = AirflowRunner(af_settings, on_event=events, step_runner=STEP_RUNNER)
    with pytest.raises(ProjectError) as info:
        runner.run("demo", {"fail_at": "evaluate"})
    err = info.value
    assert "task 'evaluate' of Airflow DAG mlops__demo failed" in err.message
    assert "broke on purpose (boom-evaluate)" in err.message.splitlines()[0]
    tail = err.message.split("--- last lines of the log of task 'evaluate'", 1)[1]
    assert "Traceback" in tail and "trivial_steps.py" in tail
    assert tail.rstrip().endswith("fix: do not pass fail_at=evaluate")  # the step's own error ends the tail
    assert err.fix is not None and err.fix.startswith("do not pass fail_at=evaluate")
    assert str(runner.last_run.log_file) in err.fix
    assert events.pairs() == [("prepare", "running"), ("prepare", "success"), ("train", "running"),
                              ("train", "success"), ("evaluate", "running"), ("evaluate", "failed")]
    assert runner.last_run.tasks == {"prepare": "success", "train": "success", "evaluate": "failed",
                                     "register": "upstream_failed", "deploy": "upstream_failed"}


def test_a_task_failing_outside_its_step_is_reported_as_failed(af_settings: Settings) -> None:
    events = Events()
    runner = AirflowRunner(af_settings, on_event=events, step_runner=STEP_RUNNER)
    with pytest.raises(ProjectError, match="task 'train' of Airflow DAG mlops__demo failed") as info:
        runner.run("demo", {"bad_return_at": "train"})
    assert "TypeError: step runner returned a list for step 'train', not a dict" in info.value.message
    assert events.pairs()[-1] == ("train", "failed")


def test_a_step_runner_that_cannot_be_imported_is_reported_before_airflow_starts(af_settings: Settings) -> None:
    runner = AirflowRunner(af_settings, step_runner="no_such_module_here:run_step")
    with pytest.raises(ProjectError, match="step runner 'no_such_module_here:run_step' cannot be imported"):
        runner.run("demo")


def test_only_one_run_of_a_dag_at_a_time(af_settings: Settings) -> None:
    from mlops_orchestrate.home import file_lock

    runner = AirflowRunner(af_settings, step_runner=STEP_RUNNER)
    with file_lock(runs_folder(af_settings) / "mlops__demo.lock"):  # as a run in progress holds it
        with pytest.raises(ProjectError, match="another run of Airflow DAG mlops__demo is in progress"):
            runner.run("demo")


def test_a_run_over_its_timeout_is_stopped(af_settings: Settings) -> None:
    runner = AirflowRunner(af_settings, step_runner=STEP_RUNNER, timeout=1.5)
    started = time.perf_counter()
    with pytest.raises(ProjectError, match="did not finish within 1.5 s"):
        runner.run("demo")
    assert time.perf_counter() - started < 15


def test_describe_builds_the_real_dag(af_settings: Settings) -> None:
    dag = describe_dag(af_settings, "cpu-compression")
    assert dag["dag_id"] == "mlops__cpu-compression"
    assert dag["tags"] == ["mlops", "project:cpu-compression"]
    assert dag["max_active_runs"] == 1
    assert [t["task_id"] for t in dag["tasks"]] == list(STEPS)
    assert [t["upstream"] for t in dag["tasks"]] == [[]] + [[s] for s in STEPS[:-1]]
    assert {(t["pool"], t["priority_weight"], t["weight_rule"], t["retries"]) for t in dag["tasks"]} == {
        ("mlops_cpu-compression", 1, "absolute", 0)}


def test_cli_show_prints_the_tasks_in_order(af_settings: Settings, monkeypatch: pytest.MonkeyPatch) -> None:
    import typer
    from typer.testing import CliRunner

    from mlops_orchestrate.plugin import mlops_cli

    app = typer.Typer()
    mlops_cli(app=app)
    monkeypatch.chdir(af_settings.workspace_root)
    (af_settings.workspace_root / "mlops.toml").write_text(f'[orchestrate]\nairflow_home = "{af_settings.airflow_home}"\n')
    result = CliRunner().invoke(app, ["dags", "show", "demo"], terminal_width=200)
    assert result.exit_code == 0, result.output
    assert "mlops__demo" in result.output and "project:demo" in result.output
    rows = [[cell.strip() for cell in line.split("│")[1:-1]] for line in result.output.splitlines()
            if line.startswith("│")]
    assert [row[1] for row in rows] == list(STEPS)
    assert [row[2] for row in rows] == ["-", *STEPS[:-1]]
    assert result.output.count("mlops_demo") == len(STEPS)


def test_steps_match_the_core_pipeline() -> None:
    from mlops_core.pipeline import STEPS as CORE_STEPS

    assert STEPS == CORE_STEPS
