"""Fixtures of the mlops-data tests: a real DVC repository and a real local remote in tmp_path."""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from mlops_core.settings import Settings, load_settings

from mlops_data.store import DvcStore


@pytest.fixture(scope="session")
def template_repo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A data repository set up once (``dvc init`` costs ~1.5 s); tests start from copies of it."""
    root = tmp_path_factory.mktemp("template")
    store = DvcStore(load_settings(root=root, state_dir=root / ".mlops",
                                   data={"repo_dir": None, "remote_url": None}))
    store.project_dir("template")
    (store.root / "template").rmdir()
    return store.root


@pytest.fixture
def make_store(settings: Settings, template_repo: Path) -> Callable[..., DvcStore]:
    """``make_store(**data_settings)``: a store over a copy of the template repository.

    The copy's config still names the template's cache, site dir and remote; the store must
    rewrite them from its own settings, which the tests then check.
    """

    def make(**data: Any) -> DvcStore:
        configured = load_settings(root=settings.workspace_root, data=data) if data else settings
        target = configured.data_repo_dir
        if not target.exists():
            shutil.copytree(template_repo, target, symlinks=True, ignore=shutil.ignore_patterns("tmp"))
        return DvcStore(configured)

    return make


@pytest.fixture
def store(make_store: Callable[..., DvcStore]) -> DvcStore:
    """A store over a data repository of its own under the test's state dir."""
    return make_store()


@pytest.fixture
def fresh_store(settings: Settings) -> DvcStore:
    """A store whose repository does not exist yet: the first use creates it (git init, dvc init)."""
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
