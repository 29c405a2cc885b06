"""The shared stack (``mlops up``): the services of every installed concern, run by supervisord.

For clients in other packages:

- :func:`service_url` (``settings, name -> "http://127.0.0.1:PORT" | None``): the base URL of a
  stack service when the stack runs it and it is healthy; cheap, cached ~1 s, never raises.
- :func:`stack_notice` (``settings, what``): says once on stderr that ``what`` falls back to its
  embedded default because the stack is down.

For the CLI and tests: :func:`start_stack`, :func:`stack_status`, :func:`stop_stack`.

Importing this package is light (standard library only); supervisor and psutil are imported by
the functions that need them.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from mlops_core.stack.discovery import service_url, stack_notice
from mlops_core.stack.paths import StackPaths, stack_paths

if TYPE_CHECKING:
    from mlops_core.stack.lifecycle import (
        DownResult,
        ServiceStatus,
        UpResult,
        start_stack,
        stack_status,
        stop_stack,
    )
    from mlops_core.stack.services import Skipped, collect_services

__all__ = [
    "DownResult",
    "ServiceStatus",
    "Skipped",
    "StackPaths",
    "UpResult",
    "collect_services",
    "service_url",
    "stack_notice",
    "stack_paths",
    "stack_status",
    "start_stack",
    "stop_stack",
]

_LAZY = {
    "DownResult": "lifecycle",
    "ServiceStatus": "lifecycle",
    "UpResult": "lifecycle",
    "start_stack": "lifecycle",
    "stack_status": "lifecycle",
    "stop_stack": "lifecycle",
    "Skipped": "services",
    "collect_services": "services",
}


def __getattr__(name: str) -> Any:
    # The lifecycle code is loaded on first use, so that clients importing service_url pay
    # nothing for it.
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(f"mlops_core.stack.{_LAZY[name]}"), name)
    raise AttributeError(f"module 'mlops_core.stack' has no attribute {name!r}")
