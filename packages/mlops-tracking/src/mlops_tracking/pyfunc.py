"""The MLflow pyfunc model that serves any project's saved model files.

A registered version holds the project's model folder as the artifact ``model_dir`` and this
class, which stores only the project's name. Loading finds the project through its entry point
(group ``mlops.projects``) in the loading environment and asks it to load the folder, so the
model's code is the installed project's code, never a pickled copy of it.
"""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, entry_points, version
from pathlib import Path
from typing import Any

import mlflow.pyfunc
import pandas as pd

__all__ = ["ProjectModel", "model_requirements"]

_PLATFORM = ("mlflow", "mlops-core", "mlops-tracking")


class ProjectModel(mlflow.pyfunc.PythonModel):
    """Wraps ``Project.load(model_dir)`` as an MLflow pyfunc model."""

    def __init__(self, project: str) -> None:
        super().__init__()
        self.project = project
        self._predictor: Any = None

    def load_context(self, context: Any) -> None:
        """Find the project by name and load the model folder stored with this version."""
        from mlops_core.registry import ProjectRegistry
        from mlops_core.settings import load_settings

        project = ProjectRegistry(load_settings()).get(self.project)
        self._predictor = project.load(Path(context.artifacts["model_dir"]))

    def predict(self, context: Any, model_input: pd.DataFrame, params: dict[str, Any] | None = None) -> list[Any]:
        """Rows of the input frame (in the signature's column order) to the project's predictor."""
        return list(self._predictor.predict(model_input.to_numpy().tolist()))

    def __getstate__(self) -> dict[str, Any]:
        # Only the name is pickled with the model; the predictor is rebuilt by load_context.
        return {"project": self.project}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.project = state["project"]
        self._predictor = None


def model_requirements(project: str) -> list[str]:
    """What loading the model needs: MLflow, this platform, and the project's distribution."""
    pins = []
    for dist in _PLATFORM:
        try:
            pins.append(f"{dist}=={version(dist)}")
        except PackageNotFoundError:
            pins.append(dist)
    for ep in entry_points(group="mlops.projects"):
        if ep.name == project and ep.dist is not None:
            pins.append(f"{ep.dist.name}=={ep.dist.version}")
            break
    return pins
