"""Data and model versioning for the shared MLOps layer, on DVC.

``DvcStore(settings)`` implements :class:`mlops_core.providers.DataStore`; the ``data`` plugin
provides it, with doctor checks and the ``mlops data`` commands. DVC is imported on first use.
"""

from mlops_data.errors import DataRepoError
from mlops_data.store import DvcStore

__all__ = ["DataRepoError", "DvcStore"]
