"""Drift checks: captured traffic against the training reference, with Evidently's DataDriftPreset.

How drift is decided:

* each feature column is compared on its own; a column *drifts* when the two-sample
  Kolmogorov-Smirnov test gives p < 0.05 (:data:`NUM_METHOD`);
* the report's drift share is drifted columns / all columns, read from Evidently's
  ``DriftedColumnsCount`` result;
* drift is declared when that share is at or above the threshold (``monitor.drift_threshold``).

Why K-S for every numeric column instead of Evidently's automatic choice: with more than 1000
reference rows Evidently switches to a normed Wasserstein distance with a fixed 0.1 cut-off, which
ignores how few rows were captured. On scikit-learn's digits (1,300 reference rows, 64 columns)
unshifted held-out traffic then "drifts" in 73% of the columns at 30 rows and 53% at 50, so a
default check would call for retraining on healthy traffic. K-S accounts for the sample sizes:
on the same data 0-8% of the columns drift from 30 rows on, and a one-grey-level shift is
flagged in 59% of the columns at 30 rows and over 80% from 50 rows on.

Columns that are constant (digits' always-blank corner pixels) are compared like any other: the
same constant on both sides does not drift (p = 1), a constant column that starts to vary does.
Evidently is imported inside :func:`evidently_snapshot` only: it takes 3-9 s to import.
"""

from __future__ import annotations

import functools
import json
import math
import os
import uuid
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from types import SimpleNamespace
from typing import TYPE_CHECKING, Any

from mlops_core.errors import InputValidationError, MlopsError, ReferenceNotFoundError
from mlops_core.records import DriftReport

from mlops_monitor.captures import CaptureStore, feature_matrix
from mlops_monitor.paths import report_dir
from mlops_monitor.reference import ReferenceStore
from mlops_monitor.reports import ReportIndex
from mlops_monitor.workspace import DriftWorkspace, model_tag, run_metadata

if TYPE_CHECKING:
    import pandas as pd

    from mlops_core.settings import Settings

__all__ = [
    "NUM_METHOD",
    "NotEnoughRowsError",
    "evidently_snapshot",
    "import_evidently",
    "parse_drifted_columns",
    "run_check",
]

#: Evidently's drift method for numeric columns (see the module docstring for why)
NUM_METHOD = "ks"
_DRIFTED_COLUMNS_COUNT = "evidently:metric_v2:DriftedColumnsCount"


class NotEnoughRowsError(MlopsError):
    """Too little traffic was captured for a meaningful drift check."""

    exit_code = 2
    http_status = 409


def run_check(
    settings: Settings,
    captures: CaptureStore,
    references: ReferenceStore,
    index: ReportIndex,
    project: str,
    model: str,
    *,
    threshold: float | None = None,
    last_n: int | None = None,
    num_method: str | None = NUM_METHOD,
    workspace: DriftWorkspace | None = None,
) -> DriftReport:
    """Compare captured rows of ``project``/``model`` with its reference; write and index the report.

    The current window is the last ``last_n`` captured rows, or else every row captured since the
    reference was set (that is, since the model now served was promoted). With ``workspace`` the
    check is also added as a run of the project's Evidently project (before anything else is
    written, so a workspace that cannot be written fails the check whole).
    """
    threshold = settings.monitor.drift_threshold if threshold is None else threshold
    if not 0 < threshold <= 1:
        raise InputValidationError(f"drift threshold must be in (0, 1], got {threshold}",
                                   fix="pass a share of columns, e.g. 0.5")
    if last_n is not None and last_n < 1:
        raise InputValidationError(f"last_n must be at least 1, got {last_n}", fix="ask for 1 or more rows")
    reference = references.get(project, model)
    if reference is None:
        raise ReferenceNotFoundError(
            f"no drift reference for {project}/{model}: no model of it has been deployed yet",
            fix=f"deploy a model first: `mlops run {project}` (promoting it sets the reference)",
        )
    if last_n is not None:
        rows = captures.rows(project, model, last_n=last_n)
        window = f"among the last {last_n} captured"
    else:
        rows = captures.rows(project, model, since=reference.set_at)
        window = f"captured since the reference was set ({reference.set_at})"
    minimum = settings.monitor.min_rows
    if len(rows) < minimum:
        raise NotEnoughRowsError(
            f"{project}/{model}: only {len(rows)} rows {window}; a drift check needs at least {minimum}",
            fix="send more traffic to the model, or lower monitor.min_rows (MLOPS_MONITOR__MIN_ROWS)",
        )
    import pandas as pd

    names = list(reference.feature_names)
    current = pd.DataFrame(feature_matrix(rows, names), columns=names, dtype="float64")
    reference_frame = references.frame(project, model)[names]

    created = datetime.now(UTC)
    report_id = f"{created:%Y%m%dT%H%M%S}-{uuid.uuid4().hex[:8]}"
    version = rows[-1].version  # the version serving the latest traffic
    snapshot = evidently_snapshot(
        reference_frame, current, threshold=threshold, num_method=num_method,
        # Naive local time, as Evidently stamps its own runs: the UI compares them with each other.
        timestamp=created.astimezone().replace(tzinfo=None),
        tags=[model_tag(model), f"version:{version}"],
        metadata=run_metadata({"project": project, "model": model, "version": version, "report_id": report_id,
                               "rows_current": len(current), "rows_reference": len(reference_frame)}),
    )
    snapshot_json = snapshot.json()
    drifted, share = parse_drifted_columns(snapshot_json)
    run = None
    if workspace is not None:
        run = workspace.add_run(project, model, snapshot, name=f"{model} v{version} {report_id}")

    folder = report_dir(settings, project)
    folder.mkdir(parents=True, exist_ok=True)
    json_path = folder / f"{report_id}.json"
    _write_text(json_path, snapshot_json)
    html_path = ""
    if settings.monitor.html_reports:
        html_path = str(folder / f"{report_id}.html")
        with _quiet_numpy():
            snapshot.save_html(html_path)
    report = DriftReport(
        project=project,
        model=model,
        version=version,
        report_id=report_id,
        drift_share=share,
        drifted_columns=drifted,
        total_columns=len(names),
        threshold=threshold,
        drift_detected=share >= threshold,
        json_path=str(json_path),
        html_path=html_path,
        rows_current=len(current),
        rows_reference=len(reference_frame),
    )
    index.add(report, created.isoformat(timespec="microseconds"),
              evidently_project_id=run.project_id if run else "", evidently_run_id=run.run_id if run else "")
    return report


