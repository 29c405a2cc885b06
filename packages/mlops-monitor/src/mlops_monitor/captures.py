"""The capture store: every row the gateway served, in SQLite (WAL, several writers).

One row per served input: project, model, version, when it was served and captured, its
features (a JSON list, in the order of its feature set) and the model's output (JSON). Feature
names are stored once per distinct set, not once per row.
"""

from __future__ import annotations

import json
import math
import sqlite3
from collections.abc import Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from datetime import UTC, datetime
from numbers import Real
from pathlib import Path
from typing import Any

from mlops_core.errors import InputValidationError
from mlops_core.records import PredictionBatch

from mlops_monitor.db import connect, utc_now

__all__ = ["CaptureStore", "CapturedRow", "ModelTraffic", "feature_matrix", "normalize_time"]

#: the common case, checked without the slower ABC lookup
_PLAIN_NUMBERS = (float, int)

_SCHEMA = """
CREATE TABLE IF NOT EXISTS feature_sets (
    id INTEGER PRIMARY KEY,
    names TEXT NOT NULL UNIQUE
);
CREATE TABLE IF NOT EXISTS captures (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    project TEXT NOT NULL,
    model TEXT NOT NULL,
    version TEXT NOT NULL,
    served_at TEXT NOT NULL,
    captured_at TEXT NOT NULL,
    feature_set INTEGER NOT NULL REFERENCES feature_sets(id),
    features TEXT NOT NULL,
    output TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS captures_by_model ON captures(project, model, id);
CREATE INDEX IF NOT EXISTS captures_by_time ON captures(project, model, captured_at);
"""


@dataclass(frozen=True)
class CapturedRow:
    """One served input and the model's answer."""

    id: int
    project: str
    model: str
    version: str
    served_at: str
    captured_at: str
    feature_names: tuple[str, ...]
    features: tuple[float, ...]
    output: Any


@dataclass(frozen=True)
class ModelTraffic:
    """How much was captured for one project and model."""

    project: str
    model: str
    rows: int
    first_captured_at: str
    last_captured_at: str


def normalize_time(value: str | datetime) -> str:
    """``value`` as UTC ISO text with microseconds, comparable with stored times (naive means UTC)."""
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value)
        except ValueError:
            raise InputValidationError(
                f"{value!r} is not an ISO date or time", fix="write it like 2026-12-03 or 2026-12-03T14:00:00+00:00"
            ) from None
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.astimezone(UTC).isoformat(timespec="microseconds")


def _json_default(value: Any) -> Any:
    # Model outputs may be numpy scalars or arrays; keep their value, not their repr.
    for attr in ("tolist", "item"):
        if hasattr(value, attr):
            return getattr(value, attr)()
    return str(value)


def _validated(batch: PredictionBatch) -> list[tuple[str, str]]:
    """(features JSON, output JSON) per row; raises before anything is written."""
    names = tuple(batch.feature_names)
    where = f"prediction batch for {batch.project}/{batch.model}"
    if not names or len(set(names)) != len(names) or not all(isinstance(n, str) and n for n in names):
        raise InputValidationError(f"{where}: feature names must be distinct non-empty strings, got {names!r}",
                                   fix="send the model schema's feature names with the batch")
    if len(batch.inputs) != len(batch.outputs):
        raise InputValidationError(f"{where}: {len(batch.inputs)} input rows but {len(batch.outputs)} outputs",
                                   fix="send one output per input row")
    out = []
    for i, (row, output) in enumerate(zip(batch.inputs, batch.outputs, strict=True)):
        if len(row) != len(names):
            raise InputValidationError(f"{where}: row {i} has {len(row)} values for {len(names)} features",
                                       fix="send one value per feature, in the order of feature_names")
        if not all(type(v) in _PLAIN_NUMBERS or (isinstance(v, Real) and not isinstance(v, bool)) for v in row):
            raise InputValidationError(f"{where}: row {i} holds a value that is not a number",
                                       fix="send numbers only (missing values as NaN)")
        # NaN (a missing value) is kept: JSON null reads back as NaN.
        values = [None if v != v else float(v) for v in row]  # v != v: NaN
        out.append((json.dumps(values, allow_nan=False), json.dumps(output, default=_json_default)))
    return out


