"""``mlops monitor ...``: run a drift check through the loop, list a project's drift reports.

Only typer and rich at module top: this module is imported when the ``mlops`` CLI starts.
"""

from __future__ import annotations

import json
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from mlops_monitor.paths import evidently_dir

__all__ = ["monitor_app"]

console = Console()

monitor_app = typer.Typer(
    name="monitor",
    help="Drift monitoring (Evidently): check captured traffic against the training reference.",
    no_args_is_help=True,
)


def _context() -> tuple[Any, Any]:
    from mlops_core.plugins import PluginManager
    from mlops_core.settings import load_settings

    settings = load_settings()
    return settings, PluginManager(settings)


@monitor_app.command("check")
def check_command(
    project: Annotated[str, typer.Argument(help="Project name (see `mlops projects`).")],
    model: Annotated[str | None, typer.Option("--model", help="Registered model (default: the project's).")] = None,
    last: Annotated[int | None, typer.Option("--last", min=1,
                                             help="Check the last N captured rows (default: all since the reference was set).")] = None,
    threshold: Annotated[float | None, typer.Option("--threshold", min=0.0, max=1.0,
                                                    help="Drifted-column share that means drift (default: monitor.drift_threshold).")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the report record as JSON.")] = False,
) -> None:
    """Compare captured traffic with the reference; on drift, record a retrain request."""
    from mlops_core.loop import check_drift
    from mlops_core.records import as_dict

    settings, plugins = _context()
    report, request = check_drift(plugins, project, model, last_n=last, threshold=threshold)
    evidently = _evidently_links(settings, [report.report_id])[report.report_id]
    if as_json:
        console.print_json(json.dumps({"report": as_dict(report), "evidently": evidently,
                                       "retrain_request": as_dict(request) if request else None}))
        return
    verdict = "[red]DRIFT[/red]" if report.drift_detected else "[green]no drift[/green]"
    console.print(
        f"{report.project}/{report.model} v{report.version}: {verdict} - {report.drifted_columns}/{report.total_columns} "
        f"columns drifted (share {report.drift_share:.2f}, threshold {report.threshold:.2f}); "
        f"{report.rows_current} captured rows vs {report.rows_reference} reference rows"
    )
    console.print(f"report {report.report_id}: {report.json_path}" + (f"\n  {report.html_path}" if report.html_path else ""))
    if evidently["run_id"]:
        where = evidently["url"] or f"{evidently['workspace']} (`mlops up` shows it in the Evidently UI)"
        console.print(f"  Evidently run {evidently['run_id']}: {where}")
    if request is not None:
        console.print(f"[yellow]retraining requested[/yellow] ({request.request_id}): {request.reason}; runs with: {request.how}")


@monitor_app.command("reports")
def reports_command(
    project: Annotated[str, typer.Argument(help="Project name.")],
    model: Annotated[str | None, typer.Option("--model", help="Only this model's reports.")] = None,
    limit: Annotated[int, typer.Option("--limit", min=1, help="Show at most this many, newest first.")] = 20,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """List a project's drift reports, newest first, with where their files are."""
    from mlops_core.records import as_dict

    from mlops_monitor.monitor import Monitor

    settings, _ = _context()
    found = Monitor(settings).list_reports(project, model=model, limit=limit)
    links = _evidently_links(settings, [r.report.report_id for r in found], found)
    if as_json:
        console.print_json(json.dumps([{"created_at": r.created_at, **as_dict(r.report),
                                        "evidently": links[r.report.report_id]} for r in found]))
        return
    if not found:
        console.print(f"no drift reports for {project!r} yet; run one: mlops monitor check {project}")
        return
    table = Table(title=f"drift reports of {project} ({settings.reports_dir})")
    for col in ("report", "created", "model", "verdict", "drifted", "rows cur/ref", "files"):
        table.add_column(col, overflow="fold")
    for item in found:
        r = item.report
        verdict = "[red]DRIFT[/red]" if r.drift_detected else "[green]ok[/green]"
        files = r.json_path + (f"\n{r.html_path}" if r.html_path else "")
        if links[r.report_id]["url"]:
            files += f"\n{links[r.report_id]['url']}"
        table.add_row(r.report_id, item.created_at[:19], f"{r.model} v{r.version}", verdict,
                      f"{r.drifted_columns}/{r.total_columns} ({r.drift_share:.2f} vs {r.threshold:.2f})",
                      f"{r.rows_current}/{r.rows_reference}", files)
    console.print(table)
    if not any(link["url"] for link in links.values()):
        console.print(f"Evidently workspace: {evidently_dir(settings)} (`mlops up` serves it in the Evidently UI)")


def _evidently_links(settings: Any, report_ids: list[str], indexed: list[Any] | None = None) -> dict[str, dict[str, str]]:
    """Per report: its Evidently project and run ids, the workspace, and the run's UI page if the stack serves it."""
    from mlops_monitor.monitor import Monitor
    from mlops_monitor.service import ui_base_url
    from mlops_monitor.workspace import run_url

    if indexed is None:
        index = Monitor(settings).reports
        indexed = [found for rid in report_ids if (found := index.get(rid)) is not None]
    by_id = {r.report.report_id: r for r in indexed}
    base = ui_base_url(settings) if any(r.evidently_run_id for r in indexed) else None
    out = {}
    for rid in report_ids:
        item = by_id.get(rid)
        project_id, run_id = (item.evidently_project_id, item.evidently_run_id) if item else ("", "")
        out[rid] = {"project_id": project_id, "run_id": run_id, "workspace": str(evidently_dir(settings)),
                    "url": run_url(base, project_id, run_id) if base and run_id else ""}
    return out
