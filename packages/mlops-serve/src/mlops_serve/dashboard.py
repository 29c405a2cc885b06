"""The dashboard: every registered project's loop on one page, and the same data as JSON.

Routes (added to the gateway by :func:`dashboard_router`)::

    GET /dashboard                  the page (server-rendered HTML, no external assets)
    GET /dashboard.json             what the page shows, as JSON
    GET /dashboard/reports/{path}   a file under ``settings.reports_dir`` (drift reports), nothing else

Everything comes through the provider protocols and the core: projects from the
:class:`~mlops_core.registry.ProjectRegistry`, runs and model versions from the tracker, drift
verdicts and run times from the lineage :class:`~mlops_core.ledger.Ledger`, the hardware profile
from ``plugins.hardware()``, the stack's UIs from ``mlops_core.stack.service_url``. Each section
is collected on its own: one that fails shows why and the rest of the page still renders.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from fastapi import APIRouter
from fastapi.responses import FileResponse, HTMLResponse

from mlops_core.errors import MissingExtraError, ReferenceNotFoundError
from mlops_core.ledger import Ledger, Node
from mlops_core.project import Project
from mlops_core.records import RunRecord
from mlops_core.settings import Settings

if TYPE_CHECKING:
    from mlops_serve.gateway import Gateway

__all__ = [
    "REPORTS_ROUTE",
    "STACK_UIS",
    "best_run",
    "collect",
    "dashboard_router",
    "metric_of",
    "report_path",
]

log = logging.getLogger(__name__)
T = TypeVar("T")

#: runs listed per project, and runs searched for the best value of the primary metric
RUNS_SHOWN = 5
RUNS_SCANNED = 50
#: metrics shown per run (evaluation results first)
METRICS_SHOWN = 4
#: where report files are served from
REPORTS_ROUTE = "/dashboard/reports"
#: (key, title, service name in the stack) of the UIs the page links to
STACK_UIS = (
    ("mlflow", "MLflow", "mlflow"),
    ("airflow", "Airflow", "airflow-api-server"),
    ("evidently", "Evidently", "evidently-ui"),
)
TRACKING_MISSING = "tracking not installed: uv add mlops-tracking"
HARDWARE_MISSING = "hardware profile not installed: uv add mlops-hw"
STACK_DOWN = "stack down"


# -- routes ---------------------------------------------------------------------------------------


def dashboard_router(gateway: Gateway) -> APIRouter:
    """The dashboard's routes, bound to ``gateway``."""
    from mlops_serve.dashboard_page import render

    router = APIRouter(tags=["dashboard"])

    # Plain `def`s: collecting reads sqlite and the tracker, so FastAPI runs them in a thread.
    @router.get("/dashboard", summary="The dashboard page", response_class=HTMLResponse)
    def page() -> HTMLResponse:
        return HTMLResponse(render(collect(gateway)))

    @router.get("/dashboard.json", summary="What the dashboard shows, as JSON")
    def data() -> dict[str, Any]:
        return collect(gateway)

    @router.get(REPORTS_ROUTE + "/{path:path}", summary="A drift report file", response_class=FileResponse)
    def report(path: str) -> FileResponse:
        return FileResponse(report_path(gateway.settings, path))

    return router


def report_path(settings: Settings, relative: str) -> Path:
    """The file ``relative`` to the reports folder; 404 for anything outside it or missing."""
    root = settings.reports_dir.resolve()
    try:
        # resolve() follows symlinks and `..`, so the containment check sees the real target
        target = (root / relative).resolve()
        inside = target.is_relative_to(root) and target.is_file()
    except (OSError, ValueError):  # e.g. an embedded NUL byte
        inside = False
    if not inside:
        raise ReferenceNotFoundError(
            f"no report {relative!r} in the reports folder",
            fix="follow a report link on /dashboard; only files under settings.reports_dir are served",
        )
    return target


def report_url(settings: Settings, path: str) -> str | None:
    """The dashboard URL of a report file, or ``None`` if it is not under the reports folder."""
    if not path:
        return None
    try:
        relative = Path(path).resolve().relative_to(settings.reports_dir.resolve())
    except (OSError, ValueError):
        return None
    return f"{REPORTS_ROUTE}/{relative.as_posix()}"


# -- collecting -----------------------------------------------------------------------------------


