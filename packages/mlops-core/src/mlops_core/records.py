"""Records that cross hook boundaries.

Plain frozen dataclasses of JSON-friendly values, so that they can be logged, stored in the
ledger and passed between Airflow tasks. Plugins never exchange their tools' own objects.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

__all__ = [
    "DatasetVersion",
    "DriftReport",
    "HardwareProfile",
    "ModelVersion",
    "PredictionBatch",
    "ProjectInfo",
    "RetrainRequest",
    "RunRecord",
    "ServiceSpec",
    "as_dict",
]


def as_dict(record: Any) -> dict[str, Any]:
    """A record as a JSON-friendly dict."""
    return dataclasses.asdict(record)


@dataclass(frozen=True)
class ProjectInfo:
    """A registered project, as persisted in the state directory."""

    name: str
    path: str
    extras: tuple[str, ...] = ()
    registered_at: str = ""
    active: bool = True
    description: str = ""
    entry_point: str = ""


@dataclass(frozen=True)
class HardwareProfile:
    """What this machine is and what it can use. ``"unknown"`` where there is no sensor."""

    os: str
    arch: str
    chip: str
    cpu_cores_physical: int | None
    cpu_cores_logical: int | None
    memory_total_bytes: int | None
    memory_available_bytes: int | None
    #: usable accelerator backends, e.g. ("mlx-cpu",) or ("mlx-metal", "mlx-cpu") or ("cuda",)
    backends: tuple[str, ...] = ()
    #: "nominal" | "fair" | "serious" | "critical" | "unknown", from a real sensor only
    thermal_state: str = "unknown"
    #: where thermal_state came from, e.g. "pmset -g therm", "/sys/class/thermal", "none"
    thermal_source: str = "none"
    gpus: tuple[dict[str, Any], ...] = ()
    extra: dict[str, Any] = field(default_factory=dict)

    def tags(self) -> dict[str, str]:
        """Flat ``hw.*`` tags for a tracking run."""
        out = {
            "hw.os": self.os,
            "hw.arch": self.arch,
            "hw.chip": self.chip,
            "hw.cpu_cores_physical": str(self.cpu_cores_physical),
            "hw.cpu_cores_logical": str(self.cpu_cores_logical),
            "hw.memory_total_gb": (
                f"{self.memory_total_bytes / 2**30:.1f}" if self.memory_total_bytes else "unknown"
            ),
            "hw.backends": ",".join(self.backends) or "none",
            "hw.thermal_state": self.thermal_state,
            "hw.thermal_source": self.thermal_source,
            "hw.gpu_count": str(len(self.gpus)),
        }
        for key, value in self.extra.items():
            out[f"hw.{key}"] = str(value)
        return out


@dataclass(frozen=True)
class DatasetVersion:
    """A dataset or model file put under version control."""

    project: str
    #: path relative to the data repository
    path: str
    #: content hash (DVC md5; for a directory the ``.dir`` hash)
    hash: str
    #: revision of the data repository that holds this version (a git commit)
    rev: str
    size_bytes: int = 0
    kind: str = "dataset"  # "dataset" | "model"


@dataclass(frozen=True)
class RunRecord:
    """A training run."""

    project: str
    run_id: str
    experiment: str
    status: str = "RUNNING"  # RUNNING | FINISHED | FAILED
    params: dict[str, Any] = field(default_factory=dict)
    metrics: dict[str, float] = field(default_factory=dict)
    dataset_hashes: tuple[str, ...] = ()
    url: str = ""


@dataclass(frozen=True)
class ModelVersion:
    """A registered model version."""

    project: str
    name: str
    version: str
    run_id: str = ""
    aliases: tuple[str, ...] = ()
    uri: str = ""

    @property
    def ref(self) -> str:
        return f"{self.name}/{self.version}"


@dataclass(frozen=True)
class PredictionBatch:
    """One batch of predictions the gateway served."""

    project: str
    model: str
    version: str
    feature_names: tuple[str, ...]
    inputs: tuple[tuple[float, ...], ...]
    outputs: tuple[Any, ...]
    served_at: str
    latency_ms: float = 0.0


@dataclass(frozen=True)
class DriftReport:
    """The result of comparing served data against the training reference."""

    project: str
    model: str
    version: str
    report_id: str
    drift_share: float
    drifted_columns: int
    total_columns: int
    threshold: float
    drift_detected: bool
    json_path: str = ""
    html_path: str = ""
    rows_current: int = 0
    rows_reference: int = 0


@dataclass(frozen=True)
class RetrainRequest:
    """A request to retrain a project's model, e.g. after drift."""

    project: str
    model: str
    reason: str
    request_id: str
    requested_at: str
    source_ref: str = ""  # e.g. the drift report id
    status: str = "pending"  # pending | triggered | done
    how: str = ""  # what will run it, e.g. an Airflow DAG id, or the command to run


@dataclass(frozen=True)
class ServiceSpec:
    """A long-running service a concern contributes to ``mlops up``."""

    #: unique name, e.g. "mlflow", "airflow-scheduler", "gateway", "evidently-ui"
    name: str
    #: the concern (extra) that provides it: "tracking", "orchestrate", "serve", "monitor"
    concern: str
    #: the command line; the first item is an executable path or name
    command: tuple[str, ...]
    env: dict[str, str] = field(default_factory=dict)
    cwd: str = ""
    #: port it binds on 127.0.0.1 (None for services without one, e.g. the Airflow scheduler)
    port: int | None = None
    #: the setting that chooses the port, named in "port already taken" errors
    port_setting: str = ""
    #: GET this until it answers 2xx to call the service healthy (None: healthy while running)
    health_url: str | None = None
    #: the page a person opens, shown by `mlops status` and linked from the dashboard
    ui_url: str | None = None
    #: seconds to wait for health before `mlops up` fails with the log's last lines
    ready_timeout: float = 60.0
    #: commands run once, in order, before the first start (e.g. a database migration)
    setup: tuple[tuple[str, ...], ...] = ()
    #: lower starts first
    order: int = 50
