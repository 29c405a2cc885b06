"""A small real world for the gateway: real projects, a real in-memory registry, a real uvicorn.

No MLflow here (these tests run with mlops-serve and mlops-core only): :class:`InTestTracker`
implements the parts of the Tracker protocol a gateway uses (registering, aliasing, listing and
loading versions) over model folders it copies, and loads them through the project's own
``load``, as the MLflow tracker does through pyfunc.
"""

from __future__ import annotations

import json
import os
import random
import shutil
import tempfile
import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import httpx
import pytest

from mlops_core.errors import ReferenceNotFoundError
from mlops_core.hookspecs import hookimpl
from mlops_core.plugins import PluginManager
from mlops_core.project import Feature, MetricLogger, Project, Schema
from mlops_core.records import ModelVersion, PredictionBatch
from mlops_core.registry import ProjectRegistry
from mlops_core.settings import Settings, load_settings
from mlops_serve.gateway import create_app
from mlops_serve.server import ServerHandle, serve_in_background

#: how stale the champion alias may be in these tests (seconds)
TTL = 0.05


# -- projects -----------------------------------------------------------------------------------


class _Centroids:
    """Nearest-centroid classifier: the label of the closest class mean, plus an offset."""

    def __init__(self, centroids: dict[str, list[float]], offset: int) -> None:
        self.centroids = {int(k): v for k, v in centroids.items()}
        self.offset = offset

    def predict(self, rows: Sequence[Sequence[float]]) -> list[Any]:
        def nearest(row: Sequence[float]) -> int:
            return min(self.centroids, key=lambda c: sum((a - b) ** 2 for a, b in zip(row, self.centroids[c])))

        return [nearest(row) + self.offset for row in rows]


class CentroidProject(Project):
    """Two classes, one around 0 and one around 5 in every feature; trains in milliseconds.

    ``label_offset`` (a training parameter) shifts the predicted labels, so that two versions of
    the model answer visibly differently.
    """

    def __init__(self, name: str, features: Sequence[Feature], model_name: str = "") -> None:
        self.name = name  # type: ignore[misc]  # per instance here; a class constant in real projects
        self.model_name = model_name  # type: ignore[misc]
        self._schema = Schema(inputs=tuple(features))

    def schema(self) -> Schema:
        return self._schema

    def prepare(self, data_dir: Path) -> list[Path]:
        rng = random.Random(7)
        width = len(self._schema.inputs)
        rows = [[float(round(rng.gauss(5.0 * label, 1.0))) for _ in range(width)] + [label]
                for label in (0, 1) for _ in range(20)]
        path = data_dir / "data.json"
        path.write_text(json.dumps(rows))
        return [path]

    def _data(self, data_dir: Path) -> list[list[float]]:
        return json.loads((data_dir / "data.json").read_text())

    def train(self, data_dir: Path, model_dir: Path, params: Mapping[str, Any], log: MetricLogger) -> Mapping[str, float]:
        rows = self._data(data_dir)
        centroids = {}
        for label in (0, 1):
            members = [r[:-1] for r in rows if r[-1] == label]
            centroids[str(label)] = [sum(col) / len(members) for col in zip(*members)]
        offset = int(params.get("label_offset", 0))
        (model_dir / "centroids.json").write_text(json.dumps({"centroids": centroids, "offset": offset}))
        metrics = self.evaluate(data_dir, model_dir)
        log(0, metrics)
        return metrics

    def evaluate(self, data_dir: Path, model_dir: Path) -> Mapping[str, float]:
        model = self.load(model_dir)
        rows = self._data(data_dir)
        offset = model.offset  # type: ignore[attr-defined]
        hits = sum(p - offset == r[-1] for p, r in zip(model.predict([r[:-1] for r in rows]), rows))
        return {"accuracy": hits / len(rows)}

    def load(self, model_dir: Path) -> _Centroids:
        saved = json.loads((model_dir / "centroids.json").read_text())
        return _Centroids(saved["centroids"], saved["offset"])

    def reference(self, data_dir: Path) -> list[list[float]]:
        return [r[:-1] for r in self._data(data_dir)]

    def samples(self, data_dir: Path, kind: str, n: int) -> list[list[float]]:
        rows = self.reference(data_dir)[:n]
        return [[v + 3.0 for v in row] for row in rows] if kind == "shifted" else rows


class _Faulty:
    def __init__(self, mode: str) -> None:
        self.mode = mode

    def predict(self, rows: Sequence[Sequence[float]]) -> list[Any]:
        if self.mode == "raises":
            raise ValueError("matrix is singular")
        if self.mode == "nan":
            return [float("nan")] * len(rows)
        return [0]  # "short": one prediction, whatever the number of rows


