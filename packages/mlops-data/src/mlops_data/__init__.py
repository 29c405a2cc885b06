"""Data and model versioning for the shared MLOps layer, on DVC.

``DvcStore(settings)`` implements :class:`mlops_core.providers.DataStore`; the ``data`` plugin
provides it, with doctor checks and the ``mlops data`` commands. DVC is imported on first use.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from mlops_data.errors import DataRepoError
    from mlops_data.store import DvcStore

__all__ = ["DataRepoError", "DvcStore"]

# Loading the plugin (at CLI start) imports this package: keep it free of the store's imports.
_LAZY = {
    "DataRepoError": "mlops_data.errors",
    "DvcStore": "mlops_data.store",
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'mlops_data' has no attribute {name!r}")
