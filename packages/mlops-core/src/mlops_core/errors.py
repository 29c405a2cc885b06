"""One error hierarchy for the whole platform.

Every error carries what went wrong and how to fix it; the CLI prints both and exits non-zero,
the gateway turns them into HTTP 4xx/5xx with the same text.
"""

from __future__ import annotations

__all__ = [
    "ConfigError",
    "InputValidationError",
    "MissingExtraError",
    "MlopsError",
    "PluginError",
    "ProjectError",
    "ProjectNotFoundError",
    "ReferenceNotFoundError",
    "ServiceError",
]


class MlopsError(Exception):
    """Base of every error the platform raises on purpose.

    ``fix`` is one sentence telling the user what to do about it.
    """

    #: exit code used by the CLI
    exit_code: int = 1
    #: HTTP status used by the gateway
    http_status: int = 500

    def __init__(self, message: str, *, fix: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.fix = fix

    def __str__(self) -> str:
        return f"{self.message}\n  fix: {self.fix}" if self.fix else self.message


class ConfigError(MlopsError):
    """A settings file or environment variable is invalid."""

    exit_code = 2
    http_status = 500


class PluginError(MlopsError):
    """A plugin or project entry point failed to load or misbehaved."""


class ProjectError(MlopsError):
    """A project failed while preparing, training, evaluating or predicting."""


class ProjectNotFoundError(ProjectError):
    """No registered project has this name."""

    exit_code = 2
    http_status = 404


class ReferenceNotFoundError(MlopsError):
    """A lineage reference, model, version or dataset does not exist."""

    exit_code = 2
    http_status = 404


class InputValidationError(MlopsError):
    """Data sent to a model or a command does not match what it expects."""

    exit_code = 2
    http_status = 422


class MissingExtraError(MlopsError):
    """A concern is needed whose package is not installed."""

    exit_code = 3
    http_status = 501

    def __init__(self, concern: str, *, purpose: str = "") -> None:
        what = f" ({purpose})" if purpose else ""
        super().__init__(
            f"the '{concern}' concern is not installed{what}",
            fix=f'install it: uv add "mlops-core[{concern}]"  (or uv add mlops-{concern})',
        )
        self.concern = concern


class ServiceError(MlopsError):
    """A service the platform talks to is down, unreachable or unhealthy."""

    http_status = 503
