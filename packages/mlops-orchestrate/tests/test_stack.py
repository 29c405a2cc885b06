"""The stack's real Airflow services, started from this package's specs, driven through REST.

One api-server, scheduler and dag-processor for the module, on a free port, in a temporary
workspace whose state directory is not the default one (as with ``MLOPS_STATE_DIR=... mlops up``).
The steps are the trivial ones in ``trivial_steps.py`` (the services get this folder on
``PYTHONPATH``): they record what they saw, so the plumbing is checked and not the ML work.
"""

from __future__ import annotations

import json
import os
import socket
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from mlops_core.errors import ProjectError
from mlops_core.records import DriftReport
from mlops_core.settings import Settings, load_settings
from mlops_orchestrate import plugin
from mlops_orchestrate.client import AirflowClient
from mlops_orchestrate.dagfiles import dag_file_path
from mlops_orchestrate.dags import STEPS
from mlops_orchestrate.rest_runner import AirflowRestRunner
from mlops_orchestrate.services import API_SERVER, api_base_url, passwords_file, services
from mlops_orchestrate.standalone import LocalServices, start_services

pytestmark = [pytest.mark.slow, pytest.mark.integration]

HERE = Path(__file__).parent
STEP_RUNNER = "trivial_steps:run_step"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class Stack:
    settings: Settings
    services: LocalServices
    url: str
    client: AirflowClient


def _rss_mib(local: LocalServices) -> tuple[int, float]:
    import psutil

    pids = [pid for group in local.pids().values() for pid in group]
    total = 0
    for pid in pids:
        try:
            total += psutil.Process(pid).memory_info().rss
        except psutil.NoSuchProcess:
            pass
    return len(pids), total / 2**20


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    root = tmp_path_factory.mktemp("workspace")
    with pytest.MonkeyPatch.context() as mp:
        for name in [n for n in os.environ if n.startswith("MLOPS_")]:
            mp.delenv(name)
        settings = load_settings(root=root, state_dir=str(tmp_path_factory.mktemp("elsewhere") / "state"),
                                 orchestrate={"api_port": _free_port()})
    # "demo" is registered before the start: the setup writes its DAG file and creates its pool.
    settings.registry_path.parent.mkdir(parents=True, exist_ok=True)
    settings.registry_path.write_text(json.dumps({"demo": {"name": "demo", "path": str(root), "active": True}}))

    started = time.perf_counter()
    local = start_services(services(settings), root / "logs",
                           extra_env={"PYTHONPATH": os.pathsep.join(filter(None, [str(HERE), os.environ.get("PYTHONPATH")]))})
    setup_s = time.perf_counter() - started
    try:
        healthy_s = local.wait_healthy(timeout=300)
        count, rss = _rss_mib(local)
        print(f"\nstack: setup {setup_s:.1f} s, healthy (with heartbeats) {healthy_s:.1f} s after the start; "
              f"{count} processes, {rss:.0f} MiB RSS (parallelism {settings.orchestrate.parallelism})")
        url = api_base_url(settings)
        yield Stack(settings, local, url, AirflowClient(url, passwords_file(settings)))
    finally:
        local.stop(timeout=settings.stack.stop_timeout)
        left = {name: pids for name, pids in local.pids().items() if pids}
        assert not left, f"processes left after stop: {left}"


class Events:
    def __init__(self) -> None:
        self.seen: list[tuple[str, str, dict[str, Any]]] = []

    def __call__(self, step: str, status: str, detail: Mapping[str, Any]) -> None:
        self.seen.append((step, status, dict(detail)))

    def pairs(self) -> list[tuple[str, str]]:
        return [(s, st) for s, st, _ in self.seen]


def _runner(stack: Stack, **kwargs: Any) -> AirflowRestRunner:
    return AirflowRestRunner(stack.settings, stack.url, step_runner=STEP_RUNNER, poll_interval=0.5, **kwargs)


def test_setup_migrated_wrote_the_dag_files_and_created_the_pools(stack: Stack) -> None:
    settings = stack.settings
    assert (settings.airflow_home / "airflow.db").is_file()
    assert dag_file_path(settings, "demo").is_file()
    pool = stack.client.pool("mlops_demo")
    assert pool is not None and pool["slots"] == 1
    assert stack.client.pool("mlops_nobody") is None
    health = stack.client.health()
    assert health["scheduler"]["status"] == health["dag_processor"]["status"] == "healthy"


def test_a_triggered_run_is_followed_through_every_task(stack: Stack) -> None:
    events = Events()
    runner = _runner(stack, on_event=events)
    final = runner.run("demo", {"epochs": 3, "lr": 0.5})
    record = runner.last_run
    assert record is not None
    print(f"\ntriggered run: {record.seconds:.1f} s in all, {record.run_seconds:.1f} s from the trigger to the end")

    assert list(final) == list(STEPS)
    for i, step in enumerate(STEPS):
        assert final[step]["upstream"] == list(STEPS[:i]), step  # the state each task got by XCom
        assert final[step]["params"] == {"epochs": 3, "lr": 0.5}
        # the scheduler's task processes loaded the caller's (non-default) state directory
        assert final[step]["state_dir"] == str(stack.settings.state_dir)
    assert final["prepare"]["pid"] != os.getpid()
    assert events.pairs() == [(s, st) for s in STEPS for st in ("running", "success")]
    assert [d for _, st, d in events.seen if st == "success"] == [final[s] for s in STEPS]

    assert (record.state, record.tasks) == ("success", dict.fromkeys(STEPS, "success"))
    assert record.run_id.startswith("mlops__") and record.url.endswith(f"/dags/mlops__demo/runs/{record.run_id}")
    # What Airflow recorded: the conf, and every task in the project's pool.
    run = stack.client.dag_run("mlops__demo", record.run_id)
    assert run["conf"] == {"epochs": 3, "lr": 0.5} and run["run_type"] == "manual"
    tis = stack.client.task_instances("mlops__demo", record.run_id)
    assert {ti["pool"] for ti in tis} == {"mlops_demo"}
    assert stack.client.dag("mlops__demo")["is_paused"] is False