def collect(gateway: Gateway) -> dict[str, Any]:
    """Everything the dashboard shows, JSON-friendly."""
    settings = gateway.settings
    tracking_note = _tracking_note(gateway)
    tracker_ok = not tracking_note
    ledger = Ledger(settings.ledger_path)
    hardware, hardware_note = _section(lambda: _hardware(gateway), HARDWARE_MISSING)
    projects = []
    for name, project in sorted(gateway.registry.discover().items()):
        projects.append(_project(gateway, ledger, name, project, tracker_ok, tracking_note))
    return {
        "generated_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "alias": gateway.alias,
        "state_dir": str(settings.state_dir),
        "tracking": {"installed": tracker_ok, "note": tracking_note},
        "hardware": hardware,
        "hardware_note": hardware_note,
        "links": _stack_links(settings),
        "summary": [_summary_row(p) for p in projects],
        "projects": projects,
        "failures": {"projects": dict(gateway.registry.failures), "plugins": dict(gateway.plugins.failures)},
    }


def _section(fetch: Callable[[], T | None], missing: str) -> tuple[T | None, str]:
    """``(value, "")``, or ``(None, why not)``: a section's failure stays in that section."""
    try:
        value = fetch()
    except Exception as exc:
        log.warning("dashboard section failed: %s", exc, exc_info=True)
        return None, f"{type(exc).__name__}: {exc}"
    return (value, "") if value is not None else (None, missing)


def _tracking_note(gateway: Gateway) -> str:
    """Empty when the tracker is there, else why not (and how to fix it)."""
    try:
        gateway.cache.tracker()
    except MissingExtraError:
        return TRACKING_MISSING
    except Exception as exc:  # a broken tracker plugin is shown, not raised
        return f"tracking unavailable: {type(exc).__name__}: {exc}"
    return ""


def _hardware(gateway: Gateway) -> dict[str, Any] | None:
    profile = gateway.plugins.hardware()
    if profile is None:
        return None
    return {
        "os": profile.os,
        "arch": profile.arch,
        "chip": profile.chip,
        "cpu_cores_physical": profile.cpu_cores_physical,
        "cpu_cores_logical": profile.cpu_cores_logical,
        "memory_total_bytes": profile.memory_total_bytes,
        "memory_available_bytes": profile.memory_available_bytes,
        "backends": list(profile.backends),
        "thermal_state": profile.thermal_state,
        "thermal_source": profile.thermal_source,
        "gpus": [dict(g) for g in profile.gpus],
    }


def _stack_links(settings: Settings) -> dict[str, dict[str, Any]]:
    try:
        from mlops_core.stack import service_url
    except ImportError:  # a core without stack support: nothing can be up
        service_url = None
    links = {}
    for key, title, service in STACK_UIS:
        url = None
        if service_url is not None:
            try:
                url = service_url(settings, service)
            except Exception as exc:  # discovery must never take the page down
                log.warning("stack discovery of %s failed: %s", service, exc)
        links[key] = {"title": title, "service": service, "url": url, "status": "up" if url else STACK_DOWN}
    return links


def _project(
    gateway: Gateway, ledger: Ledger, name: str, project: Project, tracker_ok: bool, tracking_note: str
) -> dict[str, Any]:
    model = project.registered_model
    metric = project.primary_metric
    section: dict[str, Any] = {
        "project": name,
        "description": project.description,
        "model": model,
        "primary_metric": metric,
        "higher_is_better": project.higher_is_better,
        "tracking_note": tracking_note,
        "runs": [],
        "best": None,
        "versions": [],
        "champion": None,
        "champion_value": None,
        "serving": None,
        "drift": None,
        "last_run_at": None,
        "errors": {},
    }
    loaded = gateway.cache.peek(name, model)
    section["serving"] = loaded.version if loaded else None
    run_times = {}
    try:
        run_nodes = ledger.nodes(kind="run", project=name)
        run_times = {n.id.split(":", 1)[1]: n.created_at for n in run_nodes}
        section["last_run_at"] = run_nodes[-1].created_at if run_nodes else None
        section["drift"] = _drift(gateway.settings, ledger.nodes(kind="drift", project=name))
    except Exception as exc:  # an unreadable ledger hides drift and times, not the project
        section["errors"]["lineage"] = f"{type(exc).__name__}: {exc}"
    if not tracker_ok:
        return section
    tracker = gateway.cache.tracker()
    runs: list[RunRecord] = []
    try:
        runs = tracker.runs(name, limit=RUNS_SCANNED)
        section["runs"] = [_run(r, metric, run_times) for r in runs[:RUNS_SHOWN]]
        best = best_run(runs, metric, higher_is_better=project.higher_is_better)
        if best is not None:
            key, value = metric_of(best, metric)
            section["best"] = {"run_id": best.run_id, "metric": key, "value": _finite(value)}
    except Exception as exc:
        section["errors"]["runs"] = f"{type(exc).__name__}: {exc}"
    try:
        versions = tracker.model_versions(name, model)
    except ReferenceNotFoundError:
        versions = []  # no version registered yet
    except Exception as exc:
        section["errors"]["models"] = f"{type(exc).__name__}: {exc}"
        versions = []
    champion = next((v for v in versions if gateway.alias in v.aliases), None)
    by_run = {r.run_id: r for r in runs}
    section["versions"] = [
        {
            "version": v.version,
            "run_id": v.run_id,
            "aliases": list(v.aliases),
            "champion": v is champion,
            "serving": section["serving"] == v.version,
            # the primary metric of the run that produced it, when that run is among the latest
            "value": _finite(metric_of(by_run[v.run_id], metric)[1]) if v.run_id in by_run else None,
        }
        for v in sorted(versions, key=_version_key, reverse=True)
    ]
    if champion is not None:
        section["champion"] = champion.version
        section["champion_value"] = next(row["value"] for row in section["versions"] if row["champion"])
    return section


