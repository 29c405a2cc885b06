"""The one error this package adds to the platform's hierarchy."""

from __future__ import annotations

from mlops_core.errors import MlopsError

__all__ = ["DataRepoError"]


class DataRepoError(MlopsError):
    """Git or DVC failed on the data repository; nothing stored was changed."""
