"""``mlops doctor`` rows for tracking: MLflow installed, store usable, server reachable."""

from __future__ import annotations

import os
import urllib.error
import urllib.request
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import urlparse

from mlops_core.doctor import Check

if TYPE_CHECKING:
    from mlops_core.settings import Settings

__all__ = ["checks", "server_health"]

CONCERN = "tracking"
_URI_FIX = "set `tracking.uri` ([tool.mlops.tracking] or MLOPS_TRACKING__URI), or unset it for the local sqlite store"


def checks(settings: Settings) -> list[Check]:
    """Every tracking check, cheapest first; none imports MLflow."""
    rows = [_installed()]
    uri = settings.tracking_uri
    scheme = urlparse(uri).scheme.lower()
    if scheme == "sqlite":
        rows.append(_sqlite(uri))
    elif scheme in ("http", "https"):
        rows.append(server_health(uri))
    elif scheme in ("", "file"):
        rows.append(Check(CONCERN, "store", "fail", f"{uri}: MLflow 3.17 refuses the file store",
                          "use sqlite:///<path>/mlflow.db or a tracking server; " + _URI_FIX))
    else:
        rows.append(Check(CONCERN, "store", "ok", f"{uri} (database store; not probed)"))
    if settings.tracking.uri is None:
        rows.append(_stack_server(settings))
    rows.append(_artifacts(settings.artifact_root))
    return rows


def _stack_server(settings: Settings) -> Check:
    """The stack's MLflow server: clients use it while it is up (and use_when_up is on)."""
    from mlops_tracking.endpoint import stack_server_url

    url = stack_server_url(settings)
    if url is None:
        return Check(CONCERN, "server", "ok",
                     "stack is down: clients use the embedded sqlite store "
                     f"(`mlops up` starts the MLflow server on port {settings.tracking.server_port})")
    row = server_health(url)
    if row.status == "ok":
        used = "clients use it" if settings.stack.use_when_up else "clients do not use it (stack.use_when_up = false)"
        row = Check(CONCERN, "server", "ok", f"stack server {url} healthy, {used}; UI {url}/")
    return row


def _installed() -> Check:
    try:
        found = version("mlflow")
    except PackageNotFoundError:
        return Check(CONCERN, "mlflow", "missing", "mlflow is not installed", 'uv add "mlops-core[tracking]"')
    major_minor = tuple(int(p) for p in found.split(".")[:2] if p.isdigit())
    if major_minor != (3, 17):
        return Check(CONCERN, "mlflow", "warn", f"mlflow {found} (built and tested on 3.17)", 'uv add "mlflow>=3.17,<3.18"')
    return Check(CONCERN, "mlflow", "ok", f"mlflow {found}")


def _sqlite(uri: str) -> Check:
    path = Path(uri.removeprefix("sqlite:///"))
    if path.is_file():
        if not os.access(path, os.R_OK | os.W_OK):
            return Check(CONCERN, "store", "fail", f"{path} is not readable and writable", f"fix the permissions of {path}")
        return Check(CONCERN, "store", "ok", f"sqlite store {path} ({path.stat().st_size / 2**20:.1f} MiB)")
    existing = next((p for p in (path.parent, *path.parents) if p.exists()), None)
    if existing is None or not os.access(existing, os.W_OK):
        return Check(CONCERN, "store", "fail", f"cannot create {path}: {existing} is not writable",
                     f"make {existing} writable, or {_URI_FIX}")
    return Check(CONCERN, "store", "ok", f"sqlite store {path} (created on the first run)")


def _artifacts(root: Path) -> Check:
    existing = next((p for p in (root, *root.parents) if p.exists()), None)
    if existing is None or not os.access(existing, os.W_OK):
        return Check(CONCERN, "artifacts", "fail", f"cannot write model artifacts under {root}",
                     "make it writable, or set `tracking.artifact_root`")
    return Check(CONCERN, "artifacts", "ok", str(root))


def server_health(uri: str, timeout: float = 3.0) -> Check:
    """GET ``<uri>/health`` of a tracking server."""
    url = uri.rstrip("/") + "/health"
    fix = f"start it: `mlops up` (or check the setting tracking.uri = {uri})"
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:  # noqa: S310 (http(s) only)
            body = response.read(200).decode(errors="replace").strip()
            if response.status == 200:
                return Check(CONCERN, "server", "ok", f"{uri} answers /health ({body or 'OK'})")
            return Check(CONCERN, "server", "fail", f"{url} answered HTTP {response.status}", fix)
    except urllib.error.HTTPError as exc:
        return Check(CONCERN, "server", "fail", f"{url} answered HTTP {exc.code}", fix)
    except (urllib.error.URLError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        return Check(CONCERN, "server", "fail", f"{url} does not answer ({reason})", fix)