class FaultyProject(CentroidProject):
    """Trains like the others; its loaded model misbehaves in the way ``mode`` says."""

    def __init__(self, mode: str) -> None:
        super().__init__(f"faulty-{mode}", [Feature("a"), Feature("b")])
        self.mode = mode

    def load(self, model_dir: Path) -> Any:
        return _Faulty(self.mode)

    def evaluate(self, data_dir: Path, model_dir: Path) -> Mapping[str, float]:
        return {"accuracy": 0.0}


def toy_project() -> CentroidProject:
    """Three features, the last one a whole number."""
    return CentroidProject("toy", [Feature("x0"), Feature("x1"), Feature("n", "long")])


def digits_project() -> CentroidProject:
    """64 pixel features, like scikit-learn's digits."""
    return CentroidProject("digits", [Feature(f"pixel_{i}") for i in range(64)])


def lonely_project() -> CentroidProject:
    """Registered, but no version of its model is ever promoted."""
    return CentroidProject("lonely", [Feature("a"), Feature("b")], model_name="lonely-model")


# -- tracker ------------------------------------------------------------------------------------


@dataclass
class InTestLoadedModel:
    project: str
    name: str
    version: str
    schema: Schema
    predictor: Any

    def predict(self, rows: Sequence[Sequence[float]]) -> list[Any]:
        return self.predictor.predict(rows)


class InTestTracker:
    """A real in-memory model registry over copied model folders (the gateway's side of Tracker)."""

    def __init__(self, root: Path, projects: Mapping[str, Project]) -> None:
        self.root = root
        self.projects = projects
        self._versions: dict[tuple[str, str], list[ModelVersion]] = {}
        self._schemas: dict[tuple[str, str, str], Schema] = {}
        self._lock = threading.Lock()
        #: (project, model, version) of every load, in order
        self.loads: list[tuple[str, str, str]] = []
        #: how often the gateway asked which versions exist
        self.lookups = 0
        #: version -> event a load of that version waits for (to hold a load in flight)
        self.gates: dict[str, threading.Event] = {}
        #: version -> set when a load of that version has started
        self.loading: dict[str, threading.Event] = {}
        #: while True every call fails, as a tracker that is down would
        self.down = False

    def start_run(self, project: str, **kwargs: Any) -> Any:
        raise NotImplementedError("the gateway never starts runs")

    def runs(self, project: str, limit: int = 10) -> list[Any]:
        return []

    def register_model(self, project: str, run_id: str, model_dir: Path, schema: Schema, *, name: str) -> ModelVersion:
        with self._lock:
            versions = self._versions.setdefault((project, name), [])
            number = str(len(versions) + 1)
            dest = self.root / project / name / number
            shutil.copytree(model_dir, dest)
            model = ModelVersion(project, name, number, run_id=run_id, uri=str(dest))
            versions.append(model)
            self._schemas[(project, name, number)] = schema
            return model

    def set_alias(self, model: ModelVersion, alias: str) -> ModelVersion:
        with self._lock:
            versions = self._versions[(model.project, model.name)]
            for i, v in enumerate(versions):
                aliases = tuple(a for a in v.aliases if a != alias)
                versions[i] = replace(v, aliases=aliases + ((alias,) if v.version == model.version else ()))
            return next(v for v in versions if v.version == model.version)

    def clear_alias(self, project: str, name: str, alias: str) -> None:
        with self._lock:
            versions = self._versions[(project, name)]
            versions[:] = [replace(v, aliases=tuple(a for a in v.aliases if a != alias)) for v in versions]

    def model_versions(self, project: str, name: str) -> list[ModelVersion]:
        self._fail_if_down()
        self.lookups += 1
        return self._list(project, name)

    def _list(self, project: str, name: str) -> list[ModelVersion]:
        with self._lock:
            return list(self._versions.get((project, name), []))

    def load_model(self, project: str, name: str, alias: str = "champion") -> InTestLoadedModel:
        self._fail_if_down()
        target = next((v for v in self._list(project, name) if alias in v.aliases), None)
        if target is None:
            raise ReferenceNotFoundError(f"{name}@{alias} does not exist", fix="promote a version")
        self.loading.setdefault(target.version, threading.Event()).set()
        gate = self.gates.get(target.version)
        if gate is not None:
            assert gate.wait(10), "test never released the load"
        predictor = self.projects[project].load(Path(target.uri))
        self.loads.append((project, name, target.version))
        return InTestLoadedModel(project, name, target.version, self._schemas[(project, name, target.version)], predictor)

    def _fail_if_down(self) -> None:
        if self.down:
            raise ConnectionError("tracking server unreachable")


