"""``mlops data ...``: versions, checkout, push, status (and version, to track files by hand).

Only typer and rich at module level; DVC is imported by the store when a command runs.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console
from rich.table import Table

if TYPE_CHECKING:
    from mlops_core.records import DatasetVersion

    from mlops_data.store import DvcStore

__all__ = ["data_app", "register"]

# soft_wrap: paths and commands in messages stay whole, whatever the terminal width
console = Console(soft_wrap=True)

data_app = typer.Typer(
    name="data",
    help="Versioned datasets and model files (DVC): history, switch versions, push, status.",
    no_args_is_help=True,
)


def register(app: typer.Typer) -> None:
    """Add ``mlops data`` to the ``mlops`` CLI."""
    app.add_typer(data_app, name="data")


def _store() -> DvcStore:
    from mlops_core.settings import load_settings

    from mlops_data.store import DvcStore

    return DvcStore(load_settings())


def _size(n: int) -> str:
    for unit in ("B", "KiB", "MiB", "GiB"):
        if n < 1024 or unit == "GiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024  # type: ignore[assignment]
    return str(n)


def _table(title: str, versions: list[DatasetVersion], dates: dict[str, str] | None = None) -> Table:
    table = Table(title=title)
    for column in ("rev", "date", "kind", "path", "hash", "size"):
        table.add_column(column, justify="right" if column == "size" else "left")
    for v in versions:
        table.add_row(v.rev[:10], (dates or {}).get(v.rev, ""), v.kind, v.path, v.hash[:16], _size(v.size_bytes))
    return table


@data_app.command("versions")
def versions(
    project: Annotated[str, typer.Argument(help="Project name (its folder in the data repository).")],
    limit: Annotated[int, typer.Option(min=1, help="Show at most this many versions.")] = 50,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")] = False,
) -> None:
    """Every version of a project's datasets and models, newest first."""
    from mlops_core.records import as_dict

    store = _store()
    history = store.history(project)[:limit]
    if as_json:
        typer.echo(json.dumps([as_dict(v) for v in history], indent=2))
        return
    if not history:
        console.print(f"no versions recorded for project {project!r} in {store.root}")
        return
    revs = sorted({v.rev for v in history})
    lines = store.git.out("show", "-s", "--format=%H %cs", *revs).splitlines()
    dates = dict(line.split(" ", 1) for line in lines if " " in line)
    console.print(_table(f"{project}: {len(history)} versions", history, dates))


@data_app.command("version")
def version(
    project: Annotated[str, typer.Argument(help="Project name.")],
    paths: Annotated[list[Path], typer.Argument(
        help="Files or folders inside the project folder (relative to it, or absolute).")],
    kind: Annotated[str, typer.Option(help="dataset or model.")] = "dataset",
    message: Annotated[str, typer.Option("--message", "-m", help="Commit message.")] = "",
) -> None:
    """Version files or folders of a project by hand (the pipeline does this for you)."""
    store = _store()
    result = store.version(project, paths, kind=kind, message=message)
    console.print(_table(f"{project}: versioned", result))


@data_app.command("checkout")
def checkout(
    project: Annotated[str, typer.Argument(help="Project name.")],
    rev: Annotated[str, typer.Argument(help="A revision from `mlops data versions`, or HEAD for the latest.")],
    force: Annotated[bool, typer.Option("--force", help="Discard changes that were never versioned.")] = False,
) -> None:
    """Switch a project's files in the working tree to their version at REV."""
    store = _store()
    updated = store.checkout(project, rev, force=force)
    for path in updated:
        console.print(f"updated {path}")
    if not updated:
        console.print("already at that version; nothing changed")
    sha = store.git.resolve(rev) or rev
    head = store.git.head()
    if sha != head:
        console.print(f"[yellow]{project} is now at {sha[:10]}[/yellow]; the history is unchanged. "
                      f"Back to the latest: mlops data checkout {project} HEAD")


@data_app.command("push")
def push() -> None:
    """Push every version of every project to the DVC remote."""
    store = _store()
    sent = store.push()
    if sent:
        console.print(f"pushed {sent} file(s) to {store.remote_url}")
    else:
        console.print(f"the remote {store.remote_url} is up to date")


@data_app.command("status")
def status(
    remote: Annotated[bool, typer.Option("--remote/--no-remote", help="Also compare with the remote.")] = True,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON instead of tables.")] = False,
) -> None:
    """The data repository: where it is, its remote, its projects, what is not versioned or pushed."""
    info = _store().status(remote=remote)
    if as_json:
        typer.echo(json.dumps(info, indent=2))
        return
    table = Table(title="data repository", show_header=False)
    table.add_column("key")
    table.add_column("value")
    for key in ("repo", "initialized", "head", "remote_name", "remote", "cache_dir", "cache_type", "autopush"):
        value = info[key]
        table.add_row(key, str(value)[:10] if key == "head" and value else str(value))
    for key in ("uncommitted", "not_in_cache", "not_in_remote"):
        value = info[key]
        table.add_row(key, "not checked" if value is None else (", ".join(value) or "none"))
    console.print(table)
    if info["projects"]:
        projects = Table(title="projects")
        for column in ("project", "tracked", "versions", "not at HEAD"):
            projects.add_column(column)
        for p in info["projects"]:
            projects.add_row(p["project"], str(p["tracked"]), str(p["versions"]),
                             ", ".join(p["not_at_head"]) or "-")
        console.print(projects)
