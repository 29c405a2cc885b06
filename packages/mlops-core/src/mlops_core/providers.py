"""Interfaces of the services that concern packages provide through provider hooks.

The core programs against these protocols only; ``mlops-data`` returns a :class:`DataStore`,
``mlops-tracking`` a :class:`Tracker`, and so on. A package that is not installed provides
nothing, and the core degrades or says which extra to install.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

from mlops_core.project import Schema
from mlops_core.records import (
    DatasetVersion,
    DriftReport,
    ModelVersion,
    PredictionBatch,
    RunRecord,
)

__all__ = [
    "DataStore",
    "DriftMonitor",
    "GatewayHandle",
    "LoadedModel",
    "PipelineRunner",
    "RunHandle",
    "Tracker",
]


@runtime_checkable
class DataStore(Protocol):
    """Versioned storage of datasets and model files (DVC in ``mlops-data``)."""

    def project_dir(self, project: str) -> Path:
        """The project's folder inside the data repository (created if missing)."""

    def version(
        self, project: str, paths: Sequence[Path], *, kind: str = "dataset", message: str = ""
    ) -> list[DatasetVersion]:
        """Track ``paths`` (inside :meth:`project_dir`), commit, push; one record per path."""

    def read(self, project: str, path: str, rev: str) -> bytes:
        """The content of ``path`` (relative to the project folder) at revision ``rev``."""

    def checkout(self, project: str, rev: str) -> list[Path]:
        """Put the project's files as they were at ``rev`` into the working tree."""

    def history(self, project: str) -> list[DatasetVersion]:
        """Every version recorded for the project, newest first."""


@runtime_checkable
class RunHandle(Protocol):
    """An open training run. Metrics are buffered and sent in batches."""

    run_id: str

    def log_metrics(self, step: int, metrics: Mapping[str, float]) -> None: ...

    def log_params(self, params: Mapping[str, Any]) -> None: ...

    def set_tags(self, tags: Mapping[str, str]) -> None: ...

    def finish(self, status: str = "FINISHED") -> RunRecord:
        """Flush, close the run and return its record."""


@runtime_checkable
class LoadedModel(Protocol):
    """A model version loaded for serving."""

    project: str
    name: str
    version: str
    schema: Schema

    def predict(self, rows: Sequence[Sequence[float]]) -> list[Any]: ...


@runtime_checkable
class Tracker(Protocol):
    """Experiment tracking and model registry (MLflow in ``mlops-tracking``)."""

    def start_run(
        self,
        project: str,
        *,
        run_name: str | None = None,
        params: Mapping[str, Any] | None = None,
        tags: Mapping[str, str] | None = None,
        dataset_hashes: Sequence[str] = (),
    ) -> RunHandle: ...

    def resume_run(self, run_id: str) -> RunHandle:
        """Reopen a run (e.g. the evaluate step, in another Airflow task, logs to the train run)."""

    def register_model(
        self, project: str, run_id: str, model_dir: Path, schema: Schema, *, name: str
    ) -> ModelVersion:
        """Log ``model_dir`` to the run as a model and register it as a new version."""

    def set_alias(self, model: ModelVersion, alias: str) -> ModelVersion: ...

    def load_model(self, project: str, name: str, alias: str = "champion") -> LoadedModel:
        """Load the version behind ``alias``; raises ReferenceNotFoundError if there is none."""

    def model_versions(self, project: str, name: str) -> list[ModelVersion]: ...

    def runs(self, project: str, limit: int = 10) -> list[RunRecord]: ...


@runtime_checkable
class PipelineRunner(Protocol):
    """Runs a project's pipeline (Airflow 3 in ``mlops-orchestrate``)."""

    name: str

    def run(self, project: str, params: Mapping[str, Any] | None = None) -> dict[str, Any]:
        """Run prepare, train, evaluate, register, deploy; return the steps' results."""


@runtime_checkable
class DriftMonitor(Protocol):
    """Captured predictions and drift reports (Evidently in ``mlops-monitor``)."""

    def capture(self, batch: PredictionBatch) -> None: ...

    def captured(self, project: str, model: str) -> int:
        """How many served rows are stored for ``project``/``model`` (all time)."""

    def set_reference(
        self, project: str, model: str, feature_names: Sequence[str], rows: Sequence[Sequence[float]]
    ) -> None: ...

    def check(
        self, project: str, model: str, *, threshold: float | None = None, last_n: int | None = None
    ) -> DriftReport:
        """Compare captured rows with the reference, write JSON and HTML reports."""


@runtime_checkable
class GatewayHandle(Protocol):
    """A gateway running in the background."""

    url: str

    def stop(self) -> None:
        """Shut down gracefully: in-flight requests and their background work finish first."""
