"""``AirflowRestRunner``: runs a project's DAG on the stack's Airflow (``mlops up``) through REST.

The scheduler of the stack runs the tasks; this runner only talks to the api-server:

1. checks the scheduler's heartbeat (``/api/v2/monitor/health``);
2. creates the project's pool ``mlops_<project>`` if it is missing (the scheduler would leave the
   tasks waiting for it forever);
3. writes the project's DAG file if it changed and waits until the dag-processor has parsed it
   (an import error of the file fails at once, with its traceback);
4. unpauses the DAG (new DAGs start paused) and triggers a run with the params as its conf;
5. follows the task instances, calling ``on_event(step, "running" | "success" | "failed",
   detail)`` as they move, until the run ends or ``timeout`` passes (then the run is marked
   failed, which stops its tasks);
6. returns the deploy task's XCom (the final state), or raises :class:`ProjectError` with the
   failing task's error and the end of its log, both read through REST.

The tasks load their settings in the scheduler's task processes from the workspace root baked
into the DAG file and the services' environment (``MLOPS_STATE_DIR`` is the stack's state
directory), so they see the state directory the stack (and so this caller) was started with.
"""

from __future__ import annotations

import json
import logging
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any

from mlops_core.errors import InputValidationError, MlopsError, ProjectError, ServiceError
from mlops_orchestrate.client import AirflowClient, ApiError, render_log
from mlops_orchestrate.dagfiles import write_dag_file
from mlops_orchestrate.dags import STEPS, dag_id_for
from mlops_orchestrate.pools import pool_spec
from mlops_orchestrate.runner import emit_step
from mlops_orchestrate.services import DAG_PROCESSOR, SCHEDULER, passwords_file

if TYPE_CHECKING:
    from mlops_core.settings import Settings

__all__ = ["AirflowRestRunner", "RestRun", "error_tail"]

log = logging.getLogger(__name__)

#: ``on_event(step, status, detail)``; status is "running" | "success" | "failed"
OnEvent = Callable[[str, str, Mapping[str, Any]], None]

TAIL_LINES = 20
DEFAULT_TIMEOUT_S = 6 * 3600.0
#: the dag-processor looks for new files every 10 s (services.DAG_FOLDER_REFRESH_S), then parses
PARSE_TIMEOUT_S = 120.0
#: how long a missing scheduler heartbeat is waited for (the scheduler is starting) before an error
HEARTBEAT_GRACE_S = 60.0
#: how long polls may keep failing (api-server busy or restarting) before the run is given up
UNREACHABLE_GRACE_S = 90.0
_FINISHED = frozenset({"success", "failed"})


@dataclass
class RestRun:
    """What the last :meth:`AirflowRestRunner.run` did: for diagnosis and measurement."""

    dag_id: str
    run_id: str = ""
    state: str = ""
    tasks: dict[str, str | None] = field(default_factory=dict)
    url: str = ""
    seconds: float = 0.0
    #: seconds from the trigger to the end of the run
    run_seconds: float = 0.0


def error_tail(entries: list[dict[str, Any]], lines: int = TAIL_LINES) -> str:
    """The end of a task's log: its exception as a traceback (cut to fit), else the last lines."""
    failing = [e for e in entries if e.get("error_detail")]
    text = render_log(failing[-1:]) if failing else render_log(entries)
    if len(text) > lines:
        # Keep the header (the failure and "Traceback") and the innermost frames with the error.
        text = text[:2] + ["  ..."] + text[-(lines - 3):]
    return "\n".join(text)


def _error_of(entries: list[dict[str, Any]]) -> tuple[str, str | None]:
    """``(error, fix)`` of a task's exception, split like MlopsError's ``message\\n  fix: ...``."""
    for entry in reversed(entries):
        for error in entry.get("error_detail") or []:
            if isinstance(error, dict):
                value = str(error.get("exc_value", ""))
                message, _, fix = value.partition("\n  fix: ")
                return f"{error.get('exc_type')}: {message}", (fix or None)
    return "the task failed; see its log", None


