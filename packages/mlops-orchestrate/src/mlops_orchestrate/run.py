"""``python -m mlops_orchestrate.run``: the process that runs a project's DAG with ``dag.test()``.

:class:`~mlops_orchestrate.runner.AirflowRunner` starts it with the Airflow environment of the
caller's settings, so Airflow's global configuration, logging and ORM live and die here, never in
the caller. Everything Airflow writes to stdout or stderr goes to stderr (the caller's log file);
stdout carries only marked JSON lines (:mod:`mlops_orchestrate.messages`):

* ``event``: a step is ``running``, or ended in ``success`` or ``failed`` (with the error);
* ``result``: the DAG run's state, each task's state and the deploy task's XCom (the final state);
* ``dag``: the DAG's tasks in order (``describe``);
* ``error``: the run could not start (message and fix).

Commands::

    python -m mlops_orchestrate.run run --project P --settings-file F [--params-file F] [--step-runner M:F]
    python -m mlops_orchestrate.run describe --project P
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
import traceback
from collections.abc import Sequence
from pathlib import Path
from typing import Any, TextIO

from mlops_core.errors import MlopsError
from mlops_orchestrate.dags import STEPS, StepRunner, build_dag, resolve_step_runner
from mlops_orchestrate.messages import encode

__all__ = ["main"]


def _open_channel() -> TextIO:
    """Keep the real stdout for messages; from now on whatever is written to fd 1 goes to fd 2."""
    sys.stdout.flush()
    channel = os.fdopen(os.dup(1), "w", buffering=1, encoding="utf-8")
    os.dup2(2, 1)
    return channel


def _send(channel: TextIO, kind: str, **payload: Any) -> None:
    channel.write(encode(kind, **payload) + "\n")
    channel.flush()


def _error_text(exc: BaseException) -> str:
    # MlopsError's str() appends its fix; the fix travels separately.
    return f"{type(exc).__name__}: {getattr(exc, 'message', None) or exc}"


def _reporting(runner: StepRunner, channel: TextIO) -> StepRunner:
    """Wrap the step runner so each task announces itself as it starts, succeeds or fails."""

    def reporting_step_runner(step: str, **kwargs: Any) -> dict[str, Any]:
        _send(channel, "event", step=step, status="running", detail={})
        started = time.perf_counter()
        try:
            result = runner(step, **kwargs)
        except BaseException as exc:
            _send(channel, "event", step=step, status="failed", detail={
                "error": _error_text(exc), "fix": getattr(exc, "fix", None),
                "seconds": round(time.perf_counter() - started, 3)})
            raise
        detail = result.get(step, {}) if isinstance(result, dict) else {}
        _send(channel, "event", step=step, status="success", detail=detail if isinstance(detail, dict) else {"value": detail})
        return result

    return reporting_step_runner


def _value(state: Any) -> str | None:
    return None if state is None else str(getattr(state, "value", state))


def _outcome(dag_id: str, run_id: str) -> tuple[dict[str, str | None], Any]:
    """Each task's state, and the last task's XCom, read back from the metadata DB."""
    from airflow.models.taskinstance import TaskInstance
    from airflow.models.xcom import XComModel
    from airflow.utils.session import create_session
    from sqlalchemy import select

    with create_session() as session:
        tis = session.scalars(
            select(TaskInstance).where(TaskInstance.dag_id == dag_id, TaskInstance.run_id == run_id)
        ).all()
        tasks = {ti.task_id: _value(ti.state) for ti in tis}
        row = session.scalars(
            XComModel.get_many(run_id=run_id, dag_ids=dag_id, task_ids=STEPS[-1], key="return_value")
        ).first()
        final = XComModel.deserialize_value(row) if row is not None else None
    return tasks, final


def _run(args: argparse.Namespace, channel: TextIO) -> int:
    params = json.loads(Path(args.params_file).read_text()) if args.params_file else {}
    try:
        runner = resolve_step_runner(args.step_runner)
    except MlopsError as exc:
        _send(channel, "error", message=exc.message, fix=exc.fix)
        return 3
    dag = build_dag(args.project, settings_file=args.settings_file, step_runner=_reporting(runner, channel))
    try:
        dag_run = dag.test(run_conf=params)
    except Exception as exc:
        traceback.print_exc()
        _send(channel, "error", message=f"dag.test() of {dag.dag_id} failed: {_error_text(exc)}",
              fix=f"see the Airflow log; is the DAG file {dag.dag_id}.py in the DAGs folder and importable?")
        return 4
    tasks, final = _outcome(dag.dag_id, dag_run.run_id)
    _send(channel, "result", dag_id=dag.dag_id, run_id=dag_run.run_id, state=_value(dag_run.state),
          tasks=tasks, final=final)
    return 0


def _describe(args: argparse.Namespace, channel: TextIO) -> int:
    dag = build_dag(args.project)
    tasks = [
        {
            "task_id": t.task_id,
            "upstream": sorted(t.upstream_task_ids),
            "pool": t.pool,
            "priority_weight": t.priority_weight,
            "weight_rule": str(getattr(t.weight_rule, "value", t.weight_rule)),
            "retries": t.retries,
        }
        for t in dag.topological_sort()
    ]
    _send(channel, "dag", dag_id=dag.dag_id, tags=sorted(dag.tags), max_active_runs=dag.max_active_runs,
          description=dag.description, tasks=tasks)
    return 0


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m mlops_orchestrate.run", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    run = sub.add_parser("run", help="run the project's DAG once with dag.test()")
    run.add_argument("--project", required=True)
    run.add_argument("--settings-file", required=True, help="Settings JSON (Settings.model_dump_json()).")
    run.add_argument("--params-file", help="JSON object of pipeline params (the run's conf).")
    run.add_argument("--step-runner", help="module:function (default mlops_core.pipeline:run_step).")
    describe = sub.add_parser("describe", help="print the project's DAG: tasks in order")
    describe.add_argument("--project", required=True)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    channel = _open_channel()
    try:
        return _run(args, channel) if args.command == "run" else _describe(args, channel)
    except MlopsError as exc:
        traceback.print_exc()
        _send(channel, "error", message=exc.message, fix=exc.fix)
        return 2
    except Exception as exc:
        traceback.print_exc()
        _send(channel, "error", message=_error_text(exc), fix="see the Airflow log")
        return 2
    finally:
        channel.flush()


if __name__ == "__main__":
    sys.exit(main())
