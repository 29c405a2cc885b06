"""Every hook of the platform: the reference for plugin authors.

A plugin is a module or object registered under the entry-point group ``mlops``::

    [project.entry-points.mlops]
    tracking = "mlops_tracking.plugin"

implementing any of the hooks below with ``@mlops_core.hookimpl``. Hooks are always called with
keyword arguments, so a spec can gain an argument later without breaking plugins; an
implementation may accept only the arguments it needs.

Hooks come in three kinds:

* **providers** return the object that does a concern's work (``firstresult``: the first
  non-``None`` answer wins, so a plugin can override another with ``tryfirst``);
* **collectors** return a list; every plugin's answers are gathered;
* **lifecycle events** announce that something happened along the loop
  ``project registered -> dataset versioned -> run started/finished -> model registered ->
  model promoted -> predictions served -> drift checked/detected -> retrain requested``.
  Their return values are ignored, except where documented.

Implementations must not raise for events they do not care about; an exception in a lifecycle
hook is reported and does not stop the loop (see ``mlops_core.plugins``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pluggy

if TYPE_CHECKING:
    from collections.abc import Sequence

    import typer

    from mlops_core.doctor import Check
    from mlops_core.project import Project
    from mlops_core.providers import DataStore, DriftMonitor, GatewayHandle, PipelineRunner, Tracker
    from mlops_core.records import (
        DatasetVersion,
        DriftReport,
        HardwareProfile,
        ModelVersion,
        PredictionBatch,
        ProjectInfo,
        RetrainRequest,
        RunRecord,
        ServiceSpec,
    )
    from mlops_core.settings import Settings

PROJECT_NAME = "mlops"

hookspec = pluggy.HookspecMarker(PROJECT_NAME)
hookimpl = pluggy.HookimplMarker(PROJECT_NAME)

# --------------------------------------------------------------------------------------------
# Providers
# --------------------------------------------------------------------------------------------


@hookspec(firstresult=True)
def mlops_hardware_profile(settings: Settings) -> HardwareProfile | None:
    """Describe this machine: chip, cores, memory, usable backends, thermal state.

    Provided by ``mlops-hw``. Called at the start of every run; its tags are attached to it.
    """


@hookspec(firstresult=True)
def mlops_data_store(settings: Settings) -> DataStore | None:
    """Return the versioned data store (``mlops-data``: a DVC repository)."""


@hookspec(firstresult=True)
def mlops_tracker(settings: Settings) -> Tracker | None:
    """Return the experiment tracker and model registry (``mlops-tracking``: MLflow)."""


@hookspec(firstresult=True)
def mlops_pipeline_runner(settings: Settings) -> PipelineRunner | None:
    """Return the runner of project pipelines (``mlops-orchestrate``: Airflow 3).

    Without one, the core runs the same steps in-process, one after the other.
    """


@hookspec(firstresult=True)
def mlops_drift_monitor(settings: Settings) -> DriftMonitor | None:
    """Return the monitor that keeps served data and writes drift reports (``mlops-monitor``)."""


@hookspec(firstresult=True)
def mlops_gateway_app(settings: Settings) -> Any:
    """Return the ASGI app of the serving gateway (``mlops-serve``)."""


@hookspec(firstresult=True)
def mlops_start_gateway(settings: Settings, host: str, port: int) -> GatewayHandle | None:
    """Start the gateway in the background on a real server; ``port=0`` picks a free port.

    Returns a handle with ``url`` and ``stop()`` once the gateway answers its health check.
    """


# --------------------------------------------------------------------------------------------
# Collectors
# --------------------------------------------------------------------------------------------


@hookspec
def mlops_cli(app: typer.Typer) -> None:
    """Add commands or sub-apps to the ``mlops`` CLI.

    Import heavy libraries inside the command functions, never at module top: ``mlops --help``
    must stay fast.
    """


@hookspec
def mlops_services(settings: Settings) -> list[ServiceSpec] | None:
    """The long-running services this concern adds to the shared stack (``mlops up``).

    Return nothing when the concern's tool is not installed; ``mlops up`` says it is skipped.
    Services bind to 127.0.0.1 on the port of their setting and keep their state and logs under
    ``settings.state_dir``.
    """


@hookspec
def mlops_doctor_checks(settings: Settings) -> list[Check] | None:
    """Report this concern's health: installed, configured, service reachable, and the fix."""


# --------------------------------------------------------------------------------------------
# Lifecycle events
# --------------------------------------------------------------------------------------------


@hookspec
def mlops_project_registered(settings: Settings, project: ProjectInfo) -> None:
    """A project was found and registered (or re-registered) in the state directory."""


@hookspec
def mlops_dataset_versioned(settings: Settings, dataset: DatasetVersion) -> None:
    """A dataset or model file was put under version control."""


@hookspec
def mlops_before_run(settings: Settings, project: Project, run: RunRecord) -> None:
    """A training run is about to start (the run exists in the tracker)."""


@hookspec
def mlops_after_run(settings: Settings, project: Project, run: RunRecord) -> None:
    """A training run finished; ``run.status`` says how, ``run.metrics`` holds its results."""


@hookspec
def mlops_on_run_error(settings: Settings, project: Project, run: RunRecord, error: BaseException) -> None:
    """A training run failed with ``error``."""


@hookspec
def mlops_model_registered(settings: Settings, model: ModelVersion) -> None:
    """A new model version was registered."""


@hookspec
def mlops_model_promoted(
    settings: Settings, project: Project, model: ModelVersion, alias: str, reference: Sequence[Sequence[float]]
) -> None:
    """``alias`` now points at ``model``. ``reference`` holds the rows it was trained on."""


@hookspec
def mlops_predictions_served(settings: Settings, batch: PredictionBatch) -> None:
    """The gateway answered a batch of predictions."""


@hookspec
def mlops_drift_checked(settings: Settings, report: DriftReport) -> None:
    """A drift report was produced, drifted or not."""


@hookspec
def mlops_drift_detected(settings: Settings, report: DriftReport) -> RetrainRequest | None:
    """Drift went over the threshold. Return a :class:`RetrainRequest` to ask for retraining.

    The core records every request returned here in the lineage ledger and then announces it
    with :func:`mlops_retrain_requested`.
    """


@hookspec
def mlops_retrain_requested(settings: Settings, request: RetrainRequest) -> None:
    """A retraining request was recorded."""
