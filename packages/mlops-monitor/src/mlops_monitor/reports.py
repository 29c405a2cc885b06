"""The index of drift reports: one row per check, next to the captures in the monitor database.

The reports themselves are files (``<reports_dir>/<project>/<report_id>.json`` and ``.html``);
the index keeps each check's verdict so that listing them needs no file parsing.
"""

from __future__ import annotations

import json
import sqlite3
from contextlib import AbstractContextManager
from dataclasses import dataclass
from pathlib import Path

from mlops_core.records import DriftReport, as_dict

from mlops_monitor.db import connect

__all__ = ["IndexedReport", "ReportIndex"]

_SCHEMA = """
CREATE TABLE IF NOT EXISTS drift_reports (
    report_id TEXT PRIMARY KEY,
    project TEXT NOT NULL,
    model TEXT NOT NULL,
    created_at TEXT NOT NULL,
    data TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS drift_reports_by_project ON drift_reports(project, created_at);
"""


@dataclass(frozen=True)
class IndexedReport:
    """A drift report and when it was made."""

    created_at: str
    report: DriftReport


class ReportIndex:
    """Every drift check's result, by project."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def _db(self, *, write: bool = False) -> AbstractContextManager[sqlite3.Connection]:
        return connect(self.path, _SCHEMA, write=write)

    def add(self, report: DriftReport, created_at: str) -> None:
        with self._db(write=True) as db:
            db.execute(
                "INSERT INTO drift_reports(report_id, project, model, created_at, data) VALUES (?,?,?,?,?)",
                (report.report_id, report.project, report.model, created_at, json.dumps(as_dict(report))),
            )

    def list(self, project: str, *, model: str | None = None, limit: int = 50) -> list[IndexedReport]:
        """The project's reports, newest first."""
        sql, args = "SELECT created_at, data FROM drift_reports WHERE project=?", [project]
        if model is not None:
            sql, args = sql + " AND model=?", [*args, model]
        with self._db() as db:
            found = db.execute(sql + " ORDER BY created_at DESC, rowid DESC LIMIT ?", [*args, limit]).fetchall()
        return [IndexedReport(created_at, DriftReport(**json.loads(data))) for created_at, data in found]
