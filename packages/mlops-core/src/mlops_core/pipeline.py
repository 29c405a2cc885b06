"""A project's pipeline: prepare -> train -> evaluate -> register -> deploy.

Each step is a plain function of JSON-friendly state, so the same steps run in-process (the
fallback runner here) or as Airflow tasks (``mlops-orchestrate`` passes the state by XCom).
Steps do the work through providers and announce it through lifecycle hooks; the core's ledger
plugin records every edge.
"""

from __future__ import annotations

import hashlib
import shutil
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mlops_core.errors import MlopsError, ProjectError
from mlops_core.records import DatasetVersion, RunRecord, as_dict

if TYPE_CHECKING:
    from mlops_core.plugins import PluginManager
    from mlops_core.project import Project
    from mlops_core.settings import Settings

__all__ = ["STEPS", "InProcessRunner", "StepEvent", "run_pipeline", "run_step"]

STEPS: tuple[str, ...] = ("prepare", "train", "evaluate", "register", "deploy")

#: ``on_event(step, status, detail)``; status is "running" | "success" | "failed"
StepEvent = Callable[[str, str, Mapping[str, Any]], None]


@dataclass
class _Ctx:
    settings: Settings
    plugins: PluginManager
    project: Project
    state: dict[str, Any]
    params: dict[str, Any]

    def need(self, step: str) -> dict[str, Any]:
        if step not in self.state:
            raise ProjectError(
                f"step {step!r} has not run for project {self.project.name!r} in this pipeline",
                fix=f"run the steps in order: {' -> '.join(STEPS)}",
            )
        return self.state[step]


def _work_dir(ctx: _Ctx, *parts: str) -> Path:
    """Where a project's files live: its folder in the data repository, else a work folder."""
    store = ctx.plugins.data_store()
    base = store.project_dir(ctx.project.name) if store else ctx.settings.state_dir / "work" / ctx.project.name
    path = base.joinpath(*parts)
    path.mkdir(parents=True, exist_ok=True)
    return path


def _version(ctx: _Ctx, paths: list[Path], kind: str, message: str) -> list[DatasetVersion]:
    store = ctx.plugins.data_store()
    if store is not None:
        versions = store.version(ctx.project.name, paths, kind=kind, message=message)
    else:  # no mlops-data: still hash the content, so lineage holds; nothing is versioned
        versions = [
            DatasetVersion(project=ctx.project.name, path=str(p), hash=_md5(p), rev="unversioned",
                           size_bytes=_size(p), kind=kind)
            for p in paths
        ]
    for version in versions:
        ctx.plugins.emit("mlops_dataset_versioned", dataset=version)
    return versions


def _md5(path: Path) -> str:
    digest = hashlib.md5()
    for file in sorted(path.rglob("*")) if path.is_dir() else [path]:
        if file.is_file():
            digest.update(file.read_bytes())
    return digest.hexdigest()


def _size(path: Path) -> int:
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file()) if path.is_dir() else path.stat().st_size


# -- steps --------------------------------------------------------------------------------------


def _prepare(ctx: _Ctx) -> dict[str, Any]:
    data_dir = _work_dir(ctx, "data")
    # The project writes into a scratch folder: files in data_dir may be hardlinks into the DVC
    # cache, and writing them in place would corrupt the cache. Only changed files are swapped in.
    staging = ctx.settings.state_dir / "work" / ctx.project.name / "staging"
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    written = ctx.project.prepare(staging)
    if not written:
        raise ProjectError(f"project {ctx.project.name!r} prepared no data files",
                           fix="make Project.prepare() return the files it wrote")
    files = []
    for path in written:
        path = Path(path)
        if not path.resolve().is_relative_to(staging.resolve()):
            raise ProjectError(f"project {ctx.project.name!r} wrote {path} outside the folder it was given",
                               fix="write the dataset only inside the data_dir passed to prepare()")
        target = data_dir / path.relative_to(staging)
        target.parent.mkdir(parents=True, exist_ok=True)
        if not (target.is_file() and _md5(target) == _md5(path)):
            target.unlink(missing_ok=True)
            shutil.move(path, target)
        files.append(target)
    shutil.rmtree(staging, ignore_errors=True)
    versions = _version(ctx, files, "dataset", f"{ctx.project.name}: dataset")
    return {"data_dir": str(data_dir), "datasets": [as_dict(v) for v in versions]}


