"""``AirflowRunner``: runs a project's DAG with ``dag.test()`` in a subprocess (embedded mode).

The subprocess (``python -m mlops_orchestrate.run``) gets the Airflow environment of the
caller's settings and the caller's full settings as a JSON file, so its tasks see exactly the same
settings and Airflow's global state never leaks into the caller. Airflow's output goes to a log
file under ``<airflow_home>/logs/mlops/``; progress comes back as marked lines and is handed to
``on_event(step, status, detail)`` as each task starts (``running``), succeeds (``success``, with
the step's results) or fails (``failed``, with the error).
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import re
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

from mlops_core.errors import InputValidationError, ProjectError
from mlops_orchestrate.dagfiles import write_dag_file
from mlops_orchestrate.dags import STEPS, dag_id_for
from mlops_orchestrate.home import airflow_env, ensure_db, file_lock, logs_folder, runs_folder
from mlops_orchestrate.messages import decode

if TYPE_CHECKING:
    from mlops_core.settings import Settings

__all__ = ["AirflowRun", "AirflowRunner", "describe_dag", "log_tail", "task_log_tail"]

log = logging.getLogger(__name__)

#: ``on_event(step, status, detail)``; status is "running" | "success" | "failed"
OnEvent = Callable[[str, str, Mapping[str, Any]], None]

TAIL_LINES = 20
_INFO_LINE = re.compile(r"^\d{4}-\d\d-\d\dT[\d:.]+Z? \[(info|debug)\s*\]")
KEEP_LOGS = 20  # run logs kept per DAG
_STOP_GRACE_S = 10


@dataclass
class AirflowRun:
    """What the last :meth:`AirflowRunner.run` did: for diagnosis and measurement."""

    dag_id: str
    log_file: Path
    run_id: str = ""
    state: str = ""
    tasks: dict[str, str | None] = field(default_factory=dict)
    migrated: bool = False
    seconds: float = 0.0


def emit_step(on_event: Any, step: str, status: str, detail: Mapping[str, Any]) -> None:
    """Report a step's progress to ``on_event`` (both runners); without one, log it."""
    if on_event is None:
        log.info("step %s: %s", step, status)
        return
    try:
        on_event(step, status, detail)
    except Exception:  # a broken progress display must not abandon a running pipeline
        log.exception("on_event callback failed for step %s (%s)", step, status)


def log_tail(path: Path, lines: int = TAIL_LINES) -> str:
    """The last ``lines`` lines of a log file ('' if it does not exist)."""
    if not path.is_file():
        return ""
    return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])


def task_log_tail(path: Path, task_id: str, lines: int = TAIL_LINES) -> str:
    """The last ``lines`` lines a task logged in a ``dag.test()`` log; the whole log's tail if not found."""
    if not path.is_file():
        return ""
    text = path.read_text(errors="replace").splitlines()
    start_mark, end_mark = f"[DAG TEST] starting task_id={task_id} ", f"[DAG TEST] end task task_id={task_id} "
    starts = [i for i, line in enumerate(text) if start_mark in line]
    if not starts:
        return "\n".join(text[-lines:])
    begin = starts[-1]
    end = next((i for i in range(begin, len(text)) if end_mark in text[i]), len(text) - 1)
    section = text[begin:end + 1]
    tracebacks = [i for i, line in enumerate(section) if line.startswith("Traceback")]
    if not tracebacks:
        return "\n".join(section[-lines:])
    # Show the error, not Airflow's bookkeeping around it: from the last traceback to the end of
    # the exception, its header kept even when the middle (Airflow's own frames) is cut.
    error = section[tracebacks[-1]:]
    while len(error) > 1 and _INFO_LINE.match(error[-1]):
        error.pop()
    if len(error) > lines:
        error = [error[0], "  ..."] + error[-max(lines - 2, 1):]
    return "\n".join(error)


