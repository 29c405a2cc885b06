"""``mlops tracking ...``: runs, registered models, and how to open the MLflow UI.

Only typer and rich at module level; MLflow is imported by the tracker when a command runs.
"""

from __future__ import annotations

import shlex
from typing import TYPE_CHECKING, Annotated, Any
from urllib.parse import urlparse

import typer
from rich.console import Console
from rich.table import Table

if TYPE_CHECKING:
    from mlops_tracking.tracker import MlflowTracker

__all__ = ["register", "tracking_app"]

console = Console(soft_wrap=True)

tracking_app = typer.Typer(
    name="tracking",
    help="Experiment runs and registered models (MLflow).",
    no_args_is_help=True,
)


def register(app: typer.Typer) -> None:
    """Add ``mlops tracking`` to the ``mlops`` CLI."""
    app.add_typer(tracking_app, name="tracking")


def _tracker() -> MlflowTracker:
    from mlops_core.settings import load_settings
    from mlops_tracking.tracker import MlflowTracker

    return MlflowTracker(load_settings())


@tracking_app.command("runs")
def runs_command(
    project: Annotated[str, typer.Argument(help="Project name.")],
    limit: Annotated[int, typer.Option("--limit", "-n", min=1, help="How many runs, newest first.")] = 10,
) -> None:
    """The project's latest runs: status, data hash, last metric values."""
    tracker = _tracker()
    found = tracker.runs(project, limit=limit)
    if not found:
        console.print(f"no runs for project {project!r} in {tracker.uri}; train one with `mlops run {project}`")
        return
    table = Table(title=f"runs of {project} ({tracker.uri})")
    for column in ("run", "status", "data", "metrics", "params"):
        table.add_column(column)
    for run in found:
        data = ",".join(h[:10] for h in run.dataset_hashes)
        table.add_row(run.run_id[:12], run.status, data, _some(_metrics_first(run.metrics)), _some(run.params))
    console.print(table)
    console.print("every value of a run: the MLflow UI (`mlops tracking ui`)")


def _metrics_first(metrics: dict[str, float]) -> dict[str, str]:
    # Evaluation results first: they are what decides promotion.
    ordered = sorted(metrics.items(), key=lambda kv: (not kv[0].startswith("eval_"), kv[0]))
    return {k: f"{v:.4g}" for k, v in ordered}


def _some(values: dict[str, Any], limit: int = 4) -> str:
    items = list(values.items())
    shown = ", ".join(f"{k}={v}" for k, v in items[:limit])
    return shown + (f" (+{len(items) - limit})" if len(items) > limit else "")


@tracking_app.command("models")
def models_command(project: Annotated[str, typer.Argument(help="Project name.")]) -> None:
    """The project's registered models, their versions and aliases."""
    tracker = _tracker()
    names = tracker.project_models(project)
    if not names:
        console.print(f"no registered models for project {project!r}; train and register with `mlops run {project}`")
        return
    table = Table(title=f"models of {project}")
    for column in ("model", "version", "aliases", "run", "uri"):
        table.add_column(column)
    for name in names:
        for version in tracker.model_versions(project, name):
            table.add_row(name, version.version, ", ".join(version.aliases), version.run_id[:12], version.uri)
    console.print(table)


@tracking_app.command("ui")
def ui_command(
    port: Annotated[int, typer.Option(help="Port for the UI.")] = 5000,
) -> None:
    """Print the command that starts the MLflow UI on this workspace's store."""
    from mlops_core.settings import load_settings

    from mlops_tracking.endpoint import resolve_endpoint

    settings = load_settings()
    endpoint = resolve_endpoint(settings, notice=False)
    uri = endpoint.uri
    if urlparse(uri).scheme in ("http", "https"):
        which = "the stack's tracking server" if endpoint.mode == "stack" else "the tracking server"
        console.print(f"{which} is {uri}: open it in a browser")
        return
    command = [
        "uv", "run", "mlflow", "ui",
        "--backend-store-uri", uri,
        "--default-artifact-root", settings.artifact_root.resolve().as_uri(),
        "--host", "127.0.0.1", "--port", str(port),
        "--workers", "1",
    ]
    console.print("start the MLflow UI on this workspace's store with:")
    console.print(f"  MLFLOW_SERVER_ENABLE_JOB_EXECUTION=false {shlex.join(command)}", markup=False)
    console.print(f"then open http://127.0.0.1:{port}")