def _train(ctx: _Ctx) -> dict[str, Any]:
    prepared = ctx.need("prepare")
    tracker = ctx.plugins.require_tracker()
    params = ctx.project.validate_params(ctx.params)
    hardware = ctx.plugins.hardware()
    tags = hardware.tags() if hardware else {"hw.profile": "unavailable: uv add \"mlops-core[hw]\""}
    hashes = [d["hash"] for d in prepared["datasets"]]
    handle = tracker.start_run(ctx.project.name, params=params, tags=tags, dataset_hashes=hashes)
    running = RunRecord(project=ctx.project.name, run_id=handle.run_id, experiment="", params=params,
                        dataset_hashes=tuple(hashes))
    ctx.plugins.emit("mlops_before_run", project=ctx.project, run=running)
    model_dir = _work_dir(ctx, "model")
    shutil.rmtree(model_dir)  # a stale file from an older model must not ship with this one
    model_dir.mkdir()
    try:
        metrics = dict(ctx.project.train(Path(prepared["data_dir"]), model_dir, params, handle.log_metrics))
        handle.log_metrics(0, {f"final_{k}": float(v) for k, v in metrics.items()})
        model_versions = _version(ctx, [model_dir], "model", f"{ctx.project.name}: model of run {handle.run_id}")
        handle.set_tags({"mlops.model_hash": model_versions[0].hash})
    except Exception as exc:
        failed = handle.finish("FAILED")
        ctx.plugins.emit("mlops_on_run_error", project=ctx.project, run=failed, error=exc)
        if isinstance(exc, MlopsError):
            raise
        raise ProjectError(f"training project {ctx.project.name!r} failed: {type(exc).__name__}: {exc}",
                           fix="see the traceback above; the run is marked FAILED in the tracker") from exc
    record = handle.finish("FINISHED")
    ctx.plugins.emit("mlops_after_run", project=ctx.project, run=record)
    return {"run_id": record.run_id, "model_dir": str(model_dir), "metrics": metrics,
            "model_hash": model_versions[0].hash, "hardware": tags}


def _evaluate(ctx: _Ctx) -> dict[str, Any]:
    prepared, trained = ctx.need("prepare"), ctx.need("train")
    metrics = {k: float(v) for k, v in ctx.project.evaluate(Path(prepared["data_dir"]), Path(trained["model_dir"])).items()}
    handle = ctx.plugins.require_tracker().resume_run(trained["run_id"])
    handle.log_metrics(0, {f"eval_{k}": v for k, v in metrics.items()})
    handle.finish("FINISHED")
    return {"metrics": metrics}


def _register(ctx: _Ctx) -> dict[str, Any]:
    trained = ctx.need("train")
    model = ctx.plugins.require_tracker().register_model(
        ctx.project.name, trained["run_id"], Path(trained["model_dir"]), ctx.project.schema(),
        name=ctx.project.registered_model,
    )
    ctx.plugins.emit("mlops_model_registered", model=model)
    return as_dict(model)


