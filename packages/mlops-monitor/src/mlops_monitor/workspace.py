"""Drift checks as runs of an Evidently workspace, the folder the Evidently UI reads.

The workspace is ``<state_dir>/evidently`` (Evidently 0.7's local ``Workspace``). Each mlops
project gets one Evidently project, created on its first check and named after it; every check
adds its snapshot to that project as a run, whether or not the UI is running (the UI watches the
folder and shows new runs as they land). The project's dashboard gets one line plot per model:
the share of drifted columns, check after check.

Which Evidently project belongs to which mlops project is kept in the monitor database, so a
check does not scan the workspace; creating a project (and its panels) happens under a file lock,
so two processes checking at once never create two projects for one name.
"""

from __future__ import annotations

import contextlib
import fcntl
import warnings
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mlops_core.errors import MlopsError

from mlops_monitor.paths import evidently_dir, monitor_dir
from mlops_monitor.reports import ReportIndex

if TYPE_CHECKING:
    from mlops_core.settings import Settings

__all__ = ["DRIFT_TAB", "DriftWorkspace", "WorkspaceRun", "run_url", "share_panel_title"]

#: the dashboard tab holding the drift panels
DRIFT_TAB = "Drift"
_SHARE_METRIC = "evidently:metric_v2:DriftedColumnsCount"


@dataclass(frozen=True)
class WorkspaceRun:
    """Where a check's run is in the Evidently workspace."""

    project_id: str
    run_id: str
    #: the snapshot file Evidently wrote
    path: str


def run_url(base_url: str, project_id: str, run_id: str) -> str:
    """The Evidently UI page of one run, under the UI's base URL."""
    return f"{base_url.rstrip('/')}/projects/{project_id}/reports/{run_id}"


def share_panel_title(model: str) -> str:
    return f"Drifted column share: {model}"


def model_tag(model: str) -> str:
    """The tag every run of ``model`` carries; the model's dashboard panel selects runs by it."""
    return f"model:{model}"


class DriftWorkspace:
    """The Evidently workspace of one state dir, with the mlops project -> Evidently project mapping."""

    def __init__(self, settings: Settings, index: ReportIndex) -> None:
        self.settings = settings
        self.path = evidently_dir(settings)
        self.index = index
        self._lock_path = monitor_dir(settings) / "evidently.lock"
        self._workspace: Any = None

    def _ws(self) -> Any:
        if self._workspace is None:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", DeprecationWarning)
                from evidently.ui.workspace import Workspace

            self.path.mkdir(parents=True, exist_ok=True)
            self._workspace = Workspace(str(self.path))
        return self._workspace

    @contextlib.contextmanager
    def _locked(self) -> Iterator[None]:
        self._lock_path.parent.mkdir(parents=True, exist_ok=True)
        with open(self._lock_path, "a") as fh:
            fcntl.flock(fh, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(fh, fcntl.LOCK_UN)

    def project_id(self, project: str, model: str | None = None) -> str:
        """The Evidently project of ``project`` (created on first use); with ``model``, its panel exists too."""
        with self._locked():
            ws = self._ws()
            project_id = self.index.evidently_project(project)
            if project_id is None or _get_project(ws, project_id) is None:
                project_id = self._find_or_create(ws, project)
                self.index.set_evidently_project(project, project_id)
            if model is not None:
                self._ensure_share_panel(ws, project_id, model)
        return project_id

    def add_run(self, project: str, model: str, snapshot: Any, *, name: str) -> WorkspaceRun:
        """Add a drift check's snapshot to the project's Evidently project; returns where it went."""
        try:
            project_id = self.project_id(project, model)
            ref = self._ws().add_run(project_id, snapshot, name=name)
        except MlopsError:
            raise
        except Exception as exc:  # OSError, a damaged project file (pydantic), Evidently's own errors
            raise MlopsError(
                f"could not add the drift run of {project}/{model} to the Evidently workspace {self.path}: "
                f"{type(exc).__name__}: {exc}",
                fix=f"make {self.path} writable; if a project folder in it is damaged, move that folder away "
                "(a new Evidently project is created on the next check)",
            ) from exc
        return WorkspaceRun(str(project_id), str(ref.id), str(ref.url))

    def runs(self, project: str) -> list[str]:
        """Run ids of the project's Evidently project (none if it has none yet)."""
        project_id = self.index.evidently_project(project)
        if project_id is None:
            return []
        return [str(r) for r in self._ws().list_runs(project_id)]

    # -- creating -----------------------------------------------------------------------------

    def _find_or_create(self, ws: Any, project: str) -> str:
        try:
            # Adopt one of that name (a workspace kept while the monitor database was reset).
            found = ws.search_project(project)
        except Exception:  # a damaged folder of another project must not block this one
            found = []
        if found:
            return str(found[0].id)
        created = ws.create_project(project, description=self._description(project))
        return str(created.id)

    def _description(self, project: str) -> str:
        text = f"Drift checks of the mlops project '{project}': captured traffic against the training reference."
        with contextlib.suppress(Exception):  # the registry is optional here, never a reason to fail
            from mlops_core.registry import ProjectRegistry

            info = ProjectRegistry(self.settings, entrypoints=False).stored().get(project)
            if info is not None and info.description:
                text += f" {info.description}"
        return text

    def _ensure_share_panel(self, ws: Any, project_id: str, model: str) -> None:
        title = share_panel_title(model)
        dashboard = ws.get_dashboard(project_id)
        if any(panel.title == title for panel in dashboard.panels):
            return
        from evidently.sdk.models import PanelMetric
        from evidently.sdk.panels import line_plot_panel

        panel = line_plot_panel(
            title,
            [PanelMetric(legend=model, tags=[model_tag(model)], metric=_SHARE_METRIC,
                         metric_labels={"value_type": "share"})],
            description="share of feature columns whose distribution drifted (K-S p < 0.05), per check",
            size="full",
        )
        ws.get_project(project_id).dashboard.add_panel(panel, tab=DRIFT_TAB)


def _get_project(ws: Any, project_id: str) -> Any:
    try:
        return ws.get_project(project_id)
    except Exception:  # unreadable metadata: treat as gone, a new project is made
        return None


def run_metadata(values: Mapping[str, object]) -> dict[str, str]:
    """Evidently's snapshot metadata holds strings only."""
    return {key: str(value) for key, value in values.items()}
