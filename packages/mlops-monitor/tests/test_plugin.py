"""The plugin through the real plugin manager: hooks, doctor rows, CLI commands, light imports."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest
import typer
from typer.testing import CliRunner

from mlops_core.doctor import Check
from mlops_core.errors import ReferenceNotFoundError
from mlops_core.ledger import Ledger
from mlops_core.plugins import PluginManager
from mlops_core.project import Feature, Project, Schema
from mlops_core.providers import DriftMonitor
from mlops_core.records import ModelVersion
from mlops_core.settings import Settings
from mlops_monitor import Monitor, doctor

NAMES = ("a", "b", "c")


class TinyProject(Project):
    """Just enough of a project for the promotion hook: its schema."""

    name = "proj"

    def schema(self) -> Schema:
        return Schema(inputs=tuple(Feature(n) for n in NAMES))

    def prepare(self, data_dir: Path) -> list[Path]:
        raise NotImplementedError

    def train(self, data_dir: Path, model_dir: Path, params: Mapping[str, Any], log: Any) -> Mapping[str, float]:
        raise NotImplementedError

    def evaluate(self, data_dir: Path, model_dir: Path) -> Mapping[str, float]:
        raise NotImplementedError

    def load(self, model_dir: Path) -> Any:
        raise NotImplementedError

    def reference(self, data_dir: Path) -> list[list[float]]:
        raise NotImplementedError

    def samples(self, data_dir: Path, kind: str, n: int) -> list[list[float]]:
        raise NotImplementedError


def _promote(plugins: PluginManager, alias: str, rows: list[list[float]]) -> None:
    model = ModelVersion(project="proj", name="clf", version="3", aliases=(alias,))
    plugins.emit("mlops_model_registered", model=model)  # as the pipeline does, so the core's ledger knows it
    plugins.emit("mlops_model_promoted", project=TinyProject(), model=model, alias=alias, reference=rows)


def test_provider_is_a_drift_monitor(plugins: PluginManager) -> None:
    assert "monitor" in plugins.plugin_names()
    monitor = plugins.require_drift_monitor()
    assert isinstance(monitor, Monitor) and isinstance(monitor, DriftMonitor)


def test_served_batches_are_captured(plugins: PluginManager, make_batch) -> None:
    plugins.emit("mlops_predictions_served", batch=make_batch([[1, 2, 3], [4, 5, 6]], NAMES))
    assert plugins.event_errors == []
    assert [r.features for r in plugins.require_drift_monitor().rows("proj", "clf")] == [(1, 2, 3), (4, 5, 6)]


def test_promoting_the_champion_sets_the_reference(plugins: PluginManager, settings: Settings) -> None:
    monitor = plugins.require_drift_monitor()
    _promote(plugins, "challenger", [[0.0, 0.0, 0.0]])  # not what the gateway serves
    assert monitor.reference("proj", "clf") is None
    _promote(plugins, settings.tracking.champion_alias, [[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]])
    ref = monitor.reference("proj", "clf")
    assert ref is not None and ref.feature_names == NAMES and ref.rows == 2
    assert plugins.event_errors == []


def _doctor(plugins: PluginManager) -> dict[str, Check]:
    found = [c for result in plugins.hook.mlops_doctor_checks(settings=plugins.settings) for c in result or []]
    return {c.name: c for c in found if c.concern == "monitor"}


@pytest.mark.slow  # the evidently row really imports Evidently (3-9 s)
def test_doctor_hook_rows(plugins: PluginManager) -> None:
    rows = _doctor(plugins)
    assert sorted(rows) == ["capture store writable", "evidently", "evidently ui", "evidently workspace writable",
                            "references", "reports dir writable"]
    assert rows["evidently ui"].status == "ok" and "not running" in rows["evidently ui"].detail
    assert rows["evidently"].status == "ok" and "evidently 0.7" in rows["evidently"].detail


def test_doctor_references(plugins: PluginManager, settings: Settings, make_batch) -> None:
    before = doctor.reference_check(settings)
    assert before.status == "warn" and "mlops run" in before.fix
    _promote(plugins, settings.tracking.champion_alias, [[1.0, 2.0, 3.0]])
    plugins.emit("mlops_predictions_served", batch=make_batch([[1, 2, 3]], NAMES))
    after = doctor.reference_check(settings)
    assert after.status == "ok" and "proj/clf: 1 rows x 3 features, 1 captured since" in after.detail


def test_doctor_flags_an_unwritable_reports_dir(settings: Settings, tmp_path: Path) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    settings.monitor.reports_dir = blocker / "reports"
    rows = {c.name: c for c in doctor.storage_checks(settings)}
    assert rows["reports dir writable"].status == "fail" and str(blocker / "reports") in rows["reports dir writable"].detail
    assert rows["capture store writable"].status == "ok"
    assert rows["evidently workspace writable"].status == "ok"


def _cli(plugins: PluginManager) -> typer.Typer:
    app = typer.Typer()

    @app.callback()
    def _root() -> None:  # a group, as the real `mlops` app is
        """mlops"""

    plugins.hook.mlops_cli(app=app)
    return app


def test_cli_reports_and_errors(plugins: PluginManager, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.chdir(tmp_path)  # the commands load the settings of the current workspace
    app = _cli(plugins)
    runner = CliRunner()
    result = runner.invoke(app, ["monitor", "reports", "proj"])
    assert result.exit_code == 0 and "no drift reports for 'proj' yet" in result.output
    result = runner.invoke(app, ["monitor", "check", "proj", "--model", "clf"])
    assert isinstance(result.exception, ReferenceNotFoundError)  # the core's main() prints it with its fix
    result = runner.invoke(app, ["monitor", "check", "proj", "--model", "clf", "--last", "0"])
    assert result.exit_code == 2  # usage error: --last must be >= 1


@pytest.mark.slow
@pytest.mark.integration
def test_cli_check_runs_the_loop(plugins: PluginManager, settings: Settings, make_batch, tabular,
                                 monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("MLOPS_MONITOR__HTML_REPORTS", "false")
    names = [f"f{i}" for i in range(6)]
    monitor = plugins.require_drift_monitor()
    monitor.set_reference("proj", "clf", names, tabular(400, 6, seed=1))
    monitor.capture(make_batch(tabular(100, 6, seed=2, shift=1.5), names))
    app, runner = _cli(plugins), CliRunner()

    result = runner.invoke(app, ["monitor", "check", "proj", "--model", "clf", "--last", "100"])

    assert result.exit_code == 0, result.output
    assert "DRIFT" in result.output and "retraining requested" in result.output
    (indexed,) = monitor.list_reports("proj")
    assert indexed.report.drift_detected and indexed.report.html_path == ""
    # It went through mlops_core.loop.check_drift: the core recorded the report and the request.
    ledger = Ledger(settings.ledger_path)
    assert ledger.node(f"drift:{indexed.report.report_id}") is not None
    assert [n.kind for n in ledger.nodes(project="proj")] == ["drift", "retrain"]
    listed = runner.invoke(app, ["monitor", "reports", "proj", "--json"])
    assert listed.exit_code == 0 and json.loads(listed.output)[0]["report_id"] == indexed.report.report_id
    assert "DRIFT" in runner.invoke(app, ["monitor", "reports", "proj"]).output


def test_cli_start_imports_nothing_heavy() -> None:
    code = textwrap.dedent(
        """
        import sys
        from mlops_core.cli import main
        try:
            main(["monitor", "--help"])
        except SystemExit as exc:
            assert not exc.code, exc.code
        heavy = sorted(m for m in ("evidently", "pandas", "pyarrow", "numpy", "scipy") if m in sys.modules)
        print("HEAVY", heavy)
        """
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert "check" in out.stdout and "reports" in out.stdout
    assert "HEAVY []" in out.stdout