def evidently_snapshot(
    reference: pd.DataFrame,
    current: pd.DataFrame,
    *,
    threshold: float,
    num_method: str | None = NUM_METHOD,
    timestamp: datetime | None = None,
    tags: list[str] | None = None,
    metadata: dict[str, str] | None = None,
) -> Any:
    """Run Evidently's DataDriftPreset over every column (all numeric); returns the snapshot.

    ``timestamp``, ``tags`` and ``metadata`` label the run in the Evidently workspace.
    """
    evidently = import_evidently()
    columns = list(reference.columns)
    definition = evidently.DataDefinition(numerical_columns=columns)
    # drift_share=threshold so that the HTML report's own verdict agrees with ours.
    preset = evidently.DataDriftPreset(columns=columns, drift_share=threshold, num_method=num_method)
    try:
        with _quiet_numpy():
            return evidently.Report([preset]).run(
                current_data=evidently.Dataset.from_pandas(current, data_definition=definition),
                reference_data=evidently.Dataset.from_pandas(reference, data_definition=definition),
                timestamp=timestamp, tags=tags, metadata=metadata,
            )
    except Exception as exc:  # Evidently's own errors are plain ValueErrors and the like
        raise MlopsError(
            f"Evidently failed to build the drift report: {type(exc).__name__}: {exc}",
            fix="check the captured rows and the reference (`mlops monitor reports`), and `mlops doctor`",
        ) from exc


def parse_drifted_columns(snapshot_json: str | dict[str, Any]) -> tuple[int, float]:
    """(drifted columns, drifted share) from the ``DriftedColumnsCount`` result of a snapshot's JSON."""
    data = json.loads(snapshot_json) if isinstance(snapshot_json, str) else snapshot_json
    for metric in data.get("metrics", []):
        if metric.get("config", {}).get("type") != _DRIFTED_COLUMNS_COUNT:
            continue
        value = metric.get("value") or {}
        count, share = value.get("count"), value.get("share")
        if not isinstance(count, int | float) or not isinstance(share, int | float) \
                or not math.isfinite(count) or not math.isfinite(share):
            raise MlopsError(f"Evidently's DriftedColumnsCount has no usable value: {value!r}",
                             fix="check the reference and captured rows for columns with no values at all")
        return round(count), float(share)
    raise MlopsError(
        "the Evidently report holds no DriftedColumnsCount result",
        fix="this evidently version changed its report format; install the one mlops-monitor declares (uv sync)",
    )


@functools.cache
def import_evidently() -> SimpleNamespace:
    """The few Evidently names used here, imported once (a failed import is retried next time)."""
    try:
        with warnings.catch_warnings():
            # Evidently's import trips numpy/litestar deprecations that are not ours to fix.
            warnings.simplefilter("ignore", DeprecationWarning)
            warnings.simplefilter("ignore", PendingDeprecationWarning)
            warnings.simplefilter("ignore", FutureWarning)
            from evidently import DataDefinition, Dataset, Report
            from evidently.presets import DataDriftPreset
    except ImportError as exc:
        raise MlopsError(
            f"evidently cannot be imported: {exc}",
            fix='reinstall mlops-monitor\'s dependencies (uv sync); evidently 0.7 needs "pandas<3"',
        ) from exc
    return SimpleNamespace(DataDefinition=DataDefinition, Dataset=Dataset, Report=Report,
                           DataDriftPreset=DataDriftPreset)


@contextmanager
def _quiet_numpy() -> Iterator[None]:
    """Hide numpy's divide warnings: Evidently correlates constant columns (0/0) for its plots."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", r"invalid value encountered", RuntimeWarning)
        warnings.filterwarnings("ignore", r"divide by zero encountered", RuntimeWarning)
        yield


def _write_text(path: os.PathLike[str], text: str) -> None:
    tmp = f"{os.fspath(path)}.tmp"
    with open(tmp, "w", encoding="utf-8") as fh:
        fh.write(text)
    os.replace(tmp, path)

