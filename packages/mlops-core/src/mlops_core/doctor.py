"""``mlops doctor``: for each concern, installed or not, configured or not, reachable or not.

Each plugin reports :class:`Check` rows through ``mlops_doctor_checks``; the core adds a row for
every concern whose package is not installed and for every plugin or project that failed to load.
"""

from __future__ import annotations

from dataclasses import dataclass
from importlib.util import find_spec
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from mlops_core.plugins import PluginManager
    from mlops_core.registry import ProjectRegistry

__all__ = ["CONCERNS", "Check", "run_checks"]

#: concern -> (import name of its package, what it gives)
CONCERNS: dict[str, tuple[str, str]] = {
    "hw": ("mlops_hw", "hardware profile, thermal state, admission"),
    "data": ("mlops_data", "DVC data and model versioning"),
    "tracking": ("mlops_tracking", "MLflow tracking and model registry"),
    "orchestrate": ("mlops_orchestrate", "Airflow 3 pipelines"),
    "serve": ("mlops_serve", "the FastAPI serving gateway"),
    "monitor": ("mlops_monitor", "Evidently drift monitoring"),
}


@dataclass(frozen=True)
class Check:
    """One line of the doctor's report."""

    concern: str
    name: str
    #: "ok" | "warn" | "fail" | "missing"
    status: str
    detail: str = ""
    #: the command or extra that fixes it, when status is not "ok"
    fix: str = ""


def run_checks(plugins: PluginManager, registry: ProjectRegistry | None = None) -> list[Check]:
    """Every check, concerns in a fixed order, then plugin and project failures."""
    checks: list[Check] = []
    for concern, (module, what) in CONCERNS.items():
        if find_spec(module) is None:
            checks.append(Check(concern, "installed", "missing", f"{what}: not installed",
                                f'uv add "mlops-core[{concern}]"'))
        elif plugins.settings.disabled_plugins and concern in plugins.settings.disabled_plugins:
            checks.append(Check(concern, "enabled", "warn", "disabled in settings (disabled_plugins)",
                                "remove it from disabled_plugins"))
    for name, error in sorted(plugins.failures.items()):
        checks.append(Check(name, "plugin loads", "fail", error, f"reinstall: uv sync; or disable it: disabled_plugins = [\"{name}\"]"))
    for result in plugins.hook.mlops_doctor_checks(settings=plugins.settings):
        checks.extend(result or [])
    if registry is not None:
        registry.discover()
        for name, error in sorted(registry.failures.items()):
            checks.append(Check("projects", name, "fail", f"entry point failed to import: {error}",
                                f"fix project {name!r} (see the error), then `mlops doctor` again"))
    order = list(CONCERNS) + ["projects"]
    return sorted(checks, key=lambda c: order.index(c.concern) if c.concern in order else len(order))
