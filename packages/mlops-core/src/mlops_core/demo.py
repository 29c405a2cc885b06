"""``mlops demo``: the whole loop on one real project, on embedded defaults.

version the data -> train (tracked, hardware-tagged) -> register -> promote to champion ->
serve through the gateway -> real held-out traffic -> a visibly shifted batch -> drift reports ->
retraining request -> the lineage chain from the dataset hash to that request.
"""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rich.console import Console
from rich.table import Table

from mlops_core.errors import MlopsError, ServiceError

if TYPE_CHECKING:
    from mlops_core.plugins import PluginManager
    from mlops_core.records import DriftReport, RetrainRequest
    from mlops_core.settings import Settings

__all__ = ["run_demo"]

_NEEDED = {"data": "data_store", "tracking": "tracker", "monitor": "drift_monitor", "serve": "gateway_app"}


def _post(url: str, rows: Sequence[Sequence[float]]) -> dict[str, Any]:
    body = json.dumps({"inputs": [list(r) for r in rows]}).encode()
    request = urllib.request.Request(url, data=body, headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=60) as response:
            return json.loads(response.read())
    except urllib.error.HTTPError as exc:
        raise ServiceError(f"gateway answered {exc.code} for {url}: {exc.read().decode()[:300]}",
                           fix="see the gateway error above") from exc


def _send_traffic(plugins: PluginManager, project: str, model: str, rows: list[list[float]], batch: int) -> str:
    """Send ``rows`` through the gateway; returns where they went.

    While the stack runs a gateway, traffic goes to it and we wait until the monitor has stored
    every row (the gateway captures after answering). Otherwise a gateway is started here; its
    graceful stop waits for the capture of every answered batch.
    """
    from mlops_core.stack import service_url

    monitor = plugins.require_drift_monitor()
    url = service_url(plugins.settings, "gateway") if plugins.settings.stack.use_when_up else None
    if url is None:
        gateway = plugins.start_gateway(port=0)
        try:
            for i in range(0, len(rows), batch):
                _post(f"{gateway.url}/predict/{project}/{model}", rows[i:i + batch])
        finally:
            gateway.stop()
        return "a gateway started for the demo"
    before = monitor.captured(project, model)
    for i in range(0, len(rows), batch):
        _post(f"{url}/predict/{project}/{model}", rows[i:i + batch])
    deadline = time.monotonic() + 60
    while monitor.captured(project, model) < before + len(rows):
        if time.monotonic() > deadline:
            raise ServiceError(
                f"the stack's gateway answered {len(rows)} rows but the monitor stored only "
                f"{monitor.captured(project, model) - before} within 60 s",
                fix="check `mlops logs gateway` for capture errors",
            )
        time.sleep(0.2)
    return f"the stack's gateway at {url}"


def _require_stack(settings: Settings) -> None:
    from mlops_core.stack import service_url

    missing = [name for name in ("mlflow", "airflow-api-server", "gateway", "evidently-ui")
               if service_url(settings, name) is None]
    if missing:
        raise ServiceError(
            f"--stack needs the running stack, but these services are down or not healthy: {', '.join(missing)}",
            fix="start the stack with `mlops up` (see `mlops status`), or run `mlops demo` without --stack",
        )


