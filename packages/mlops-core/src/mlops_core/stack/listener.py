"""A supervisord event listener that counts how often supervisord restarted each service.

supervisord runs it as ``[eventlistener:...]`` with ``python -m mlops_core.stack.listener FILE``.
It speaks the listener protocol on stdin/stdout (stdout is the protocol channel: never print to
it) and rewrites FILE (JSON ``{service: {"restarts": n, "last_restart": t, "last_from": state}}``)
atomically on every restart. A restart is a move to STARTING *from EXITED or BACKOFF*, i.e. one
supervisord made on its own; starts asked for by ``mlops up`` come from STOPPED or FATAL.

It also reaps orphans: supervisord starts every program in a process group of its own
(setpgrp), so when a service's main process dies (kill -9, crash), the children it leaves behind
(MLflow's uvicorn worker holding the port, Airflow's LocalExecutor workers) are still in the group
whose id is the dead pid. On PROCESS_STATE_EXITED the listener kills that group, so the restart
does not crash-loop on a taken port, and no worker is left alive with nobody to stop it.

Standard library only: it starts with the stack and must stay small.
"""

from __future__ import annotations

import json
import os
import signal
import sys
import time
from pathlib import Path
from typing import Any, TextIO

__all__ = ["parse_tokens", "reap_group", "record_restart", "serve"]

#: states a process leaves when supervisord, not a person, starts it again
AUTOMATIC_FROM = frozenset({"EXITED", "BACKOFF"})


def parse_tokens(line: str) -> dict[str, str]:
    """``"a:1 b:2"`` -> ``{"a": "1", "b": "2"}`` (the header and payload format)."""
    return dict(token.split(":", 1) for token in line.split() if ":" in token)


def _load(path: Path) -> dict[str, Any]:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return {}


def record_restart(path: Path, name: str, from_state: str, when: float | None = None) -> dict[str, Any]:
    """Add one restart of ``name`` to the counts in ``path`` (atomic replace)."""
    counts = _load(path)
    entry = counts.setdefault(name, {"restarts": 0})
    entry["restarts"] = int(entry.get("restarts", 0)) + 1
    entry["last_restart"] = time.time() if when is None else when
    entry["last_from"] = from_state
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(counts, indent=1, sort_keys=True))
    os.replace(tmp, path)
    return counts


def reap_group(pid: int) -> bool:
    """Kill what is left of the process group of the exited main process ``pid``."""
    try:
        os.killpg(pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        return False  # nothing left in the group (or not ours)
    return True


def serve(path: Path, stdin: TextIO, stdout: TextIO, stderr: TextIO) -> None:
    """The listener loop: READY, read one event, handle it, RESULT, forever."""
    while True:
        stdout.write("READY\n")
        stdout.flush()
        header_line = stdin.readline()
        if not header_line:  # supervisord closed our stdin: it is shutting down
            return
        header = parse_tokens(header_line)
        payload = stdin.read(int(header.get("len", 0)))
        try:
            if header.get("eventname") == "PROCESS_STATE_EXITED":
                event = parse_tokens(payload.split("\n", 1)[0])
                pid = int(event.get("pid", "0"))
                if pid > 1 and reap_group(pid):
                    print(f"{time.strftime('%F %T')} {event.get('processname')} exited (pid {pid}): "
                          f"ended the processes it left in its group", file=stderr, flush=True)
            if header.get("eventname") == "PROCESS_STATE_STARTING":
                event = parse_tokens(payload.split("\n", 1)[0])
                if event.get("from_state") in AUTOMATIC_FROM:
                    record_restart(path, event.get("processname", "?"), event["from_state"])
                    print(f"{time.strftime('%F %T')} restart of {event.get('processname')} "
                          f"(from {event['from_state']})", file=stderr, flush=True)
        except Exception as exc:  # a bad event must not kill the listener: log and go on
            print(f"{time.strftime('%F %T')} could not record {header_line.strip()}: {exc!r}",
                  file=stderr, flush=True)
        stdout.write("RESULT 2\nOK")
        stdout.flush()


if __name__ == "__main__":
    serve(Path(sys.argv[1]), sys.stdin, sys.stdout, sys.stderr)
