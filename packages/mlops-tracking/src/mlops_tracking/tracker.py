"""Experiment tracking and the model registry on MLflow, through ``MlflowClient`` only.

Nothing here touches MLflow's process-wide state (tracking URI, active run, active experiment):
every call goes through one client bound to ``settings.tracking_uri``, so that several trackers
(or a user's own MLflow code) can live in one process. Models are saved with
``mlflow.pyfunc.save_model`` into a temporary folder and uploaded to a ``LoggedModel`` created
with the client, which is what ``mlflow.pyfunc.log_model`` does, minus its reliance on the
global tracking URI and the active run.
"""

from __future__ import annotations

import logging
import shutil
import tempfile
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal
from urllib.parse import urlparse
from urllib.request import url2pathname

import mlflow
from mlflow import MlflowClient
from mlflow.entities import Dataset, DatasetInput, InputTag, LoggedModelOutput, Param
from mlflow.exceptions import MlflowException
from mlflow.models import Model

from mlops_core.errors import InputValidationError, ProjectError, ReferenceNotFoundError
from mlops_core.records import ModelVersion, RunRecord
from mlops_tracking.endpoint import Endpoint, resolve_endpoint
from mlops_tracking.loaded import MlflowLoadedModel
from mlops_tracking.pyfunc import ProjectModel, model_requirements
from mlops_tracking.runs import MlflowRunHandle
from mlops_tracking.signature import schema_from_signature, signature_from_schema

if TYPE_CHECKING:
    from mlflow.entities import Run
    from mlflow.entities.model_registry import RegisteredModel

    from mlops_core.project import Schema
    from mlops_core.settings import Settings

__all__ = ["HW_COMPAT_TAGS", "MlflowTracker", "WriterMode"]

log = logging.getLogger(__name__)

PROJECT_TAG = "mlops.project"
DATA_HASH_TAG = "mlops.data_hash"
DATA_HASHES_TAG = "mlops.data_hashes"
MODEL_ID_TAG = "mlops.model_id"
MODEL_ARTIFACT = "model"
#: run tags copied to each model version: what a version needs from the hardware it runs on
HW_COMPAT_TAGS = ("hw.os", "hw.arch", "hw.chip", "hw.backends")
#: where metrics are written: "auto" = a writer process for local database stores when a run
#: logs a lot, the flusher thread otherwise (and always for a tracking server, which does the
#: work itself); "thread" / "process" force one
WriterMode = Literal["auto", "thread", "process"]

_REMOTE_SCHEMES = ("http", "https", "databricks", "databricks-uc", "uc")


def _missing(exc: MlflowException) -> bool:
    return exc.error_code in ("RESOURCE_DOES_NOT_EXIST", "NOT_FOUND")


def _train_fix(project: str) -> str:
    return f"run `mlops run {project}` to train and promote a model"


