"""``python -m mlops_orchestrate.prepare``: the stack's setup before the Airflow services start.

1. ``airflow db migrate``, only when the metadata DB is missing or was migrated by another Airflow
   version (the same check as the embedded runner);
2. a DAG file per registered project (only where changed), generated files of unregistered ones
   removed;
3. the pool ``mlops_<project>`` of each registered project, when missing.

It runs with the services' environment (:func:`mlops_orchestrate.services.stack_env`), so it
loads the settings exactly as the scheduler's tasks do: ``load_settings(root=<workspace root>)``
under that environment. Prints one line per action; exits 1 with the error and its fix.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from mlops_core.errors import MlopsError

if TYPE_CHECKING:
    from mlops_core.settings import Settings

__all__ = ["create_missing_pools", "main", "prepare"]


def create_missing_pools(projects: Sequence[str]) -> list[str]:
    """Create the pools of ``projects`` that do not exist, in this process's Airflow; their names."""
    from airflow.models.pool import Pool

    from mlops_orchestrate.pools import pool_spec

    created = []
    for project in projects:
        spec = pool_spec(project)
        if Pool.get_pool(spec.name) is None:
            Pool.create_or_update_pool(name=spec.name, slots=spec.slots, description=spec.description,
                                       include_deferred=False)
            created.append(spec.name)
    return created


def prepare(settings: Settings) -> list[str]:
    """Migrate if needed, write the DAG files, create the pools; one line per action done.

    Runs in a process whose environment is :func:`~mlops_orchestrate.services.stack_env`.
    """
    from mlops_core.registry import ProjectRegistry
    from mlops_orchestrate.dagfiles import write_dag_files
    from mlops_orchestrate.home import ensure_db, logs_folder

    lines = []
    log_path = logs_folder(settings) / "mlops" / "prepare.log"
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with log_path.open("a") as log:
        if ensure_db(settings, env=dict(os.environ), log=log):
            lines.append(f"migrated the Airflow metadata DB (log: {log_path})")
    projects = sorted(name for name, info in ProjectRegistry(settings).stored().items() if info.active)
    result = write_dag_files(settings, projects)
    lines += [f"wrote {p}" for p in result.written] + [f"removed {p}" for p in result.removed]
    lines += [f"created pool {name}" for name in create_missing_pools(projects)]
    return lines


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m mlops_orchestrate.prepare", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--workspace-root", required=True, type=Path)
    args = parser.parse_args(argv)
    from mlops_core.settings import load_settings

    from mlops_orchestrate.services import stack_env

    try:
        settings = load_settings(root=args.workspace_root)
        # Airflow reads its configuration from the environment when imported (pools): the
        # services' variables must be in place even if the supervisor ran this without them.
        os.environ.update(stack_env(settings))
        for line in prepare(settings):
            print(line, flush=True)
    except MlopsError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
