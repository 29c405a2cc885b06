"""The monitoring end of the loop: check drift, and on drift ask for retraining."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from mlops_core.plugins import PluginManager
    from mlops_core.records import DriftReport, RetrainRequest

__all__ = ["check_drift"]


def check_drift(
    plugins: PluginManager,
    project: str,
    model: str | None = None,
    *,
    last_n: int | None = None,
    threshold: float | None = None,
) -> tuple[DriftReport, RetrainRequest | None]:
    """Compare served data with the reference; on drift, record and announce a retrain request.

    ``model`` defaults to the project's registered model.
    """
    from mlops_core.registry import ProjectRegistry

    name = model or ProjectRegistry(plugins.settings, plugins).get(project).registered_model
    monitor = plugins.require_drift_monitor()
    report = monitor.check(project, name, threshold=threshold, last_n=last_n)
    plugins.emit("mlops_drift_checked", report=report)
    if not report.drift_detected:
        return report, None
    # Firstresult semantics: an orchestrator's answer wins over the core's fallback.
    requests = plugins.emit("mlops_drift_detected", report=report)
    request = requests[0] if requests else None
    if request is not None:
        plugins.emit("mlops_retrain_requested", request=request)
    return report, request
