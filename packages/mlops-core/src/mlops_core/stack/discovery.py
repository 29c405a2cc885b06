"""How clients find the stack: ``service_url`` and ``stack_notice``.

Cheap on purpose: clients call ``service_url`` on every connection they open. It reads the state
file ``mlops up`` wrote, checks that supervisord is alive and GETs the service's health URL, and
remembers the answer for about a second. It never raises because the stack is down.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mlops_core.stack.health import http_ok, tcp_open
from mlops_core.stack.paths import stack_paths

if TYPE_CHECKING:
    from mlops_core.settings import Settings

__all__ = ["read_state", "service_url", "stack_notice"]

_CACHE_SECONDS = 1.0
_cache: dict[tuple[str, str], tuple[float, str | None]] = {}
_noticed: set[str] = set()


def read_state(path: Path) -> dict[str, Any]:
    """The state file ``mlops up`` wrote, or ``{}``."""
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def _pid_alive(pid: Any) -> bool:
    import os

    if not isinstance(pid, int) or pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _lookup(settings: Settings, name: str) -> str | None:
    paths = stack_paths(settings)
    state = read_state(paths.state)
    service = state.get("services", {}).get(name)
    if not service or not service.get("url") or not _pid_alive(state.get("daemon_pid")):
        return None
    if service.get("health_url"):
        return service["url"] if http_ok(service["health_url"], timeout=1.0) else None
    return service["url"] if tcp_open(int(service["port"])) else None


def service_url(settings: Settings, name: str) -> str | None:
    """Base URL (``"http://127.0.0.1:5000"``) of stack service ``name`` if the stack runs it and
    it is healthy; else None. None too when ``settings.stack.use_when_up`` is off."""
    if not settings.stack.use_when_up:
        return None
    key = (str(settings.stack_dir), name)
    now = time.monotonic()
    hit = _cache.get(key)
    if hit is not None and now - hit[0] < _CACHE_SECONDS:
        return hit[1]
    try:
        url = _lookup(settings, name)
    except Exception:  # discovery must never break a client: a broken state file means "down"
        url = None
    _cache[key] = (time.monotonic(), url)
    return url


def stack_notice(settings: Settings, what: str) -> None:
    """Print ``stack is down: <what> uses the embedded default`` on stderr, once per process for
    each ``what``; nothing when ``settings.stack.use_when_up`` is off (embedded is then chosen)."""
    if not settings.stack.use_when_up or what in _noticed:
        return
    _noticed.add(what)
    print(f"stack is down: {what} uses the embedded default", file=sys.stderr)


def forget_cache() -> None:
    """Drop cached answers (``mlops up``/``down`` call it; tests too)."""
    _cache.clear()
