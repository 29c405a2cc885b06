"""Runs against a real sqlite MLflow store: batched metrics, params, tags, resume, errors."""

from __future__ import annotations

import math
import threading
import time
from pathlib import Path

import mlflow
import pytest
from mlflow import MlflowClient

from mlops_core.errors import InputValidationError, ReferenceNotFoundError, ServiceError
from mlops_core.settings import Settings
from mlops_tracking.tracker import MlflowTracker

STEPS = 2000
KEYS = ("loss", "accuracy", "lr", "grad_norm", "throughput")


def _log_many(handle, steps: int = STEPS, start: int = 0) -> None:  # type: ignore[no-untyped-def]
    for step in range(start, steps):
        handle.log_metrics(step, {key: step * 0.5 + i for i, key in enumerate(KEYS)})


def _assert_all_points(client: MlflowClient, run_id: str, steps: int = STEPS) -> None:
    for i, key in enumerate(KEYS):
        history = client.get_metric_history(run_id, key)
        assert len(history) == steps, key
        assert sorted(m.step for m in history) == list(range(steps))
        assert all(m.value == m.step * 0.5 + i for m in history)


@pytest.mark.parametrize("writer", ["thread", "auto"])
def test_batched_metrics_are_all_stored(settings: Settings, writer: str) -> None:
    """thread: written by the flusher as they come; auto: a bulk run shorter than the writer
    delay holds its points and writes them at finish (no process is started for it)."""
    tracker = MlflowTracker(settings, writer=writer, flush_interval=0.1, writer_delay=60)  # type: ignore[arg-type]
    handle = tracker.start_run("vision", run_name="many-points")
    _log_many(handle)
    record = handle.finish()
    assert handle.writer is None

    _assert_all_points(tracker.client, record.run_id)
    assert record.status == "FINISHED"
    assert record.metrics == {key: (STEPS - 1) * 0.5 + i for i, key in enumerate(KEYS)}
    assert tracker.client.get_run(record.run_id).info.status == "FINISHED"


def test_log_metrics_returns_before_the_store_is_written(settings: Settings) -> None:
    # A long flush interval: points logged now are only in the buffer, not yet in the store.
    tracker = MlflowTracker(settings, writer="thread", flush_interval=60)
    handle = tracker.start_run("vision")
    handle.log_metrics(0, {"loss": 1.0})
    assert tracker.client.get_metric_history(handle.run_id, "loss") == []
    record = handle.finish()
    assert record.metrics == {"loss": 1.0}


def _wait_for_writer(handle, timeout: float = 120) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while not (handle.writer is not None and handle.writer.ready):
        assert time.monotonic() < deadline, "the writer process did not start"
        time.sleep(0.1)


@pytest.mark.slow
def test_writer_process_stores_every_point(settings: Settings) -> None:
    """Large volumes go through a separate writer process; nothing is lost on the way."""
    tracker = MlflowTracker(settings, writer="process", flush_interval=0.1, writer_delay=0)
    handle = tracker.start_run("vision")
    _log_many(handle, steps=1000)
    _wait_for_writer(handle)
    _log_many(handle, start=1000)
    writer = handle.writer
    record = handle.finish()
    _assert_all_points(tracker.client, record.run_id)
    assert writer is not None and writer.errors == []


def test_experiment_params_tags_and_data_hashes(tracker: MlflowTracker, settings: Settings) -> None:
    handle = tracker.start_run(
        "vision",
        run_name="first",
        params={"lr": 0.01, "layers": [64, 32]},
        tags={"hw.chip": "test-chip", "team": "a"},
        dataset_hashes=("aaa111", "bbb222"),
    )
    handle.log_params({"epochs": 3})
    handle.set_tags({"stage": "trained", "team": "b"})
    record = handle.finish()

    run = tracker.client.get_run(record.run_id)
    assert run.info.run_name == "first"
    assert run.data.params == {"lr": "0.01", "layers": "[64, 32]", "epochs": "3"}
    tags = run.data.tags
    assert tags["mlops.project"] == "vision"
    assert tags["mlops.data_hash"] == "aaa111"
    assert tags["mlops.data_hashes"] == "aaa111,bbb222"
    assert (tags["hw.chip"], tags["team"], tags["stage"]) == ("test-chip", "b", "trained")
    assert record.dataset_hashes == ("aaa111", "bbb222")
    assert record.experiment == "vision"
    assert {d.dataset.digest for d in run.inputs.dataset_inputs} == {"aaa111", "bbb222"}

    experiment = tracker.client.get_experiment(run.info.experiment_id)
    assert experiment.name == "vision"
    assert experiment.tags["mlops.project"] == "vision"
    assert experiment.artifact_location == (settings.artifact_root / "vision").resolve().as_uri()


def test_experiment_prefix_gives_one_experiment_per_project(settings: Settings) -> None:
    settings.tracking.experiment_prefix = "team-a/"
    tracker = MlflowTracker(settings, writer="thread", flush_interval=0.1)
    first = tracker.start_run("vision").finish()
    second = tracker.start_run("vision").finish()
    other = tracker.start_run("text").finish()
    names = {e.name for e in tracker.client.search_experiments()}
    assert {"team-a/vision", "team-a/text"} <= names
    ids = {r: tracker.client.get_run(r).info.experiment_id for r in (first.run_id, second.run_id, other.run_id)}
    assert ids[first.run_id] == ids[second.run_id] != ids[other.run_id]


