"""The ``tracking`` plugin: the MLflow tracker, its doctor checks and ``mlops tracking``.

Imported when the CLI starts, so MLflow is imported only inside the hooks that need it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from mlops_core.hookspecs import hookimpl

if TYPE_CHECKING:
    import typer

    from mlops_core.doctor import Check
    from mlops_core.records import ServiceSpec
    from mlops_core.settings import Settings
    from mlops_tracking.tracker import MlflowTracker

__all__ = ["mlops_cli", "mlops_doctor_checks", "mlops_services", "mlops_tracker"]


@hookimpl
def mlops_tracker(settings: Settings) -> MlflowTracker:
    """Experiment tracking and the model registry on ``settings.tracking_uri``."""
    from mlops_tracking.tracker import MlflowTracker

    return MlflowTracker(settings)


@hookimpl
def mlops_services(settings: Settings) -> list[ServiceSpec] | None:
    """The MLflow tracking server on the embedded store (nothing when MLflow is not installed)."""
    from mlops_tracking.service import mlflow_server_spec

    spec = mlflow_server_spec(settings)
    return [spec] if spec is not None else None


@hookimpl
def mlops_doctor_checks(settings: Settings) -> list[Check]:
    """MLflow installed, the store usable, the tracking server answering."""
    from mlops_tracking.doctor import checks

    return checks(settings)


@hookimpl
def mlops_cli(app: typer.Typer) -> None:
    """``mlops tracking runs|models|ui``."""
    from mlops_tracking.cli import register

    register(app)
