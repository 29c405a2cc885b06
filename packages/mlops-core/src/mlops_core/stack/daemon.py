"""The supervisord process of a stack: is it alive, start it, talk to it, the tree under it."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from mlops_core.errors import ServiceError
from mlops_core.stack.paths import StackPaths

__all__ = ["daemon_pid", "rpc", "start_daemon", "tree_pids"]


def daemon_pid(paths: StackPaths) -> int | None:
    """The pid of this stack's live supervisord, or None (no pidfile, stale pidfile, reused pid)."""
    try:
        pid = int(paths.pidfile.read_text().strip())
    except (OSError, ValueError):
        return None
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as fh:
            cmdline = fh.read().split(b"\0")
    except OSError:
        return _alive_without_proc(pid, paths)
    # The pid may belong to another process by now: it must be a supervisord on our config.
    args = [a.decode(errors="replace") for a in cmdline]
    if any("supervisord" in a for a in args) and str(paths.config) in args:
        return pid
    return None


def _alive_without_proc(pid: int, paths: StackPaths) -> int | None:
    # No /proc (macOS): psutil reads the command line there.
    import psutil

    try:
        args = psutil.Process(pid).cmdline()
    except (psutil.NoSuchProcess, psutil.AccessDenied):
        return None
    return pid if any("supervisord" in a for a in args) and str(paths.config) in args else None


def rpc(paths: StackPaths, timeout: float = 30.0) -> Any:
    """An XML-RPC proxy to supervisord over the stack's unix socket (``proxy.supervisor.*``)."""
    import socket
    import xmlrpc.client

    from supervisor.xmlrpc import SupervisorTransport, UnixStreamHTTPConnection

    class _Connection(UnixStreamHTTPConnection):  # type: ignore[misc]
        # supervisor's own connection has no timeout: a wedged supervisord would hang `mlops`.
        def connect(self) -> None:
            self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            self.sock.settimeout(timeout)
            self.sock.connect(self.socketfile)

    def connection() -> _Connection:
        conn = _Connection("localhost")
        conn.socketfile = str(paths.socket)
        return conn

    transport = SupervisorTransport(None, None, f"unix://{paths.socket}")
    transport._get_connection = connection
    return xmlrpc.client.ServerProxy("http://127.0.0.1", transport=transport)


def start_daemon(paths: StackPaths, env: dict[str, str], wait: float = 15.0) -> int:
    """Start supervisord daemonized on ``paths.config``; return its pid once it answers RPC."""
    paths.dir.mkdir(parents=True, exist_ok=True)
    paths.logs_dir.mkdir(parents=True, exist_ok=True)
    paths.pidfile.unlink(missing_ok=True)
    boot_log = paths.dir / "supervisord.boot.log"
    with boot_log.open("wb") as out:
        # The first process forks the daemon and exits; its output is only errors of the config.
        done = subprocess.run(
            [sys.executable, "-m", "supervisor.supervisord", "-c", str(paths.config)],
            stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT, env=env,
            cwd=str(paths.dir), timeout=wait, check=False,
        )
    if done.returncode != 0:
        raise ServiceError(
            f"supervisord did not start (exit {done.returncode}): {_last_lines(boot_log, 10)}",
            fix=f"read {boot_log} and {paths.daemon_log}; the generated config is {paths.config}",
        )
    deadline = time.monotonic() + wait
    while time.monotonic() < deadline:
        pid = daemon_pid(paths)
        if pid is not None:
            try:
                if rpc(paths, timeout=2).supervisor.getState()["statename"] == "RUNNING":
                    return pid
            except OSError:
                pass
        time.sleep(0.05)
    raise ServiceError(
        f"supervisord started but did not answer on {paths.socket} within {wait:.0f} s",
        fix=f"read {paths.daemon_log}",
    )


def _last_lines(path: Path, n: int) -> str:
    try:
        return " | ".join(path.read_text(errors="replace").strip().splitlines()[-n:]) or "(no output)"
    except OSError:
        return "(no output)"


def tree_pids(root_pid: int, marker: str | None = None, marker_env: str = "") -> dict[int, float]:
    """``{pid: create_time}`` of ``root_pid``, all its descendants, and (if ``marker``) every
    process of this user whose environment has ``marker_env=marker`` (strays that double-forked
    out of the tree). The create time tells a survivor from a new process that reused the pid.
    """
    import psutil

    found: dict[int, float] = {}
    try:
        root = psutil.Process(root_pid)
        for proc in [root, *root.children(recursive=True)]:
            try:
                found[proc.pid] = proc.create_time()
            except psutil.NoSuchProcess:
                pass
    except psutil.NoSuchProcess:
        pass
    if marker:
        found.update(marked_pids(marker, marker_env))
    return found


def marked_pids(marker: str, marker_env: str) -> dict[int, float]:
    """Processes of this user carrying ``marker_env=marker`` in their environment."""
    import psutil

    needle = f"{marker_env}={marker}".encode()
    me = os.getpid()
    out: dict[int, float] = {}
    for proc in psutil.process_iter(["pid", "create_time"]):
        if proc.info["pid"] == me:
            continue
        try:
            # /proc/PID/environ, read raw: psutil.environ() parses every variable, 10x slower
            with open(f"/proc/{proc.info['pid']}/environ", "rb") as fh:
                if needle in fh.read().split(b"\0"):
                    out[proc.info["pid"]] = proc.info["create_time"]
        except OSError:
            continue
    return out


def end_survivors(pids: dict[int, float], grace: float) -> list[int]:
    """SIGTERM every process of ``pids`` still alive (same create time), wait ``grace`` s, then
    SIGKILL. Returns the pids that had to be ended."""
    import psutil

    alive = []
    for pid, created in pids.items():
        if pid == os.getpid():
            continue
        try:
            proc = psutil.Process(pid)
            if abs(proc.create_time() - created) < 0.01 and proc.status() != psutil.STATUS_ZOMBIE:
                alive.append(proc)
        except psutil.NoSuchProcess:
            continue
    for proc in alive:
        try:
            proc.terminate()
        except psutil.NoSuchProcess:
            pass
    _gone, left = psutil.wait_procs(alive, timeout=grace)
    for proc in left:
        try:
            proc.kill()
        except psutil.NoSuchProcess:
            pass
    psutil.wait_procs(left, timeout=5)
    return [p.pid for p in alive]