def _parsed_at(dag: Mapping[str, Any]) -> datetime | None:
    stamp = dag.get("last_parsed_time")
    return datetime.fromisoformat(str(stamp).replace("Z", "+00:00")) if stamp else None


class AirflowRestRunner:
    """Runs project pipelines on the stack's Airflow 3 (api-server at ``base_url``).

    ``step_runner`` (``"module:function"``) is baked into the DAG file in place of
    ``mlops_core.pipeline:run_step``, e.g. for tests; the scheduler must be able to import it.
    ``timeout`` (seconds, default 6 h) bounds a run from its trigger to its end.
    """

    name = "airflow-rest"

    def __init__(
        self,
        settings: Settings,
        base_url: str,
        *,
        on_event: OnEvent | None = None,
        step_runner: str | None = None,
        timeout: float | None = DEFAULT_TIMEOUT_S,
        poll_interval: float = 1.0,
        parse_timeout: float = PARSE_TIMEOUT_S,
    ) -> None:
        self.settings = settings
        self.base_url = base_url.rstrip("/")
        self.on_event = on_event
        self.step_runner = step_runner
        self.timeout = timeout
        self.poll_interval = poll_interval
        self.parse_timeout = parse_timeout
        self.client = AirflowClient(self.base_url, passwords_file(settings), timeout=30.0)
        #: what the last run did (run id, task states, UI link, timings)
        self.last_run: RestRun | None = None

    # -- public -----------------------------------------------------------------------------

    def run(self, project: str, params: Mapping[str, Any] | None = None) -> dict[str, Any]:
        """Trigger prepare >> train >> evaluate >> register >> deploy, follow it, return the final state."""
        started = time.perf_counter()
        record = self.trigger(project, params)
        try:
            outcome = self._follow(record)
        finally:
            record.seconds = time.perf_counter() - started
        return self._finish(project, record, outcome)

    def trigger(self, project: str, params: Mapping[str, Any] | None = None, *, run_id: str | None = None,
                note: str | None = None) -> RestRun:
        """Make the DAG runnable (pool, parsed, unpaused) and trigger a run; returns at once."""
        dag_id = dag_id_for(project)
        conf = dict(params or {})
        try:
            json.dumps(conf)
        except (TypeError, ValueError) as exc:
            raise InputValidationError(f"pipeline params of {project!r} are not JSON: {exc}",
                                       fix="pass only strings, numbers, booleans, lists and dicts as params") from exc
        self._check_health()
        self._ensure_pool(project)
        self._ensure_parsed(project, dag_id)
        run_id = run_id or f"mlops__{datetime.now(timezone.utc).strftime('%Y%m%dT%H%M%S')}_{uuid.uuid4().hex[:6]}"
        answer = self.client.trigger(dag_id, conf, run_id=run_id, note=note)
        record = RestRun(dag_id=dag_id, run_id=str(answer["dag_run_id"]), state=str(answer.get("state") or ""),
                         url=f"{self.base_url}/dags/{dag_id}/runs/{answer['dag_run_id']}")
        self.last_run = record
        return record

    # -- before the trigger -----------------------------------------------------------------

    def _check_health(self, *, need_parser: bool = False, wait: float = HEARTBEAT_GRACE_S) -> None:
        """Wait up to ``wait`` s for the scheduler's (and dag-processor's) heartbeat.

        Right after ``mlops up`` the scheduler runs but has not beaten yet (~10 s here), so a
        missing heartbeat is an error only once the grace has passed.
        """
        keys = ("scheduler", "dag_processor") if need_parser else ("scheduler",)
        deadline = time.monotonic() + wait
        while True:
            health = self.client.health()
            down = [k for k in keys if (health.get(k) or {}).get("status") != "healthy"]
            if not down:
                return
            if time.monotonic() >= deadline:
                break
            time.sleep(1.0)
        key = down[0]
        service = SCHEDULER if key == "scheduler" else DAG_PROCESSOR
        status = (health.get(key) or {}).get("status")
        raise ServiceError(
            f"the stack's Airflow {key.replace('_', '-')} has no recent heartbeat ({status or 'none'}) "
            f"after {wait:g} s; a run triggered now would never start",
            fix=f"see `mlops status` and `mlops logs {service}`; `mlops down` then `mlops up` restarts it",
        )

    def _ensure_pool(self, project: str) -> None:
        spec = pool_spec(project)
        if self.client.pool(spec.name) is not None:
            return
        try:
            self.client.create_pool(spec.name, spec.slots, spec.description)
        except ApiError as exc:
            if exc.status != 409:  # created meanwhile by another caller
                raise

    def _ensure_parsed(self, project: str, dag_id: str) -> None:
        path, written = write_dag_file(self.settings, project, step_runner=self.step_runner)
        written_at = datetime.fromtimestamp(path.stat().st_mtime, tz=timezone.utc) if written else None
        deadline = time.monotonic() + self.parse_timeout
        asked = False
        while True:
            dag = self.client.dag(dag_id)
            fresh = dag is not None and not dag.get("is_stale") and (
                written_at is None or ((_parsed_at(dag) or written_at) > written_at))
            if fresh:
                break
            if dag is not None and written_at is not None and not asked and dag.get("file_token"):
                # A known file changed: ask for it to be parsed now rather than in its turn.
                self.client.reparse(dag["file_token"])
                asked = True
            error = self._import_error(path.name, written_at)
            if error is not None:
                raise ProjectError(
                    f"Airflow cannot import the DAG file of {project!r} ({path}):\n{error}",
                    fix=f"fix the error above (`mlops dags write` rewrites generated files), then run {project} again",
                )
            if time.monotonic() > deadline:
                self._check_health(need_parser=True, wait=0)
                raise ServiceError(
                    f"the stack's dag-processor did not parse {path} within {self.parse_timeout:g} s",
                    fix=f"see `mlops logs {DAG_PROCESSOR}`; is the file in the DAGs folder the stack was started with?",
                )
            time.sleep(self.poll_interval)
        if dag.get("is_paused"):
            self.client.set_paused(dag_id, False)

    def _import_error(self, filename: str, since: datetime | None) -> str | None:
        for error in self.client.import_errors():
            if not str(error.get("filename", "")).endswith(filename):
                continue
            stamp = error.get("timestamp")
            when = datetime.fromisoformat(str(stamp).replace("Z", "+00:00")) if stamp else None
            if since is None or when is None or when >= since:
                lines = str(error.get("stack_trace", "")).strip().splitlines()
                return "\n".join(lines[-TAIL_LINES:])
        return None

    # -- following the run ------------------------------------------------------------------

    def _follow(self, record: RestRun) -> _Outcome:
        outcome = _Outcome()
        started = time.monotonic()
        unreachable_since: float | None = None
        try:
            while True:
                try:
                    state = str(self.client.dag_run(record.dag_id, record.run_id).get("state") or "")
                    tis = self.client.task_instances(record.dag_id, record.run_id)
                    unreachable_since = None
                except ServiceError as exc:
                    # The api-server can stall for seconds (SQLite busy, a first import): keep going.
                    unreachable_since = unreachable_since or time.monotonic()
                    if time.monotonic() - unreachable_since > UNREACHABLE_GRACE_S:
                        raise
                    log.warning("following %s: %s", record.run_id, exc)
                    time.sleep(self.poll_interval)
                    continue
                record.state = state
                record.tasks = {ti["task_id"]: ti.get("state") for ti in tis}
                tries = {ti["task_id"]: int(ti.get("try_number") or 0) for ti in tis}
                self._events(record, tries, outcome)
                if state in _FINISHED:
                    break
                if self.timeout is not None and time.monotonic() - started > self.timeout:
                    outcome.timed_out = True
                    self._stop(record)
                    break
                time.sleep(self.poll_interval)
        except BaseException:
            self._stop(record)  # Ctrl-C or a lost api-server: do not leave the run going on its own
            raise
        record.run_seconds = time.monotonic() - started
        return outcome

    def _events(self, record: RestRun, tries: Mapping[str, int], outcome: _Outcome) -> None:
        for step in STEPS:
            state = record.tasks.get(step)
            seen = outcome.emitted.setdefault(step, set())
            if state in ("running", "success", "failed") and "running" not in seen:
                seen.add("running")
                emit_step(self.on_event, step, "running", {})
            if state == "success" and "success" not in seen:
                seen.add("success")
                value = self.client.xcom(record.dag_id, record.run_id, step)
                detail = value.get(step, {}) if isinstance(value, dict) else {}
                emit_step(self.on_event, step, "success", detail if isinstance(detail, dict) else {"value": detail})
            elif state == "failed" and "failed" not in seen:
                seen.add("failed")
                entries = self._log_entries(record, step, tries.get(step, 1))
                error, fix = _error_of(entries)
                outcome.failed_logs[step] = entries
                emit_step(self.on_event, step, "failed", {"error": error, "fix": fix})

    def _log_entries(self, record: RestRun, step: str, try_number: int) -> list[dict[str, Any]]:
        try:
            return self.client.task_log(record.dag_id, record.run_id, step, max(try_number, 1))
        except MlopsError as exc:  # the failure is reported all the same, without its log
            return [{"event": f"(the task's log could not be read: {exc.message})"}]

    def _stop(self, record: RestRun) -> None:
        if record.state in _FINISHED:
            return
        try:
            self.client.set_run_state(record.dag_id, record.run_id, "failed")
        except MlopsError as exc:
            log.warning("could not stop Airflow run %s: %s", record.run_id, exc)

    # -- the result -------------------------------------------------------------------------

    def _finish(self, project: str, record: RestRun, outcome: _Outcome) -> dict[str, Any]:
        rerun = f"then run `mlops run {project}` again"
        where = f"the run in the Airflow UI: {record.url}"
        if outcome.timed_out:
            raise ProjectError(
                f"the Airflow run {record.run_id} of {record.dag_id} did not finish within {self.timeout:g} s "
                f"and was marked failed (task states: {record.tasks})",
                fix=f"find the slow step in {where}; raise the runner's timeout, {rerun}",
            )
        if record.state == "success":
            final = self.client.xcom(record.dag_id, record.run_id, STEPS[-1])
            if isinstance(final, dict):
                return final
            raise ProjectError(f"the Airflow run {record.run_id} of {record.dag_id} succeeded without a final state "
                               f"(XCom of {STEPS[-1]!r}: {final!r})", fix=f"see {where}")
        failed = next((s for s in STEPS if record.tasks.get(s) == "failed"), None)
        if failed is None:
            raise ProjectError(
                f"the Airflow run {record.run_id} of {record.dag_id} ended {record.state!r} with task states "
                f"{record.tasks}", fix=f"see {where}, {rerun}",
            )
        entries = outcome.failed_logs.get(failed) or self._log_entries(record, failed, 1)
        error, fix = _error_of(entries)
        raise ProjectError(
            f"task '{failed}' of Airflow DAG {record.dag_id} failed (run {record.run_id}): {error}\n"
            f"--- last lines of the log of task '{failed}' ---\n{error_tail(entries)}",
            fix=f"{fix or f'fix the cause shown in the log above, {rerun}'} (the run: {record.url})",
        )


@dataclass
class _Outcome:
    emitted: dict[str, set[str]] = field(default_factory=dict)
    failed_logs: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    timed_out: bool = False
