"""Model registry round-trips: register, alias, load through pyfunc, predict; and the errors."""

from __future__ import annotations

import importlib
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import pytest
from mlflow.entities import LoggedModelStatus

from mlops_core.errors import InputValidationError, ProjectError, ProjectNotFoundError, ReferenceNotFoundError
from mlops_core.registry import ProjectRegistry
from mlops_core.settings import Settings
from mlops_tracking.tracker import MlflowTracker

HW = {"hw.os": "Linux", "hw.arch": "x86_64", "hw.chip": "test-cpu", "hw.backends": "numpy", "hw.thermal_state": "unknown"}


def _trained_run(tracker: MlflowTracker, project: str, tags: dict[str, str] | None = None) -> str:
    handle = tracker.start_run(project, tags=tags or HW, dataset_hashes=("d1",))
    handle.log_metrics(0, {"loss": 0.2})
    return handle.finish().run_id


def test_register_alias_load_round_trip(tracker: MlflowTracker, tiny_project: Any, settings: Settings,
                                        tmp_path: Path) -> None:
    run_id = _trained_run(tracker, tiny_project.name)
    model_dir = tiny_project.save_model(tmp_path / "m1", weights=[1.0, 1.0, 1.0], threshold=1.5)

    version = tracker.register_model(tiny_project.name, run_id, model_dir, tiny_project.schema,
                                     name=tiny_project.model_name)
    assert (version.project, version.name, version.version, version.run_id) == (
        tiny_project.name, tiny_project.model_name, "1", run_id)
    assert version.aliases == ()

    promoted = tracker.set_alias(version, "champion")
    assert promoted.aliases == ("champion",)

    loaded = tracker.load_model(tiny_project.name, tiny_project.model_name)
    assert (loaded.project, loaded.name, loaded.version) == (tiny_project.name, tiny_project.model_name, "1")
    assert loaded.schema == tiny_project.schema
    rows = [[0.0, 0.0, 0.0], [1.0, 1.0, 0.0], [0, 1, 0], [2.5, 0.1, 0.1]]
    # The same answers as the project's own predictor on the same files.
    own = ProjectRegistry(settings).get(tiny_project.name).load(model_dir)
    assert loaded.predict(rows) == own.predict(rows) == [0, 1, 0, 1]

    # The model is logged on the run as "model", with the project's files inside.
    client = tracker.client
    logged = client.get_logged_model(loaded.model_id)
    assert (logged.name, logged.source_run_id, logged.status) == ("model", run_id, LoggedModelStatus.READY)
    stored = Path(urlparse(logged.artifact_location).path) / "artifacts" / model_dir.name / "model.json"
    assert json.loads(stored.read_text()) == {"weights": [1.0, 1.0, 1.0], "threshold": 1.5}
    assert str(stored).startswith(str(settings.artifact_root / tiny_project.name))
    assert any(o.model_id == loaded.model_id for o in client.get_run(run_id).outputs.model_outputs)

    # Tags: project and hardware on the version and on the registered model.
    mv = client.get_model_version(tiny_project.model_name, "1")
    assert mv.tags["mlops.project"] == tiny_project.name
    assert mv.tags["mlops.data_hash"] == "d1"
    assert {k: mv.tags[k] for k in ("hw.os", "hw.arch", "hw.chip", "hw.backends")} == {
        k: HW[k] for k in ("hw.os", "hw.arch", "hw.chip", "hw.backends")}
    assert "hw.thermal_state" not in mv.tags  # not a compatibility property
    registered = client.get_registered_model(tiny_project.model_name)
    assert registered.tags["mlops.project"] == tiny_project.name
    assert registered.tags["hw.backends"] == "numpy"


def test_new_version_takes_the_alias(tracker: MlflowTracker, tiny_project: Any, tmp_path: Path) -> None:
    first = tracker.register_model(
        tiny_project.name, _trained_run(tracker, tiny_project.name),
        tiny_project.save_model(tmp_path / "m1", [1.0, 1.0, 1.0], 1.5), tiny_project.schema, name=tiny_project.model_name)
    tracker.set_alias(first, "champion")
    second_run = _trained_run(tracker, tiny_project.name, {**HW, "hw.backends": "mlx-cpu", "hw.chip": "other"})
    second = tracker.register_model(
        tiny_project.name, second_run,
        tiny_project.save_model(tmp_path / "m2", [0.0, 0.0, 0.0], -1.0), tiny_project.schema, name=tiny_project.model_name)
    assert second.version == "2"
    assert tracker.load_model(tiny_project.name, tiny_project.model_name).version == "1"

    tracker.set_alias(second, "champion")
    versions = tracker.model_versions(tiny_project.name, tiny_project.model_name)
    assert [(v.version, v.aliases) for v in versions] == [("2", ("champion",)), ("1", ())]
    assert versions[0].run_id == second_run
    loaded = tracker.load_model(tiny_project.name, tiny_project.model_name)
    assert (loaded.version, loaded.predict([[0.0, 0.0, 0.0]])) == ("2", [1])
    # The registered model lists every backend some version was built for.
    tags = tracker.client.get_registered_model(tiny_project.model_name).tags
    assert tags["hw.backends"] == "mlx-cpu,numpy"
    assert tags["hw.chip"] == "other,test-cpu"
    assert tracker.project_models(tiny_project.name) == [tiny_project.model_name]


