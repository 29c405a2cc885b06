"""The plugin: provider hook, doctor checks, CLI commands, light imports, a real tracking server."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import typer
from typer.testing import CliRunner

from mlops_core.plugins import PluginManager
from mlops_core.settings import Settings
from mlops_tracking import plugin
from mlops_tracking.doctor import checks
from mlops_tracking.tracker import MlflowTracker


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_the_entry_point_provides_the_tracker(plugins: PluginManager) -> None:
    assert plugins.has("tracking")
    tracker = plugins.require_tracker()
    assert isinstance(tracker, MlflowTracker)
    assert tracker.uri == f"sqlite:///{plugins.settings.state_dir / 'mlflow.db'}"


def test_importing_the_plugin_does_not_import_mlflow() -> None:
    code = "import sys, mlops_tracking, mlops_tracking.plugin; print('mlflow' in sys.modules)"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "False"


def _by_name(rows: list[Any]) -> dict[str, Any]:
    return {row.name: row for row in rows}


def test_doctor_on_the_default_sqlite_store(settings: Settings) -> None:
    rows = _by_name(checks(settings))
    assert rows["mlflow"].status == "ok" and rows["mlflow"].detail.startswith("mlflow 3.17")
    assert rows["store"].status == "ok" and str(settings.state_dir / "mlflow.db") in rows["store"].detail
    assert rows["artifacts"].status == "ok"


def test_doctor_reports_a_file_store_and_a_server_that_is_down(settings: Settings) -> None:
    settings.tracking.uri = "file:///tmp/mlruns"
    store = _by_name(checks(settings))["store"]
    assert store.status == "fail" and "tracking.uri" in store.fix

    settings.tracking.uri = f"http://127.0.0.1:{_free_port()}"
    server = _by_name(checks(settings))["server"]
    assert server.status == "fail"
    assert "does not answer" in server.detail
    assert "mlops up" in server.fix and "tracking.uri" in server.fix


def test_cli_lists_runs_and_models_and_prints_the_ui_command(
    settings: Settings, monkeypatch: pytest.MonkeyPatch, tiny_project: Any, tmp_path: Path
) -> None:
    monkeypatch.setenv("MLOPS_STATE_DIR", str(settings.state_dir))
    tracker = MlflowTracker(settings, writer="thread", flush_interval=0.1)
    handle = tracker.start_run(tiny_project.name, params={"lr": 0.5}, dataset_hashes=("abcdef123456",))
    handle.log_metrics(0, {"loss": 0.25})
    run = handle.finish()
    version = tracker.register_model(tiny_project.name, run.run_id, tiny_project.save_model(tmp_path / "m", [1, 1, 1], 1),
                                     tiny_project.schema, name=tiny_project.model_name)
    tracker.set_alias(version, "champion")

    app = typer.Typer()
    plugin.mlops_cli(app=app)
    runner = CliRunner()

    result = runner.invoke(app, ["tracking", "runs", tiny_project.name])
    assert result.exit_code == 0, result.output
    assert run.run_id[:12] in result.output and "loss=0.25" in result.output and "abcdef1234" in result.output

    result = runner.invoke(app, ["tracking", "models", tiny_project.name])
    assert result.exit_code == 0, result.output
    assert tiny_project.model_name in result.output and "champion" in result.output

    result = runner.invoke(app, ["tracking", "runs", "unknown-project"])
    assert result.exit_code == 0 and "mlops run unknown-project" in result.output

    result = runner.invoke(app, ["tracking", "ui", "--port", "5055"])
    assert result.exit_code == 0, result.output
    assert f"--backend-store-uri sqlite:///{settings.state_dir / 'mlflow.db'}" in result.output
    assert "--port 5055" in result.output


@pytest.fixture
def mlflow_server(tmp_path: Path) -> Iterator[str]:
    """A real ``mlflow server`` (one worker) on a free port; stopped by its process group."""
    port = _free_port()
    env = {**os.environ, "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false"}
    log = (tmp_path / "server.log").open("w")
    proc = subprocess.Popen(
        # Artifacts proxied by the server (mlflow-artifacts:/), as in the stack profile.
        [sys.executable, "-m", "mlflow", "server", "--backend-store-uri", f"sqlite:///{tmp_path / 'server.db'}",
         "--artifacts-destination", (tmp_path / "server-artifacts").as_uri(),
         "--host", "127.0.0.1", "--port", str(port), "--workers", "1"],
        env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
    )
    uri = f"http://127.0.0.1:{port}"
    try:
        from mlops_tracking.doctor import server_health

        deadline = time.monotonic() + 180
        while server_health(uri, timeout=1).status != "ok":
            if proc.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"mlflow server did not start: {(tmp_path / 'server.log').read_text()[-2000:]}")
            time.sleep(0.5)
        yield uri
    finally:
        os.killpg(proc.pid, signal.SIGTERM)  # the group of the server we started, nothing else
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
        log.close()


@pytest.mark.slow
@pytest.mark.integration
def test_against_a_real_tracking_server(settings: Settings, mlflow_server: str, tiny_project: Any,
                                        tmp_path: Path) -> None:
    settings.tracking.uri = mlflow_server
    assert _by_name(checks(settings))["server"].status == "ok"

    tracker = MlflowTracker(settings, flush_interval=0.2)  # auto: the server does the writing
    assert tracker.remote
    handle = tracker.start_run(tiny_project.name, params={"lr": 0.1}, dataset_hashes=("h1",))
    for step in range(2000):
        handle.log_metrics(step, {f"m{i}": float(step + i) for i in range(5)})
    record = handle.finish()
    assert handle.writer is None
    # Every point went through the server's REST API (which refuses batches over 1000 metrics).
    for i in range(5):
        assert len(tracker.client.get_metric_history(record.run_id, f"m{i}")) == 2000
    assert record.url == f"{mlflow_server}/#/experiments/{tracker.client.get_run(record.run_id).info.experiment_id}/runs/{record.run_id}"

    version = tracker.register_model(tiny_project.name, record.run_id,
                                     tiny_project.save_model(tmp_path / "m", [1, 1, 1], 1.5),
                                     tiny_project.schema, name=tiny_project.model_name)
    tracker.set_alias(version, "champion")
    loaded = tracker.load_model(tiny_project.name, tiny_project.model_name)
    assert loaded.predict([[0, 0, 0], [1, 1, 1]]) == [0, 1]
    # The model went through the server's artifact proxy, and came back into the local cache.
    assert tracker.client.get_model_version_download_uri(tiny_project.model_name, "1").startswith("mlflow-artifacts:")
    assert list((tmp_path / "server-artifacts").rglob("MLmodel"))
    assert (settings.state_dir / "model-cache").is_dir()