class AirflowRunner:
    """Runs project pipelines as Airflow 3 DAGs: ``dag.test()`` in a subprocess.

    ``step_runner`` (``"module:function"``) replaces ``mlops_core.pipeline:run_step`` in the
    tasks, e.g. for tests; the subprocess must be able to import it (``PYTHONPATH`` is inherited).
    ``timeout`` (seconds) bounds a whole run.
    """

    name = "airflow"

    def __init__(
        self,
        settings: Settings,
        *,
        on_event: OnEvent | None = None,
        step_runner: str | None = None,
        timeout: float | None = None,
    ) -> None:
        self.settings = settings
        self.on_event = on_event
        self.step_runner = step_runner
        self.timeout = timeout
        #: what the last run did (log file, run id, task states, timings)
        self.last_run: AirflowRun | None = None

    # -- public -----------------------------------------------------------------------------

    def run(self, project: str, params: Mapping[str, Any] | None = None) -> dict[str, Any]:
        """Run prepare >> train >> evaluate >> register >> deploy; return the deploy task's state."""
        dag_id = dag_id_for(project)
        params = dict(params or {})
        try:
            params_json = json.dumps(params)
        except (TypeError, ValueError) as exc:
            raise InputValidationError(f"pipeline params of {project!r} are not JSON: {exc}",
                                       fix="pass only strings, numbers, booleans, lists and dicts as params") from exc
        started = time.perf_counter()
        # dag.test() ignores max_active_runs: the lock keeps embedded runs of a DAG to one at a time.
        with contextlib.ExitStack() as stack:
            try:
                stack.enter_context(file_lock(runs_folder(self.settings) / f"{dag_id}.lock", wait=False))
            except BlockingIOError:
                raise ProjectError(
                    f"another run of Airflow DAG {dag_id} is in progress (max_active_runs=1)",
                    fix=f"wait for it to finish, then run `mlops run {project}` again",
                ) from None
            record, outcome = self._run_locked(project, dag_id, params_json, started)
        return self._finish(project, record, outcome)

    # -- steps of a run ---------------------------------------------------------------------

    def _run_locked(self, project: str, dag_id: str, params_json: str, started: float) -> tuple[AirflowRun, _Outcome]:
        env = airflow_env(self.settings)
        write_dag_file(self.settings, project)
        log_file = self._new_log_file(dag_id)
        record = AirflowRun(dag_id=dag_id, log_file=log_file)
        self.last_run = record
        settings_file, params_file = self._write_inputs(dag_id, params_json)
        try:
            with log_file.open("a") as log_fh:
                record.migrated = ensure_db(self.settings, env=env, log=log_fh)
                outcome = self._execute(self._command(project, settings_file, params_file), env, log_fh)
        finally:
            settings_file.unlink(missing_ok=True)
            params_file.unlink(missing_ok=True)
            record.seconds = time.perf_counter() - started
        return record, outcome

    def _new_log_file(self, dag_id: str) -> Path:
        folder = logs_folder(self.settings) / "mlops" / dag_id
        folder.mkdir(parents=True, exist_ok=True)
        for old in sorted(folder.glob("*.log"))[:-(KEEP_LOGS - 1)]:
            old.unlink(missing_ok=True)
        stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%S.%fZ")
        return folder / f"{stamp}.log"

    def _write_inputs(self, dag_id: str, params_json: str) -> tuple[Path, Path]:
        folder = runs_folder(self.settings)
        folder.mkdir(parents=True, exist_ok=True)
        key = f"{dag_id}-{uuid.uuid4().hex[:12]}"
        settings_file = folder / f"{key}.settings.json"
        params_file = folder / f"{key}.params.json"
        # The caller's exact settings (overrides and env layers included), not a reload.
        settings_file.write_text(self.settings.model_dump_json())
        params_file.write_text(params_json)
        return settings_file, params_file

    def _command(self, project: str, settings_file: Path, params_file: Path) -> list[str]:
        cmd = [sys.executable, "-m", "mlops_orchestrate.run", "run", "--project", project,
               "--settings-file", str(settings_file), "--params-file", str(params_file)]
        if self.step_runner:
            cmd += ["--step-runner", self.step_runner]
        return cmd

    def _execute(self, cmd: list[str], env: Mapping[str, str], log_fh: IO[str]) -> _Outcome:
        outcome = _Outcome()
        log_fh.write(f"--- {' '.join(cmd)}\n")
        log_fh.flush()
        # Own session: on timeout or Ctrl-C the whole process group is ended, by its id.
        proc = subprocess.Popen(cmd, env=dict(env), stdout=subprocess.PIPE, stderr=log_fh, text=True,
                                bufsize=1, start_new_session=True)
        timer = None
        if self.timeout is not None:
            def expire() -> None:
                outcome.timed_out = True
                _stop(proc)

            timer = threading.Timer(self.timeout, expire)
            timer.daemon = True
            timer.start()
        try:
            assert proc.stdout is not None
            for line in proc.stdout:
                self._handle(line.rstrip("\n"), outcome)
            outcome.returncode = proc.wait()
        except BaseException:
            _stop(proc)
            raise
        finally:
            if timer is not None:
                timer.cancel()
        return outcome

    def _handle(self, line: str, outcome: _Outcome) -> None:
        message = decode(line)
        if message is None:
            if line.strip():
                outcome.stray.append(line)
            return
        kind = message["kind"]
        if kind == "event":
            step, status = str(message["step"]), str(message["status"])
            detail = message.get("detail") or {}
            outcome.events[step] = (status, detail)
            emit_step(self.on_event, step, status, detail)
        elif kind == "result":
            outcome.result = message
        elif kind == "error":
            outcome.error = message

    def _finish(self, project: str, record: AirflowRun, outcome: _Outcome) -> dict[str, Any]:
        log_file = record.log_file
        rerun = f"then run `mlops run {project}` again"
        if outcome.timed_out:
            raise ProjectError(
                f"the Airflow run of {record.dag_id} did not finish within {self.timeout:g} s and was stopped\n"
                f"--- last lines of {log_file} ---\n{log_tail(log_file)}",
                fix=f"find the slow step in {log_file}; raise the runner's timeout, {rerun}",
            )
        if outcome.error is not None:
            raise ProjectError(
                f"the Airflow run of {record.dag_id} could not run: {outcome.error.get('message')}\n"
                f"--- last lines of {log_file} ---\n{log_tail(log_file)}",
                fix=f"{outcome.error.get('fix') or 'see the log above'} (full log: {log_file})",
            )
        result = outcome.result
        if result is None:
            stray = "\n".join(outcome.stray[-5:])
            raise ProjectError(
                f"the Airflow run process for {record.dag_id} exited with code {outcome.returncode} "
                f"without a result\n--- last lines of {log_file} ---\n{log_tail(log_file)}"
                + (f"\n--- its other output ---\n{stray}" if stray else ""),
                fix=f"see {log_file}, {rerun}",
            )
        record.run_id, record.state = str(result.get("run_id", "")), str(result.get("state", ""))
        record.tasks = dict(result.get("tasks") or {})
        if record.state == "success" and isinstance(result.get("final"), dict):
            return result["final"]
        failed = next((s for s in STEPS if record.tasks.get(s) == "failed"), None)
        if failed is None:
            raise ProjectError(
                f"the Airflow run {record.run_id} of {record.dag_id} ended {record.state!r} with task states "
                f"{record.tasks} and no final state\n--- last lines of {log_file} ---\n{log_tail(log_file)}",
                fix=f"see {log_file}, {rerun}",
            )
        status, detail = outcome.events.get(failed, ("", {}))
        if status != "failed":
            # The task failed before or after its step ran (settings, XCom): say so all the same.
            detail = {"error": "the task failed outside its step; see its log"}
            emit_step(self.on_event, failed, "failed", detail)
        fix = detail.get("fix") or f"fix the cause shown in the task's log above, {rerun}"
        raise ProjectError(
            f"task '{failed}' of Airflow DAG {record.dag_id} failed (run {record.run_id}): {detail.get('error')}\n"
            f"--- last lines of the log of task '{failed}' ({log_file}) ---\n{task_log_tail(log_file, failed)}",
            fix=f"{fix} (full log: {log_file})",
        )


