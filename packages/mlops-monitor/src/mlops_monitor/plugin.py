"""The ``monitor`` plugin: hooks that keep served data, set references and add ``mlops monitor``.

Imported when the ``mlops`` CLI starts, so nothing heavy is imported here: pandas, pyarrow and
Evidently load inside the functions that need them.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from mlops_core.hookspecs import hookimpl

if TYPE_CHECKING:
    import typer

    from mlops_core.doctor import Check
    from mlops_core.project import Project
    from mlops_core.records import ModelVersion, PredictionBatch, ServiceSpec
    from mlops_core.settings import Settings

    from mlops_monitor.monitor import Monitor


@hookimpl
def mlops_drift_monitor(settings: Settings) -> Monitor:
    """The monitor: capture, set_reference, check."""
    from mlops_monitor.monitor import Monitor

    return Monitor(settings)


@hookimpl
def mlops_predictions_served(settings: Settings, batch: PredictionBatch) -> None:
    mlops_drift_monitor(settings).capture(batch)


@hookimpl
def mlops_model_promoted(
    settings: Settings, project: Project, model: ModelVersion, alias: str, reference: Sequence[Sequence[float]]
) -> None:
    # The gateway serves the champion alias, so only its promotion changes what traffic is compared with.
    if alias != settings.tracking.champion_alias:
        return
    mlops_drift_monitor(settings).set_reference(model.project, model.name, project.schema().feature_names, reference)


@hookimpl
def mlops_services(settings: Settings) -> list[ServiceSpec] | None:
    """The Evidently UI over the drift workspace, when Evidently is installed."""
    from mlops_monitor.service import ui_service

    spec = ui_service(settings)
    return [spec] if spec is not None else None


@hookimpl
def mlops_doctor_checks(settings: Settings) -> list[Check]:
    from mlops_monitor.doctor import checks

    return checks(settings)


@hookimpl
def mlops_cli(app: typer.Typer) -> None:
    from mlops_monitor.cli import monitor_app

    app.add_typer(monitor_app, name="monitor")
