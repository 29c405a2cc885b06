"""The Airflow pool of each project: ``mlops_<project>``, one slot.

Every task of a project's DAG runs in its pool. One slot is enough (a project's tasks run one
after the other and ``max_active_runs=1``) and keeps one project from taking every executor slot
from the others. A scheduler leaves tasks of a missing pool waiting forever, so the stack's setup
creates the pools of the registered projects and the REST runner creates a missing one before it
triggers a run. An existing pool is never changed: its slots may have been raised on purpose.
"""

from __future__ import annotations

from dataclasses import dataclass

from mlops_orchestrate.dags import pool_for

__all__ = ["POOL_SLOTS", "PoolSpec", "pool_spec"]

POOL_SLOTS = 1


@dataclass(frozen=True)
class PoolSpec:
    name: str
    slots: int
    description: str


def pool_spec(project: str) -> PoolSpec:
    """The pool a project's tasks run in, as it is created when missing."""
    return PoolSpec(name=pool_for(project), slots=POOL_SLOTS,
                    description=f"tasks of the MLOps pipeline of project {project} (created by mlops-orchestrate)")
