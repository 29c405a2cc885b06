"""Fixtures: a tracker over a real sqlite store in ``tmp_path``, and a tiny real project.

The project is installed the way a user's project is (``mlops_core.testing.install_project``
writes a module and a ``*.dist-info`` with its ``mlops.projects`` entry point onto ``sys.path``),
so the pyfunc loader finds it by entry point exactly as in production; no test-only code path.
"""

from __future__ import annotations

import shutil
import sys
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from mlops_core.project import Feature, Schema
from mlops_core.settings import Settings
from mlops_core.testing import install_project

TINY_SOURCE = '''
import json
from pathlib import Path

from mlops_core.project import Feature, Project, Schema


class Threshold:
    """Label 1 when the weighted sum of the features exceeds the threshold."""

    def __init__(self, weights, threshold):
        self.weights, self.threshold = weights, threshold

    def predict(self, rows):
        return [int(sum(w * x for w, x in zip(self.weights, row)) > self.threshold) for row in rows]


class Tiny(Project):
    name = "{name}"
    model_name = "{name}-model"

    def schema(self):
        return Schema(inputs=(Feature("a"), Feature("b"), Feature("c")), output="label", output_dtype="long")

    def prepare(self, data_dir):
        path = Path(data_dir) / "rows.json"
        path.write_text(json.dumps([[0, 0, 0], [1, 1, 1]]))
        return [path]

    def train(self, data_dir, model_dir, params, log):
        for step in range(3):
            log(step, {{"loss": 1.0 / (step + 1)}})
        (Path(model_dir) / "model.json").write_text(json.dumps({{"weights": params["weights"], "threshold": params["threshold"]}}))
        return {{"loss": 1 / 3}}

    def evaluate(self, data_dir, model_dir):
        return {{"accuracy": 1.0}}

    def load(self, model_dir):
        saved = json.loads((Path(model_dir) / "model.json").read_text())
        return Threshold(saved["weights"], saved["threshold"])

    def reference(self, data_dir):
        return [[0.0, 0.0, 0.0]]

    def samples(self, data_dir, kind, n):
        return [[0.0, 0.0, 0.0]] * n


project = Tiny()
'''


@dataclass
class TinyProject:
    """The installed project: its name, the folder on ``sys.path``, and its schema."""

    name: str
    site: Path
    module: str

    @property
    def model_name(self) -> str:
        return f"{self.name}-model"

    @property
    def schema(self) -> Schema:
        return Schema(inputs=(Feature("a"), Feature("b"), Feature("c")), output="label", output_dtype="long")

    def save_model(self, folder: Path, weights: list[float], threshold: float) -> Path:
        """Write model files the way the project's train() does."""
        import json

        folder.mkdir(parents=True, exist_ok=True)
        (folder / "model.json").write_text(json.dumps({"weights": weights, "threshold": threshold}))
        return folder


@pytest.fixture
def tiny_project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[TinyProject]:
    """A real project installed for this test only (unique name, removed afterwards)."""
    name = f"tiny-{uuid.uuid4().hex[:8]}"
    site = tmp_path / "site"
    site.mkdir()
    monkeypatch.syspath_prepend(str(site))  # restored (and import caches cleared) after the test
    install_project(site, name, TINY_SOURCE.format(name=name))
    module = name.replace("-", "_")
    yield TinyProject(name=name, site=site, module=module)
    sys.modules.pop(module, None)


@pytest.fixture(scope="session")
def migrated_store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An empty sqlite MLflow store with its schema created once (migrations take seconds)."""
    from mlflow import MlflowClient

    path = tmp_path_factory.mktemp("template") / "mlflow.db"
    MlflowClient(tracking_uri=f"sqlite:///{path}").search_experiments()
    return path


@pytest.fixture(autouse=True)
def _fresh_store(settings: Settings, migrated_store: Path) -> None:
    """Every test starts from its own copy of the empty store, at the default location."""
    settings.state_dir.mkdir(parents=True, exist_ok=True)
    shutil.copy(migrated_store, settings.state_dir / "mlflow.db")


@pytest.fixture
def tracker(settings: Settings):  # type: ignore[no-untyped-def]
    """A tracker on ``<tmp>/.mlops/mlflow.db``, flushing often so that tests are quick."""
    from mlops_tracking.tracker import MlflowTracker

    return MlflowTracker(settings, writer="thread", flush_interval=0.1)