def _run(run: RunRecord, metric: str, run_times: dict[str, str]) -> dict[str, Any]:
    return {
        "run_id": run.run_id,
        "status": run.status,
        "metrics": {k: _finite(v) for k, v in key_metrics(run.metrics, metric).items()},
        "url": run.url,
        "finished_at": run_times.get(run.run_id),
    }


def key_metrics(metrics: dict[str, float], primary: str, limit: int = METRICS_SHOWN) -> dict[str, float]:
    """The metrics worth a glance: the primary metric first, then evaluation results, then the rest."""

    def rank(key: str) -> tuple[int, str]:
        order = {f"eval_{primary}": 0, primary: 1}
        return (order.get(key, 2 if key.startswith("eval_") else 3), key)

    return {k: metrics[k] for k in sorted(metrics, key=rank)[:limit]}


def metric_of(run: RunRecord, metric: str) -> tuple[str, float | None]:
    """``(key, value)`` of the primary metric in a run: its evaluation (``eval_<metric>``) if logged."""
    for key in (f"eval_{metric}", metric):
        if key in run.metrics:
            return key, run.metrics[key]
    return f"eval_{metric}", None


def best_run(runs: Sequence[RunRecord], metric: str, *, higher_is_better: bool = True) -> RunRecord | None:
    """The run with the best finite value of ``metric`` (see :func:`metric_of`), or ``None``."""
    scored = [(value, run) for run in runs if _finite(value := metric_of(run, metric)[1]) is not None]
    if not scored:
        return None
    pick = max if higher_is_better else min
    return pick(scored, key=lambda pair: pair[0])[1]  # type: ignore[arg-type,return-value]


def _drift(settings: Settings, nodes: list[Node]) -> dict[str, Any] | None:
    if not nodes:
        return None
    latest = nodes[-1]  # the ledger lists nodes oldest first
    data = latest.data
    detected = bool(data.get("drift_detected"))
    return {
        "report_id": data.get("report_id", latest.id.split(":", 1)[1]),
        "verdict": "DRIFT" if detected else "no drift",
        "drift_detected": detected,
        "share": _finite(data.get("drift_share")),
        "threshold": _finite(data.get("threshold")),
        "drifted_columns": data.get("drifted_columns"),
        "total_columns": data.get("total_columns"),
        "version": data.get("version"),
        "rows_current": data.get("rows_current"),
        "checked_at": latest.created_at,
        "json_url": report_url(settings, data.get("json_path", "")),
        "html_url": report_url(settings, data.get("html_path", "")),
        "checks": len(nodes),
    }


def _summary_row(section: dict[str, Any]) -> dict[str, Any]:
    drift = section["drift"]
    return {
        "project": section["project"],
        "model": section["model"],
        "champion": section["champion"],
        "primary_metric": section["primary_metric"],
        "champion_value": section["champion_value"],
        "best_value": section["best"]["value"] if section["best"] else None,
        "drift": drift["verdict"] if drift else None,
        "last_run_at": section["last_run_at"],
    }


def _version_key(version: Any) -> tuple[int, str]:
    text = str(version.version)
    return (int(text), text) if text.isdigit() else (-1, text)


def _finite(value: Any) -> float | None:
    """A number JSON can carry (NaN and infinities become ``None``)."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value) if math.isfinite(value) else None

