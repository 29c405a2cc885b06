"""``mlops doctor`` rows for monitoring: Evidently importable, storage writable, references present,
whether the stack serves the Evidently UI."""

from __future__ import annotations

import tempfile
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import TYPE_CHECKING

from mlops_core.doctor import Check

from mlops_monitor.paths import db_path, evidently_dir, monitor_dir, reference_dir

if TYPE_CHECKING:
    from mlops_core.settings import Settings

__all__ = ["checks", "evidently_check", "reference_check", "storage_checks", "ui_check"]

CONCERN = "monitor"


def checks(settings: Settings) -> list[Check]:
    """Every monitoring check, in the order a user would fix them."""
    return [evidently_check(), *storage_checks(settings), reference_check(settings), ui_check(settings)]


def storage_checks(settings: Settings) -> list[Check]:
    """The reports folder, the monitor's state folder and the Evidently workspace can be written."""
    return [_writable("reports dir writable", settings.reports_dir),
            _writable("capture store writable", monitor_dir(settings)),
            _writable("evidently workspace writable", evidently_dir(settings))]


def ui_check(settings: Settings) -> Check:
    """Whether the stack serves the Evidently UI; not running is fine (checks write the workspace anyway)."""
    from mlops_monitor.service import ui_base_url

    url = ui_base_url(settings)
    if url:
        return Check(CONCERN, "evidently ui", "ok", f"{url}/ shows the workspace {evidently_dir(settings)}")
    return Check(CONCERN, "evidently ui", "ok",
                 f"not running; drift runs still go to {evidently_dir(settings)}; "
                 f"`mlops up` serves them on port {settings.monitor.ui_port} (monitor.ui_port)")


def evidently_check() -> Check:
    """Evidently is installed and imports with the pandas installed (it takes seconds: it really imports)."""
    try:
        versions = f"evidently {version('evidently')}, pandas {version('pandas')}"
    except PackageNotFoundError as exc:
        return Check(CONCERN, "evidently", "fail", f"{exc.name} is not installed", "uv add mlops-monitor  (or uv sync)")
    if int(version("pandas").split(".")[0]) >= 3:
        return Check(CONCERN, "evidently", "fail", f"{versions}: evidently 0.7 does not import with pandas 3",
                     'uv add "pandas<3"')
    from mlops_monitor.drift import import_evidently

    try:
        import_evidently()
    except Exception as exc:
        return Check(CONCERN, "evidently", "fail", f"{versions}: import fails: {exc}",
                     'uv sync; evidently 0.7 needs "pandas<3"')
    return Check(CONCERN, "evidently", "ok", f"{versions}: imports")


def _writable(name: str, folder: Path) -> Check:
    try:
        folder.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=folder, prefix=".doctor-"):
            pass
    except OSError as exc:
        return Check(CONCERN, name, "fail", f"{folder}: {exc.strerror or exc}",
                     f"make {folder} writable, or point the setting elsewhere (`mlops config`)")
    return Check(CONCERN, name, "ok", str(folder))


def reference_check(settings: Settings) -> Check:
    """Which models have a drift reference, and how much traffic was captured since it was set."""
    from mlops_monitor.captures import CaptureStore
    from mlops_monitor.reference import ReferenceStore

    try:
        references = ReferenceStore(reference_dir(settings)).all()
    except Exception as exc:  # a damaged file: say which, do not crash the doctor
        return Check(CONCERN, "references", "fail", f"a reference under {reference_dir(settings)} is unreadable: {exc}",
                     "deploy the model again (`mlops run PROJECT`) to rewrite its reference")
    if not references:
        return Check(CONCERN, "references", "warn", "no model has a drift reference yet",
                     "deploy a model first: `mlops run PROJECT`")
    store = CaptureStore(db_path(settings))
    described = [
        f"{r.project}/{r.model}: {r.rows} rows x {len(r.feature_names)} features, "
        f"{store.count(r.project, r.model, since=r.set_at)} captured since {r.set_at[:19]}"
        for r in references
    ]
    return Check(CONCERN, "references", "ok", "; ".join(described))
