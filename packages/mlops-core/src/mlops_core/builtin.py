"""The core's own plugin: records every lifecycle event in the lineage ledger.

Registered first under the name ``core``; other plugins run before it.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import TYPE_CHECKING

from mlops_core.hookspecs import hookimpl
from mlops_core.records import (
    DatasetVersion,
    DriftReport,
    ModelVersion,
    RetrainRequest,
    RunRecord,
    as_dict,
)

if TYPE_CHECKING:
    from mlops_core.ledger import Ledger
    from mlops_core.project import Project
    from mlops_core.settings import Settings


def _ledger(settings: Settings) -> Ledger:
    from mlops_core.ledger import Ledger  # sqlite3: not at CLI start

    return Ledger(settings.ledger_path)


@hookimpl
def mlops_dataset_versioned(settings: Settings, dataset: DatasetVersion) -> None:
    _ledger(settings).add_node(
        f"dataset:{dataset.hash}",
        project=dataset.project,
        label=f"{dataset.kind} {dataset.path} ({dataset.hash[:10]}, rev {dataset.rev[:10]})",
        data=as_dict(dataset),
    )


@hookimpl
def mlops_after_run(settings: Settings, project: Project, run: RunRecord) -> None:
    ledger = _ledger(settings)
    ledger.add_node(
        f"run:{run.run_id}",
        project=run.project,
        label=f"run {run.run_id[:12]} {run.status}",
        data=as_dict(run),
    )
    for digest in run.dataset_hashes:
        if ledger.node(f"dataset:{digest}") is not None:
            ledger.link(f"dataset:{digest}", f"run:{run.run_id}", "trained")


@hookimpl
def mlops_model_registered(settings: Settings, model: ModelVersion) -> None:
    ledger = _ledger(settings)
    node = f"model:{model.ref}"
    ledger.add_node(node, project=model.project, label=f"model {model.ref}", data=as_dict(model))
    if model.run_id and ledger.node(f"run:{model.run_id}") is not None:
        # exclusive: if the registry was reset, version numbers repeat; the newest run wins and
        # the older edge stays as inactive history.
        ledger.link(f"run:{model.run_id}", node, "produced", exclusive_dst=True)


@hookimpl
def mlops_model_promoted(
    settings: Settings, project: Project, model: ModelVersion, alias: str, reference: Sequence[Sequence[float]]
) -> None:
    ledger = _ledger(settings)
    node = f"alias:{model.name}@{alias}"
    ledger.add_node(node, project=model.project, label=f"{model.name}@{alias} -> v{model.version}",
                    data={"name": model.name, "alias": alias, "version": model.version})
    ledger.link(f"model:{model.ref}", node, "promoted", exclusive_dst=True)


@hookimpl
def mlops_drift_checked(settings: Settings, report: DriftReport) -> None:
    ledger = _ledger(settings)
    node = f"drift:{report.report_id}"
    verdict = "DRIFT" if report.drift_detected else "no drift"
    ledger.add_node(
        node,
        project=report.project,
        label=f"drift report {report.report_id}: {verdict} ({report.drifted_columns}/{report.total_columns} columns)",
        data=as_dict(report),
    )
    model = f"model:{report.model}/{report.version}"
    if ledger.node(model) is not None:
        ledger.link(model, node, "monitored")


@hookimpl(trylast=True)
def mlops_drift_detected(settings: Settings, report: DriftReport) -> RetrainRequest:
    # Fallback when no orchestrator answers: the request names the command that retrains.
    from mlops_core.ledger import now_iso

    return RetrainRequest(
        project=report.project,
        model=report.model,
        reason=f"drift share {report.drift_share:.2f} >= threshold {report.threshold:.2f}",
        request_id=uuid.uuid4().hex[:12],
        requested_at=now_iso(),
        source_ref=f"drift:{report.report_id}",
        how=f"mlops run {report.project}",
    )


@hookimpl
def mlops_retrain_requested(settings: Settings, request: RetrainRequest) -> None:
    ledger = _ledger(settings)
    node = f"retrain:{request.request_id}"
    ledger.add_node(node, project=request.project, label=f"retrain request {request.request_id} ({request.status}): {request.how}",
                    data=as_dict(request))
    if request.source_ref and ledger.node(request.source_ref) is not None:
        ledger.link(request.source_ref, node, "requested")
