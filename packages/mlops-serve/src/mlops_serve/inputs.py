"""The body of a prediction request, and its check against the served model's schema.

Two shapes are accepted::

    {"inputs":  [[5.1, 3.5, 1.4], ...]}              rows in the model's feature order
    {"records": [{"sepal_length": 5.1, ...}, ...]}   one object per row, keyed by feature name

Types are checked by pydantic while FastAPI reads the body (a string, ``null``, ``true`` or NaN
where a number goes is refused there); everything that needs the model's schema (row length,
feature names, whole numbers for integer features, batch size) is checked here. Rows are
numbered from 1 in messages.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field

from mlops_core.errors import InputValidationError
from mlops_core.project import Schema

__all__ = ["BatchTooLargeError", "PredictRequest", "describe_features", "rows_for"]

#: a JSON number: no strings, booleans, nulls, NaN or infinities
Number = Annotated[float, Field(strict=True, allow_inf_nan=False)]

_INTEGER_DTYPES = frozenset({"long", "integer", "int", "int32", "int64"})


class BatchTooLargeError(InputValidationError):
    """A request holds more rows than ``serve.max_batch_rows``."""

    http_status = 413


class PredictRequest(BaseModel):
    """Rows to predict: ``inputs`` (positional) or ``records`` (keyed by feature name)."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [{"inputs": [[5.1, 3.5, 1.4, 0.2]]}, {"records": [{"x0": 5.1, "x1": 3.5}]}]
        },
    )

    inputs: list[list[Number]] | None = Field(
        None, description="Rows of numbers, each in the model's feature order."
    )
    records: list[dict[str, Number]] | None = Field(
        None, description="Rows as objects mapping every feature name to a number."
    )


def describe_features(names: Sequence[str]) -> str:
    """``pixel_0 … pixel_63`` for long lists, ``a, b, c`` for short ones."""
    if len(names) <= 6:
        return ", ".join(names)
    return f"{names[0]} … {names[-1]}"


def _example(schema: Schema) -> str:
    names = schema.feature_names
    row = ", ".join(["0.0"] * min(len(names), 3)) + (", …" if len(names) > 3 else "")
    return f'{{"inputs": [[{row}]]}} with {len(names)} numbers per row'


def rows_for(
    request: PredictRequest, schema: Schema, *, model: str, max_rows: int, schema_url: str = ""
) -> list[list[float]]:
    """The request's rows in the schema's feature order; InputValidationError names the fix.

    ``schema_url`` is where a client can read the feature list; the fixes point there.
    """
    if request.inputs is not None and request.records is not None:
        raise InputValidationError(
            "the body has both 'inputs' and 'records'",
            fix="send either rows in feature order ('inputs') or objects keyed by feature name ('records'), not both",
        )
    if request.inputs is None and request.records is None:
        raise InputValidationError(
            "the body has neither 'inputs' nor 'records'",
            fix=f"send {_example(schema)}, or 'records' keyed by feature name",
        )
    given = request.inputs if request.inputs is not None else request.records
    assert given is not None  # for the type checker: one of the two is set
    key = "inputs" if request.inputs is not None else "records"
    if not given:
        raise InputValidationError(f"'{key}' is empty: nothing to predict", fix="send at least one row")
    if len(given) > max_rows:
        raise BatchTooLargeError(
            f"the batch has {len(given)} rows; this gateway accepts at most {max_rows} per request",
            fix=f"split it into requests of at most {max_rows} rows, or raise the setting "
            "serve.max_batch_rows (MLOPS_SERVE__MAX_BATCH_ROWS)",
        )
    if request.inputs is not None:
        rows = _from_inputs(request.inputs, schema, model, schema_url)
    else:
        rows = _from_records(request.records or [], schema, model)
    _check_integers(rows, schema, model)
    return rows


def _from_inputs(inputs: list[list[float]], schema: Schema, model: str, schema_url: str) -> list[list[float]]:
    width = len(schema.inputs)
    bad = [i for i, row in enumerate(inputs) if len(row) != width]
    if bad:
        first = bad[0]
        more = f" (and {len(bad) - 1} more rows of the wrong length)" if len(bad) > 1 else ""
        raise InputValidationError(
            f"row {first + 1} has {len(inputs[first])} values; model {model} expects {width} "
            f"({describe_features(schema.feature_names)}){more}",
            fix=f"send {width} numbers per row in the model's feature order"
            + (f" (GET {schema_url} lists them)" if schema_url else "")
            + ", or send 'records' keyed by feature name",
        )
    return inputs


def _from_records(records: list[dict[str, float]], schema: Schema, model: str) -> list[list[float]]:
    names = schema.feature_names
    wanted = set(names)
    for i, record in enumerate(records):
        if record.keys() == wanted:
            continue
        missing = [n for n in names if n not in record]
        unknown = sorted(set(record) - wanted)
        problems = []
        if missing:
            problems.append(f"lacks {len(missing)} feature(s): {describe_features(missing)}")
        if unknown:
            problems.append(f"has feature(s) model {model} does not know: {', '.join(map(repr, unknown[:5]))}")
        raise InputValidationError(
            f"record {i + 1} " + " and ".join(problems),
            fix=f"give every record exactly the model's {len(names)} features: {describe_features(names)}",
        )
    return [[record[n] for n in names] for record in records]


def _check_integers(rows: list[list[float]], schema: Schema, model: str) -> None:
    columns = [(j, f) for j, f in enumerate(schema.inputs) if f.dtype in _INTEGER_DTYPES]
    for j, feature in columns:
        for i, row in enumerate(rows):
            if not row[j].is_integer():
                raise InputValidationError(
                    f"row {i + 1}, feature {feature.name!r} of model {model} takes whole numbers "
                    f"({feature.dtype}); got {row[j]}",
                    fix=f"send a whole number for {feature.name!r}",
                )
