"""The stack's Airflow services as plain child processes, without the supervisor.

For tests, benchmarks and debugging: runs the setup of :func:`mlops_orchestrate.services.services`
and starts each service in its own session (so the service and every process it forks, e.g. the
LocalExecutor's workers, can be ended together by process group). ``mlops up`` does not use this:
it hands the same specs to the stack's supervisor.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
import urllib.request
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from mlops_core.errors import ServiceError
from mlops_orchestrate.services import MONITOR_PATH

if TYPE_CHECKING:
    from mlops_core.records import ServiceSpec

__all__ = ["LocalServices", "start_services"]


@dataclass
class LocalServices:
    """Running services started by :func:`start_services`."""

    specs: list[ServiceSpec]
    logs_dir: Path
    procs: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)
    started_at: float = 0.0

    def log_tail(self, name: str, lines: int = 30) -> str:
        path = self.logs_dir / f"{name}.log"
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:]) if path.is_file() else ""

    def wait_healthy(self, timeout: float = 180.0, *, heartbeats: bool = True) -> float:
        """Seconds from the start until every health URL answers 2xx (and, with ``heartbeats``,
        the api-server's monitor reports the scheduler and dag-processor healthy)."""
        deadline = self.started_at + timeout
        for spec in self.specs:
            if spec.health_url is None:
                continue
            self._wait(spec.name, spec.health_url, deadline, lambda _body: True)
            if heartbeats and spec.port is not None:
                parts = ("scheduler", "dag_processor")
                self._wait(spec.name, f"http://127.0.0.1:{spec.port}{MONITOR_PATH}", deadline,
                           lambda body: all((json.loads(body).get(p) or {}).get("status") == "healthy" for p in parts))
        return time.monotonic() - self.started_at

    def _wait(self, name: str, url: str, deadline: float, accept: Callable[[bytes], bool]) -> None:
        while True:
            self._check_alive()
            try:
                with urllib.request.urlopen(url, timeout=5) as answer:
                    if accept(answer.read()):
                        return
            except (OSError, ValueError):
                pass
            if time.monotonic() > deadline:
                raise ServiceError(f"{name} was not healthy in time ({url}):\n{self.log_tail(name)}",
                                   fix=f"see {self.logs_dir / name}.log")
            time.sleep(0.5)

    def _check_alive(self) -> None:
        for name, proc in self.procs.items():
            if proc.poll() is not None:
                raise ServiceError(f"{name} exited with code {proc.returncode}:\n{self.log_tail(name)}",
                                   fix=f"see {self.logs_dir / name}.log")

    def pids(self) -> dict[str, list[int]]:
        """Each service's process and every process in its group (its workers)."""
        import psutil

        out: dict[str, list[int]] = {}
        for name, proc in self.procs.items():
            out[name] = [p.pid for p in psutil.process_iter(["pid"]) if _pgid(p.pid) == proc.pid]
        return out

    def stop(self, timeout: float = 20.0) -> None:
        """SIGTERM each service's process group, then SIGKILL what is left after ``timeout``."""
        for proc in self.procs.values():
            _signal_group(proc.pid, signal.SIGTERM)
        deadline = time.monotonic() + timeout
        for proc in self.procs.values():
            try:
                proc.wait(timeout=max(deadline - time.monotonic(), 0.1))
            except subprocess.TimeoutExpired:
                pass
        # Airflow's shutdown can hang (ENVIRONMENT.md), and workers can outlive their parent.
        for proc in self.procs.values():
            _signal_group(proc.pid, signal.SIGKILL)
            if proc.poll() is None:
                proc.wait(timeout=10)


def _pgid(pid: int) -> int | None:
    try:
        return os.getpgid(pid)
    except (ProcessLookupError, PermissionError):
        return None


def _signal_group(pgid: int, sig: signal.Signals) -> None:
    try:
        os.killpg(pgid, sig)
    except (ProcessLookupError, PermissionError):
        pass


def start_services(specs: Sequence[ServiceSpec], logs_dir: Path, *,
                   extra_env: Mapping[str, str] | None = None) -> LocalServices:
    """Run the specs' setup commands, then start every service (by ``order``); logs in ``logs_dir``."""
    logs_dir.mkdir(parents=True, exist_ok=True)
    ordered = sorted(specs, key=lambda s: s.order)
    base = {**os.environ, **(extra_env or {})}
    for spec in ordered:
        for command in spec.setup:
            with (logs_dir / f"{spec.name}.setup.log").open("ab") as out:
                done = subprocess.run(command, env={**base, **spec.env}, cwd=spec.cwd or None,
                                      stdout=out, stderr=subprocess.STDOUT, check=False)
            if done.returncode != 0:
                raise ServiceError(f"setup of {spec.name} failed ({done.returncode}): {' '.join(command)}",
                                   fix=f"see {logs_dir / spec.name}.setup.log")
    services = LocalServices(specs=list(ordered), logs_dir=logs_dir, started_at=time.monotonic())
    try:
        for spec in ordered:
            with (logs_dir / f"{spec.name}.log").open("ab") as out:
                services.procs[spec.name] = subprocess.Popen(
                    list(spec.command), env={**base, **spec.env}, cwd=spec.cwd or None,
                    stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
    except BaseException:
        services.stop()
        raise
    return services
