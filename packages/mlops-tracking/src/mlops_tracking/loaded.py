"""A registered model version, loaded through MLflow pyfunc, ready to predict."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from mlflow.exceptions import MlflowException

from mlops_core.errors import InputValidationError
from mlops_core.project import Schema

__all__ = ["MlflowLoadedModel"]

# Columns are cast to what the signature says, so that e.g. integers sent for a double feature
# pass MLflow's schema enforcement instead of being refused as an unsafe conversion.
_FLOAT_DTYPES = {"double": "float64", "float": "float32"}


@dataclass
class MlflowLoadedModel:
    """Satisfies :class:`mlops_core.providers.LoadedModel`."""

    project: str
    name: str
    version: str
    schema: Schema
    model_id: str = ""
    run_id: str = ""
    pyfunc: Any = field(default=None, repr=False)

    def predict(self, rows: Sequence[Sequence[float]]) -> list[Any]:
        """One prediction per row; rows hold the features in schema order."""
        import pandas as pd

        names = list(self.schema.feature_names)
        for i, row in enumerate(rows):
            if len(row) != len(names):
                raise InputValidationError(
                    f"row {i} has {len(row)} values, model {self.name} v{self.version} expects "
                    f"{len(names)} ({', '.join(names)})",
                    fix="send one value per feature, in the order of the model's schema",
                )
        expected = ", ".join(f"{f.name}:{f.dtype}" for f in self.schema.inputs)
        try:
            frame = pd.DataFrame([list(r) for r in rows], columns=names)
            for feature in self.schema.inputs:
                if feature.dtype in _FLOAT_DTYPES:
                    frame[feature.name] = frame[feature.name].astype(_FLOAT_DTYPES[feature.dtype])
        except (ValueError, TypeError) as exc:
            raise InputValidationError(f"input does not match model {self.name} v{self.version}: {exc}",
                                       fix=f"send values matching the schema: {expected}") from exc
        try:
            result = self.pyfunc.predict(frame)
        except MlflowException as exc:  # MLflow's schema enforcement; the project's own errors pass
            raise InputValidationError(
                f"input does not match model {self.name} v{self.version}: {exc.message}",
                fix=f"send values matching the schema: {expected}",
            ) from exc
        return _as_list(result)


def _as_list(result: Any) -> list[Any]:
    if hasattr(result, "to_numpy"):  # DataFrame or Series
        result = result.to_numpy()
        if result.ndim == 2 and result.shape[1] == 1:
            result = result[:, 0]
    if hasattr(result, "tolist"):
        return list(result.tolist())
    return list(result)