def test_a_failing_task_raises_project_error_with_its_log(stack: Stack) -> None:
    events = Events()
    runner = _runner(stack, on_event=events)
    with pytest.raises(ProjectError) as info:
        runner.run("demo", {"fail_at": "evaluate"})
    err = info.value
    first = err.message.splitlines()[0]
    assert first.startswith("task 'evaluate' of Airflow DAG mlops__demo failed")
    assert "ProjectError: step evaluate of demo broke on purpose (boom-evaluate)" in first
    tail = err.message.split("--- last lines of the log of task 'evaluate' ---", 1)[1]
    assert "Traceback" in tail and "trivial_steps.py" in tail  # read back through REST
    assert tail.rstrip().endswith("fix: do not pass fail_at=evaluate")
    assert err.fix is not None and err.fix.startswith("do not pass fail_at=evaluate")
    assert runner.last_run is not None and runner.last_run.url in err.fix
    assert events.pairs() == [("prepare", "running"), ("prepare", "success"), ("train", "running"),
                              ("train", "success"), ("evaluate", "running"), ("evaluate", "failed")]
    assert events.seen[-1][2]["fix"] == "do not pass fail_at=evaluate"
    assert runner.last_run.tasks == {"prepare": "success", "train": "success", "evaluate": "failed",
                                     "register": "upstream_failed", "deploy": "upstream_failed"}


def test_a_project_registered_after_the_start_gets_its_pool_and_dag(stack: Stack) -> None:
    assert stack.client.pool("mlops_late") is None and stack.client.dag("mlops__late") is None
    started = time.perf_counter()
    final = _runner(stack).run("late", {"n": 1})
    print(f"\nnew DAG: parsed, triggered and run in {time.perf_counter() - started:.1f} s")
    assert final["deploy"]["project"] == "late"
    assert stack.client.pool("mlops_late")["slots"] == 1


def test_a_run_over_its_timeout_is_marked_failed(stack: Stack) -> None:
    runner = _runner(stack, timeout=0.5)
    with pytest.raises(ProjectError, match=r"did not finish within 0.5 s and was marked failed"):
        runner.run("demo")
    assert stack.client.dag_run("mlops__demo", runner.last_run.run_id)["state"] == "failed"


def test_with_the_stack_up_the_plugin_runs_pipelines_and_retraining_through_rest(
        stack: Stack, monkeypatch: pytest.MonkeyPatch) -> None:
    import mlops_core.stack

    # Discovery is the core's (it reads the supervisor's state file): point it at this stack.
    monkeypatch.setattr(mlops_core.stack, "service_url", lambda s, name: stack.url if name == API_SERVER else None)
    runner = plugin.mlops_pipeline_runner(settings=stack.settings)
    assert isinstance(runner, AirflowRestRunner) and runner.base_url == stack.url
    doctor = {c.name: c for c in plugin.mlops_doctor_checks(settings=stack.settings)}
    assert doctor["stack airflow"].status == "ok" and stack.url in doctor["stack airflow"].detail

    report = DriftReport(project="drifty", model="drifty-model", version="1", report_id="r-77", drift_share=0.8,
                         drifted_columns=4, total_columns=5, threshold=0.5, drift_detected=True)
    request = plugin.mlops_drift_detected(settings=stack.settings, report=report)
    assert request is not None and request.status == "triggered"
    run_id = f"retrain__{request.request_id}"
    assert request.how.startswith(f"airflow dag run mlops__drifty/{run_id} (")
    run = stack.client.dag_run("mlops__drifty", run_id)
    assert "r-77" in run["note"]
    # A real run of the real pipeline step: "drifty" is no registered project, so prepare fails
    # in the scheduler's task process, and says so.
    deadline = time.monotonic() + 120
    while run["state"] not in ("success", "failed") and time.monotonic() < deadline:
        time.sleep(0.5)
        run = stack.client.dag_run("mlops__drifty", run_id)
    tasks = {ti["task_id"]: ti for ti in stack.client.task_instances("mlops__drifty", run_id)}
    assert (run["state"], tasks["prepare"]["state"]) == ("failed", "failed")
    log = json.dumps(stack.client.task_log("mlops__drifty", run_id, "prepare", tasks["prepare"]["try_number"]))
    assert "drifty" in log and "ProjectNotFoundError" in log


def test_drift_with_the_stack_unreachable_leaves_the_request_pending(stack: Stack,
                                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    import mlops_core.stack

    dead = f"http://127.0.0.1:{_free_port()}"
    monkeypatch.setattr(mlops_core.stack, "service_url", lambda s, name: dead)
    report = DriftReport(project="demo", model="m", version="1", report_id="r-9", drift_share=0.8,
                         drifted_columns=4, total_columns=5, threshold=0.5, drift_detected=True)
    request = plugin.mlops_drift_detected(settings=stack.settings, report=report)
    assert request is not None and request.status == "pending"
    assert "triggering it on the stack failed" in request.how and "did not answer" in request.how
