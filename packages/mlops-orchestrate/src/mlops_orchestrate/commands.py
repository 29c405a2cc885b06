"""``mlops dags``: the generated Airflow DAGs of the registered projects."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

__all__ = ["dags_app"]

console = Console()

dags_app = typer.Typer(
    help="Generated Airflow DAGs: one per registered project (mlops__<project>).",
    no_args_is_help=True,
)


@dags_app.command("list")
def list_dags() -> None:
    """List the generated DAG ids and their files."""
    from mlops_core.registry import ProjectRegistry
    from mlops_core.settings import load_settings
    from mlops_orchestrate.dagfiles import list_dag_files
    from mlops_orchestrate.home import dags_folder

    settings = load_settings()
    registered = {name for name, info in ProjectRegistry(settings).stored().items() if info.active}
    files = list_dag_files(settings)
    table = Table(title=f"generated DAGs ({dags_folder(settings)})")
    for col in ("dag_id", "project", "registered", "file"):
        table.add_column(col, overflow="fold")
    for f in files:
        table.add_row(f.dag_id, f.project, "yes" if f.project in registered else "no", str(f.path))
    console.print(table)
    missing = sorted(registered - {f.project for f in files})
    if missing:
        console.print(f"[yellow]no DAG file yet for:[/yellow] {', '.join(missing)}  (run `mlops dags write`)")


@dags_app.command("write")
def write_dags() -> None:
    """Write a DAG file per registered project (only where changed); remove those of unregistered ones."""
    from mlops_core.registry import ProjectRegistry
    from mlops_core.settings import load_settings
    from mlops_orchestrate.dagfiles import write_dag_files

    settings = load_settings()
    registry = ProjectRegistry(settings)
    names = [info.name for info in registry.sync() if info.active]
    result = write_dag_files(settings, names)
    for label, paths in (("written", result.written), ("unchanged", result.unchanged), ("removed", result.removed)):
        for path in paths:
            console.print(f"  {label:<9} {path}")
    console.print(f"{len(result.written)} written, {len(result.unchanged)} unchanged, {len(result.removed)} removed")


@dags_app.command("show")
def show_dag(
    project: Annotated[str, typer.Argument(help="Project name (see `mlops projects`).")],
) -> None:
    """Show a project's DAG as Airflow builds it: its tasks in order, pool and priority."""
    from mlops_core.settings import load_settings
    from mlops_orchestrate.runner import describe_dag

    settings = load_settings()
    with console.status(f"building the DAG of {project} with Airflow ..."):
        dag = describe_dag(settings, project)
    console.print(f"[bold]{dag['dag_id']}[/bold]  {dag.get('description') or ''}")
    console.print(f"tags: {', '.join(dag['tags'])}   max_active_runs: {dag['max_active_runs']}")
    table = Table()
    for col in ("#", "task", "upstream", "pool", "priority", "retries"):
        table.add_column(col)
    for i, t in enumerate(dag["tasks"], 1):
        table.add_row(str(i), t["task_id"], ", ".join(t["upstream"]) or "-", t["pool"],
                      f"{t['priority_weight']} ({t['weight_rule']})", str(t["retries"]))
    console.print(table)
