"""The plugin manager: a typed facade over pluggy's untyped hook relay.

Plugins are loaded lazily, on first use, from the entry-point group ``mlops``; a plugin that
fails to import is skipped and remembered (``mlops doctor`` shows it), never fatal. Plugins named
in ``settings.disabled_plugins`` are blocked.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from importlib.metadata import entry_points
from typing import TYPE_CHECKING, Any, TypeVar

import pluggy

from mlops_core import hookspecs
from mlops_core.errors import MissingExtraError

if TYPE_CHECKING:
    from mlops_core.providers import DataStore, DriftMonitor, GatewayHandle, PipelineRunner, Tracker
    from mlops_core.records import HardwareProfile
    from mlops_core.settings import Settings

__all__ = ["ENTRY_POINT_GROUP", "PluginManager"]

ENTRY_POINT_GROUP = "mlops"
log = logging.getLogger(__name__)
T = TypeVar("T")


class PluginManager:
    """Loads plugins once, then offers typed access to providers and events."""

    def __init__(self, settings: Settings, *, plugins: list[Any] | None = None, entrypoints: bool = True) -> None:
        self.settings = settings
        self._extra_plugins = plugins or []
        self._entrypoints = entrypoints
        self._pm: pluggy.PluginManager | None = None
        #: plugin name -> error text, for plugins that failed to load
        self.failures: dict[str, str] = {}
        #: event name -> errors raised by implementations, for diagnosis
        self.event_errors: list[tuple[str, str, str]] = []

    # -- loading ----------------------------------------------------------------------------

    @property
    def pm(self) -> pluggy.PluginManager:
        if self._pm is None:
            self._pm = self._load()
        return self._pm

    def _load(self) -> pluggy.PluginManager:
        pm = pluggy.PluginManager(hookspecs.PROJECT_NAME)
        pm.add_hookspecs(hookspecs)
        from mlops_core import builtin  # the core's own lineage recorder and fallbacks

        pm.register(builtin, name="core")
        for name in self.settings.disabled_plugins:
            pm.set_blocked(name)
        if self._entrypoints:
            for ep in entry_points(group=ENTRY_POINT_GROUP):
                if pm.is_blocked(ep.name) or pm.has_plugin(ep.name):
                    continue
                try:
                    plugin = ep.load()
                    pm.register(plugin, name=ep.name)
                except Exception as exc:  # a broken plugin must not take the platform down
                    self.failures[ep.name] = f"{type(exc).__name__}: {exc}"
                    log.info("plugin %r (%s) failed to load: %s", ep.name, ep.value, exc)
        for plugin in self._extra_plugins:
            pm.register(plugin)
        return pm

    @property
    def hook(self) -> Any:
        return self.pm.hook

    def plugin_names(self) -> list[str]:
        return sorted(name for name, _ in self.pm.list_name_plugin())

    def has(self, name: str) -> bool:
        return self.pm.has_plugin(name)

    # -- providers --------------------------------------------------------------------------

    def _provide(self, hook_name: str) -> Any:
        return getattr(self.hook, hook_name)(settings=self.settings)

    def _require(self, getter: Callable[[], T | None], concern: str, purpose: str) -> T:
        value = getter()
        if value is None:
            raise MissingExtraError(concern, purpose=purpose)
        return value

    def hardware(self) -> HardwareProfile | None:
        return self._provide("mlops_hardware_profile")

    def data_store(self) -> DataStore | None:
        return self._provide("mlops_data_store")

    def tracker(self) -> Tracker | None:
        return self._provide("mlops_tracker")

    def pipeline_runner(self) -> PipelineRunner | None:
        return self._provide("mlops_pipeline_runner")

    def drift_monitor(self) -> DriftMonitor | None:
        return self._provide("mlops_drift_monitor")

    def gateway_app(self) -> Any:
        return self._provide("mlops_gateway_app")

    def start_gateway(self, host: str = "127.0.0.1", port: int = 0) -> GatewayHandle:
        handle = self.hook.mlops_start_gateway(settings=self.settings, host=host, port=port)
        if handle is None:
            raise MissingExtraError("serve", purpose="the serving gateway")
        return handle

    def require_data_store(self) -> DataStore:
        return self._require(self.data_store, "data", "versioning datasets with DVC")

    def require_tracker(self) -> Tracker:
        return self._require(self.tracker, "tracking", "tracking runs and the model registry with MLflow")

    def require_drift_monitor(self) -> DriftMonitor:
        return self._require(self.drift_monitor, "monitor", "drift reports with Evidently")

    def require_gateway_app(self) -> Any:
        return self._require(self.gateway_app, "serve", "the serving gateway")

    # -- events -----------------------------------------------------------------------------

    def emit(self, event: str, **kwargs: Any) -> list[Any]:
        """Call a lifecycle hook on every plugin, isolating failures.

        One plugin raising does not stop the others nor the loop; the error is logged and kept in
        :attr:`event_errors`. Returns the non-``None`` results.
        """
        caller = getattr(self.hook, event)
        kwargs.setdefault("settings", self.settings)
        results = []
        # Newest registration first, as pluggy would call them.
        for impl in reversed(caller.get_hookimpls()):
            args = {k: kwargs[k] for k in impl.argnames if k in kwargs}
            try:
                value = impl.function(**args)
            except Exception as exc:
                self.event_errors.append((event, impl.plugin_name, f"{type(exc).__name__}: {exc}"))
                log.warning("plugin %r failed in %s: %s", impl.plugin_name, event, exc)
                continue
            if value is not None:
                results.append(value)
        return results