def train_and_register(
    tracker: InTestTracker, project: Project, work: Path, *, promote: bool = True, **params: Any
) -> ModelVersion:
    """Prepare, train and register one version of ``project``'s model (promoted by default)."""
    data_dir = work / project.name / "data"
    data_dir.mkdir(parents=True, exist_ok=True)
    model_dir = Path(tempfile.mkdtemp(prefix="model-", dir=work / project.name))
    project.prepare(data_dir)
    project.train(data_dir, model_dir, {**project.default_params, **params}, lambda step, m: None)
    model = tracker.register_model(project.name, "run-" + model_dir.name, model_dir, project.schema(),
                                   name=project.registered_model)
    return tracker.set_alias(model, "champion") if promote else model


# -- plugin and registry ------------------------------------------------------------------------


class InTestPlugin:
    """Provides the tracker and records every batch the gateway announces."""

    def __init__(self, tracker: InTestTracker | None) -> None:
        self._tracker = tracker
        self.batches: list[PredictionBatch] = []
        self.announced = threading.Event()
        #: when set, announcements wait for this event (to see that clients do not)
        self.hold: threading.Event | None = None

    @hookimpl
    def mlops_tracker(self, settings: Settings) -> InTestTracker | None:
        return self._tracker

    @hookimpl
    def mlops_predictions_served(self, settings: Settings, batch: PredictionBatch) -> None:
        if self.hold is not None:
            self.hold.wait(10)
        self.batches.append(batch)
        self.announced.set()


class InTestRegistry(ProjectRegistry):
    """The real registry, with its projects given instead of discovered through entry points.

    Stop-gap until the core takes ``ProjectRegistry(settings, projects=..., entrypoints=False)``.
    """

    def __init__(self, settings: Settings, projects: Mapping[str, Project]) -> None:
        super().__init__(settings)
        self._given = dict(projects)

    def discover(self) -> dict[str, Project]:
        return dict(self._given)


# -- fixtures -----------------------------------------------------------------------------------


@dataclass
class World:
    """A gateway on a real uvicorn, with what stands behind it."""

    server: ServerHandle
    client: httpx.Client
    tracker: InTestTracker
    plugin: InTestPlugin
    plugins: PluginManager
    projects: dict[str, CentroidProject]
    settings: Settings
    work: Path

    @property
    def url(self) -> str:
        return self.server.url

    def new_version(self, project: str, *, promote: bool = True, **params: Any) -> ModelVersion:
        """Train and register another version of ``project``'s model, promoted by default."""
        return train_and_register(self.tracker, self.projects[project], self.work, promote=promote, **params)


def start_world(
    tmp_path: Path,
    *,
    ttl: float = TTL,
    with_tracker: bool = True,
    max_batch_rows: int = 10_000,
    extra_plugins: Sequence[Any] = (),
    faulty: Sequence[str] = (),
) -> World:
    """Train and register toy v1 and digits v1 (promoted) and lonely v1 (not), then serve them.

    ``faulty`` adds a promoted ``faulty-<mode>`` project per mode ("raises", "short", "nan").
    """
    settings = load_settings(root=tmp_path, serve={"max_batch_rows": max_batch_rows})
    extra = [FaultyProject(mode) for mode in faulty]
    projects = {p.name: p for p in (toy_project(), digits_project(), lonely_project(), *extra)}
    tracker = InTestTracker(tmp_path / "registry", projects)
    work = tmp_path / "work"
    train_and_register(tracker, projects["toy"], work)
    train_and_register(tracker, projects["digits"], work)
    train_and_register(tracker, projects["lonely"], work, promote=False)
    for project in extra:
        train_and_register(tracker, project, work)
    plugin = InTestPlugin(tracker if with_tracker else None)
    plugins = PluginManager(settings, plugins=[plugin, *extra_plugins], entrypoints=False)
    app = create_app(settings, plugins, registry=InTestRegistry(settings, projects), alias_ttl=ttl)
    server = serve_in_background(app)
    client = httpx.Client(base_url=server.url, timeout=20)
    return World(server, client, tracker, plugin, plugins, projects, settings, work)


@pytest.fixture
def make_world(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Callable[..., World]]:
    """``make_world(ttl=, with_tracker=, max_batch_rows=, extra_plugins=, faulty=)``: a running gateway, stopped after the test."""
    for name in [n for n in os.environ if n.startswith("MLOPS_")]:
        monkeypatch.delenv(name)
    started: list[World] = []

    def make(**options: Any) -> World:
        world = start_world(tmp_path / f"world-{len(started)}", **options)
        started.append(world)
        return world

    yield make
    for world in started:
        world.client.close()
        world.server.stop()


@pytest.fixture
def world(make_world: Callable[..., World]) -> World:
    """A running gateway serving toy v1 and digits v1; lonely has no champion."""
    return make_world()
