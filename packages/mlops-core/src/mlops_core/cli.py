"""The ``mlops`` command line. Plugins add commands through the ``mlops_cli`` hook.

Only typer and rich are imported here; every heavy tool is imported inside the command that
needs it, so ``mlops --help`` stays fast.
"""

from __future__ import annotations

import json
import os
import sys
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from mlops_core import __version__
from mlops_core.errors import InputValidationError, MlopsError

console = Console()
err_console = Console(stderr=True)

app = typer.Typer(
    name="mlops",
    help="One shared MLOps layer for many ML projects: versioning, tracking, orchestration, serving, monitoring.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode="rich",
)


def _context() -> tuple[Any, Any]:
    from mlops_core.plugins import PluginManager
    from mlops_core.settings import load_settings

    settings = load_settings()
    return settings, PluginManager(settings)


def _version_callback(value: bool) -> None:
    if value:
        console.print(f"mlops-core {__version__}")
        raise typer.Exit()


@app.callback()
def _main(
    version: Annotated[bool, typer.Option("--version", callback=_version_callback, is_eager=True,
                                          help="Print the version and exit.")] = False,
) -> None:
    """Settings come from mlops.toml / [tool.mlops] and MLOPS_<SECTION>__<KEY> variables."""


@app.command()
def projects() -> None:
    """List registered projects (found through the entry-point group mlops.projects)."""
    from mlops_core.registry import ProjectRegistry

    settings, plugins = _context()
    registry = ProjectRegistry(settings, plugins)
    infos = registry.sync()
    table = Table(title=f"projects ({settings.registry_path})")
    for col in ("name", "active", "extras", "registered_at", "path"):
        table.add_column(col)
    for info in infos:
        table.add_row(info.name, "yes" if info.active else "no", ",".join(info.extras), info.registered_at, info.path)
    console.print(table)
    for name, error in registry.failures.items():
        err_console.print(f"[red]project {name!r} failed to load:[/red] {error}  (see `mlops doctor`)")


def _parse_params(items: list[str]) -> dict[str, Any]:
    params: dict[str, Any] = {}
    for item in items:
        key, sep, raw = item.partition("=")
        if not sep or not key:
            raise InputValidationError(f"parameter {item!r} is not KEY=VALUE", fix="write it as --param epochs=5")
        try:
            params[key] = json.loads(raw)
        except json.JSONDecodeError:
            params[key] = raw
    return params


@app.command()
def run(
    project: Annotated[str, typer.Argument(help="Registered project name (see `mlops projects`).")],
    param: Annotated[list[str], typer.Option("--param", "-p", help="Training parameter KEY=VALUE (JSON values).")] = [],  # noqa: B006
    runner: Annotated[str | None, typer.Option(help="'airflow' or 'inprocess' (default: setting orchestrate.runner).")] = None,
) -> None:
    """Run a project's pipeline: prepare, train, evaluate, register, deploy."""
    from mlops_core.progress import StepProgress
    from mlops_core.pipeline import run_pipeline
    from mlops_core.registry import ProjectRegistry

    settings, plugins = _context()
    params = _parse_params(param)
    registry = ProjectRegistry(settings, plugins)
    registry.get(project).validate_params(params)  # bad input fails before anything is written
    registry.sync()
    with StepProgress(console) as progress:
        progress.starting(f"starting the {runner or settings.orchestrate.runner} runner ...")
        used, state = run_pipeline(plugins, project, params, on_event=progress.event, runner=runner)
    deploy = state["deploy"]
    console.print(
        f"[green]done[/green] via {used}: run {state['train']['run_id']}, "
        f"{state['register']['name']} v{deploy['version']}, "
        + (f"promoted to @{deploy['alias']}" if deploy["promoted"] else f"not promoted ({deploy['reason']})")
    )


