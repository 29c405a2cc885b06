"""Experiment tracking and model registry for the shared MLOps layer, on MLflow.

``MlflowTracker(settings)`` implements :class:`mlops_core.providers.Tracker`. Importing this
package is cheap; MLflow is imported when the tracker is first used.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from mlops_tracking.loaded import MlflowLoadedModel
    from mlops_tracking.runs import MlflowRunHandle
    from mlops_tracking.tracker import MlflowTracker

__all__ = ["MlflowLoadedModel", "MlflowRunHandle", "MlflowTracker"]

_LAZY = {
    "MlflowTracker": "mlops_tracking.tracker",
    "MlflowRunHandle": "mlops_tracking.runs",
    "MlflowLoadedModel": "mlops_tracking.loaded",
}


def __getattr__(name: str) -> Any:
    # MLflow takes seconds to import; only pay for it when the tracker is actually used.
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'mlops_tracking' has no attribute {name!r}")
