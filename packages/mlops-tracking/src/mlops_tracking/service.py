"""The MLflow tracking server as a service of the shared stack (``mlops up``).

The server runs on the very sqlite store the embedded mode uses, and proxies artifacts into the
same artifact root, so runs and models are the same whether the stack is up or down. Importing
this module does not import MLflow.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from mlops_core.records import ServiceSpec

if TYPE_CHECKING:
    from mlops_core.settings import Settings

__all__ = ["LEAN_ENV", "READY_TIMEOUT", "SERVICE_NAME", "backend_store_uri", "mlflow_server_spec", "server_command"]

SERVICE_NAME = "mlflow"
#: ~5-7 s alone on 2 cores; the stack starts Airflow at the same time, so leave room.
READY_TIMEOUT = 60.0
#: Without it MLflow 3.17 starts a job-execution worker pool: ~15 processes and ~2.2 GB instead of
#: 2 processes and ~430 MB. The platform runs no MLflow jobs (prompt optimisation, scorers).
LEAN_ENV = {"MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false"}


def _mlflow_executable() -> tuple[str, ...]:
    # The console script of the interpreter we run in, so the server is the MLflow we import.
    script = Path(sys.executable).parent / "mlflow"
    if script.is_file():
        return (str(script),)
    return (sys.executable, "-m", "mlflow")


def server_command(settings: Settings, *, port: int | None = None) -> tuple[str, ...]:
    """``mlflow server`` on the embedded store and artifact root, one worker, on 127.0.0.1."""
    return (
        *_mlflow_executable(),
        "server",
        # The same store as the embedded default: sqlite:///<state_dir>/mlflow.db (or tracking.uri
        # when it names a database, never a server).
        "--backend-store-uri", backend_store_uri(settings),
        # Artifacts are proxied (mlflow-artifacts:/...) into the same root embedded runs write to.
        "--artifacts-destination", settings.artifact_root.resolve().as_uri(),
        "--host", "127.0.0.1",
        "--port", str(settings.tracking.server_port if port is None else port),
        "--workers", "1",
    )


def backend_store_uri(settings: Settings) -> str:
    """The database the server keeps runs in: the configured SQL store, else the default sqlite."""
    configured = settings.tracking.uri
    if configured and not configured.startswith(("http://", "https://", "databricks", "file:")) and "://" in configured:
        return configured
    return f"sqlite:///{settings.state_dir / 'mlflow.db'}"


def mlflow_server_spec(settings: Settings) -> ServiceSpec | None:
    """The stack's MLflow server, or None when MLflow is not installed."""
    if importlib.util.find_spec("mlflow") is None:
        return None
    port = settings.tracking.server_port
    base = f"http://127.0.0.1:{port}"
    return ServiceSpec(
        name=SERVICE_NAME,
        concern="tracking",
        command=server_command(settings),
        env=dict(LEAN_ENV),
        # Nothing should land there (store and artifacts are absolute), but if MLflow writes a
        # stray ./mlruns or ./mlartifacts it stays inside the state directory.
        cwd=str(settings.state_dir),
        port=port,
        port_setting="tracking.server_port",
        health_url=f"{base}/health",
        ui_url=f"{base}/",
        ready_timeout=READY_TIMEOUT,
        # The server creates and migrates the sqlite schema itself on start.
        order=10,
    )