def test_resume_run_logs_to_the_same_run(tracker: MlflowTracker, settings: Settings) -> None:
    train = tracker.start_run("vision", dataset_hashes=("h1",))
    for step in range(10):
        train.log_metrics(step, {"loss": 1.0 / (step + 1)})
    trained = train.finish()

    # The evaluate task runs in another process: a fresh tracker on the same store.
    evaluator = MlflowTracker(settings, writer="thread", flush_interval=0.1)
    handle = evaluator.resume_run(trained.run_id)
    assert handle.run_id == trained.run_id
    assert evaluator.client.get_run(trained.run_id).info.status == "RUNNING"
    handle.log_metrics(0, {"eval_accuracy": 0.93})
    evaluated = handle.finish()

    assert evaluated.run_id == trained.run_id
    assert evaluated.status == "FINISHED"
    assert evaluated.metrics == {"loss": 0.1, "eval_accuracy": 0.93}
    assert evaluated.dataset_hashes == ("h1",)
    assert len(tracker.client.get_metric_history(trained.run_id, "loss")) == 10
    assert len(tracker.client.search_runs([tracker.client.get_run(trained.run_id).info.experiment_id])) == 1


def test_resume_unknown_run_is_a_reference_error(tracker: MlflowTracker) -> None:
    with pytest.raises(ReferenceNotFoundError) as info:
        tracker.resume_run("0123456789abcdef0123456789abcdef")
    assert "mlops tracking runs" in (info.value.fix or "")


def test_flusher_error_is_raised_at_finish(tracker: MlflowTracker) -> None:
    handle = tracker.start_run("vision")
    handle.log_metrics(0, {"loss": 1.0})
    threading.Event().wait(0.5)  # flushed
    # Someone deletes the run while it trains: the store now refuses its metrics.
    tracker.client.delete_run(handle.run_id)
    for step in range(1, 1501):
        handle.log_metrics(step, {"loss": 1.0 / step})
    with pytest.raises(ServiceError) as info:
        handle.finish()
    assert "1500 of 1501 metric points could not be stored" in info.value.message
    assert "active" in info.value.message  # MLflow's own reason is kept
    assert len(tracker.client.get_metric_history(handle.run_id, "loss")) == 1  # what was stored stays


@pytest.mark.slow
def test_writer_process_error_is_raised_at_finish(settings: Settings) -> None:
    tracker = MlflowTracker(settings, writer="process", flush_interval=0.1, writer_delay=0)
    handle = tracker.start_run("vision")
    tracker.client.delete_run(handle.run_id)
    _log_many(handle, steps=400)
    _wait_for_writer(handle)
    writer = handle.writer
    assert writer is not None
    _log_many(handle, steps=800, start=400)
    deadline = time.monotonic() + 120
    while not writer.errors:  # the child itself reports the store's refusal
        assert time.monotonic() < deadline, "the writer reported nothing"
        time.sleep(0.1)
    with pytest.raises(ServiceError) as info:
        handle.finish()
    assert f"{800 * len(KEYS)} of {800 * len(KEYS)} metric points" in info.value.message


def test_bad_metrics_are_refused_at_once_and_keep_the_good_ones(tracker: MlflowTracker) -> None:
    handle = tracker.start_run("vision")
    handle.log_metrics(0, {"loss": 0.5})
    with pytest.raises(InputValidationError):
        handle.log_metrics(1, {"loss": "high"})  # type: ignore[dict-item]
    with pytest.raises(InputValidationError):
        handle.log_metrics(1, {"../escape": 1.0})
    handle.log_metrics(2, {"loss": float("nan")})
    record = handle.finish()
    history = tracker.client.get_metric_history(record.run_id, "loss")
    assert [m.step for m in sorted(history, key=lambda m: m.step)] == [0, 2]
    assert math.isnan(record.metrics["loss"])
    with pytest.raises(InputValidationError):
        handle.log_metrics(3, {"loss": 0.1})  # finished handles refuse, loudly


def test_context_manager_marks_failed_runs(tracker: MlflowTracker) -> None:
    with pytest.raises(RuntimeError, match="diverged"):
        with tracker.start_run("vision") as handle:
            handle.log_metrics(0, {"loss": 9.0})
            raise RuntimeError("diverged")
    run = tracker.client.get_run(handle.run_id)
    assert run.info.status == "FAILED"
    assert run.data.metrics == {"loss": 9.0}
    with tracker.start_run("vision") as ok:
        ok.log_metrics(0, {"loss": 0.1})
    assert ok.record is not None and ok.record.status == "FINISHED"


def test_runs_lists_newest_first(tracker: MlflowTracker) -> None:
    assert tracker.runs("never-trained") == []
    ids = [tracker.start_run("vision", run_name=f"r{i}").finish().run_id for i in range(3)]
    listed = tracker.runs("vision", limit=2)
    assert [r.run_id for r in listed] == ids[::-1][:2]
    assert all(r.project == "vision" and r.status == "FINISHED" for r in listed)


def test_no_global_mlflow_state_is_touched(tracker: MlflowTracker) -> None:
    before = mlflow.get_tracking_uri()
    stray = Path.cwd() / "mlflow.db"  # MLflow's default store, used when code falls back to globals
    existed = stray.exists()
    handle = tracker.start_run("vision")
    handle.log_metrics(0, {"loss": 1.0})
    handle.finish()
    assert mlflow.active_run() is None
    assert mlflow.get_tracking_uri() == before
    assert stray.exists() == existed
