"""The hooks of mlops-orchestrate: Airflow pipeline runner, DAG files, retrain requests, doctor, CLI.

Imported when the ``mlops`` CLI starts: Airflow is imported only inside the functions that run it.
"""

from __future__ import annotations

import uuid
from importlib.util import find_spec
from typing import TYPE_CHECKING

from mlops_core.hookspecs import hookimpl

if TYPE_CHECKING:
    import typer

    from mlops_core.doctor import Check
    from mlops_core.providers import PipelineRunner
    from mlops_core.records import DriftReport, ProjectInfo, RetrainRequest
    from mlops_core.settings import Settings


def _uses_airflow(settings: Settings) -> bool:
    return settings.orchestrate.runner == "airflow" and find_spec("airflow") is not None


@hookimpl
def mlops_pipeline_runner(settings: Settings) -> PipelineRunner | None:
    """An :class:`~mlops_orchestrate.runner.AirflowRunner` when ``orchestrate.runner = "airflow"``."""
    if not _uses_airflow(settings):
        return None  # the core's in-process runner takes over
    from mlops_orchestrate.runner import AirflowRunner

    return AirflowRunner(settings)


@hookimpl
def mlops_project_registered(settings: Settings, project: ProjectInfo) -> None:
    """Write (or refresh) the project's DAG file for the scheduler."""
    if not project.active:
        return
    from mlops_orchestrate.dagfiles import write_dag_file

    write_dag_file(settings, project.name)


@hookimpl
def mlops_drift_detected(settings: Settings, report: DriftReport) -> RetrainRequest | None:
    """Ask for a retraining run of the project's Airflow DAG (None when Airflow does not run pipelines)."""
    if not _uses_airflow(settings):
        return None  # the core's fallback names `mlops run <project>`
    from mlops_core.ledger import now_iso
    from mlops_core.records import RetrainRequest
    from mlops_orchestrate.dags import dag_id_for

    return RetrainRequest(
        project=report.project,
        model=report.model,
        reason=(f"drift share {report.drift_share:.2f} >= threshold {report.threshold:.2f}, "
                f"{report.drifted_columns}/{report.total_columns} columns drifted"),
        request_id=uuid.uuid4().hex[:12],
        requested_at=now_iso(),
        source_ref=f"drift:{report.report_id}",
        how=f"airflow dag {dag_id_for(report.project)}",
        status="pending",
    )


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
