"""The dashboard's HTML: built from :func:`mlops_serve.dashboard.collect`'s data, every value escaped.

Self-contained on purpose: the stylesheet is inlined and nothing is fetched from elsewhere, so
the page renders on a machine with no network.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from functools import cache
from html import escape
from importlib.resources import files
from typing import Any

__all__ = ["render"]


@cache
def _stylesheet() -> str:
    return files("mlops_serve").joinpath("dashboard.css").read_text(encoding="utf-8")


def _e(value: Any) -> str:
    return escape("" if value is None else str(value), quote=True)


def _num(value: Any) -> str:
    return "–" if value is None else f"{value:.4g}" if isinstance(value, float) else _e(value)


def _when(iso: str | None) -> str:
    """An ISO time as ``2026-12-03 10:22:11 UTC`` (the raw text if it does not parse)."""
    if not iso:
        return "–"
    try:
        moment = datetime.fromisoformat(iso)
    except ValueError:
        return _e(iso)
    zone = moment.tzname() or ""
    return _e(f"{moment:%Y-%m-%d %H:%M:%S} {'UTC' if zone in ('UTC', 'UTC+00:00') else zone}".strip())


def _gib(n: int | None) -> str:
    return "unknown" if n is None else f"{n / 2**30:.1f} GiB"


def _badge(text: str, tone: str) -> str:
    return f'<span class="badge {tone}">{_e(text)}</span>'


def _link(url: str | None, text: str, *, title: str = "") -> str:
    if not url:
        return ""
    hint = f' title="{_e(title)}"' if title else ""
    return f'<a href="{_e(url)}"{hint}>{_e(text)}</a>'


def _table(headers: Sequence[str], rows: Iterable[Sequence[str]], *, empty: str, cls: str = "") -> str:
    """A table of already-escaped cells, or a muted line when there are no rows."""
    body = "".join("<tr>" + "".join(f"<td>{cell}</td>" for cell in row) + "</tr>" for row in rows)
    if not body:
        return f'<p class="muted">{_e(empty)}</p>'
    head = "".join(f"<th>{_e(h)}</th>" for h in headers)
    return f'<table class="{cls}"><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>'


_STATUS_TONES = {"FINISHED": "ok", "FAILED": "bad", "KILLED": "bad", "RUNNING": "info", "SCHEDULED": "info"}


def _drift_badge(drift: Mapping[str, Any] | None) -> str:
    if drift is None:
        return _badge("not checked", "muted")
    return _badge(drift["verdict"], "bad" if drift["drift_detected"] else "ok")


# -- parts ----------------------------------------------------------------------------------------


def _header(data: Mapping[str, Any]) -> str:
    links = []
    for key, link in data["links"].items():
        if link["url"]:
            links.append(f'<a class="ui up" id="ui-{_e(key)}" href="{_e(link["url"])}">'
                         f'<span class="dot"></span>{_e(link["title"])}</a>')
        else:
            links.append(f'<span class="ui down" id="ui-{_e(key)}" title="{_e(link["service"])} is not running">'
                         f'<span class="dot"></span>{_e(link["title"])}: {_e(link["status"])}</span>')
    return (
        '<header class="top"><div><h1>mlops dashboard</h1>'
        f'<p class="muted">generated {_when(data["generated_at"])} · state <code>{_e(data["state_dir"])}</code>'
        f' · serving alias <code>{_e(data["alias"])}</code></p></div>'
        f'<nav class="uis">{"".join(links)}</nav></header>'
    )


def _summary(data: Mapping[str, Any]) -> str:
    rows = []
    for row in data["summary"]:
        champion = f'<span class="version">v{_e(row["champion"])}</span>' if row["champion"] else '<span class="muted">none</span>'
        drift = _badge(row["drift"], "bad" if row["drift"] == "DRIFT" else "ok") if row["drift"] else _badge("not checked", "muted")
        rows.append((
            f'<a href="#project-{_e(row["project"])}"><strong>{_e(row["project"])}</strong></a>',
            f"<code>{_e(row['model'])}</code>",
            champion,
            _e(row["primary_metric"]),
            f'<span class="num">{_num(row["champion_value"])}</span>',
            f'<span class="num">{_num(row["best_value"])}</span>',
            drift,
            _when(row["last_run_at"]),
        ))
    table = _table(
        ("project", "model", "champion", "primary metric", "champion value", "best", "last drift check", "last run"),
        rows, empty="no projects registered: install one (its entry point in group mlops.projects), then `mlops projects`",
        cls="summary",
    )
    note = data["tracking"]["note"]
    warn = f'<p class="note">{_e(note)}</p>' if note else ""
    return f'<section class="card"><h2>Projects</h2>{warn}{table}</section>'


def _hardware(data: Mapping[str, Any]) -> str:
    hw = data["hardware"]
    if hw is None:
        return f'<section class="card"><h2>Hardware</h2><p class="note">{_e(data["hardware_note"])}</p></section>'
    cores = f'{_e(hw["cpu_cores_physical"] or "?")} physical / {_e(hw["cpu_cores_logical"] or "?")} logical'
    memory = f'{_gib(hw["memory_total_bytes"])} total, {_gib(hw["memory_available_bytes"])} available'
    thermal = f'{_e(hw["thermal_state"])} <span class="muted">({_e(hw["thermal_source"])})</span>'
    gpus = ", ".join(_e(g.get("name", g)) for g in hw["gpus"]) or "none"
    items = (
        ("machine", f'{_e(hw["os"])} {_e(hw["arch"])}'),
        ("chip", _e(hw["chip"]) or "unknown"),
        ("cores", cores),
        ("memory", memory),
        ("backends", ", ".join(_e(b) for b in hw["backends"]) or "none"),
        ("GPUs", gpus),
        ("thermal", thermal),
    )
    cells = "".join(f"<div><dt>{_e(k)}</dt><dd>{v}</dd></div>" for k, v in items)
    return f'<section class="card"><h2>Hardware</h2><dl class="facts">{cells}</dl></section>'


def _tiles(p: Mapping[str, Any], links: Mapping[str, Any]) -> str:
    # What is deployed
    if p["champion"]:
        loaded = (f"loaded in the gateway: v{_e(p['serving'])}" if p["serving"]
                  else "loads on the first prediction")
        deployed = (f'<div class="big"><span class="version">v{_e(p["champion"])}</span></div>'
                    f'<p class="muted">{_e(p["model"])}@champion · {loaded}</p>')
    else:
        deployed = '<div class="big muted">none</div><p class="muted">no version promoted yet</p>'
    predict = f'<p><code>POST /predict/{_e(p["project"])}/{_e(p["model"])}</code></p>'
    # Best value of the primary metric
    direction = "higher is better" if p["higher_is_better"] else "lower is better"
    if p["best"]:
        best = (f'<div class="big num">{_num(p["best"]["value"])}</div>'
                f'<p class="muted">{_e(p["best"]["metric"])} · {direction} · run <code>{_e(p["best"]["run_id"][:12])}</code></p>')
    else:
        best = f'<div class="big muted">–</div><p class="muted">no run logged {_e(p["primary_metric"])} · {direction}</p>'
    # Drift
    drift = p["drift"]
    if drift:
        share = f"{drift['share']:.0%}" if drift["share"] is not None else "?"
        threshold = f"{drift['threshold']:.0%}" if drift["threshold"] is not None else "?"
        checks = "first check" if drift["checks"] == 1 else f"{drift['checks']} checks so far"
        reports = " · ".join(x for x in (_link(drift["html_url"], "HTML report"), _link(drift["json_url"], "JSON")) if x)
        body = (f'<div class="big">{_drift_badge(drift)}</div>'
                f'<p>{share} of columns drifted ({_e(drift["drifted_columns"])}/{_e(drift["total_columns"])}),'
                f' threshold {threshold}</p>'
                f'<p class="muted">model v{_e(drift["version"])} · {_e(drift["rows_current"])} rows · {_when(drift["checked_at"])}</p>'
                f'<p class="muted">report <code>{_e(drift["report_id"])}</code> · {checks}</p>'
                f'<p>{reports or "<span class=muted>report files not under the reports folder</span>"}</p>')
    else:
        body = f'<div class="big">{_drift_badge(None)}</div><p class="muted">no drift report yet: <code>mlops drift {_e(p["project"])}</code></p>'
    return (
        '<div class="tiles">'
        f'<div class="tile"><h3>Deployed</h3>{deployed}{predict}</div>'
        f'<div class="tile"><h3>Best {_e(p["primary_metric"])}</h3>{best}</div>'
        f'<div class="tile"><h3>Drift</h3>{body}</div>'
        "</div>"
    )


def _runs(p: Mapping[str, Any]) -> str:
    rows = []
    for run in p["runs"]:
        metrics = " ".join(f'<span class="metric">{_e(k)} <b>{_num(v)}</b></span>' for k, v in run["metrics"].items())
        rows.append((
            f'<code class="runid">{_e(run["run_id"])}</code>',
            _badge(run["status"], _STATUS_TONES.get(run["status"], "muted")),
            metrics or '<span class="muted">none</span>',
            f'<span class="when">{_when(run["finished_at"])}</span>',
            _link(run["url"], "MLflow ↗"),
        ))
    return _table(("run", "status", "key metrics", "recorded", ""), rows,
                  empty=p["tracking_note"] or f"no runs yet: mlops run {p['project']}")


def _versions(p: Mapping[str, Any]) -> str:
    rows = []
    for v in p["versions"]:
        aliases = " ".join(_badge(a, "ok" if a == "champion" else "info") for a in v["aliases"])
        serving = _badge("in gateway", "info") if v["serving"] else ""
        rows.append((
            f'<span class="version">v{_e(v["version"])}</span>',
            (aliases + " " + serving).strip() or '<span class="muted">–</span>',
            f'<span class="num">{_num(v["value"])}</span>',
            f'<code class="runid" title="{_e(v["run_id"])}">{_e(v["run_id"][:12])}</code>',
        ))
    return _table(("version", "aliases", p["primary_metric"], "from run"), rows,
                  empty=p["tracking_note"] or f"no registered versions of {p['model']} yet", cls="versions")


def _project(p: Mapping[str, Any], links: Mapping[str, Any]) -> str:
    mlflow = links.get("mlflow", {}).get("url")
    model_link = _link(f"{mlflow}/#/models/{p['model']}" if mlflow else None, "model in MLflow ↗")
    errors = "".join(f'<p class="note">{_e(part)}: {_e(why)}</p>' for part, why in p["errors"].items())
    description = f'<p class="muted">{_e(p["description"])}</p>' if p["description"] else ""
    return (
        f'<section class="card project" id="project-{_e(p["project"])}">'
        f'<div class="title"><h2>{_e(p["project"])}</h2><span class="muted">model <code>{_e(p["model"])}</code></span>'
        f"{model_link}</div>{description}{errors}"
        f"{_tiles(p, links)}"
        f'<h3>Latest runs</h3>{_runs(p)}'
        f'<h3 class="gap">Model versions</h3>{_versions(p)}'
        "</section>"
    )


def _failures(data: Mapping[str, Any]) -> str:
    items = [f"<li>project <code>{_e(n)}</code>: {_e(why)}</li>" for n, why in data["failures"]["projects"].items()]
    items += [f"<li>plugin <code>{_e(n)}</code>: {_e(why)}</li>" for n, why in data["failures"]["plugins"].items()]
    if not items:
        return ""
    return f'<section class="card"><h2>Failed to load</h2><ul>{"".join(items)}</ul></section>'


def render(data: Mapping[str, Any]) -> str:
    """The whole page."""
    projects = "".join(_project(p, data["links"]) for p in data["projects"])
    return (
        '<!doctype html><html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>mlops dashboard</title><style>{_stylesheet()}</style></head><body>"
        f"{_header(data)}<main>{_summary(data)}{_hardware(data)}{projects}{_failures(data)}</main>"
        '<footer class="muted">the same data as JSON: <a href="/dashboard.json">/dashboard.json</a>'
        ' · API: <a href="/docs">/docs</a></footer>'
        "</body></html>"
    )
