"""Core of the shared MLOps layer: settings, hook specifications, plugin manager, project
registry, lineage ledger and the ``mlops`` CLI.

Importing this package imports no heavy tool; see ``mlops_core.hookspecs`` for the plugin API.
"""

from mlops_core.errors import MlopsError
from mlops_core.hookspecs import hookimpl
from mlops_core.project import Feature, Project, Schema

__version__ = "0.1.0"

__all__ = ["Feature", "MlopsError", "Project", "Schema", "__version__", "hookimpl"]
