"""The lineage ledger: every edge of the loop, in one SQLite file in the state directory.

Nodes are named ``kind:key``::

    dataset:<content hash>   run:<run id>   model:<name>/<version>   alias:<name>@<alias>
    drift:<report id>        retrain:<request id>

Edges point downstream (data -> run -> model -> alias -> drift -> retrain). :meth:`Ledger.upstream`
answers "what data trained the model behind this alias"; :meth:`Ledger.downstream` answers
"what did this dataset version feed".
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator
from contextlib import closing, contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from mlops_core.errors import MlopsError, ReferenceNotFoundError

__all__ = ["Edge", "Ledger", "LedgerError", "Node", "now_iso"]


class LedgerError(MlopsError):
    """The ledger file cannot be read or written."""

KINDS = ("dataset", "run", "model", "alias", "drift", "retrain")

_SCHEMA = """
CREATE TABLE IF NOT EXISTS nodes (
    id TEXT PRIMARY KEY,
    kind TEXT NOT NULL,
    project TEXT NOT NULL,
    label TEXT NOT NULL,
    data TEXT NOT NULL DEFAULT '{}',
    created_at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS edges (
    src TEXT NOT NULL REFERENCES nodes(id),
    dst TEXT NOT NULL REFERENCES nodes(id),
    relation TEXT NOT NULL,
    active INTEGER NOT NULL DEFAULT 1,
    created_at TEXT NOT NULL,
    PRIMARY KEY (src, dst, relation)
);
CREATE INDEX IF NOT EXISTS edges_dst ON edges(dst);
"""


def now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


@dataclass(frozen=True)
class Node:
    id: str
    kind: str
    project: str
    label: str
    data: dict[str, Any]
    created_at: str


@dataclass(frozen=True)
class Edge:
    src: str
    dst: str
    relation: str
    active: bool
    created_at: str


class Ledger:
    """Append-mostly record of lineage; safe to open from several processes (SQLite WAL)."""

    def __init__(self, path: Path) -> None:
        self.path = path

    @contextmanager
    def _db(self) -> Iterator[sqlite3.Connection]:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        try:
            with closing(sqlite3.connect(self.path, timeout=30)) as db:
                db.execute("PRAGMA journal_mode=WAL")
                db.executescript(_SCHEMA)
                with db:  # one transaction: all or nothing
                    yield db
        except sqlite3.DatabaseError as exc:
            if isinstance(exc, sqlite3.IntegrityError):
                raise
            raise LedgerError(
                f"the lineage ledger {self.path} cannot be used: {exc}",
                fix=f"if the file is damaged, move it aside (mv {self.path} {self.path}.bad); a new ledger starts empty",
            ) from None

    # -- writing ----------------------------------------------------------------------------

    def add_node(self, node_id: str, *, project: str, label: str = "", data: dict[str, Any] | None = None) -> None:
        kind = node_id.split(":", 1)[0]
        if kind not in KINDS:
            raise ValueError(f"unknown node kind {kind!r} in {node_id!r}")
        with self._db() as db:
            db.execute(
                "INSERT INTO nodes(id, kind, project, label, data, created_at) VALUES (?,?,?,?,?,?) "
                "ON CONFLICT(id) DO UPDATE SET label=excluded.label, data=excluded.data",
                (node_id, kind, project, label or node_id, json.dumps(data or {}, default=str), now_iso()),
            )

    def link(self, src: str, dst: str, relation: str, *, exclusive_dst: bool = False) -> None:
        """Record ``src -relation-> dst``.

        ``exclusive_dst``: ``dst`` has one active source for this relation (an alias points at
        one version); older edges stay, inactive, as history.
        """
        with self._db() as db:
            for node in (src, dst):
                if db.execute("SELECT 1 FROM nodes WHERE id=?", (node,)).fetchone() is None:
                    raise ReferenceNotFoundError(f"lineage node {node!r} is not recorded")
            if exclusive_dst:
                db.execute("UPDATE edges SET active=0 WHERE dst=? AND relation=? AND src<>?", (dst, relation, src))
            db.execute(
                "INSERT INTO edges(src, dst, relation, active, created_at) VALUES (?,?,?,1,?) "
                "ON CONFLICT(src, dst, relation) DO UPDATE SET active=1, created_at=excluded.created_at",
                (src, dst, relation, now_iso()),
            )

    # -- reading ----------------------------------------------------------------------------

    def node(self, node_id: str) -> Node | None:
        with self._db() as db:
            row = db.execute("SELECT * FROM nodes WHERE id=?", (node_id,)).fetchone()
        return _node(row) if row else None

    def nodes(self, *, kind: str | None = None, project: str | None = None) -> list[Node]:
        sql, args = "SELECT * FROM nodes WHERE 1=1", []
        if kind:
            sql, args = sql + " AND kind=?", [*args, kind]
        if project:
            sql, args = sql + " AND project=?", [*args, project]
        with self._db() as db:
            return [_node(r) for r in db.execute(sql + " ORDER BY created_at, rowid", args)]

    def resolve(self, ref: str) -> Node:
        """Find a node by id, by key without the ``kind:`` prefix, or by a unique prefix (6+ chars)."""
        ref = ref.strip()
        if not ref:
            raise ReferenceNotFoundError("empty lineage reference", fix=_REF_FIX)
        with self._db() as db:
            exact = db.execute("SELECT * FROM nodes WHERE id=?", (ref,)).fetchone()
            if exact:
                return _node(exact)
            rows = db.execute(
                "SELECT * FROM nodes WHERE substr(id, instr(id, ':') + 1) = ?", (ref,)
            ).fetchall()
            if not rows and len(ref) >= 6:
                like = ref.replace("%", r"\%").replace("_", r"\_") + "%"
                rows = db.execute(
                    "SELECT * FROM nodes WHERE id LIKE ? ESCAPE '\\' OR substr(id, instr(id, ':') + 1) LIKE ? ESCAPE '\\'",
                    (like, like),
                ).fetchall()
        if len(rows) == 1:
            return _node(rows[0])
        if not rows:
            raise ReferenceNotFoundError(f"no lineage record matches {ref!r}", fix=_REF_FIX)
        names = ", ".join(sorted(r[0] for r in rows)[:8])
        raise ReferenceNotFoundError(f"{ref!r} is ambiguous: it matches {names}", fix="give more characters or the full id")

    def edges(self, *, src: str | None = None, dst: str | None = None, active_only: bool = True) -> list[Edge]:
        sql, args = "SELECT src, dst, relation, active, created_at FROM edges WHERE 1=1", []
        if src:
            sql, args = sql + " AND src=?", [*args, src]
        if dst:
            sql, args = sql + " AND dst=?", [*args, dst]
        if active_only:
            sql += " AND active=1"
        with self._db() as db:
            return [Edge(r[0], r[1], r[2], bool(r[3]), r[4]) for r in db.execute(sql + " ORDER BY created_at, rowid", args)]

    def upstream(self, node_id: str) -> list[list[Node]]:
        """Every path from ``node_id`` back to its sources, each listed source first."""
        return self._paths(node_id, up=True)

    def downstream(self, node_id: str) -> list[list[Node]]:
        """Every path from ``node_id`` to what it fed, each listed from ``node_id`` on."""
        return self._paths(node_id, up=False)

    def _paths(self, start: str, *, up: bool) -> list[list[Node]]:
        paths: list[list[str]] = []

        def walk(node: str, trail: list[str]) -> None:
            nxt = [e.src for e in self.edges(dst=node)] if up else [e.dst for e in self.edges(src=node)]
            nxt = [n for n in nxt if n not in trail]  # cycles: retrain runs feed new runs
            if not nxt:
                paths.append(trail)
            for n in nxt:
                walk(n, [*trail, n])

        walk(start, [start])
        cache: dict[str, Node] = {}
        out = []
        for path in paths:
            nodes = [cache.setdefault(n, self.node(n)) for n in path]  # type: ignore[arg-type]
            out.append(list(reversed(nodes)) if up else nodes)
        return out


_REF_FIX = (
    "pass a dataset hash, a run id, NAME/VERSION, NAME@ALIAS, a drift report id or a retrain id; "
    "`mlops lineage --list` shows what is recorded"
)


def _node(row: tuple[Any, ...]) -> Node:
    return Node(id=row[0], kind=row[1], project=row[2], label=row[3], data=json.loads(row[4]), created_at=row[5])