def test_missing_model_or_alias_is_a_reference_error(tracker: MlflowTracker, tiny_project: Any,
                                                      tmp_path: Path) -> None:
    with pytest.raises(ReferenceNotFoundError) as info:
        tracker.load_model(tiny_project.name, "nope")
    assert f"mlops run {tiny_project.name}" in (info.value.fix or "")
    assert tracker.model_versions(tiny_project.name, "nope") == []

    version = tracker.register_model(
        tiny_project.name, _trained_run(tracker, tiny_project.name),
        tiny_project.save_model(tmp_path / "m", [1.0, 1.0, 1.0], 1.5), tiny_project.schema, name=tiny_project.model_name)
    with pytest.raises(ReferenceNotFoundError) as info:
        tracker.load_model(tiny_project.name, tiny_project.model_name)  # registered, never promoted
    assert "alias 'champion'" in info.value.message
    assert f"mlops run {tiny_project.name}" in (info.value.fix or "")

    tracker.set_alias(version, "staging")
    assert tracker.load_model(tiny_project.name, tiny_project.model_name, alias="staging").version == "1"

    # Right model name, wrong project.
    with pytest.raises(ReferenceNotFoundError, match="belongs to project"):
        tracker.load_model("someone-else", tiny_project.model_name, alias="staging")
    with pytest.raises(ReferenceNotFoundError):
        tracker.model_versions("someone-else", tiny_project.model_name)


def test_registering_checks_run_project_and_model_files(tracker: MlflowTracker, tiny_project: Any,
                                                        tmp_path: Path) -> None:
    model_dir = tiny_project.save_model(tmp_path / "m", [1.0, 1.0, 1.0], 1.5)
    other_run = _trained_run(tracker, "other-project")
    with pytest.raises(ReferenceNotFoundError, match="belongs to project 'other-project'"):
        tracker.register_model(tiny_project.name, other_run, model_dir, tiny_project.schema, name=tiny_project.model_name)
    with pytest.raises(ReferenceNotFoundError):
        tracker.register_model(tiny_project.name, "f" * 32, model_dir, tiny_project.schema, name=tiny_project.model_name)
    run_id = _trained_run(tracker, tiny_project.name)
    (tmp_path / "empty").mkdir()
    with pytest.raises(InputValidationError, match="missing or empty"):
        tracker.register_model(tiny_project.name, run_id, tmp_path / "empty", tiny_project.schema,
                               name=tiny_project.model_name)
    # A model name another project owns is refused, not silently shared.
    tracker.register_model("other-project", other_run, model_dir, tiny_project.schema, name="shared-name")
    with pytest.raises(ProjectError, match="belongs to project 'other-project'"):
        tracker.register_model(tiny_project.name, run_id, model_dir, tiny_project.schema, name="shared-name")
    assert [v.version for v in tracker.model_versions("other-project", "shared-name")] == ["1"]


def test_predict_checks_rows_against_the_schema(tracker: MlflowTracker, tiny_project: Any,
                                                tmp_path: Path) -> None:
    version = tracker.register_model(
        tiny_project.name, _trained_run(tracker, tiny_project.name),
        tiny_project.save_model(tmp_path / "m", [1.0, 1.0, 1.0], 1.5), tiny_project.schema, name=tiny_project.model_name)
    tracker.set_alias(version, "champion")
    loaded = tracker.load_model(tiny_project.name, tiny_project.model_name)
    with pytest.raises(InputValidationError, match="expects 3"):
        loaded.predict([[1.0, 2.0]])
    with pytest.raises(InputValidationError, match="does not match"):
        loaded.predict([[1.0, "x", 2.0]])  # type: ignore[list-item]
    assert loaded.predict([[1, 1, 1]]) == [1]  # integers for double features are fine


@pytest.mark.slow
@pytest.mark.integration
def test_a_fresh_process_loads_the_model_by_entry_point(tracker: MlflowTracker, tiny_project: Any,
                                                       settings: Settings, tmp_path: Path) -> None:
    """Serving happens elsewhere: only the project's name travels with the model."""
    version = tracker.register_model(
        tiny_project.name, _trained_run(tracker, tiny_project.name),
        tiny_project.save_model(tmp_path / "m", [1.0, 1.0, 1.0], 1.5), tiny_project.schema, name=tiny_project.model_name)
    tracker.set_alias(version, "champion")
    script = (
        "import json, sys\n"
        "from mlops_core.settings import load_settings\n"
        "from mlops_tracking.tracker import MlflowTracker\n"
        f"model = MlflowTracker(load_settings(state_dir={str(settings.state_dir)!r})).load_model({tiny_project.name!r}, "
        f"{tiny_project.model_name!r})\n"
        "print(json.dumps([model.version, model.predict([[0, 0, 0], [1, 1, 1]])]))\n"
    )
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(tiny_project.site), os.environ.get("PYTHONPATH", "")])}
    done = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=300,
                          cwd=tmp_path)
    assert done.returncode == 0, done.stderr[-3000:]
    assert json.loads(done.stdout.strip().splitlines()[-1]) == ["1", [0, 1]]


def test_loading_without_the_project_installed_says_so(tracker: MlflowTracker, tiny_project: Any,
                                                       tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    version = tracker.register_model(
        tiny_project.name, _trained_run(tracker, tiny_project.name),
        tiny_project.save_model(tmp_path / "m", [1.0, 1.0, 1.0], 1.5), tiny_project.schema, name=tiny_project.model_name)
    tracker.set_alias(version, "champion")
    # Uninstall the project: its folder leaves sys.path, its module leaves sys.modules.
    monkeypatch.setattr(sys, "path", [p for p in sys.path if p != str(tiny_project.site)])
    monkeypatch.delitem(sys.modules, tiny_project.module, raising=False)
    importlib.invalidate_caches()
    with pytest.raises(ProjectNotFoundError) as info:
        tracker.load_model(tiny_project.name, tiny_project.model_name)
    assert tiny_project.name in info.value.message