class MlflowTracker:
    """Satisfies :class:`mlops_core.providers.Tracker`; one MLflow experiment per project."""

    def __init__(
        self,
        settings: Settings,
        *,
        writer: WriterMode = "auto",
        flush_interval: float = 2.0,
        writer_delay: float = 5.0,
    ) -> None:
        """``writer``: see :data:`WriterMode`; ``flush_interval``: longest wait before buffered
        metrics are sent; ``writer_delay``: how long a bulk run lasts before it gets a writer process.
        """
        self.settings = settings
        #: the configured URI, else the stack's server while it is up, else the embedded store
        self.endpoint: Endpoint = resolve_endpoint(settings)
        self.uri = self.endpoint.uri
        self.flush_interval = flush_interval
        self.writer_delay = writer_delay
        scheme = urlparse(self.uri).scheme.lower()
        self.remote = scheme in _REMOTE_SCHEMES
        if writer not in ("auto", "thread", "process"):
            raise InputValidationError(f"unknown writer mode {writer!r}", fix="use 'auto', 'thread' or 'process'")
        use_process = writer == "process" or (writer == "auto" and not self.remote)
        self._writer_uri = self.uri if use_process else None
        self._client: MlflowClient | None = None
        self._experiments: dict[str, str] = {}

    @property
    def client(self) -> MlflowClient:
        """The client bound to the configured store (its sqlite folder is created on first use)."""
        if self._client is None:
            if self.uri.startswith("sqlite:///"):
                Path(self.uri.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
            self._client = MlflowClient(tracking_uri=self.uri, registry_uri=self.uri)
        return self._client

    # -- experiments --------------------------------------------------------------------------

    def experiment_name(self, project: str) -> str:
        return f"{self.settings.tracking.experiment_prefix}{project}"

    def _experiment_id(self, project: str, *, create: bool = True) -> str | None:
        if project in self._experiments:
            return self._experiments[project]
        name = self.experiment_name(project)
        experiment = self.client.get_experiment_by_name(name)
        if experiment is None:
            if not create:
                return None
            location: str | None = (self.settings.artifact_root / project).resolve().as_uri()
            if self.endpoint.mode == "stack":
                # Through the server's artifact proxy, whose destination is our artifact root:
                # the same <artifact_root>/<project> folder as in embedded mode.
                location = f"mlflow-artifacts:/{project}"
            elif self.remote and self.settings.tracking.artifact_root is None:
                # A tracking server keeps the artifacts where it is configured to (possibly on
                # another machine): a local default folder would be wrong there.
                location = None
            try:
                experiment_id = self.client.create_experiment(
                    name, artifact_location=location, tags={PROJECT_TAG: project})
            except MlflowException as exc:
                # Another process created it between our lookup and our create.
                experiment = self.client.get_experiment_by_name(name)
                if experiment is None:
                    raise
                experiment_id = experiment.experiment_id
        elif experiment.lifecycle_stage == "deleted":
            if not create:
                return None
            log.warning("experiment %r was deleted; restoring it to record project %r", name, project)
            self.client.restore_experiment(experiment.experiment_id)
            experiment_id = experiment.experiment_id
        else:
            experiment_id = experiment.experiment_id
        self._experiments[project] = experiment_id
        return experiment_id

    # -- runs ---------------------------------------------------------------------------------

    def start_run(
        self,
        project: str,
        *,
        run_name: str | None = None,
        params: Mapping[str, Any] | None = None,
        tags: Mapping[str, str] | None = None,
        dataset_hashes: Sequence[str] = (),
    ) -> MlflowRunHandle:
        """Open a run in the project's experiment, tagged with the data it trains on."""
        experiment_id = self._experiment_id(project)
        assert experiment_id is not None
        hashes = tuple(dataset_hashes)
        run_tags = {str(k): str(v) for k, v in (tags or {}).items()}
        run_tags[PROJECT_TAG] = project
        if hashes:
            run_tags[DATA_HASH_TAG] = hashes[0]
            run_tags[DATA_HASHES_TAG] = ",".join(hashes)
        run = self.client.create_run(experiment_id, run_name=run_name, tags=run_tags)
        run_id = run.info.run_id
        try:
            if params:
                self.client.log_batch(run_id, params=[Param(str(k), str(v)) for k, v in params.items()],
                                      synchronous=True)
            if hashes:
                self.client.log_inputs(run_id, datasets=[_dataset_input(project, h) for h in hashes])
        except MlflowException as exc:
            self.client.set_terminated(run_id, status="FAILED")
            raise InputValidationError(f"could not start run for project {project!r}: {exc.message}",
                                       fix="check the parameter names and values") from exc
        return self._handle(run_id, project)

    def resume_run(self, run_id: str) -> MlflowRunHandle:
        """Reopen a run (e.g. in the evaluate task of a pipeline) to log more to it."""
        run = self._get_run(run_id)
        project = run.data.tags.get(PROJECT_TAG)
        if not project:
            raise ReferenceNotFoundError(f"run {run_id} was not started by mlops (no {PROJECT_TAG} tag)",
                                         fix="resume runs that tracker.start_run() opened")
        self.client.update_run(run_id, status="RUNNING")
        return self._handle(run_id, project)

    def _handle(self, run_id: str, project: str) -> MlflowRunHandle:
        return MlflowRunHandle(
            self.client,
            run_id,
            project=project,
            experiment=self.experiment_name(project),
            record_factory=self.run_record,
            batch_size=self.settings.tracking.batch_size,
            flush_interval=self.flush_interval,
            writer_uri=self._writer_uri,
            writer_delay=self.writer_delay,
        )

    def _get_run(self, run_id: str) -> Run:
        try:
            run = self.client.get_run(run_id)
        except MlflowException as exc:
            if not _missing(exc):
                raise
            run = None
        if run is None or run.info.lifecycle_stage == "deleted":
            raise ReferenceNotFoundError(f"no run {run_id!r} in the tracking store {self.uri}",
                                         fix="list runs with `mlops tracking runs PROJECT`")
        return run

    def run_record(self, run_id: str) -> RunRecord:
        """The run as the platform records it: last value of each metric, params, data hashes."""
        return self._record(self._get_run(run_id))

    def _record(self, run: Run) -> RunRecord:
        tags = run.data.tags
        project = tags.get(PROJECT_TAG, "")
        hashes = tuple(h for h in tags.get(DATA_HASHES_TAG, "").split(",") if h)
        return RunRecord(
            project=project,
            run_id=run.info.run_id,
            experiment=self.experiment_name(project),
            status=run.info.status,
            params=dict(run.data.params),
            metrics=dict(run.data.metrics),
            dataset_hashes=hashes,
            url=self.run_url(run.info.experiment_id, run.info.run_id),
        )

    def run_url(self, experiment_id: str, run_id: str) -> str:
        """The run's page on the tracking server; empty for a local store (see `mlops tracking ui`)."""
        if urlparse(self.uri).scheme in ("http", "https"):
            return f"{self.uri.rstrip('/')}/#/experiments/{experiment_id}/runs/{run_id}"
        return ""

    def runs(self, project: str, limit: int = 10) -> list[RunRecord]:
        """The project's latest runs, newest first."""
        experiment_id = self._experiment_id(project, create=False)
        if experiment_id is None:
            return []
        found = self.client.search_runs([experiment_id], max_results=limit, order_by=["attributes.start_time DESC"])
        return [self._record(run) for run in found]

    # -- registry -----------------------------------------------------------------------------

    def register_model(
        self, project: str, run_id: str, model_dir: Path, schema: Schema, *, name: str
    ) -> ModelVersion:
        """Log ``model_dir`` as the pyfunc model "model" of the run, register it as a new version."""
        run = self._get_run(run_id)
        if run.data.tags.get(PROJECT_TAG) != project:
            raise ReferenceNotFoundError(
                f"run {run_id} belongs to project {run.data.tags.get(PROJECT_TAG)!r}, not {project!r}",
                fix="register the model of a run of the same project")
        model_dir = Path(model_dir)
        if not model_dir.is_dir() or not any(model_dir.iterdir()):
            raise InputValidationError(f"model folder {model_dir} is missing or empty",
                                       fix="Project.train() must save the model files into the model_dir it is given")
        signature = signature_from_schema(schema, project)
        registered = self._registered_model(project, name)
        hw = {k: v for k, v in run.data.tags.items() if k in HW_COMPAT_TAGS}
        logged = self.client.create_logged_model(
            run.info.experiment_id, name=MODEL_ARTIFACT, source_run_id=run_id,
            tags={PROJECT_TAG: project, **hw}, model_type="mlops-project")
        try:
            with tempfile.TemporaryDirectory(prefix="mlops-model-") as tmp, warnings.catch_warnings():
                # We give a signature; MLflow's advice to also give an input example does not apply.
                warnings.filterwarnings("ignore", message=".*input example was not provided", category=UserWarning)
                local = Path(tmp) / MODEL_ARTIFACT
                mlflow.pyfunc.save_model(
                    path=str(local),
                    python_model=ProjectModel(project),
                    artifacts={"model_dir": str(model_dir)},
                    signature=signature,
                    # Explicit: inferring them costs 1-2 s in a subprocess.
                    pip_requirements=model_requirements(project),
                    # The workspace's uv.lock (if any) goes with the model, whatever the cwd is.
                    uv_project_path=self.settings.workspace_root,
                    mlflow_model=Model(artifact_path=logged.artifact_location, model_uuid=logged.model_id,
                                       run_id=run_id, model_id=logged.model_id),
                )
                proxied = self._proxied_path(logged.artifact_location)
                if proxied is not None:
                    # An experiment the stack's server created, written while the stack is down:
                    # straight into the folder the server's proxy maps that location to.
                    shutil.copytree(local, proxied, dirs_exist_ok=True)
                else:
                    self.client.log_model_artifacts(logged.model_id, str(local))
            self.client.log_outputs(run_id, [LoggedModelOutput(logged.model_id, step=0)])
            self.client.finalize_logged_model(logged.model_id, "READY")
        except BaseException:
            self.client.finalize_logged_model(logged.model_id, "FAILED")
            raise
        # The SQL registry does not keep a version's model_id (MLflow 3.17), so a tag does.
        version_tags = {PROJECT_TAG: project, "mlops.run_id": run_id, MODEL_ID_TAG: logged.model_id, **hw}
        if DATA_HASH_TAG in run.data.tags:
            version_tags[DATA_HASH_TAG] = run.data.tags[DATA_HASH_TAG]
        # The source is the artifact location, not "models:/<id>": MLflow's SQL registry resolves
        # a models:/ source through a client on the *global* tracking URI (a TODO in MLflow 3.17),
        # which would look in the wrong store. This is the location it would resolve to.
        created = self.client.create_model_version(
            name, source=logged.artifact_location, run_id=run_id, tags=version_tags, model_id=logged.model_id)
        self._merge_hw_tags(registered, hw)
        return ModelVersion(project=project, name=name, version=str(created.version), run_id=run_id,
                            aliases=tuple(created.aliases or ()), uri=f"models:/{name}/{created.version}")

    def _registered_model(self, project: str, name: str) -> RegisteredModel:
        """The registered model ``name`` of ``project``, created if missing."""
        try:
            registered = self.client.get_registered_model(name)
        except MlflowException as exc:
            if not _missing(exc):
                raise
            try:
                return self.client.create_registered_model(name, tags={PROJECT_TAG: project},
                                                           description=f"Model of project {project} (mlops).")
            except MlflowException:
                registered = self.client.get_registered_model(name)  # created concurrently
        owner = registered.tags.get(PROJECT_TAG)
        if owner is None:
            self.client.set_registered_model_tag(name, PROJECT_TAG, project)
        elif owner != project:
            raise ProjectError(f"registered model {name!r} belongs to project {owner!r}, not {project!r}",
                               fix=f"give project {project!r} its own model name (Project.model_name)")
        return registered

    def _merge_hw_tags(self, registered: RegisteredModel, hw: Mapping[str, str]) -> None:
        # Registered-model level: every value some version was built for (comma-joined), so a
        # deployer sees at a glance which hardware the model has versions for.
        for key, value in hw.items():
            known = {v for v in registered.tags.get(key, "").split(",") if v}
            merged = ",".join(sorted(known | {v for v in value.split(",") if v}))
            if merged != registered.tags.get(key):
                self.client.set_registered_model_tag(registered.name, key, merged)

    def _owned(self, project: str, name: str) -> RegisteredModel:
        try:
            registered = self.client.get_registered_model(name)
        except MlflowException as exc:
            if not _missing(exc):
                raise
            raise ReferenceNotFoundError(f"no registered model {name!r} for project {project!r}",
                                         fix=_train_fix(project)) from None
        owner = registered.tags.get(PROJECT_TAG)
        if owner != project:
            whose = f"belongs to project {owner!r}" if owner else f"was not registered by mlops (no {PROJECT_TAG} tag)"
            raise ReferenceNotFoundError(f"registered model {name!r} {whose}, not to project {project!r}",
                                         fix=f"use a model of project {project!r} (`mlops tracking models {project}`)")
        return registered

    def set_alias(self, model: ModelVersion, alias: str) -> ModelVersion:
        """Point ``alias`` at ``model`` (moving it from any other version)."""
        self._owned(model.project, model.name)
        try:
            self.client.set_registered_model_alias(model.name, alias, model.version)
            current = self.client.get_model_version(model.name, model.version)
        except MlflowException as exc:
            if not _missing(exc):
                raise
            raise ReferenceNotFoundError(f"model {model.name!r} has no version {model.version}",
                                         fix=f"list versions with `mlops tracking models {model.project}`") from None
        return replace(model, aliases=tuple(current.aliases))

    def model_versions(self, project: str, name: str) -> list[ModelVersion]:
        """Every version of the project's model ``name``, newest first (empty if never registered)."""
        try:
            self._owned(project, name)
        except ReferenceNotFoundError:
            if not self._exists(name):
                return []
            raise
        registered = self.client.get_registered_model(name)
        by_version: dict[str, list[str]] = {}
        for alias, version in registered.aliases.items():
            by_version.setdefault(str(version), []).append(alias)
        escaped = name.replace("'", "\\'")
        found = self.client.search_model_versions(f"name = '{escaped}'")
        versions = [
            ModelVersion(project=project, name=name, version=str(v.version), run_id=v.run_id or "",
                         aliases=tuple(sorted(by_version.get(str(v.version), ()))), uri=f"models:/{name}/{v.version}")
            for v in found
        ]
        return sorted(versions, key=lambda v: int(v.version), reverse=True)

    def _exists(self, name: str) -> bool:
        try:
            self.client.get_registered_model(name)
        except MlflowException as exc:
            if _missing(exc):
                return False
            raise
        return True

    def project_models(self, project: str) -> list[str]:
        """Names of the registered models of ``project``."""
        found = self.client.search_registered_models(filter_string=f"tags.`{PROJECT_TAG}` = '{project}'")
        return sorted(m.name for m in found)

    def load_model(self, project: str, name: str, alias: str = "champion") -> MlflowLoadedModel:
        """Load the version behind ``alias`` through MLflow pyfunc."""
        self._owned(project, name)
        try:
            version = self.client.get_model_version_by_alias(name, alias)
        except MlflowException as exc:
            if not _missing(exc) and exc.error_code != "INVALID_PARAMETER_VALUE":
                raise
            raise ReferenceNotFoundError(f"model {name!r} of project {project!r} has no version with alias {alias!r}",
                                         fix=_train_fix(project)) from None
        pyfunc = mlflow.pyfunc.load_model(str(self._local_model(version)))
        signature = pyfunc.metadata.signature
        if signature is None:
            raise ReferenceNotFoundError(f"model {name!r} v{version.version} has no signature",
                                         fix=_train_fix(project))
        return MlflowLoadedModel(project=project, name=name, version=str(version.version),
                                 schema=schema_from_signature(signature),
                                 model_id=version.model_id or version.tags.get(MODEL_ID_TAG, ""),
                                 run_id=version.run_id or "", pyfunc=pyfunc)

    def _local_model(self, version: Any) -> Path:
        """A local folder holding the version's MLmodel (downloaded once for a remote store)."""
        uri = self.client.get_model_version_download_uri(version.name, version.version)
        parsed = urlparse(uri)
        proxied = self._proxied_path(uri)
        if proxied is not None:
            if not (proxied / "MLmodel").is_file():
                raise ReferenceNotFoundError(
                    f"model {version.name!r} v{version.version} is stored behind a tracking server "
                    f"({uri}) and {proxied} does not hold it",
                    fix="start the stack (`mlops up`) so the server's artifact proxy serves it, "
                        "or set tracking.artifact_root to the server's --artifacts-destination")
            return proxied
        if parsed.scheme in ("", "file"):
            return Path(url2pathname(parsed.path)) if parsed.scheme else Path(uri)
        cache = self.settings.state_dir / "model-cache" / (version.model_id or f"{version.name}-{version.version}")
        if not (cache / "MLmodel").is_file():
            cache.parent.mkdir(parents=True, exist_ok=True)
            tmp = Path(tempfile.mkdtemp(prefix=".download-", dir=cache.parent))
            try:
                # Into a temporary folder first: a broken download never looks like a cached model.
                local = mlflow.artifacts.download_artifacts(artifact_uri=uri, dst_path=str(tmp),
                                                            tracking_uri=self.uri)
                shutil.rmtree(cache, ignore_errors=True)
                Path(local).rename(cache)
            finally:
                shutil.rmtree(tmp, ignore_errors=True)
        return cache

    def _proxied_path(self, uri: str) -> Path | None:
        """The local folder of a ``mlflow-artifacts:`` location, when no server is in the way.

        Only in embedded mode: the stack's server proxies ``mlflow-artifacts:/<path>`` to
        ``<artifact_root>/<path>`` on this machine, so with the stack down those experiments'
        artifacts are still read and written there. With a server, its proxy is used.
        """
        parsed = urlparse(uri)
        if parsed.scheme != "mlflow-artifacts" or self.endpoint.mode != "embedded":
            return None
        return self.settings.artifact_root.resolve() / url2pathname(parsed.path).lstrip("/")


def _dataset_input(project: str, digest: str) -> DatasetInput:
    # MLflow dataset entities: the runs page then lists what each run trained on.
    dataset = Dataset(name=f"{project}-data", digest=digest[:36], source_type="dvc",
                      source=f'{{"hash": "{digest}"}}')
    return DatasetInput(dataset=dataset, tags=[InputTag("mlflow.data.context", "training")])
