"""The hooks of mlops-orchestrate: Airflow pipeline runner, stack services, DAG files, retrain requests,
doctor, CLI.

Imported when the ``mlops`` CLI starts: Airflow is imported only inside the functions that run it.
"""

from __future__ import annotations

import logging
import uuid
from importlib.util import find_spec
from typing import TYPE_CHECKING

from mlops_core.hookspecs import hookimpl

if TYPE_CHECKING:
    import typer

    from mlops_core.doctor import Check
    from mlops_core.providers import PipelineRunner
    from mlops_core.records import DriftReport, ProjectInfo, RetrainRequest, ServiceSpec
    from mlops_core.settings import Settings

log = logging.getLogger(__name__)


def _uses_airflow(settings: Settings) -> bool:
    return settings.orchestrate.runner == "airflow" and find_spec("airflow") is not None


def _stack_api(settings: Settings) -> str | None:
    from mlops_orchestrate.services import stack_api_url

    return stack_api_url(settings)


def _stack_notice(settings: Settings) -> None:
    try:
        from mlops_core.stack import stack_notice
    except ImportError:
        return
    stack_notice(settings, "pipelines")


@hookimpl
def mlops_pipeline_runner(settings: Settings) -> PipelineRunner | None:
    """When ``orchestrate.runner = "airflow"``: the stack's Airflow through REST if it is up
    (:class:`~mlops_orchestrate.rest_runner.AirflowRestRunner`), else the embedded
    :class:`~mlops_orchestrate.runner.AirflowRunner` (``dag.test()`` in a subprocess)."""
    if not _uses_airflow(settings):
        return None  # the core's in-process runner takes over
    url = _stack_api(settings)
    if url is not None:
        from mlops_orchestrate.rest_runner import AirflowRestRunner

        return AirflowRestRunner(settings, url)
    _stack_notice(settings)
    from mlops_orchestrate.runner import AirflowRunner

    return AirflowRunner(settings)


@hookimpl
def mlops_services(settings: Settings) -> list[ServiceSpec] | None:
    """The Airflow api-server, scheduler and dag-processor; nothing when pipelines do not use Airflow."""
    if not _uses_airflow(settings):
        return None
    from mlops_orchestrate.services import services

    return services(settings)


@hookimpl
def mlops_project_registered(settings: Settings, project: ProjectInfo) -> None:
    """Write (or refresh) the project's DAG file for the scheduler."""
    if not project.active:
        return
    from mlops_orchestrate.dagfiles import write_dag_file

    write_dag_file(settings, project.name)


@hookimpl
def mlops_drift_detected(settings: Settings, report: DriftReport) -> RetrainRequest | None:
    """Ask for a retraining run of the project's Airflow DAG (None when Airflow does not run pipelines).

    With the stack up the run is triggered at once through its REST API (status ``triggered``,
    ``how`` names the DAG run); else the request stays ``pending``.
    """
    if not _uses_airflow(settings):
        return None  # the core's fallback names `mlops run <project>`
    from mlops_core.ledger import now_iso
    from mlops_core.records import RetrainRequest
    from mlops_orchestrate.dags import dag_id_for

    request_id = uuid.uuid4().hex[:12]
    reason = (f"drift share {report.drift_share:.2f} >= threshold {report.threshold:.2f}, "
              f"{report.drifted_columns}/{report.total_columns} columns drifted")
    dag_id = dag_id_for(report.project)
    status, how = "pending", f"airflow dag {dag_id}"
    url = _stack_api(settings)
    if url is not None:
        status, how = _trigger_retraining(settings, url, report, request_id, reason, how)
    return RetrainRequest(
        project=report.project,
        model=report.model,
        reason=reason,
        request_id=request_id,
        requested_at=now_iso(),
        source_ref=f"drift:{report.report_id}",
        how=how,
        status=status,
    )


def _trigger_retraining(settings: Settings, url: str, report: DriftReport, request_id: str, reason: str,
                        how: str) -> tuple[str, str]:
    """Trigger the retraining run on the stack; ``(status, how)`` of the request."""
    from mlops_core.errors import MlopsError
    from mlops_orchestrate.rest_runner import AirflowRestRunner

    try:
        run = AirflowRestRunner(settings, url).trigger(
            report.project, run_id=f"retrain__{request_id}",
            note=f"retraining after drift report {report.report_id}: {reason}")
    except MlopsError as exc:  # the request is still recorded, as pending, with why
        log.warning("could not trigger the retraining run of %s: %s", report.project, exc)
        return "pending", f"{how} (triggering it on the stack failed: {exc.message})"
    return "triggered", f"airflow dag run {run.dag_id}/{run.run_id} ({run.url})"


@hookimpl
def mlops_doctor_checks(settings: Settings) -> list[Check]:
    """Airflow installed; its metadata DB migrated (or to be); DAG files of registered projects."""
    from mlops_orchestrate.checks import doctor_checks

    return doctor_checks(settings)


@hookimpl
def mlops_cli(app: typer.Typer) -> None:
    """``mlops dags list | write | show PROJECT``."""
    from mlops_orchestrate.commands import dags_app

    app.add_typer(dags_app, name="dags")