@dataclass
class _Outcome:
    """What the run subprocess reported."""

    events: dict[str, tuple[str, Mapping[str, Any]]] = field(default_factory=dict)
    result: dict[str, Any] | None = None
    error: dict[str, Any] | None = None
    stray: list[str] = field(default_factory=list)
    returncode: int | None = None
    timed_out: bool = False


def _stop(proc: subprocess.Popen[str]) -> None:
    """End the run's process group (it has its own session): TERM, then KILL after a grace period."""
    if proc.poll() is not None:
        return
    try:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=_STOP_GRACE_S)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    except ProcessLookupError:
        pass


def describe_dag(settings: Settings, project: str, *, timeout: float = 300) -> dict[str, Any]:
    """The project's DAG as Airflow builds it (id, tags, tasks in order), built in a subprocess."""
    dag_id_for(project)  # a bad name fails here, before any process starts
    cmd = [sys.executable, "-m", "mlops_orchestrate.run", "describe", "--project", project]
    try:
        done = subprocess.run(cmd, env=airflow_env(settings), capture_output=True, text=True,
                              timeout=timeout, check=False)
    except subprocess.TimeoutExpired as exc:
        raise ProjectError(f"building the DAG of {project!r} took over {timeout:g} s",
                           fix="check that Airflow imports: python -c 'import airflow.sdk'") from exc
    messages = [m for m in map(decode, done.stdout.splitlines()) if m is not None]
    dag = next((m for m in messages if m["kind"] == "dag"), None)
    if dag is not None:
        return dag
    error = next((m for m in messages if m["kind"] == "error"), {})
    tail = "\n".join(done.stderr.splitlines()[-TAIL_LINES:])
    raise ProjectError(
        f"could not build the DAG of {project!r}: {error.get('message') or f'exit code {done.returncode}'}\n{tail}",
        fix=error.get("fix") or "see the output above",
    )
