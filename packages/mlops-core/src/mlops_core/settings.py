"""The one settings tree.

Layers, lowest to highest:

1. defaults below;
2. the workspace file: ``mlops.toml`` at the workspace root, or ``[tool.mlops]`` in the root
   ``pyproject.toml``;
3. the project's own ``[tool.mlops]`` (its ``pyproject.toml``), when settings are loaded for a
   project;
4. environment variables ``MLOPS_<SECTION>__<KEY>`` (``MLOPS_STATE_DIR`` for top-level keys);
5. explicit arguments to :func:`load_settings`.

Every path that is not set lives under ``state_dir``. Unknown keys and wrong types are errors
(:class:`~mlops_core.errors.ConfigError`) that name the file and the key.
"""

from __future__ import annotations

import json
import os
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

from mlops_core.errors import ConfigError

__all__ = [
    "DataSettings",
    "HwSettings",
    "MonitorSettings",
    "OrchestrateSettings",
    "ServeSettings",
    "Settings",
    "StackSettings",
    "TrackingSettings",
    "find_workspace_root",
    "load_settings",
]

ENV_PREFIX = "MLOPS_"


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_assignment=True)


class HwSettings(_Section):
    """Hardware awareness."""

    memory_headroom_fraction: float = Field(
        0.15, ge=0, lt=1, description="Fraction of memory kept free when admitting a job."
    )


class DataSettings(_Section):
    """Data and model versioning (DVC)."""

    repo_dir: Path | None = Field(
        None, description="The DVC data repository (a git repo). Default: <state_dir>/data."
    )
    remote_url: str | None = Field(
        None,
        description="DVC remote to push to: a folder, s3://, gs://, azure://. Default: <state_dir>/dvc-remote.",
    )
    cache_type: str = Field(
        "reflink,copy",
        description="DVC cache.type: how files are linked from the cache into the working tree. "
        "Hardlinks/symlinks are faster for big files but make in-place writes change the stored version.",
    )
    autopush: bool = Field(True, description="Push every new version to the remote.")


class TrackingSettings(_Section):
    """Experiment tracking and model registry (MLflow)."""

    uri: str | None = Field(
        None, description="MLflow tracking URI. Default: sqlite:///<state_dir>/mlflow.db."
    )
    artifact_root: Path | None = Field(
        None, description="Where run artifacts are stored. Default: <state_dir>/mlartifacts."
    )
    experiment_prefix: str = Field(
        "", description="Prefix of every experiment name; one experiment per project."
    )
    champion_alias: str = Field(
        "champion", description="Registered-model alias that marks the version to serve."
    )
    batch_size: int = Field(
        1000, ge=1, le=1000, description="Metrics sent per log_batch call (MLflow caps it at 1000)."
    )
    server_port: int = Field(5000, ge=1, le=65535, description="Port of the MLflow server in the stack (`mlops up`).")


class OrchestrateSettings(_Section):
    """Workflow orchestration (Airflow 3)."""

    airflow_home: Path | None = Field(
        None, description="AIRFLOW_HOME for generated DAGs and the metadata db. Default: <state_dir>/airflow."
    )
    runner: str = Field(
        "airflow",
        description="How pipelines run: 'airflow' (a real DAG, dag.test() in embedded mode) or 'inprocess'.",
        pattern="^(airflow|inprocess)$",
    )
    api_port: int = Field(8080, ge=1, le=65535, description="Port of the Airflow api-server in the stack (`mlops up`).")
    parallelism: int = Field(4, ge=1, description="Airflow core.parallelism in the stack (32 starts ~40 processes).")


class ServeSettings(_Section):
    """Model serving (the FastAPI gateway)."""

    host: str = Field("127.0.0.1", description="Address the gateway binds to.")
    port: int = Field(8765, ge=0, le=65535, description="Port of the gateway (0: any free port).")
    max_batch_rows: int = Field(10_000, ge=1, description="Most rows accepted in one request.")
    max_body_bytes: int = Field(
        32 * 2**20, ge=1024, description="Largest request body accepted, checked before it is read (413 above)."
    )
    alias_ttl_seconds: float = Field(
        2.0, ge=0, description="How long the gateway trusts a resolved champion alias before asking the tracker again."
    )


class MonitorSettings(_Section):
    """Monitoring (Evidently)."""

    drift_threshold: float = Field(
        0.5, gt=0, le=1, description="Share of drifted columns at or above which drift is declared."
    )
    reports_dir: Path | None = Field(
        None, description="Where drift reports are written. Default: <state_dir>/reports."
    )
    min_rows: int = Field(
        30, ge=1, description="Fewest captured rows a drift check needs."
    )
    html_reports: bool = Field(True, description="Also write the HTML report (about 5 MB each).")
    ui_port: int = Field(8000, ge=1, le=65535, description="Port of the Evidently UI in the stack (`mlops up`).")


