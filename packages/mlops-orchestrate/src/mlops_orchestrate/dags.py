"""The Airflow DAG of a project's pipeline: prepare >> train >> evaluate >> register >> deploy.

Each task calls a *step runner* (by default :func:`mlops_core.pipeline.run_step`) with the state
the upstream task returned through XCom, and returns the updated state. The DAG itself holds no
settings: every task loads them when it runs, so a DAG file can be parsed anywhere, cheaply.
"""

from __future__ import annotations

import importlib
import re
from collections.abc import Callable, Mapping
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mlops_core.errors import InputValidationError, PluginError

if TYPE_CHECKING:
    from airflow.sdk import DAG

    from mlops_core.settings import Settings

__all__ = [
    "DAG_PREFIX",
    "DEFAULT_STEP_RUNNER",
    "STEPS",
    "StepRunner",
    "build_dag",
    "dag_id_for",
    "load_task_settings",
    "pool_for",
    "resolve_step_runner",
]

#: The pipeline's steps, in order; the same tuple as ``mlops_core.pipeline.STEPS`` (a test checks).
STEPS: tuple[str, ...] = ("prepare", "train", "evaluate", "register", "deploy")
DAG_PREFIX = "mlops__"
DEFAULT_STEP_RUNNER = "mlops_core.pipeline:run_step"
# A fixed date in the past: Airflow needs one for scheduled DAGs, and catchup is off.
START_DATE = datetime(2024, 1, 1, tzinfo=timezone.utc)

#: ``step_runner(step, *, project, state, params, settings) -> new state``
StepRunner = Callable[..., dict[str, Any]]

# Airflow allows letters, digits, '_', '.', '-' in DAG ids (and a file name must be safe too).
_NAME = re.compile(r"^[A-Za-z0-9_.-]{1,200}$")


def _check_name(project: str) -> str:
    if not _NAME.match(project):
        raise InputValidationError(
            f"project name {project!r} cannot be used in an Airflow DAG id",
            fix="use only letters, digits, '_', '.' and '-' in project names (at most 200 characters)",
        )
    return project


def dag_id_for(project: str) -> str:
    """The DAG id of a project's pipeline: ``mlops__<project>``."""
    return DAG_PREFIX + _check_name(project)


def pool_for(project: str) -> str:
    """The Airflow pool a project's tasks run in: ``mlops_<project>``."""
    return f"mlops_{_check_name(project)}"


def resolve_step_runner(spec: StepRunner | str | None) -> StepRunner:
    """A step runner from a callable or a ``"module:function"`` path (default: the core's)."""
    if callable(spec):
        return spec
    target = spec or DEFAULT_STEP_RUNNER
    module_name, _, attr = target.partition(":")
    if not module_name or not attr:
        raise InputValidationError(f"step runner {target!r} is not 'module:function'",
                                   fix="name it like mlops_core.pipeline:run_step")
    try:
        runner = getattr(importlib.import_module(module_name), attr)
    except (ImportError, AttributeError) as exc:
        raise PluginError(
            f"step runner {target!r} cannot be imported: {type(exc).__name__}: {exc}",
            fix="install the package that provides it (the default needs mlops-core with mlops_core.pipeline)",
        ) from exc
    if not callable(runner):
        raise PluginError(f"step runner {target!r} is a {type(runner).__name__}, not a function",
                          fix="point it at a function run_step(step, *, project, state, params, settings)")
    return runner


def load_task_settings(settings_file: str | Path | None, workspace_root: str | Path | None) -> Settings:
    """The settings a task runs with: the caller's exact settings file, else the workspace's."""
    from mlops_core.settings import Settings, load_settings

    if settings_file:
        return Settings.model_validate_json(Path(settings_file).read_text())
    return load_settings(root=Path(workspace_root) if workspace_root else None)


def _step_callable(
    step: str,
    project: str,
    settings_file: str | None,
    workspace_root: str | None,
    step_runner: StepRunner | str | None,
) -> Callable[..., dict[str, Any]]:
    # The parameter is named `state`: a name like a context key (`params`, `ds`, ...) breaks tasks.
    def run_step_task(state: dict[str, Any] | None = None) -> dict[str, Any]:
        from airflow.sdk import get_current_context

        # DAG params merged with the run's conf (what `dag.test(run_conf=...)` or a trigger passes).
        params = dict(get_current_context()["params"])
        settings = load_task_settings(settings_file, workspace_root)
        runner = resolve_step_runner(step_runner)
        result = runner(step, project=project, state=state, params=params, settings=settings)
        if not isinstance(result, dict):
            raise TypeError(f"step runner returned a {type(result).__name__} for step {step!r}, not a dict")
        return result

    run_step_task.__name__ = f"{step}_task"
    run_step_task.__doc__ = f"Step {step!r} of project {project!r}: runs it and passes the new state on by XCom."
    return run_step_task


def build_dag(
    project: str,
    *,
    settings_file: str | None = None,
    workspace_root: str | None = None,
    dag_id: str | None = None,
    schedule: Any = None,
    params: Mapping[str, Any] | None = None,
    step_runner: StepRunner | str | None = None,
    pool: str | None = None,
    priority_weight: int = 1,
    retries: int = 0,
) -> DAG:
    """A real Airflow 3 DAG ``mlops__<project>``: prepare >> train >> evaluate >> register >> deploy.

    ``settings_file`` (a ``Settings`` JSON dump) wins over ``workspace_root`` when tasks load their
    settings. ``params`` become the DAG's params (a run's conf overrides them). ``step_runner`` is
    a callable or ``"module:function"``, resolved when a task runs (default
    ``mlops_core.pipeline:run_step``). Tasks run in pool ``pool`` (default ``mlops_<project>``)
    with an absolute ``priority_weight``; a missing pool does not fail ``dag.test()``.
    """
    from airflow.sdk import DAG, task

    the_dag_id = dag_id or dag_id_for(project)
    the_pool = pool or pool_for(project)
    settings_path = str(settings_file) if settings_file else None
    root = str(workspace_root) if workspace_root else None
    with DAG(
        dag_id=the_dag_id,
        description=f"MLOps pipeline of project {project}: {' >> '.join(STEPS)}",
        doc_md=(
            f"Generated by mlops-orchestrate for project `{project}`. Each task runs one pipeline step "
            "and passes the JSON state on to the next by XCom."
        ),
        schedule=schedule,
        start_date=START_DATE,
        catchup=False,
        max_active_runs=1,
        tags=["mlops", f"project:{project}"],
        params=dict(params or {}),
        default_args={"owner": "mlops", "retries": retries},
    ) as dag:
        upstream = None
        for step in STEPS:
            step_task = task(
                _step_callable(step, project, settings_path, root, step_runner),
                task_id=step,
                pool=the_pool,
                priority_weight=priority_weight,
                # Absolute: the weight is the project's priority, not a sum over downstream tasks.
                weight_rule="absolute",
                retries=retries,
                # The state is one XCom; a dict return must not be split into one XCom per key.
                multiple_outputs=False,
            )
            upstream = step_task() if upstream is None else step_task(upstream)
    return dag
