"""The project's own error: bad input, in the platform's hierarchy and a plain ``ValueError``."""

from __future__ import annotations

from mlops_core.errors import InputValidationError

__all__ = ["DigitsInputError"]


class DigitsInputError(InputValidationError, ValueError):
    """Rows, parameters or a sample kind this project cannot accept.

    It is an :class:`~mlops_core.errors.InputValidationError` so the CLI and the gateway report
    it with its fix (HTTP 422), and a ``ValueError`` so plain Python callers can catch it as one.
    """
