"""One real loop per module: the pipeline is run once and the tests read what it left."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from mlops_core.plugins import PluginManager
from mlops_core.registry import ProjectRegistry
from mlops_core.settings import Settings, load_settings

PROJECT = "cpu-compression"


@pytest.fixture(scope="module")
def loop_settings(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Settings]:
    root = tmp_path_factory.mktemp("workspace")
    with pytest.MonkeyPatch.context() as mp:
        for name in list(os.environ):
            if name.startswith("MLOPS_"):
                mp.delenv(name)
        yield load_settings(root=root)


@pytest.fixture(scope="module")
def loop_plugins(loop_settings: Settings) -> PluginManager:
    plugins = PluginManager(loop_settings)
    ProjectRegistry(loop_settings, plugins).sync()
    return plugins


@pytest.fixture(scope="module")
def trained(loop_plugins: PluginManager) -> dict:
    """The pipeline run once, in-process (the Airflow runner has its own test)."""
    from mlops_core.pipeline import run_pipeline

    events: list[tuple[str, str]] = []
    runner, state = run_pipeline(loop_plugins, PROJECT, {"epochs": 5}, runner="inprocess",
                                 on_event=lambda step, status, _d: events.append((step, status)))
    state["_events"] = events
    return state


def _snapshot(folder: Path) -> dict[str, tuple[int, int]]:
    return {
        str(p.relative_to(folder)): (p.stat().st_size, p.stat().st_mtime_ns)
        for p in folder.rglob("*") if p.is_file()
    }


@pytest.fixture
def snapshot():
    """``snapshot(folder)``: every file with its size and mtime, to prove nothing changed."""
    return _snapshot
