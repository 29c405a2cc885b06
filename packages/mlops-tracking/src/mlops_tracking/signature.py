"""Between a project's :class:`~mlops_core.project.Schema` and an MLflow model signature."""

from __future__ import annotations

from mlflow.exceptions import MlflowException
from mlflow.models import ModelSignature
from mlflow.types import ColSpec
from mlflow.types import Schema as MlflowSchema

from mlops_core.errors import ProjectError
from mlops_core.project import Feature, Schema

__all__ = ["schema_from_signature", "signature_from_schema"]


def _col(dtype: str, name: str, project: str) -> ColSpec:
    try:
        return ColSpec(dtype, name)
    except MlflowException as exc:
        raise ProjectError(
            f"project {project!r} declares column {name!r} with dtype {dtype!r}: {exc.message}",
            fix="use one of double, float, long, integer, boolean, string in Project.schema()",
        ) from exc


def signature_from_schema(schema: Schema, project: str = "") -> ModelSignature:
    """One column per feature in, one named column out."""
    inputs = MlflowSchema([_col(f.dtype, f.name, project) for f in schema.inputs])
    outputs = MlflowSchema([_col(schema.output_dtype, schema.output, project)])
    return ModelSignature(inputs=inputs, outputs=outputs)


def schema_from_signature(signature: ModelSignature) -> Schema:
    """The project schema a signature was built from."""
    features = tuple(Feature(col.name, col.type.name) for col in signature.inputs.inputs)
    output = signature.outputs.inputs[0] if signature.outputs is not None and signature.outputs.inputs else None
    if output is None:
        return Schema(inputs=features)
    return Schema(inputs=features, output=output.name or "prediction", output_dtype=output.type.name)
