"""The lines the run subprocess prints for its parent: one JSON object after a marker.

Airflow's own output goes to a log file; only marked lines reach the parent's pipe, so a stray
print can never be mistaken for a result.
"""

from __future__ import annotations

import json
from typing import Any

__all__ = ["MARKER", "decode", "encode"]

MARKER = "@@mlops-orchestrate@@ "


def encode(kind: str, **payload: Any) -> str:
    """One line: the marker, then ``{"kind": kind, **payload}`` as JSON (no newline inside)."""
    return MARKER + json.dumps({"kind": kind, **payload}, default=str)


def decode(line: str) -> dict[str, Any] | None:
    """The message of a marked line, or None for any other line."""
    if not line.startswith(MARKER):
        return None
    try:
        message = json.loads(line[len(MARKER):])
    except json.JSONDecodeError:
        return None
    return message if isinstance(message, dict) and "kind" in message else None
