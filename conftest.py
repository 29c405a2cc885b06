"""Fixtures shared by every package's tests: an isolated state directory per test."""

from __future__ import annotations

from pathlib import Path

import pytest

from mlops_core.plugins import PluginManager
from mlops_core.settings import Settings, load_settings


@pytest.fixture
def settings(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Settings:
    """Settings for a throwaway workspace in ``tmp_path``; no MLOPS_* variable leaks in."""
    import os

    for name in list(os.environ):
        if name.startswith("MLOPS_"):
            monkeypatch.delenv(name)
    return load_settings(root=tmp_path)


@pytest.fixture
def plugins(settings: Settings) -> PluginManager:
    """The plugin manager over every installed plugin, for ``settings``."""
    return PluginManager(settings)
