"""Which tracking store a client talks to: the configured URI, the stack's server, or embedded.

- ``tracking.uri`` set: that, always.
- else, while the shared stack (``mlops up``) runs a healthy MLflow server and
  ``stack.use_when_up`` is on: that server (artifacts through its proxy).
- else the embedded sqlite store ``sqlite:///<state_dir>/mlflow.db``, and a one-line notice that
  the stack is down.

The server keeps its runs in the embedded store and its artifacts in the embedded artifact root,
so both ways see the same experiments, runs and models.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

from mlops_tracking.service import SERVICE_NAME

if TYPE_CHECKING:
    from mlops_core.settings import Settings

__all__ = ["Endpoint", "EndpointMode", "resolve_endpoint", "stack_server_url"]

#: "configured": tracking.uri; "stack": the stack's server; "embedded": the local sqlite store
EndpointMode = Literal["configured", "stack", "embedded"]


@dataclass(frozen=True)
class Endpoint:
    """The tracking (and registry) URI a client uses, and why."""

    uri: str
    mode: EndpointMode


def stack_server_url(settings: Settings) -> str | None:
    """Base URL of the stack's healthy MLflow server, else None (also when discovery is missing)."""
    try:
        from mlops_core.stack import service_url
    except ImportError:  # a mlops-core without the stack: there is no stack to use
        return None
    return service_url(settings, SERVICE_NAME)


def resolve_endpoint(settings: Settings, *, notice: bool = True) -> Endpoint:
    """Where the tracker goes; ``notice``: say once per process that the stack is down."""
    if settings.tracking.uri:
        return Endpoint(settings.tracking.uri, "configured")
    if settings.stack.use_when_up:
        url = stack_server_url(settings)
        if url:
            return Endpoint(url.rstrip("/"), "stack")
        if notice:
            _notice(settings)
    return Endpoint(settings.tracking_uri, "embedded")


def _notice(settings: Settings) -> None:
    try:
        from mlops_core.stack import stack_notice
    except ImportError:
        return
    stack_notice(settings, "tracking")
