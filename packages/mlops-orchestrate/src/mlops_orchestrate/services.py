"""The Airflow services of the shared stack (``mlops up``): api-server, scheduler, dag-processor.

All three run with the environment of the embedded runner (the same Airflow home, SQLite metadata
DB, DAGs folder) plus what a long-running Airflow needs: the LocalExecutor with a small
``parallelism``, the api-server on ``127.0.0.1:<orchestrate.api_port>`` with one worker, the
execution API URL of that port (task processes report to it), and the simple auth manager. Nothing
here imports Airflow or starts anything: the specs are handed to the supervisor.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING

from mlops_orchestrate.home import airflow_env

if TYPE_CHECKING:
    from mlops_core.records import ServiceSpec
    from mlops_core.settings import Settings

__all__ = [
    "API_SERVER",
    "DAG_PROCESSOR",
    "HEALTH_PATH",
    "MONITOR_PATH",
    "SCHEDULER",
    "airflow_command",
    "api_base_url",
    "passwords_file",
    "services",
    "stack_api_url",
    "stack_env",
]

API_SERVER = "airflow-api-server"
SCHEDULER = "airflow-scheduler"
DAG_PROCESSOR = "airflow-dag-processor"
#: Airflow 3's public health endpoint: metadata DB, scheduler and dag-processor heartbeats (it
#: answers 200 whatever their state; the REST runner reads it before a trigger)
MONITOR_PATH = "/api/v2/monitor/health"
#: The api-server's health check for the supervisor: the execution API's (task processes report
#: to it). Its first request builds the execution app's versioned routes, which blocked the whole
#: single-worker api-server for 13-16 s here: waiting for it in `mlops up` keeps that stall out
#: of the first pipeline run (measured: first run 37 s, later runs ~10 s, without it).
HEALTH_PATH = "/execution/health"
SIMPLE_AUTH_MANAGER = "airflow.api_fastapi.auth.managers.simple.simple_auth_manager.SimpleAuthManager"
#: How often the dag-processor looks for new DAG files (Airflow's default, 300 s, would leave a
#: newly registered project unknown to the scheduler for minutes); listing one folder is cheap.
DAG_FOLDER_REFRESH_S = 10


def airflow_command() -> tuple[str, ...]:
    """The venv's ``airflow`` executable (next to the interpreter), else ``python -m airflow``."""
    exe = Path(sys.executable).parent / "airflow"
    return (str(exe),) if exe.is_file() else (sys.executable, "-m", "airflow")


def api_base_url(settings: Settings) -> str:
    return f"http://127.0.0.1:{settings.orchestrate.api_port}"


def stack_api_url(settings: Settings) -> str | None:
    """The base URL of the stack's api-server when ``mlops up`` runs it and it is healthy, else None."""
    try:
        from mlops_core.stack import service_url
    except ImportError:  # a core without the stack: always embedded
        return None
    return service_url(settings, API_SERVER)


def passwords_file(settings: Settings) -> Path:
    """Where the simple auth manager writes the generated admin password."""
    return settings.airflow_home / "simple_auth_manager_passwords.json.generated"


def stack_env(settings: Settings) -> dict[str, str]:
    """The variables the three services (and their setup) run with, over the supervisor's env.

    Only what this package sets: the supervisor adds its own environment (PATH, HOME, ...).
    ``MLOPS_STATE_DIR`` is always the caller's absolute state directory, so the tasks the
    scheduler runs load the same state as the caller, whatever state directory ``mlops up``
    was started with.
    """
    env = airflow_env(settings, base={})
    port = settings.orchestrate.api_port
    env.update(
        {
            # An AIRFLOW_CONFIG inherited from the supervisor would point at another airflow.cfg.
            "AIRFLOW_CONFIG": str(settings.airflow_home / "airflow.cfg"),
            # PYTHONDONTWRITEBYTECODE set anywhere above would cost every task ~4 s of imports.
            "PYTHONDONTWRITEBYTECODE": "",
            "AIRFLOW__CORE__EXECUTOR": "LocalExecutor",
            "AIRFLOW__CORE__PARALLELISM": str(settings.orchestrate.parallelism),
            # A task whose worker died (its scheduler was killed) holds its DAG run, and with
            # max_active_runs=1 every later run of the project, until it is declared dead:
            # 60 s instead of the default 300 s.
            "AIRFLOW__SCHEDULER__TASK_INSTANCE_HEARTBEAT_TIMEOUT": "60",
            "AIRFLOW__CORE__AUTH_MANAGER": SIMPLE_AUTH_MANAGER,
            "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS": "admin:admin",
            "AIRFLOW__API__HOST": "127.0.0.1",
            "AIRFLOW__API__PORT": str(port),
            "AIRFLOW__API__WORKERS": "1",
            # Task processes report to the execution API; its default is port 8080.
            "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"http://127.0.0.1:{port}/execution/",
            "AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL": str(DAG_FOLDER_REFRESH_S),
            "MLOPS_STATE_DIR": str(settings.state_dir),
        }
    )
    if settings.orchestrate.airflow_home is not None:
        env["MLOPS_ORCHESTRATE__AIRFLOW_HOME"] = str(settings.airflow_home)
    return env


def services(settings: Settings) -> list[ServiceSpec]:
    """The api-server (with the setup), the scheduler and the dag-processor."""
    from mlops_core.records import ServiceSpec

    env = stack_env(settings)
    airflow = airflow_command()
    cwd = str(settings.workspace_root)
    base = api_base_url(settings)
    setup = ((sys.executable, "-m", "mlops_orchestrate.prepare", "--workspace-root", cwd),)
    timeout = max(settings.stack.health_timeout, 60.0)
    return [
        ServiceSpec(
            name=API_SERVER, concern="orchestrate", command=(*airflow, "api-server"), env=env, cwd=cwd,
            port=settings.orchestrate.api_port, port_setting="orchestrate.api_port",
            health_url=base + HEALTH_PATH, ui_url=base + "/", ready_timeout=timeout, setup=setup, order=20,
        ),
        # No port, no health URL of their own: the api-server's health reports their heartbeats,
        # and the REST runner checks it before triggering a run. The scheduler's log server would
        # listen on 0.0.0.0:8793; the api-server reads task logs from the shared folder instead.
        ServiceSpec(
            name=SCHEDULER, concern="orchestrate", command=(*airflow, "scheduler", "--skip-serve-logs"), env=env, cwd=cwd,
            ready_timeout=timeout, order=21,
        ),
        ServiceSpec(
            name=DAG_PROCESSOR, concern="orchestrate", command=(*airflow, "dag-processor"), env=env, cwd=cwd,
            ready_timeout=timeout, order=22,
        ),
    ]
