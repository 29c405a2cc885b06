"""Where the monitor keeps its state, all of it under ``settings.state_dir`` (reports: ``reports_dir``)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import quote

from mlops_core.errors import InputValidationError

if TYPE_CHECKING:
    from mlops_core.settings import Settings

__all__ = ["db_path", "evidently_dir", "monitor_dir", "path_component", "reference_dir", "report_dir"]


def monitor_dir(settings: Settings) -> Path:
    """``<state_dir>/monitor``: the capture database and the references."""
    return settings.state_dir / "monitor"


def db_path(settings: Settings) -> Path:
    """The SQLite file holding captured predictions and the index of drift reports."""
    return monitor_dir(settings) / "monitor.db"


def reference_dir(settings: Settings) -> Path:
    """``<state_dir>/monitor/reference``: one Parquet file per project and model."""
    return monitor_dir(settings) / "reference"


def evidently_dir(settings: Settings) -> Path:
    """``<state_dir>/evidently``: the Evidently workspace (one project per mlops project) the UI reads."""
    return settings.state_dir / "evidently"


def report_dir(settings: Settings, project: str) -> Path:
    """``<reports_dir>/<project>``: the JSON and HTML drift reports of one project."""
    return settings.reports_dir / path_component(project, what="project")


def path_component(name: str, *, what: str = "name") -> str:
    """``name`` as one safe file-name component (model names may hold ``/`` or spaces)."""
    if not isinstance(name, str) or not name.strip():
        raise InputValidationError(f"empty {what} name", fix=f"pass the {what}'s name")
    safe = quote(name, safe="-_.@+=")
    if safe in {".", ".."}:
        raise InputValidationError(f"{what} name {name!r} is not usable as a file name", fix=f"rename the {what}")
    return safe
