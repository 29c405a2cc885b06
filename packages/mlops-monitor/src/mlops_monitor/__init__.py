"""Monitoring for the shared MLOps layer: captured predictions, Evidently drift reports, alerts.

Importing this package loads neither pandas nor Evidently; :class:`Monitor` does, when it checks.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from mlops_monitor.monitor import Monitor

__all__ = ["Monitor"]

# Loading the plugin (at CLI start) imports this package: keep it free of the store's imports.
_LAZY = {
    "Monitor": "mlops_monitor.monitor",
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'mlops_monitor' has no attribute {name!r}")
