"""Every error the gateway answers, in one JSON shape: ``{"error": what went wrong, "fix": what to do}``.

:class:`~mlops_core.errors.MlopsError` carries both and its own HTTP status. FastAPI's request
validation errors, unknown routes and unexpected exceptions are translated into the same shape,
with messages written for someone holding curl, not pydantic's internals.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from mlops_core.errors import MlopsError

__all__ = ["explain_validation", "install_error_handlers", "problem"]

log = logging.getLogger(__name__)

_SHAPE_FIX = (
    'send a JSON object with Content-Type: application/json, e.g. {"inputs": [[1.0, 2.0, 3.0]]} '
    '(rows in feature order) or {"records": [{"feature": 1.0, ...}]}'
)
_MAX_DETAILS = 10


def problem(status: int, error: str, fix: str = "", **extra: Any) -> JSONResponse:
    """A JSON error response in the gateway's one shape."""
    return JSONResponse({"error": error, "fix": fix, **extra}, status_code=status)


def install_error_handlers(app: FastAPI) -> None:
    """Answer every error raised under ``app`` as ``{"error", "fix"}`` JSON."""
    app.add_exception_handler(MlopsError, _mlops_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(Exception, _unexpected_error)


async def _mlops_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, MlopsError)
    return problem(exc.http_status, exc.message, exc.fix or "")


async def _validation_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    error, fix, details = explain_validation(exc.errors(), request.headers.get("content-type"))
    return problem(422, error, fix, details=details)


async def _http_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    where = f"{request.method} {request.url.path}"
    if exc.status_code == 404:
        return problem(404, f"no endpoint {where}", "the endpoints are listed at GET / and documented at /docs")
    if exc.status_code == 405:
        allowed = (exc.headers or {}).get("Allow", "")
        return problem(405, f"{request.method} is not allowed on {request.url.path}",
                       f"use {allowed}" if allowed else "see /docs", )
    fix = "send a JSON object as described at /docs" if exc.status_code == 400 else "see /docs"
    return problem(exc.status_code, str(exc.detail), fix)


async def _unexpected_error(request: Request, exc: Exception) -> JSONResponse:
    log.error("unexpected error on %s %s", request.method, request.url.path, exc_info=exc)
    return problem(
        500,
        f"internal error: {type(exc).__name__}: {exc}",
        "this is a bug in the gateway or a plugin; the gateway's log has the traceback",
    )


# -- request validation ---------------------------------------------------------------------


def explain_validation(
    errors: Sequence[Any], content_type: str | None = None
) -> tuple[str, str, list[str]]:
    """(message, fix, one line per problem) for FastAPI's validation errors."""
    explained = [_explain_one(e, content_type) for e in errors] or [("the request is invalid", _SHAPE_FIX)]
    message, fix = explained[0]
    if len(explained) > 1:
        message += f" (and {len(explained) - 1} more problem{'s' if len(explained) > 2 else ''})"
    return message, fix, [m for m, _ in explained[:_MAX_DETAILS]]


def _explain_one(error: Any, content_type: str | None) -> tuple[str, str]:
    kind = error.get("type", "")
    loc = tuple(error.get("loc", ()))
    value = error.get("input")
    if kind == "json_invalid":
        reason = (error.get("ctx") or {}).get("error", "decode error")
        at = f" at character {loc[1]}" if len(loc) > 1 else ""
        return f"the body is not valid JSON: {reason}{at}", _SHAPE_FIX
    if loc == ("body",):
        if kind == "missing":
            return "the request has no body", _SHAPE_FIX
        if isinstance(value, bytes | bytearray):
            return (
                f"the body was not read as JSON (Content-Type: {content_type or 'none'})",
                "send the header Content-Type: application/json (curl: -H 'Content-Type: application/json')",
            )
        return f"the body must be a JSON object, got {_json_kind(value)}", _SHAPE_FIX
    where = _where(loc)
    if kind == "extra_forbidden":
        return (
            f"unknown field {loc[-1]!r} in the body",
            "send only 'inputs' (rows of numbers in feature order) or 'records' (objects keyed by feature name)",
        )
    if kind in ("float_type", "float_parsing", "finite_number"):
        fix = "send plain JSON numbers only: no strings, null, true/false, NaN or Infinity"
        if isinstance(value, str) and _is_number(value):
            fix = f"send the number without quotes: {value.strip()}"
        return f"{where}: expected a finite number, got {_json_kind(value)}", fix
    if kind == "list_type":
        if loc[-1] == "inputs":
            return f"'inputs' must be an array of rows, got {_json_kind(value)}", 'e.g. {"inputs": [[1.0, 2.0], [3.0, 4.0]]}'
        if loc[-1] == "records":
            return f"'records' must be an array of objects, got {_json_kind(value)}", 'e.g. {"records": [{"x0": 1.0, "x1": 2.0}]}'
        return f"{where} must be an array of numbers, got {_json_kind(value)}", "each row is a list of numbers, e.g. [1.0, 2.0]"
    if kind == "dict_type":
        return f"{where} must be an object keyed by feature name, got {_json_kind(value)}", 'e.g. {"x0": 1.0, "x1": 2.0}'
    return f"{where}: {error.get('msg', 'invalid')}", _SHAPE_FIX


def _where(loc: tuple[Any, ...]) -> str:
    if not loc or loc[0] != "body":
        return ".".join(str(p) for p in loc) or "the request"
    path = loc[1:]
    if len(path) >= 2 and path[0] == "inputs" and isinstance(path[1], int):
        return f"row {path[1] + 1}" + (f", value {path[2] + 1}" if len(path) > 2 and isinstance(path[2], int) else "")
    if len(path) >= 2 and path[0] == "records" and isinstance(path[1], int):
        return f"record {path[1] + 1}" + (f", feature {path[2]!r}" if len(path) > 2 else "")
    return "'" + ".".join(str(p) for p in path) + "'"


def _json_kind(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        shown = value if len(value) <= 30 else value[:27] + "..."
        return f"the string {shown!r}"
    if isinstance(value, dict):
        return "an object"
    if isinstance(value, list):
        return "an array"
    if isinstance(value, float) and not math.isfinite(value):
        return "NaN" if math.isnan(value) else "Infinity"
    return repr(value)


def _is_number(text: str) -> bool:
    try:
        return math.isfinite(float(text))
    except ValueError:
        return False
