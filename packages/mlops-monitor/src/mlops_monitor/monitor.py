"""The drift monitor the plugin provides: captures, references and drift checks for one state dir."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import TYPE_CHECKING

from mlops_monitor.captures import CapturedRow, CaptureStore
from mlops_monitor.drift import NUM_METHOD, run_check
from mlops_monitor.paths import db_path, reference_dir
from mlops_monitor.reference import Reference, ReferenceStore
from mlops_monitor.reports import IndexedReport, ReportIndex
from mlops_monitor.workspace import DriftWorkspace

if TYPE_CHECKING:
    from mlops_core.records import DriftReport, PredictionBatch
    from mlops_core.settings import Settings

__all__ = ["Monitor"]


class Monitor:
    """Implements :class:`mlops_core.providers.DriftMonitor` with SQLite, Parquet and Evidently.

    Cheap to create: nothing is opened or imported until a method needs it.
    """

    def __init__(self, settings: Settings, *, num_method: str | None = NUM_METHOD) -> None:
        self.settings = settings
        #: Evidently's drift method for numeric columns; ``None`` lets Evidently choose by size
        self.num_method = num_method
        self.captures = CaptureStore(db_path(settings))
        self.references = ReferenceStore(reference_dir(settings))
        self.reports = ReportIndex(db_path(settings))
        #: the Evidently workspace (``<state_dir>/evidently``) every check adds its run to
        self.workspace = DriftWorkspace(settings, self.reports)

    def capture(self, batch: PredictionBatch) -> None:
        """Store every row of a served batch (all or none)."""
        self.captures.capture(batch)

    def captured(self, project: str, model: str) -> int:
        """How many served rows are stored for ``project``/``model`` (all time)."""
        return self.captures.count(project, model)

    def set_reference(
        self, project: str, model: str, feature_names: Sequence[str], rows: Sequence[Sequence[float]]
    ) -> None:
        """Replace the training reference of ``project``/``model``; drift checks then start a new window."""
        self.references.set(project, model, feature_names, rows)

    def reference(self, project: str, model: str) -> Reference | None:
        return self.references.get(project, model)

    def rows(
        self, project: str, model: str, *, last_n: int | None = None, since: str | datetime | None = None
    ) -> list[CapturedRow]:
        """Captured rows, oldest first (the last ``last_n``, and/or captured at or after ``since``)."""
        return self.captures.rows(project, model, last_n=last_n, since=since)

    def check(
        self, project: str, model: str, *, threshold: float | None = None, last_n: int | None = None
    ) -> DriftReport:
        """Compare captured rows with the reference, write the JSON (and HTML) report, add the run to the
        Evidently workspace, return the verdict."""
        return run_check(self.settings, self.captures, self.references, self.reports, project, model,
                         threshold=threshold, last_n=last_n, num_method=self.num_method, workspace=self.workspace)

    def list_reports(self, project: str, *, model: str | None = None, limit: int = 50) -> list[IndexedReport]:
        """The project's drift reports, newest first."""
        return self.reports.list(project, model=model, limit=limit)
