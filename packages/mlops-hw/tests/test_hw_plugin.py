"""The plugin through the real plugin manager, doctor and a real typer app."""

from __future__ import annotations

import json

import typer
from typer.testing import CliRunner

from mlops_core.doctor import run_checks
from mlops_core.plugins import PluginManager
from mlops_core.records import HardwareProfile
from mlops_hw import plugin
from mlops_hw.profile import probe


def test_entry_point_provides_the_profile(plugins: PluginManager) -> None:
    assert plugins.has("hw")
    profile = plugins.hardware()
    assert isinstance(profile, HardwareProfile)
    assert profile.chip == probe().chip


def test_doctor_checks(plugins: PluginManager) -> None:
    checks = {c.name: c for c in run_checks(plugins) if c.concern == "hw"}
    assert set(checks) >= {"psutil", "thermal sensor", "mlx backend", "nvidia"}
    assert checks["psutil"].status == "ok"
    profile = probe()
    thermal = checks["thermal sensor"]
    if profile.thermal_state == "unknown":
        assert (thermal.status, thermal.detail) == ("warn", "unknown — no sensor")
        assert thermal.fix
    else:
        assert thermal.status == "ok" and profile.thermal_source in thermal.detail
    mlx = checks["mlx backend"]
    if any(b.startswith("mlx-") for b in profile.backends):
        assert mlx.status == "ok"
    else:
        assert mlx.fix.endswith('uv add "mlops-hw[mlx]"')
    assert checks["nvidia"].status in ("ok", "warn")


def _app() -> typer.Typer:
    app = typer.Typer()

    @app.callback()
    def main() -> None:
        """A stand-in for the mlops root app: plugins add sub-commands to it."""

    plugin.mlops_cli(app=app)
    return app


def test_cli_json() -> None:
    result = CliRunner().invoke(_app(), ["hw", "--json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    profile = probe()
    assert data["chip"] == profile.chip
    assert data["cpu_cores_logical"] == profile.cpu_cores_logical
    assert data["thermal_state"] == profile.thermal_state
    assert data["backends"] == list(profile.backends)


def test_cli_table() -> None:
    result = CliRunner().invoke(_app(), ["hw"], env={"COLUMNS": "160"})
    assert result.exit_code == 0, result.output
    profile = probe()
    assert profile.chip in result.output
    assert f"{profile.thermal_state} (source: {profile.thermal_source})" in result.output
