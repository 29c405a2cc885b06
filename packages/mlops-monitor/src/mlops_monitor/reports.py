"""The index of drift reports: one row per check, next to the captures in the monitor database.

The reports themselves are files (``<reports_dir>/<project>/<report_id>.json`` and ``.html``);
the index keeps each check's verdict so that listing them needs no file parsing, and where the
check's run is in the Evidently workspace (its Evidently project and run ids).
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
-- Tables of their own rather than new columns: databases written before these existed keep working.
CREATE TABLE IF NOT EXISTS evidently_runs (
    report_id TEXT PRIMARY KEY REFERENCES drift_reports(report_id),
    project_id TEXT NOT NULL,
    run_id TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS evidently_projects (
    project TEXT PRIMARY KEY,
    project_id TEXT NOT NULL
);
"""


@dataclass(frozen=True)
class IndexedReport:
    """A drift report and when it was made."""

    created_at: str
    report: DriftReport
    #: the Evidently project and run (snapshot) ids of the check in the workspace ("" if none)
    evidently_project_id: str = ""
    evidently_run_id: str = ""


class ReportIndex:
    """Every drift check's result, by project."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def _db(self, *, write: bool = False) -> AbstractContextManager[sqlite3.Connection]:
        return connect(self.path, _SCHEMA, write=write)

    def add(self, report: DriftReport, created_at: str, *, evidently_project_id: str = "",
            evidently_run_id: str = "") -> None:
        """Index ``report`` and, if given, its run in the Evidently workspace (in one transaction)."""
        with self._db(write=True) as db:
            db.execute(
                "INSERT INTO drift_reports(report_id, project, model, created_at, data) VALUES (?,?,?,?,?)",
                (report.report_id, report.project, report.model, created_at, json.dumps(as_dict(report))),
            )
            if evidently_run_id:
                db.execute("INSERT INTO evidently_runs(report_id, project_id, run_id) VALUES (?,?,?)",
                           (report.report_id, evidently_project_id, evidently_run_id))

    def list(self, project: str, *, model: str | None = None, limit: int = 50) -> list[IndexedReport]:
        """The project's reports, newest first."""
        sql, args = _SELECT + " WHERE r.project=?", [project]
        if model is not None:
            sql, args = sql + " AND r.model=?", [*args, model]
        with self._db() as db:
            found = db.execute(sql + " ORDER BY r.created_at DESC, r.rowid DESC LIMIT ?", [*args, limit]).fetchall()
        return [_indexed(*row) for row in found]

    def get(self, report_id: str) -> IndexedReport | None:
        """One report by its id, or ``None``."""
        with self._db() as db:
            row = db.execute(_SELECT + " WHERE r.report_id=?", [report_id]).fetchone()
        return None if row is None else _indexed(*row)

    # -- which Evidently project holds an mlops project's runs -------------------------------

    def evidently_project(self, project: str) -> str | None:
        """The Evidently project id recorded for ``project``, or ``None``."""
        with self._db() as db:
            row = db.execute("SELECT project_id FROM evidently_projects WHERE project=?", [project]).fetchone()
        return None if row is None else str(row[0])

    def set_evidently_project(self, project: str, project_id: str) -> None:
        with self._db(write=True) as db:
            db.execute("INSERT OR REPLACE INTO evidently_projects(project, project_id) VALUES (?,?)",
                       (project, project_id))


_SELECT = ("SELECT r.created_at, r.data, e.project_id, e.run_id FROM drift_reports r"
           " LEFT JOIN evidently_runs e ON e.report_id = r.report_id")


def _indexed(created_at: str, data: str, project_id: str | None, run_id: str | None) -> IndexedReport:
    return IndexedReport(created_at, DriftReport(**json.loads(data)), project_id or "", run_id or "")
