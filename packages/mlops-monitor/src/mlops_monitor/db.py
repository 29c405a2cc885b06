"""One SQLite file shared by several processes (the gateway's workers, the CLI, Airflow tasks).

Each process keeps one open connection per file. Opening and closing per call would cost a
WAL checkpoint (with its fsyncs) on every close: ~15 ms per captured batch instead of ~2 ms.
"""

from __future__ import annotations

import os
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

__all__ = ["connect", "utc_now"]

#: how long a writer waits for another process's transaction before giving up
BUSY_TIMEOUT_S = 30.0


def utc_now() -> str:
    """Now, as sortable ISO text with microseconds (the order of captures within one second matters)."""
    return datetime.now(UTC).isoformat(timespec="microseconds")


@dataclass
class _Open:
    db: sqlite3.Connection
    inode: int
    lock: threading.Lock
    schemas: set[str]


_open: dict[tuple[int, Path], _Open] = {}
_open_lock = threading.Lock()


def _retry_locked(action: Callable[[], object], seconds: float = BUSY_TIMEOUT_S) -> None:
    """Run ``action``, retrying while the database is locked.

    Switching to WAL and creating the schema need a lock that SQLite may refuse at once, without
    calling the busy handler, while other processes open the same new file (seen in CI as
    "database is locked" with several processes capturing at once).
    """
    deadline = time.monotonic() + seconds
    while True:
        try:
            action()
            return
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or time.monotonic() > deadline:
                raise
            time.sleep(0.05)


def _connection(path: Path) -> _Open:
    # Keyed by pid too: a connection must not cross a fork (uvicorn/gunicorn workers).
    key = (os.getpid(), path)
    with _open_lock:
        entry = _open.get(key)
        try:
            inode = path.stat().st_ino
        except FileNotFoundError:
            inode = -1
        if entry is not None and entry.inode != inode:  # the file was removed or replaced
            entry.db.close()
            entry = None
        if entry is None:
            path.parent.mkdir(parents=True, exist_ok=True)
            db = sqlite3.connect(path, timeout=BUSY_TIMEOUT_S, check_same_thread=False, isolation_level=None)
            # WAL lets readers run while a writer appends; NORMAL sync is safe in WAL (no corruption,
            # at worst the last transactions before a power cut are lost) and keeps captures cheap.
            _retry_locked(lambda: db.execute("PRAGMA journal_mode=WAL"))
            db.execute("PRAGMA synchronous=NORMAL")
            entry = _open[key] = _Open(db, path.stat().st_ino, threading.Lock(), set())
        return entry


@contextmanager
def connect(path: Path, schema: str, *, write: bool = False) -> Iterator[sqlite3.Connection]:
    """This process's connection to ``path`` with ``schema`` applied; the body runs as one transaction.

    ``write``: take the write lock up front (``BEGIN IMMEDIATE``), so that two writers never
    deadlock upgrading read locks; readers do not wait for writers (WAL).
    """
    entry = _connection(path)
    with entry.lock:
        if schema not in entry.schemas:
            _retry_locked(lambda: entry.db.executescript(schema))
            entry.schemas.add(schema)
        entry.db.execute("BEGIN IMMEDIATE" if write else "BEGIN")
        try:
            yield entry.db
        except BaseException:
            if entry.db.in_transaction:
                entry.db.execute("ROLLBACK")
            raise
        entry.db.execute("COMMIT")
