"""Which services the installed plugins offer, which concerns are skipped and why."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import asdict, dataclass
from importlib.util import find_spec
from typing import TYPE_CHECKING, Any

from mlops_core.errors import InputValidationError, PluginError
from mlops_core.records import ServiceSpec

if TYPE_CHECKING:
    from mlops_core.plugins import PluginManager

__all__ = ["STACK_CONCERNS", "Skipped", "collect_services", "env_var", "select", "spec_dict"]

#: the concerns that contribute services to the stack
STACK_CONCERNS = ("tracking", "orchestrate", "serve", "monitor")


@dataclass(frozen=True)
class Skipped:
    """A concern whose services are not part of the stack, and why."""

    concern: str
    reason: str
    fix: str = ""


def env_var(setting: str) -> str:
    """``"tracking.server_port"`` -> ``"MLOPS_TRACKING__SERVER_PORT"``."""
    return "MLOPS_" + setting.upper().replace(".", "__")


def spec_dict(spec: ServiceSpec) -> dict[str, Any]:
    """A spec as JSON-friendly data (tuples become lists), for the state file."""
    data = asdict(spec)
    data["command"] = list(spec.command)
    data["setup"] = [list(c) for c in spec.setup]
    return data


def collect_services(plugins: PluginManager) -> tuple[list[ServiceSpec], list[Skipped]]:
    """Every service of every loaded plugin (start order), and the concerns that offer none."""
    from mlops_core.doctor import CONCERNS

    specs: list[ServiceSpec] = []
    for result in plugins.hook.mlops_services(settings=plugins.settings):
        specs.extend(result or [])
    seen: dict[str, ServiceSpec] = {}
    for spec in specs:
        if spec.name in seen:
            raise PluginError(
                f"two services are named {spec.name!r} (concerns {seen[spec.name].concern!r} and {spec.concern!r})",
                fix="disable one of the plugins (setting disabled_plugins) or report the clash to its authors",
            )
        seen[spec.name] = spec
    offered = {s.concern for s in specs}
    skipped: list[Skipped] = []
    settings = plugins.settings
    for concern in STACK_CONCERNS:
        if concern in offered:
            continue
        module, what = CONCERNS[concern]
        if find_spec(module) is None:
            skipped.append(Skipped(concern, f"{what}: package {module} is not installed",
                                   f'uv add "mlops-core[{concern}]"'))
        elif concern in settings.disabled_plugins:
            skipped.append(Skipped(concern, "disabled in settings (disabled_plugins)",
                                   f"remove {concern!r} from disabled_plugins"))
        elif concern in plugins.failures:
            skipped.append(Skipped(concern, f"its plugin failed to load: {plugins.failures[concern]}",
                                   "see `mlops doctor`"))
        else:
            skipped.append(Skipped(concern, "installed, but its plugin offers no service "
                                   "(its tool may be missing, or the plugin is not loaded)", "see `mlops doctor`"))
    return sorted(specs, key=lambda s: (s.order, s.name)), skipped


def select(specs: Iterable[ServiceSpec], only: Iterable[str] | None) -> list[ServiceSpec]:
    """The specs named by ``only`` (service names or concerns); all when ``only`` is empty."""
    specs = list(specs)
    wanted = [w for w in (only or []) if w]
    if not wanted:
        return specs
    known = {s.name for s in specs} | {s.concern for s in specs}
    unknown = [w for w in wanted if w not in known]
    if unknown:
        names = ", ".join(s.name for s in specs) or "(none: no stack concern is installed)"
        raise InputValidationError(
            f"no service or concern named {', '.join(map(repr, unknown))}; services: {names}",
            fix="pass a service name or a concern (tracking, orchestrate, serve, monitor) to --only",
        )
    return [s for s in specs if s.name in wanted or s.concern in wanted]
