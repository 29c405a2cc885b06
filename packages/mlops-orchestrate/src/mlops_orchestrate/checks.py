"""``mlops doctor`` rows for orchestration. Reads files only; never imports Airflow."""

from __future__ import annotations

from typing import TYPE_CHECKING

from mlops_core.doctor import Check
from mlops_orchestrate.dagfiles import dag_file_path, list_dag_files, render_dag_file
from mlops_orchestrate.home import airflow_version, db_status, metadata_db

if TYPE_CHECKING:
    from mlops_core.settings import Settings

__all__ = ["doctor_checks"]

CONCERN = "orchestrate"


def doctor_checks(settings: Settings) -> list[Check]:
    """Installed, runner setting, metadata DB, and one row for the DAG files."""
    version = airflow_version()
    if version is None:
        return [Check(CONCERN, "airflow installed", "missing", "apache-airflow is not installed",
                      'uv add "mlops-core[orchestrate]"')]
    checks = [Check(CONCERN, "airflow installed", "ok", f"Airflow {version}")]
    runner = settings.orchestrate.runner
    checks.append(Check(CONCERN, "runner", "ok",
                        "pipelines run as Airflow DAGs (dag.test() in a subprocess)" if runner == "airflow"
                        else "pipelines run in-process; Airflow is not used (orchestrate.runner = 'inprocess')"))
    status = db_status(settings)
    db = metadata_db(settings)
    if status == "current":
        checks.append(Check(CONCERN, "metadata db", "ok", f"migrated for Airflow {version}: {db}"))
    elif status == "missing":
        checks.append(Check(CONCERN, "metadata db", "ok",
                            f"not created yet; the first pipeline run creates it (airflow db migrate): {db}"))
    else:
        checks.append(Check(CONCERN, "metadata db", "warn",
                            f"migrated by another Airflow version than {version}: {db}",
                            "nothing to do: the next pipeline run migrates it first"))
    checks.append(_dag_files_check(settings))
    if runner == "airflow":
        checks.append(stack_check(settings))
    return checks


def stack_check(settings: Settings) -> Check:
    """Whether pipelines go to the stack's Airflow, and whether its scheduler and dag-processor run."""
    from mlops_core.errors import MlopsError
    from mlops_orchestrate.services import stack_api_url

    url = stack_api_url(settings)
    if url is None:
        return Check(CONCERN, "stack airflow", "ok",
                     "stack not running: pipelines run embedded (dag.test() in a subprocess); `mlops up` starts it")
    from mlops_orchestrate.client import AirflowClient
    from mlops_orchestrate.services import DAG_PROCESSOR, SCHEDULER, passwords_file

    try:
        health = AirflowClient(url, passwords_file(settings), timeout=5).health()
    except MlopsError as exc:
        return Check(CONCERN, "stack airflow", "fail", exc.message, exc.fix or "mlops logs airflow-api-server")
    down = [(key, service) for key, service in (("scheduler", SCHEDULER), ("dag_processor", DAG_PROCESSOR))
            if (health.get(key) or {}).get("status") != "healthy"]
    if down:
        names = ", ".join(k.replace("_", "-") for k, _ in down)
        return Check(CONCERN, "stack airflow", "fail", f"api-server at {url} answers, but no heartbeat from: {names}",
                     "; ".join(f"mlops logs {service}" for _, service in down) + "; `mlops down` then `mlops up`")
    return Check(CONCERN, "stack airflow", "ok",
                 f"pipelines run on the stack's Airflow at {url} (scheduler and dag-processor heartbeating)")


def _dag_files_check(settings: Settings) -> Check:
    from mlops_core.registry import ProjectRegistry

    registered = sorted(name for name, info in ProjectRegistry(settings).stored().items() if info.active)
    missing, stale = [], []
    for name in registered:
        path = dag_file_path(settings, name)
        if not path.is_file():
            missing.append(name)
        elif path.read_text() != render_dag_file(settings, name):
            stale.append(name)
    orphans = sorted(f.project for f in list_dag_files(settings) if f.project not in registered)
    problems = [f"{label}: {', '.join(names)}" for label, names in
                (("missing", missing), ("outdated", stale), ("of unregistered projects", orphans)) if names]
    if problems:
        return Check(CONCERN, "dag files", "warn", "; ".join(problems), "mlops dags write")
    if not registered:
        return Check(CONCERN, "dag files", "ok", "no registered projects yet (`mlops projects`)")
    return Check(CONCERN, "dag files", "ok", f"{len(registered)} DAG file(s) up to date in {dag_file_path(settings, registered[0]).parent}")
