"""Monitoring for the shared MLOps layer: captured predictions, Evidently drift reports, alerts.

Importing this package loads neither pandas nor Evidently; :class:`Monitor` does, when it checks.
"""

from mlops_monitor.monitor import Monitor

__all__ = ["Monitor"]