class StackSettings(_Section):
    """The shared stack of supervised services (`mlops up`)."""

    health_timeout: float = Field(
        90.0, gt=0, description="Seconds `mlops up` waits for every service to become healthy."
    )
    stop_timeout: float = Field(
        15.0, gt=0, description="Seconds `mlops down` waits after SIGTERM before it kills what is left."
    )
    use_when_up: bool = Field(
        True, description="While the stack is up, clients use its servers; off: always embedded."
    )


class Settings(BaseSettings):
    """The whole platform's settings."""

    model_config = SettingsConfigDict(
        env_prefix=ENV_PREFIX,
        env_nested_delimiter="__",
        extra="forbid",
        validate_assignment=True,
    )

    state_dir: Path = Field(
        Path(".mlops"), description="Holds every database, artifact, remote, log and report."
    )
    workspace_root: Path = Field(
        Path("."), description="The workspace the settings were loaded for (found automatically)."
    )
    telemetry: bool = Field(
        False,
        description="Let the wrapped tools send their own usage telemetry. Off: DO_NOT_TRACK and "
        "MLFLOW_DISABLE_TELEMETRY are set for every process mlops starts.",
    )
    disabled_plugins: list[str] = Field(
        default_factory=list, description="Plugins (entry-point names) not to load, e.g. ['monitor']."
    )
    hw: HwSettings = Field(default_factory=HwSettings, description=HwSettings.__doc__)

    @field_validator("disabled_plugins", mode="before")
    @classmethod
    def _comma_list(cls, value: Any) -> Any:
        # MLOPS_DISABLED_PLUGINS=monitor,serve as well as the JSON list form.
        return [v.strip() for v in value.split(",") if v.strip()] if isinstance(value, str) else value
    data: DataSettings = Field(default_factory=DataSettings, description=DataSettings.__doc__)
    tracking: TrackingSettings = Field(default_factory=TrackingSettings, description=TrackingSettings.__doc__)
    orchestrate: OrchestrateSettings = Field(
        default_factory=OrchestrateSettings, description=OrchestrateSettings.__doc__
    )
    serve: ServeSettings = Field(default_factory=ServeSettings, description=ServeSettings.__doc__)
    monitor: MonitorSettings = Field(default_factory=MonitorSettings, description=MonitorSettings.__doc__)
    stack: StackSettings = Field(default_factory=StackSettings, description=StackSettings.__doc__)

    @model_validator(mode="after")
    def _resolve_paths(self) -> Settings:
        root = self.workspace_root.resolve()
        state = self.state_dir if self.state_dir.is_absolute() else root / self.state_dir
        object.__setattr__(self, "workspace_root", root)
        object.__setattr__(self, "state_dir", state)
        return self

    def tool_env(self) -> dict[str, str]:
        """Environment for the tools we run: their telemetry off unless ``telemetry`` is set.

        MLflow's telemetry thread also rewrites os.environ while requests iterate it (a KeyError
        seen in Airflow tasks); these machines are often offline anyway.
        """
        if self.telemetry:
            return {}
        return {"DO_NOT_TRACK": "true", "MLFLOW_DISABLE_TELEMETRY": "true"}

    # Derived locations: one place decides where each piece of state lives.
    @property
    def data_repo_dir(self) -> Path:
        return self.data.repo_dir or self.state_dir / "data"

    @property
    def data_remote_url(self) -> str:
        return self.data.remote_url or str(self.state_dir / "dvc-remote")

    @property
    def tracking_uri(self) -> str:
        return self.tracking.uri or f"sqlite:///{self.state_dir / 'mlflow.db'}"

    @property
    def artifact_root(self) -> Path:
        return self.tracking.artifact_root or self.state_dir / "mlartifacts"

    @property
    def airflow_home(self) -> Path:
        return self.orchestrate.airflow_home or self.state_dir / "airflow"

    @property
    def reports_dir(self) -> Path:
        return self.monitor.reports_dir or self.state_dir / "reports"

    @property
    def ledger_path(self) -> Path:
        return self.state_dir / "lineage.db"

    @property
    def registry_path(self) -> Path:
        return self.state_dir / "projects.json"

    @property
    def stack_dir(self) -> Path:
        """Supervisor config, pid, socket and the stack's state file."""
        return self.state_dir / "stack"

    @property
    def logs_dir(self) -> Path:
        return self.state_dir / "logs"

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        # load_settings() merges every layer (files, then env key by key) itself; reading the env
        # here again would parse it a second, different way. Build settings with load_settings().
        return (init_settings,)


