"""The data plugin as the platform sees it: entry point, provider, doctor rows, CLI, light imports."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from mlops_core.plugins import PluginManager
from mlops_core.settings import Settings, load_settings

from mlops_data.remote import PLUGINS
from mlops_data.store import DvcStore


def _rows(settings: Settings) -> dict[str, object]:
    from mlops_data.doctor import checks

    return {c.name: c for c in checks(settings)}


def test_the_entry_point_provides_one_dvc_store_per_settings(plugins: PluginManager, settings: Settings) -> None:
    assert "data" in plugins.plugin_names()
    store = plugins.data_store()
    assert isinstance(store, DvcStore)
    assert store.root == settings.data_repo_dir.resolve()
    assert plugins.data_store() is store


def test_importing_the_plugin_does_not_import_dvc() -> None:
    code = ("import sys, mlops_data, mlops_data.plugin, mlops_data.cli, mlops_data.doctor\n"
            "heavy = sorted(m for m in sys.modules if m.split('.')[0] in ('dvc', 'dvc_data', 'scmrepo', 'git'))\n"
            "print(','.join(heavy))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip()
    assert out == ""


def test_doctor_before_first_use_says_what_will_be_created_and_creates_nothing(settings: Settings) -> None:
    rows = _rows(settings)

    assert {name: c.status for name, c in rows.items()} == {  # type: ignore[attr-defined]
        "dvc installed": "ok", "git installed": "ok", "repository": "ok", "remote 'local'": "ok"}
    assert "will be created on first use" in rows["repository"].detail  # type: ignore[attr-defined]
    assert "created on the first push" in rows["remote 'local'"].detail  # type: ignore[attr-defined]
    assert not settings.data_repo_dir.exists()


@pytest.mark.integration
def test_doctor_after_first_use_reports_the_repository(settings: Settings) -> None:
    DvcStore(settings).project_dir("iris")
    detail = _rows(settings)["repository"].detail  # type: ignore[attr-defined]
    assert "initialized" in detail and "1 commits" in detail


def test_doctor_fails_the_remote_whose_plugin_is_missing_with_the_install_command(settings: Settings) -> None:
    from importlib.util import find_spec

    scheme = next((s for s, (module, _) in PLUGINS.items() if find_spec(module) is None), None)
    if scheme is None:
        pytest.skip("every DVC remote plugin is installed")
    configured = load_settings(root=settings.workspace_root, data={"remote_url": f"{scheme}://bucket/x"})
    row = _rows(configured)["remote 'local'"]
    assert row.status == "fail"  # type: ignore[attr-defined]
    assert row.fix == f'uv add "dvc[{PLUGINS[scheme][1]}]"'  # type: ignore[attr-defined]


def test_doctor_fails_an_invalid_cache_type(settings: Settings) -> None:
    configured = load_settings(root=settings.workspace_root, data={"cache_type": "magic"})
    row = _rows(configured)["repository"]
    assert row.status == "fail" and "cache_type" in row.fix  # type: ignore[attr-defined]


def test_doctor_fails_a_remote_path_that_is_a_file(settings: Settings, tmp_path: Path) -> None:
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("x")
    configured = load_settings(root=settings.workspace_root, data={"remote_url": str(blocker)})
    assert _rows(configured)["remote 'local'"].status == "fail"  # type: ignore[attr-defined]


@pytest.fixture
def cli(plugins: PluginManager, settings: Settings, monkeypatch: pytest.MonkeyPatch) -> typer.Typer:
    """The ``mlops`` app with only the data plugin's commands, run from the test's workspace."""
    monkeypatch.chdir(settings.workspace_root)
    app = typer.Typer()

    @app.callback()
    def _root() -> None:
        """Test root."""

    plugins.hook.mlops_cli(app=app)
    return app


@pytest.mark.integration
@pytest.mark.filterwarnings("ignore:_NoneStep.value:DeprecationWarning")
def test_cli_versions_checkout_push_status(
    cli: typer.Typer, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    runner = CliRunner()
    monkeypatch.setenv("MLOPS_DATA__AUTOPUSH", "false")  # so that `mlops data push` has work to do
    store = DvcStore(load_settings(root=settings.workspace_root))
    assert store.autopush is False
    path = store.project_dir("iris") / "train.csv"
    path.write_text("old\n")

    result = runner.invoke(cli, ["data", "version", "iris", "train.csv", "-m", "by hand"])
    assert result.exit_code == 0, result.output
    path.unlink()
    path.write_text("new\n")
    assert runner.invoke(cli, ["data", "version", "iris", str(path)]).exit_code == 0
    old, new = store.history("iris")[1], store.history("iris")[0]

    result = runner.invoke(cli, ["data", "versions", "iris"])
    assert result.exit_code == 0, result.output
    assert old.rev[:10] in result.output and new.rev[:10] in result.output and "iris/train.csv" in result.output

    result = runner.invoke(cli, ["data", "checkout", "iris", old.rev[:10]])
    assert result.exit_code == 0, result.output
    assert path.read_text() == "old\n"
    assert "mlops data checkout iris HEAD" in result.output

    result = runner.invoke(cli, ["data", "status", "--no-remote"])
    assert result.exit_code == 0, result.output
    assert "iris/train.csv.dvc" in result.output  # not at HEAD

    assert runner.invoke(cli, ["data", "checkout", "iris", "HEAD"]).exit_code == 0
    assert path.read_text() == "new\n"

    assert not (Path(store.remote_url) / "files").exists()
    result = runner.invoke(cli, ["data", "push"])
    assert result.exit_code == 0, result.output
    assert "pushed 2 file(s)" in result.output
    assert (Path(store.remote_url) / "files" / "md5" / new.hash[:2] / new.hash[2:]).is_file()
