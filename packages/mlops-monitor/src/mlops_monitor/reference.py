"""The training reference of each served model: the rows it was trained on.

Stored as one Parquet file per project and model,
``<state_dir>/monitor/reference/<project>/<model>.parquet``, one float64 column per feature. The
file's own metadata says which project and model it belongs to and when it was set, so a
reference is always replaced whole (write to a temporary file, then rename): a reader never sees
half of one, and bad input leaves the previous reference as it was.
"""

from __future__ import annotations

import json
import os
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from numbers import Real
from pathlib import Path
from typing import TYPE_CHECKING

from mlops_core.errors import InputValidationError

from mlops_monitor.db import utc_now
from mlops_monitor.paths import path_component

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["Reference", "ReferenceStore"]

_META_KEY = b"mlops.reference"


@dataclass(frozen=True)
class Reference:
    """What is known about a stored reference without reading its rows."""

    project: str
    model: str
    feature_names: tuple[str, ...]
    rows: int
    #: when it was set (UTC ISO, microseconds); captures from then on are compared with it
    set_at: str
    path: str


class ReferenceStore:
    """References of every project and model, under one folder."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def path(self, project: str, model: str) -> Path:
        return self.root / path_component(project, what="project") / f"{path_component(model, what='model')}.parquet"

    def set(
        self, project: str, model: str, feature_names: Sequence[str], rows: Sequence[Sequence[float]]
    ) -> Reference:
        """Replace the reference of ``project``/``model`` with ``rows`` (validated before anything is written)."""
        import pyarrow as pa
        import pyarrow.parquet as pq

        names = _validated(project, model, feature_names, rows)
        columns = list(zip(*rows, strict=True))
        meta = {
            "project": project,
            "model": model,
            "feature_names": list(names),
            "rows": len(rows),
            "set_at": utc_now(),
        }
        table = pa.table(
            {name: pa.array(col, type=pa.float64()) for name, col in zip(names, columns, strict=True)}
        ).replace_schema_metadata({_META_KEY: json.dumps(meta).encode()})
        target = self.path(project, model)
        target.parent.mkdir(parents=True, exist_ok=True)
        # Not mkstemp: its 0600 mode would stick to the reference; this file gets the umask's.
        tmp = target.parent / f".{target.stem}-{uuid.uuid4().hex}.tmp"
        try:
            pq.write_table(table, tmp)
            os.replace(tmp, target)
        finally:
            if os.path.exists(tmp):
                os.unlink(tmp)
        return Reference(project, model, names, len(rows), meta["set_at"], str(target))

    def get(self, project: str, model: str) -> Reference | None:
        """The reference of ``project``/``model``, or ``None`` if none was set."""
        path = self.path(project, model)
        return _read_meta(path) if path.is_file() else None

    def frame(self, project: str, model: str) -> pd.DataFrame:
        """The reference rows as a DataFrame, one column per feature."""
        import pyarrow.parquet as pq

        return pq.read_table(self.path(project, model)).to_pandas()

    def all(self) -> list[Reference]:
        """Every stored reference, by project and model."""
        if not self.root.is_dir():
            return []
        found = [_read_meta(p) for p in sorted(self.root.glob("*/*.parquet"))]
        return sorted(found, key=lambda r: (r.project, r.model))


def _read_meta(path: Path) -> Reference:
    import pyarrow.parquet as pq

    meta = json.loads((pq.read_schema(path).metadata or {})[_META_KEY])
    return Reference(meta["project"], meta["model"], tuple(meta["feature_names"]), int(meta["rows"]),
                     meta["set_at"], str(path))


def _validated(
    project: str, model: str, feature_names: Sequence[str], rows: Sequence[Sequence[float]]
) -> tuple[str, ...]:
    names = tuple(feature_names)
    where = f"reference for {project}/{model}"
    if not names or len(set(names)) != len(names) or not all(isinstance(n, str) and n for n in names):
        raise InputValidationError(f"{where}: feature names must be distinct non-empty strings, got {names!r}",
                                   fix="pass the model schema's feature names (Project.schema().feature_names)")
    if len(rows) == 0:
        raise InputValidationError(f"{where}: no rows", fix="Project.reference() must return the training rows")
    for i, row in enumerate(rows):
        if len(row) != len(names):
            raise InputValidationError(f"{where}: row {i} has {len(row)} values for {len(names)} features",
                                       fix="return one value per feature, in the schema's order")
        for v in row:
            if not isinstance(v, Real) or isinstance(v, bool):
                raise InputValidationError(f"{where}: row {i} holds {v!r}, not a number",
                                           fix="return numeric rows (missing values as NaN)")
    return names