_MARKERS = ("mlops.toml",)


def _read_toml(path: Path) -> dict[str, Any]:
    try:
        with path.open("rb") as fh:
            return tomllib.load(fh)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path} is not valid TOML: {exc}", fix=f"correct the syntax of {path}") from exc


def find_workspace_root(start: Path | None = None) -> Path:
    """The nearest folder holding ``mlops.toml`` or a uv workspace ``pyproject.toml``.

    Without a workspace around, the nearest folder with a ``pyproject.toml``, else ``start``.
    """
    start = (start or Path.cwd()).resolve()
    first_pyproject: Path | None = None
    for folder in (start, *start.parents):
        if (folder / "mlops.toml").is_file():
            return folder
        pyproject = folder / "pyproject.toml"
        if pyproject.is_file():
            data = _read_toml(pyproject)
            tool = data.get("tool", {})
            if "workspace" in tool.get("uv", {}) or "mlops" in tool and "project" not in data:
                return folder
            first_pyproject = first_pyproject or folder
    return first_pyproject or start


def _file_layer(path: Path, table: tuple[str, ...]) -> tuple[dict[str, Any], str]:
    data = _read_toml(path)
    for key in table:
        data = data.get(key, {})
    return data, f"{path}" + (f" [{'.'.join(table)}]" if table else "")


def _workspace_layer(root: Path) -> tuple[dict[str, Any], str]:
    if (root / "mlops.toml").is_file():
        return _file_layer(root / "mlops.toml", ())
    if (root / "pyproject.toml").is_file():
        return _file_layer(root / "pyproject.toml", ("tool", "mlops"))
    return {}, ""


def _merge(base: dict[str, Any], top: Mapping[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for key, value in top.items():
        if isinstance(value, Mapping) and isinstance(out.get(key), dict):
            out[key] = _merge(out[key], value)
        else:
            out[key] = value
    return out


def _env_values() -> dict[str, Any]:
    """MLOPS_* variables as nested values, so that env beats files key by key."""
    out: dict[str, Any] = {}
    for name, value in os.environ.items():
        if not name.startswith(ENV_PREFIX) or name.startswith("_") or not value.strip():
            continue  # an empty variable means unset (MLOPS_STATE_DIR= must not mean the cwd)
        parts = name[len(ENV_PREFIX):].lower().split("__")
        node = out
        for part in parts[:-1]:
            node = node.setdefault(part, {})
        node[parts[-1]] = _decode(value)
    return out


def _decode(value: str) -> Any:
    """Lists and tables are written as JSON in env vars: MLOPS_DISABLED_PLUGINS='["monitor"]'."""
    if value[:1] in "[{":
        try:
            return json.loads(value)
        except json.JSONDecodeError:
            pass
    return value


def _explain(exc: ValidationError, sources: list[str]) -> ConfigError:
    lines = []
    for err in exc.errors():
        loc = ".".join(str(p) for p in err["loc"])
        if err["type"] == "extra_forbidden":
            lines.append(f"unknown setting '{loc}'")
        else:
            lines.append(f"'{loc}': {err['msg']} (got {err.get('input')!r})")
    where = ", ".join(s for s in sources if s) or "defaults"
    env_hint = f"{ENV_PREFIX}<SECTION>__<KEY> variables"
    return ConfigError(
        "invalid settings: " + "; ".join(lines) + f" (read from: {where}, {env_hint})",
        fix="remove or correct those keys; `mlops config` prints every valid key with its description",
    )


def load_settings(
    *, root: Path | None = None, project_path: Path | None = None, **overrides: Any
) -> Settings:
    """Load the settings tree for the workspace around ``root`` (default: the current folder).

    ``project_path`` adds that project's ``[tool.mlops]`` layer; ``overrides`` win over all.
    """
    workspace = find_workspace_root(root)
    values, source = _workspace_layer(workspace)
    sources = [source]
    if project_path is not None and (project_path / "pyproject.toml").is_file():
        layer, psource = _file_layer(project_path / "pyproject.toml", ("tool", "mlops"))
        values = _merge(values, layer)
        sources.append(psource)
    # Env vars beat files, but pydantic-settings only merges env over init at top level, so the
    # env layer is merged here key by key and the model reads no env on its own.
    env = _env_values()
    if env:
        sources.append("environment")
    values = _merge(values, env)
    values = _merge(values, overrides)
    values.setdefault("workspace_root", workspace)
    try:
        # model_validate, not Settings(**values): the constructor would read the env again.
        return Settings.model_validate(values)
    except ValidationError as exc:
        raise _explain(exc, sources) from None