class CaptureStore:
    """Captured predictions of every project and model, in one SQLite file."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def _db(self, *, write: bool = False) -> AbstractContextManager[sqlite3.Connection]:
        return connect(self.path, _SCHEMA, write=write)

    # -- writing ----------------------------------------------------------------------------

    def capture(self, batch: PredictionBatch) -> int:
        """Store every row of ``batch`` (all or none); returns how many were stored."""
        rows = _validated(batch)
        if not rows:
            return 0
        names = json.dumps(list(batch.feature_names))
        captured_at = utc_now()
        with self._db(write=True) as db:
            db.execute("INSERT OR IGNORE INTO feature_sets(names) VALUES (?)", (names,))
            (set_id,) = db.execute("SELECT id FROM feature_sets WHERE names=?", (names,)).fetchone()
            db.executemany(
                "INSERT INTO captures(project, model, version, served_at, captured_at, feature_set, features, output)"
                " VALUES (?,?,?,?,?,?,?,?)",
                [(batch.project, batch.model, str(batch.version), batch.served_at, captured_at, set_id, f, o)
                 for f, o in rows],
            )
        return len(rows)

    # -- reading ----------------------------------------------------------------------------

    def rows(
        self, project: str, model: str, *, last_n: int | None = None, since: str | datetime | None = None
    ) -> list[CapturedRow]:
        """Captured rows of one model, oldest first: the last ``last_n``, and/or those captured at or after ``since``."""
        if last_n is not None and last_n < 1:
            raise InputValidationError(f"last_n must be at least 1, got {last_n}", fix="ask for 1 or more rows")
        sql = ("SELECT c.id, c.project, c.model, c.version, c.served_at, c.captured_at, s.names, c.features, c.output"
               " FROM captures c JOIN feature_sets s ON s.id = c.feature_set WHERE c.project=? AND c.model=?")
        args: list[Any] = [project, model]
        if since is not None:
            sql, args = sql + " AND c.captured_at >= ?", [*args, normalize_time(since)]
        sql += " ORDER BY c.id DESC"
        if last_n is not None:
            sql, args = sql + " LIMIT ?", [*args, last_n]
        with self._db() as db:
            found = db.execute(sql, args).fetchall()
        names_cache: dict[str, tuple[str, ...]] = {}
        out = []
        for rid, proj, mod, version, served_at, captured_at, names, features, output in reversed(found):
            feature_names = names_cache.setdefault(names, tuple(json.loads(names)))
            values = tuple(math.nan if v is None else v for v in json.loads(features))
            out.append(CapturedRow(rid, proj, mod, version, served_at, captured_at, feature_names, values,
                                   json.loads(output)))
        return out

    def count(self, project: str, model: str, *, since: str | datetime | None = None) -> int:
        """How many rows of one model were captured (at or after ``since``)."""
        sql, args = "SELECT COUNT(*) FROM captures WHERE project=? AND model=?", [project, model]
        if since is not None:
            sql, args = sql + " AND captured_at >= ?", [*args, normalize_time(since)]
        with self._db() as db:
            return int(db.execute(sql, args).fetchone()[0])

    def traffic(self, project: str | None = None) -> list[ModelTraffic]:
        """Captured rows per project and model."""
        sql, args = "SELECT project, model, COUNT(*), MIN(captured_at), MAX(captured_at) FROM captures", []
        if project is not None:
            sql, args = sql + " WHERE project=?", [project]
        with self._db() as db:
            found = db.execute(sql + " GROUP BY project, model ORDER BY project, model", args).fetchall()
        return [ModelTraffic(*row) for row in found]


def feature_matrix(rows: Sequence[CapturedRow], feature_names: Sequence[str]) -> list[tuple[float, ...]]:
    """The rows' values in the order of ``feature_names``; raises if a row's feature set differs."""
    wanted = tuple(feature_names)
    orders: dict[tuple[str, ...], list[int] | None] = {}
    out = []
    for row in rows:
        if row.feature_names not in orders:
            if row.feature_names == wanted:
                orders[row.feature_names] = None
            elif sorted(row.feature_names) == sorted(wanted):
                position = {name: i for i, name in enumerate(row.feature_names)}
                orders[row.feature_names] = [position[name] for name in wanted]
            else:
                missing = [n for n in wanted if n not in row.feature_names]
                extra = [n for n in row.feature_names if n not in wanted]
                raise InputValidationError(
                    f"captured rows of {row.project}/{row.model} (version {row.version}) have other features "
                    f"than its reference: missing {_short(missing)}, unexpected {_short(extra)}",
                    fix="the model's inputs changed since its reference was set: promote it again "
                    f"(`mlops run {row.project}`) so the reference matches, or check only newer traffic (--last N)",
                )
        order = orders[row.feature_names]
        out.append(row.features if order is None else tuple(row.features[i] for i in order))
    return out


def _short(names: Sequence[str], limit: int = 6) -> str:
    shown = ", ".join(names[:limit])
    return f"[{shown}{', ...' if len(names) > limit else ''}] ({len(names)})"
