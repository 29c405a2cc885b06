"""Fixtures of the mlops-data tests: a real DVC repository and a real local remote in tmp_path."""

from __future__ import annotations

import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest

from mlops_core.settings import Settings

from mlops_data.store import DvcStore


@pytest.fixture
def store(settings: Settings) -> DvcStore:
    """A store over a fresh data repository (created on first use) under the test's state dir."""
    return DvcStore(settings)


def _replace(path: Path, data: bytes | str) -> Path:
    """Write a new file at ``path`` the way projects must: a new inode, never writing through a link.

    With cache.type hardlink the tracked file IS the cache object, so writing it in place would
    change the stored version; unlinking first leaves the cache alone.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    path.unlink(missing_ok=True)
    if isinstance(data, str):
        path.write_text(data)
    else:
        path.write_bytes(data)
    return path


@pytest.fixture
def replace() -> Callable[[Path, bytes | str], Path]:
    """``replace(path, data)``: write a new file at ``path`` (see :func:`_replace`)."""
    return _replace


@pytest.fixture
def git(store: DvcStore) -> Callable[..., str]:
    """``git(*args)`` in the data repository: the test's own view of it, independent of the store."""

    def run(*args: str) -> str:
        return subprocess.run(["git", "-C", str(store.root), *args], check=True, capture_output=True,
                              text=True).stdout.strip()

    return run
