"""Progress of long work on the console: one line per pipeline step, with a spinner and timings."""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any

from rich.console import Console
from rich.status import Status

__all__ = ["StepProgress"]


def _summary(detail: Mapping[str, Any]) -> str:
    parts = []
    if "datasets" in detail:
        parts += [f"{d['path']} {d['hash'][:10]}" for d in detail["datasets"]]
    if "run_id" in detail:
        parts.append(f"run {detail['run_id'][:12]}")
    if "metrics" in detail:
        parts += [f"{k}={v:.4g}" for k, v in list(detail["metrics"].items())[:4] if isinstance(v, (int, float))]
    if "version" in detail and "name" in detail:
        parts.append(f"{detail['name']} v{detail['version']}")
    if "promoted" in detail:
        parts.append(("promoted" if detail["promoted"] else "kept champion") + f": {detail.get('reason', '')}")
    if "error" in detail:
        parts.append(str(detail["error"]).splitlines()[0])
    return ", ".join(parts)


class StepProgress:
    """``on_event`` callback for pipeline runners that shows each step as it runs."""

    def __init__(self, console: Console) -> None:
        self.console = console
        self._status: Status | None = None
        self._started: dict[str, float] = {}

    def __enter__(self) -> StepProgress:
        return self

    def starting(self, what: str) -> None:
        """Show a spinner before the first step (an orchestrator may take a while to start)."""
        self._status = self.console.status(what)
        self._status.start()

    def __exit__(self, *exc: object) -> None:
        if self._status is not None:
            self._status.stop()
            self._status = None

    def event(self, step: str, status: str, detail: Mapping[str, Any]) -> None:
        if status == "running":
            self._started[step] = time.perf_counter()
            if self._status is None:
                self._status = self.console.status(f"{step} ...")
                self._status.start()
            else:
                self._status.update(f"{step} ...")
            return
        seconds = time.perf_counter() - self._started.get(step, time.perf_counter())
        mark = "[green]✓[/green]" if status == "success" else "[red]✗[/red]"
        self.console.print(f"  {mark} {step:<9} {seconds:6.1f}s  {_summary(detail)}")