def run_demo(
    settings: Settings, plugins: PluginManager, *, project: str = "cpu-compression", samples: int = 200,
    console: Console | None = None, stack: bool = False,
) -> dict[str, Any]:
    """Run the loop; returns the summary it prints."""
    from mlops_core.ledger import Ledger
    from mlops_core.loop import check_drift
    from mlops_core.pipeline import run_pipeline
    from mlops_core.progress import StepProgress
    from mlops_core.registry import ProjectRegistry

    console = console or Console()
    started = time.perf_counter()
    registry = ProjectRegistry(settings, plugins)
    proj = registry.get(project)  # unknown project: fails here, before anything is written
    if stack:
        _require_stack(settings)
    for concern, getter in _NEEDED.items():
        if getattr(plugins, getter)() is None:
            from mlops_core.errors import MissingExtraError

            raise MissingExtraError(concern, purpose="needed by `mlops demo`")
    registry.sync()

    hardware = plugins.hardware()
    console.rule(f"[bold]mlops demo[/bold]: {project}")
    console.print(f"state directory: {settings.state_dir}")
    if hardware is not None:
        console.print(
            f"hardware: {hardware.chip} | {hardware.cpu_cores_logical} cores | "
            f"{(hardware.memory_total_bytes or 0) / 2**30:.1f} GiB | backends {','.join(hardware.backends) or 'none'} | "
            f"thermal {hardware.thermal_state} ({hardware.thermal_source})"
        )
    console.print("[bold]1. pipeline[/bold] (prepare -> train -> evaluate -> register -> deploy)")
    with StepProgress(console) as progress:
        progress.starting(f"starting the {settings.orchestrate.runner} runner ...")
        runner, state = run_pipeline(plugins, project, on_event=progress.event)
    model, version = state["register"]["name"], state["deploy"]["version"]
    data_dir = Path(state["prepare"]["data_dir"])

    console.print("[bold]2. serving[/bold] through the gateway")
    held_out = proj.samples(data_dir, "held_out", samples)
    shifted = proj.samples(data_dir, "shifted", samples)
    t0 = time.perf_counter()
    where = _send_traffic(plugins, project, model, held_out, batch=20)
    console.print(f"  sent {len(held_out)} held-out rows in batches of 20 to {where} ({time.perf_counter() - t0:.1f}s)")

    console.print("[bold]3. monitoring[/bold]")
    reports: list[tuple[str, DriftReport, RetrainRequest | None]] = []
    report, request = check_drift(plugins, project, model, last_n=len(held_out))
    reports.append(("held-out", report, request))
    _print_report(console, "held-out traffic", report)
    where = _send_traffic(plugins, project, model, shifted, batch=20)
    console.print(f"  sent {len(shifted)} shifted rows to {where}")
    report, request = check_drift(plugins, project, model, last_n=len(shifted))
    reports.append(("shifted", report, request))
    _print_report(console, "shifted traffic", report)
    if request is not None:
        console.print(f"  [yellow]retraining requested[/yellow]: {request.request_id} ({request.reason}); runs with: {request.how}")

    ledger = Ledger(settings.ledger_path)
    chain: list[str] = []
    if request is not None:
        paths = ledger.upstream(f"retrain:{request.request_id}")
        chain = [n.id for n in max(paths, key=len)] if paths else []
    summary = {
        "project": project,
        "runner": runner,
        "run_id": state["train"]["run_id"],
        "model": f"{model} v{version}",
        "promoted": state["deploy"]["promoted"],
        "data_hash": state["prepare"]["datasets"][0]["hash"],
        "metrics": state["evaluate"]["metrics"],
        "reports": [{"traffic": t, "drift_share": r.drift_share, "drift": r.drift_detected,
                     "json": r.json_path, "html": r.html_path} for t, r, _ in reports],
        "retrain_request": request.request_id if request else None,
        "lineage": chain,
        "seconds": round(time.perf_counter() - started, 1),
    }
    _print_summary(console, summary)
    if request is None:
        raise MlopsError("the shifted batch did not trigger drift, so no retraining was requested",
                         fix="check monitor.drift_threshold (`mlops config`)")
    return summary


def _print_report(console: Console, what: str, report: DriftReport) -> None:
    verdict = "[red]DRIFT[/red]" if report.drift_detected else "[green]no drift[/green]"
    console.print(
        f"  {what}: {verdict} — {report.drifted_columns}/{report.total_columns} columns drifted "
        f"(share {report.drift_share:.2f}, threshold {report.threshold:.2f}, {report.rows_current} rows)"
    )


def _print_summary(console: Console, s: dict[str, Any]) -> None:
    table = Table(title="summary", show_header=False)
    table.add_column("what", style="bold")
    table.add_column("value", overflow="fold")
    table.add_row("run id", s["run_id"])
    table.add_row("model version", s["model"] + (" (champion)" if s["promoted"] else " (not promoted)"))
    table.add_row("data hash", s["data_hash"])
    table.add_row("metrics", ", ".join(f"{k}={v:.4f}" for k, v in s["metrics"].items()))
    for r in s["reports"]:
        table.add_row(f"drift report ({r['traffic']})", f"{r['json']}\n{r['html']}")
    table.add_row("retrain request", s["retrain_request"] or "none")
    table.add_row("took", f"{s['seconds']} s (pipeline via {s['runner']})")
    console.print(table)
    if s["lineage"]:
        console.print("[bold]lineage[/bold]: " + "\n  -> ".join(s["lineage"]))