@app.command()
def lineage(
    ref: Annotated[str | None, typer.Argument(help="Dataset hash, run id, NAME/VERSION, NAME@ALIAS, drift or retrain id (or a unique prefix of 6+ characters).")] = None,
    list_all: Annotated[bool, typer.Option("--list", help="List every recorded node.")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Trace lineage both ways: what fed REF, and what REF fed."""
    from mlops_core.ledger import Ledger
    from mlops_core.settings import load_settings

    ledger = Ledger(load_settings().ledger_path)
    if list_all or ref is None:
        nodes = ledger.nodes()
        if as_json:
            console.print_json(json.dumps([n.__dict__ for n in nodes], default=str))
            return
        table = Table(title="lineage records")
        for col in ("id", "project", "label", "created_at"):
            table.add_column(col)
        for n in nodes:
            table.add_row(n.id, n.project, n.label, n.created_at)
        console.print(table)
        return
    node = ledger.resolve(ref)
    up, down = ledger.upstream(node.id), ledger.downstream(node.id)
    if as_json:
        console.print_json(json.dumps({
            "node": node.__dict__,
            "upstream": [[n.id for n in path] for path in up],
            "downstream": [[n.id for n in path] for path in down],
        }, default=str))
        return
    console.print(f"[bold]{node.id}[/bold]  {node.label}")
    console.print("[bold]upstream[/bold] (what it came from):")
    for path in up:
        console.print("  " + (" -> ".join(n.id for n in path) if len(path) > 1 else "(nothing recorded)"))
    console.print("[bold]downstream[/bold] (what it fed):")
    for path in down:
        console.print("  " + (" -> ".join(n.id for n in path) if len(path) > 1 else "(nothing recorded)"))


@app.command()
def doctor() -> None:
    """Check each concern: installed, configured, reachable, and what fixes what is missing."""
    from rich.markup import escape

    from mlops_core.doctor import run_checks
    from mlops_core.registry import ProjectRegistry

    settings, plugins = _context()
    checks = run_checks(plugins, ProjectRegistry(settings, plugins))
    colors = {"ok": "green", "warn": "yellow", "fail": "red", "missing": "yellow"}
    table = Table(title=f"mlops doctor (state: {settings.state_dir})")
    for col in ("concern", "check", "status", "detail", "fix"):
        table.add_column(col, overflow="fold")
    for c in checks:
        table.add_row(escape(c.concern), escape(c.name), f"[{colors.get(c.status, 'white')}]{c.status}[/]",
                      escape(c.detail), escape(c.fix))
    console.print(table)
    if any(c.status == "fail" for c in checks):
        raise typer.Exit(1)


def _fmt(value: Any) -> str:
    from pathlib import Path

    return str(value) if isinstance(value, Path) else repr(value)


def settings_rows() -> list[tuple[str, str, str, str]]:
    """(key, default, env variable, description) for every setting."""
    from pydantic import BaseModel

    from mlops_core.settings import Settings

    rows = []
    for name, field in Settings.model_fields.items():
        default = field.default_factory() if field.default_factory else field.default  # type: ignore[call-arg]
        if isinstance(default, BaseModel):
            for sub, subfield in type(default).model_fields.items():
                rows.append((f"{name}.{sub}", _fmt(subfield.default), f"MLOPS_{name.upper()}__{sub.upper()}",
                             subfield.description or ""))
        else:
            rows.append((name, _fmt(default), f"MLOPS_{name.upper()}", field.description or ""))
    return rows


@app.command()
def config(
    as_json: Annotated[bool, typer.Option("--json", help="Print the effective settings as JSON.")] = False,
    markdown: Annotated[bool, typer.Option("--markdown", help="Print the reference of every setting as Markdown.")] = False,
) -> None:
    """Show every setting: its effective value, its env variable and what it does."""
    from mlops_core.settings import load_settings

    if markdown:
        print("| key | default | env variable | description |\n|---|---|---|---|")
        for key, default, env, desc in settings_rows():
            print(f"| `{key}` | `{default}` | `{env}` | {desc} |")
        return
    settings = load_settings()
    if as_json:
        console.print_json(settings.model_dump_json())
        return
    effective = settings.model_dump()
    table = Table(title=f"settings (workspace {settings.workspace_root})")
    for col in ("key", "value", "env", "description"):
        table.add_column(col, overflow="fold")
    for key, _default, env, desc in settings_rows():
        value: Any = effective
        for part in key.split("."):
            value = value[part]
        table.add_row(key, str(value), env, desc)
    console.print(table)


@app.command()
def demo(
    project: Annotated[str, typer.Option(help="Project to run the loop on.")] = "cpu-compression",
    samples: Annotated[int, typer.Option(min=30, help="Rows sent in each traffic batch.")] = 200,
    stack: Annotated[bool, typer.Option("--stack", help="Require the running stack (`mlops up`) and use its services.")] = False,
) -> None:
    """Run the whole loop: version, train, track, register, serve, monitor, retrain.

    On embedded defaults with nothing to start; while the stack runs (`mlops up`) every client
    uses its servers, and --stack insists on it.
    """
    from mlops_core.demo import run_demo

    settings, plugins = _context()
    run_demo(settings, plugins, project=project, samples=samples, console=console, stack=stack)


# -- the shared stack (mlops up / status / logs / down) ----------------------------------------


def _uptime(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    s = int(seconds)
    if s < 60:
        return f"{s}s"
    if s < 3600:
        return f"{s // 60}m{s % 60:02d}s"
    return f"{s // 3600}h{s % 3600 // 60:02d}m"


def _status_table(services: list[Any], title: str) -> Table:
    table = Table(title=title)
    for col in ("service", "status", "port", "pid", "uptime", "restarts", "url"):
        table.add_column(col, overflow="fold")
    for svc in services:
        if svc.up:
            status = "[green]up[/green]"
        elif svc.running:
            status = "[yellow]down (running, not healthy)[/yellow]"
        else:
            status = f"[red]down ({svc.state.lower()})[/red]"
        table.add_row(svc.name, status, str(svc.port or "-"), str(svc.pid or "-"), _uptime(svc.uptime_seconds),
                      str(svc.restarts), svc.url or "-")
    return table


@app.command()
def up(
    only: Annotated[list[str], typer.Option("--only", help="Start only this service or concern (repeatable).")] = [],  # noqa: B006
) -> None:
    """Start the shared stack: each installed concern's server, supervised, with health checks."""
    from rich.markup import escape

    from mlops_core.stack import start_stack

    settings, plugins = _context()
    waiting: dict[str, str] = {}
    status = console.status("starting the stack ...")

    def progress(event: str, name: str, detail: str) -> None:
        if event == "skip":
            console.print(f"  [yellow]skipped[/yellow] {name}: {escape(detail)}")
        elif event == "setup":
            console.print(f"  setup   {name}: {escape(detail)}")
            status.update(f"setup of {name} ...")
        elif event == "setup-done":
            console.print(f"  setup   done in {detail}")
        elif event == "start":
            console.print(f"  start   {name}" + (f" ({detail})" if detail else ""))
        elif event == "waiting":
            waiting[name] = detail
        elif event == "healthy":
            waiting.pop(name, None)
            console.print(f"  [green]✓[/green] {name:<22} healthy {detail} after its start")
        if waiting:
            status.update("waiting for health: " + ", ".join(f"{n} ({d})" for n, d in waiting.items()))

    with status:
        result = start_stack(plugins, only=only or None, progress=progress)
    if not result.started:
        console.print("the stack was already running: nothing started (`mlops status` shows it)")
    console.print(_status_table(result.services, f"stack up in {result.seconds:.1f}s (state: {settings.state_dir})"))
    console.print("logs: `mlops logs SERVICE`; stop: `mlops down`")


@app.command()
def status(
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Show each stack service: up or down, port, pid, uptime, restarts, URL."""
    from mlops_core.settings import load_settings
    from mlops_core.stack import stack_status

    settings = load_settings()
    services = stack_status(settings)
    if as_json:
        print(json.dumps({"running": services is not None, "state_dir": str(settings.state_dir),
                          "services": [s.as_dict() for s in services or []]}, indent=1))
        return
    if services is None:
        console.print("stack is not running (start it with `mlops up`)")
        return
    console.print(_status_table(services, f"stack (state: {settings.state_dir})"))


def _known_services(settings: Any) -> list[str]:
    from mlops_core.stack.discovery import read_state
    from mlops_core.stack.paths import stack_paths

    names = list(read_state(stack_paths(settings).state).get("services", {}))
    if names:
        return names
    from mlops_core.plugins import PluginManager
    from mlops_core.stack.services import collect_services

    return [s.name for s in collect_services(PluginManager(settings))[0]]


@app.command()
def logs(
    service: Annotated[str, typer.Argument(help="The service whose log to show (see `mlops status`).")],
    lines: Annotated[int, typer.Option("-n", "--lines", min=0, help="How many of the last lines to show.")] = 50,
    follow: Annotated[bool, typer.Option("-f", "--follow", help="Keep printing new lines (Ctrl-C ends).")] = False,
) -> None:
    """Show the last lines of a stack service's log, and follow it with -f."""
    from mlops_core.settings import load_settings
    from mlops_core.stack.logs import follow as follow_log
    from mlops_core.stack.logs import tail
    from mlops_core.stack.paths import stack_paths

    settings = load_settings()
    known = _known_services(settings)
    if service not in known:
        raise InputValidationError(
            f"no stack service named {service!r}; services: {', '.join(known) or '(none installed)'}",
            fix="pass one of those names (`mlops status` lists the running ones)",
        )
    path = stack_paths(settings).log(service)
    if lines:
        print(tail(path, lines))
    if follow:
        try:
            for line in follow_log(path):
                print(line, flush=True)
        except KeyboardInterrupt:
            return


@app.command()
def down() -> None:
    """Stop the stack: SIGTERM each service's process group, SIGKILL after stack.stop_timeout, no orphans."""
    from mlops_core.settings import load_settings
    from mlops_core.stack import stop_stack

    settings = load_settings()
    with console.status("stopping the stack ..."):
        result = stop_stack(settings)
    if not result.was_running:
        console.print("stack is not running")
        return
    console.print(f"stack stopped in {result.seconds:.1f}s: {', '.join(result.stopped) or 'no service was running'}")
    if result.ended:
        console.print(f"[yellow]ended {len(result.ended)} leftover process(es) by pid:[/yellow] "
                      + " ".join(map(str, result.ended)))


def _load_plugin_commands() -> None:
    from mlops_core.plugins import PluginManager
    from mlops_core.settings import load_settings

    try:
        settings = load_settings()
        # Deliberately process-wide, at start: every tool this process runs, and every process
        # it starts (Airflow, supervisord and its services), inherits the telemetry choice.
        for key, value in settings.tool_env().items():
            os.environ.setdefault(key, value)
        plugins = PluginManager(settings)
        plugins.hook.mlops_cli(app=app)
    except MlopsError:
        # A broken settings file must not hide the core commands; they report it themselves.
        return
    for name, error in plugins.failures.items():
        err_console.print(f"[yellow]warning:[/yellow] plugin {name!r} failed to load ({error}); see `mlops doctor`")


def main(argv: list[str] | None = None) -> None:
    """Entry point of the ``mlops`` script."""
    _load_plugin_commands()
    try:
        code = app(args=argv, standalone_mode=False)
    except MlopsError as exc:
        from rich.markup import escape

        # soft_wrap: paths and commands in messages stay whole, so they can be copied
        err_console.print(f"[red]error:[/red] {escape(exc.message)}", soft_wrap=True)
        if exc.fix:
            err_console.print(f"[yellow]fix:[/yellow] {escape(exc.fix)}", soft_wrap=True)
        sys.exit(exc.exit_code)
    except typer.Exit as exc:
        sys.exit(exc.exit_code)
    except typer.Abort:
        err_console.print("aborted")
        sys.exit(130)
    except Exception as exc:
        # Usage errors: typer bundles its own click, whose exceptions are not click's classes.
        if hasattr(exc, "show") and isinstance(getattr(exc, "exit_code", None), int):
            exc.show()
            sys.exit(exc.exit_code)
        raise
    # Without standalone mode, click returns the code of typer.Exit instead of raising it.
    if isinstance(code, int) and code:
        sys.exit(code)
