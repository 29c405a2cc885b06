"""One SQLite file shared by several processes (the gateway's workers, the CLI, Airflow tasks)."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import closing, contextmanager
from datetime import UTC, datetime
from pathlib import Path

__all__ = ["connect", "utc_now"]

#: how long a writer waits for another process's transaction before giving up
BUSY_TIMEOUT_S = 30.0


def utc_now() -> str:
    """Now, as sortable ISO text with microseconds (the order of captures within one second matters)."""
    return datetime.now(UTC).isoformat(timespec="microseconds")


@contextmanager
def connect(path: Path, schema: str) -> Iterator[sqlite3.Connection]:
    """A connection in WAL mode with ``schema`` applied; the body runs as one transaction."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with closing(sqlite3.connect(path, timeout=BUSY_TIMEOUT_S)) as db:
        # WAL lets readers run while a writer appends; NORMAL sync is safe in WAL (no corruption,
        # at worst the last transactions before a power cut are lost) and keeps captures cheap.
        db.execute("PRAGMA journal_mode=WAL")
        db.execute("PRAGMA synchronous=NORMAL")
        db.executescript(schema)
        with db:  # all or nothing
            yield db
