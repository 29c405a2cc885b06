"""Trivial step runners for the DAG tests; the run subprocess imports them via PYTHONPATH."""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

from mlops_core.errors import ProjectError


def run_step(
    step: str,
    *,
    project: str,
    state: Mapping[str, Any] | None = None,
    params: Mapping[str, Any] | None = None,
    settings: Any = None,
) -> dict[str, Any]:
    """Record what the step saw: upstream steps (XCom), params, settings, process; fail on request."""
    params = dict(params or {})
    if params.get("fail_at") == step:
        raise ProjectError(f"step {step} of {project} broke on purpose (boom-{step})",
                           fix=f"do not pass fail_at={step}")
    if params.get("bad_return_at") == step:
        return [step]  # type: ignore[return-value]  # not a dict: the task must fail
    new = dict(state or {})
    new[step] = {
        "upstream": list((state or {}).keys()),
        "params": params,
        "project": project,
        "state_dir": str(settings.state_dir),
        "serve_port": settings.serve.port,
        "pid": os.getpid(),
    }
    return new