def _deploy(ctx: _Ctx) -> dict[str, Any]:
    from mlops_core.records import ModelVersion

    prepared, evaluated, registered = ctx.need("prepare"), ctx.need("evaluate"), ctx.need("register")
    tracker = ctx.plugins.require_tracker()
    alias = ctx.settings.tracking.champion_alias
    model = ModelVersion(**{**registered, "aliases": tuple(registered.get("aliases", ()))})
    metric = ctx.project.primary_metric
    new_score = evaluated["metrics"].get(metric)
    champion = next((v for v in tracker.model_versions(ctx.project.name, model.name) if alias in v.aliases), None)
    old_score = None
    if champion is not None and champion.version != model.version:
        runs = {r.run_id: r for r in tracker.runs(ctx.project.name, limit=200)}
        old = runs.get(champion.run_id)
        old_score = old.metrics.get(f"eval_{metric}") if old else None
    better = (
        old_score is None or new_score is None
        or (new_score >= old_score if ctx.project.higher_is_better else new_score <= old_score)
    )
    if not better:
        reason = f"{metric} {new_score:.4f} is worse than champion v{champion.version} ({old_score:.4f})"  # type: ignore[union-attr]
        return {"promoted": False, "alias": alias, "version": model.version, "reason": reason}
    promoted = tracker.set_alias(model, alias)
    reference = ctx.project.reference(Path(prepared["data_dir"]))
    ctx.plugins.emit("mlops_model_promoted", project=ctx.project, model=promoted, alias=alias, reference=reference)
    reason = "first champion" if champion is None else (
        f"{metric} {new_score:.4f} vs champion v{champion.version} {old_score:.4f}"
        if old_score is not None and new_score is not None else "replaces champion")
    return {"promoted": True, "alias": alias, "version": model.version, "reason": reason}


_STEPS: dict[str, Callable[[_Ctx], dict[str, Any]]] = {
    "prepare": _prepare, "train": _train, "evaluate": _evaluate, "register": _register, "deploy": _deploy,
}


def run_step(
    step: str,
    *,
    project: str,
    state: Mapping[str, Any] | None = None,
    params: Mapping[str, Any] | None = None,
    settings: Settings | None = None,
    plugins: PluginManager | None = None,
) -> dict[str, Any]:
    """Run one step of ``project``'s pipeline.

    ``state`` is the JSON-friendly dict the previous step returned; the result is that dict with
    this step's results added under the step's name (it fits an Airflow XCom).
    """
    from mlops_core.plugins import PluginManager
    from mlops_core.registry import ProjectRegistry
    from mlops_core.settings import load_settings

    if step not in _STEPS:
        raise ProjectError(f"unknown pipeline step {step!r}", fix=f"use one of: {', '.join(STEPS)}")
    settings = settings or load_settings()
    plugins = plugins or PluginManager(settings)
    ctx = _Ctx(settings, plugins, ProjectRegistry(settings, plugins).get(project), dict(state or {}), dict(params or {}))
    ctx.state[step] = _STEPS[step](ctx)
    return ctx.state


class InProcessRunner:
    """Runs the steps one after the other in this process (no orchestrator installed)."""

    name = "inprocess"

    def __init__(self, settings: Settings, plugins: PluginManager, on_event: StepEvent | None = None) -> None:
        self.settings, self.plugins, self.on_event = settings, plugins, on_event

    def run(self, project: str, params: Mapping[str, Any] | None = None) -> dict[str, Any]:
        state: dict[str, Any] = {}
        for step in STEPS:
            if self.on_event:
                self.on_event(step, "running", {})
            try:
                state = run_step(step, project=project, state=state, params=params,
                                 settings=self.settings, plugins=self.plugins)
            except Exception as exc:
                if self.on_event:
                    self.on_event(step, "failed", {"error": str(exc)})
                raise
            if self.on_event:
                self.on_event(step, "success", state[step])
        return state


def run_pipeline(
    plugins: PluginManager, project: str, params: Mapping[str, Any] | None = None,
    *, on_event: StepEvent | None = None, runner: str | None = None,
) -> tuple[str, dict[str, Any]]:
    """Run the whole pipeline with the configured runner; returns (runner name, final state)."""
    from mlops_core.registry import ProjectRegistry

    # Bad parameters fail here, before any step has stored anything.
    params = ProjectRegistry(plugins.settings, plugins).get(project).validate_params(dict(params or {}))
    choice = runner or plugins.settings.orchestrate.runner
    chosen = None if choice == "inprocess" else plugins.pipeline_runner()
    if chosen is None:
        chosen = InProcessRunner(plugins.settings, plugins, on_event)
    elif on_event is not None and hasattr(chosen, "on_event"):
        chosen.on_event = on_event
    return chosen.name, chosen.run(project, params)
