"""The whole loop against the real tools: DVC repo, sqlite MLflow, real uvicorn gateway, Evidently."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import httpx
import pytest

from mlops_core.ledger import Ledger
from mlops_core.loop import check_drift
from mlops_core.registry import ProjectRegistry

PROJECT = "cpu-compression"

pytestmark = [pytest.mark.integration, pytest.mark.slow]


def test_pipeline_versions_trains_registers_and_promotes(loop_settings, loop_plugins, trained) -> None:
    assert trained["_events"] == [(s, st) for s in ("prepare", "train", "evaluate", "register", "deploy")
                                  for st in ("running", "success")]
    [dataset] = trained["prepare"]["datasets"]
    data_file = loop_settings.data_repo_dir / dataset["path"]
    assert dataset["hash"] == hashlib.md5(data_file.read_bytes()).hexdigest()
    assert trained["evaluate"]["metrics"]["accuracy"] > 0.9
    assert trained["deploy"] == {**trained["deploy"], "promoted": True, "alias": "champion"}

    tracker = loop_plugins.require_tracker()
    [run] = [r for r in tracker.runs(PROJECT) if r.run_id == trained["train"]["run_id"]]
    assert run.status == "FINISHED"
    assert "eval_accuracy" in run.metrics
    versions = tracker.model_versions(PROJECT, trained["register"]["name"])
    assert [v.aliases for v in versions if v.version == trained["deploy"]["version"]] == [("champion",)]


def test_run_is_tagged_with_hardware_and_data_hash(loop_settings, trained) -> None:
    import mlflow

    client = mlflow.MlflowClient(loop_settings.tracking_uri)
    tags = client.get_run(trained["train"]["run_id"]).data.tags
    assert tags["mlops.project"] == PROJECT
    assert tags["mlops.data_hash"] == trained["prepare"]["datasets"][0]["hash"]
    assert tags["hw.arch"] and tags["hw.thermal_state"] in {"nominal", "fair", "serious", "critical", "unknown"}
    history = client.get_metric_history(trained["train"]["run_id"], "loss")
    assert len(history) > 10  # per-step metrics arrived (batched)


def test_older_dataset_version_reads_back(loop_settings, loop_plugins, trained) -> None:
    store = loop_plugins.require_data_store()
    [dataset] = trained["prepare"]["datasets"]
    name = Path(dataset["path"]).name
    old = store.read(PROJECT, f"data/{name}", dataset["rev"])
    assert hashlib.md5(old).hexdigest() == dataset["hash"]


def test_gateway_serves_champion_and_refuses_bad_input(loop_settings, loop_plugins, trained, snapshot) -> None:
    project = ProjectRegistry(loop_settings, loop_plugins).get(PROJECT)
    data_dir = Path(trained["prepare"]["data_dir"])
    rows = project.samples(data_dir, "held_out", 5)
    model = trained["register"]["name"]
    before = snapshot(loop_settings.data_repo_dir)
    gateway = loop_plugins.start_gateway(port=0)
    try:
        with httpx.Client(base_url=gateway.url, timeout=30) as client:
            ok = client.post(f"/predict/{PROJECT}/{model}", json={"inputs": rows})
            assert ok.status_code == 200, ok.text
            assert ok.json()["version"] == trained["deploy"]["version"]
            assert len(ok.json()["predictions"]) == 5
            bad = {
                "unknown project": (f"/predict/nope/{model}", {"inputs": rows}, 404),
                "unknown model": (f"/predict/{PROJECT}/nope", {"inputs": rows}, 404),
                "too few features": (f"/predict/{PROJECT}/{model}", {"inputs": [rows[0][:63]]}, 422),
                "wrong type": (f"/predict/{PROJECT}/{model}", {"inputs": [["x"] * 64]}, 422),
                "missing body": (f"/predict/{PROJECT}/{model}", None, 422),
            }
            for what, (url, body, status) in bad.items():
                answer = client.post(url, json=body) if body is not None else client.post(url)
                assert answer.status_code == status, (what, answer.text)
                assert answer.json().get("fix"), (what, answer.text)
    finally:
        gateway.stop()
    assert snapshot(loop_settings.data_repo_dir) == before


def test_drift_loop_requests_retraining_with_full_lineage(loop_settings, loop_plugins, trained) -> None:
    project = ProjectRegistry(loop_settings, loop_plugins).get(PROJECT)
    data_dir = Path(trained["prepare"]["data_dir"])
    model = trained["register"]["name"]

    def send(rows):
        gateway = loop_plugins.start_gateway(port=0)
        try:
            with httpx.Client(base_url=gateway.url, timeout=30) as client:
                for i in range(0, len(rows), 25):
                    assert client.post(f"/predict/{PROJECT}/{model}", json={"inputs": rows[i:i + 25]}).status_code == 200
        finally:
            gateway.stop()

    send(project.samples(data_dir, "held_out", 150))
    calm, request = check_drift(loop_plugins, PROJECT, model, last_n=150)
    assert not calm.drift_detected and request is None
    send(project.samples(data_dir, "shifted", 150))
    drift, request = check_drift(loop_plugins, PROJECT, model, last_n=150)
    assert drift.drift_detected and request is not None
    assert json.loads(Path(drift.json_path).read_text())
    assert Path(drift.html_path).stat().st_size > 0

    ledger = Ledger(loop_settings.ledger_path)
    [chain] = ledger.upstream(f"retrain:{request.request_id}")
    kinds = [n.kind for n in chain]
    assert kinds == ["dataset", "run", "model", "drift", "retrain"]
    assert chain[0].id == f"dataset:{trained['prepare']['datasets'][0]['hash']}"
    downstream_ends = {p[-1].id for p in ledger.downstream(chain[0].id)}
    assert f"retrain:{request.request_id}" in downstream_ends
    assert f"alias:{model}@champion" in downstream_ends


def test_second_run_is_idempotent_on_data_and_adds_a_version(loop_settings, loop_plugins, trained) -> None:
    from mlops_core.pipeline import run_pipeline

    _, again = run_pipeline(loop_plugins, PROJECT, {"epochs": 5}, runner="inprocess")
    assert again["prepare"]["datasets"][0]["hash"] == trained["prepare"]["datasets"][0]["hash"]
    assert again["prepare"]["datasets"][0]["rev"] == trained["prepare"]["datasets"][0]["rev"]
    assert int(again["register"]["version"]) == int(trained["register"]["version"]) + 1
