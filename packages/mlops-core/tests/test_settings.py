from pathlib import Path

import pytest
from pydantic import BaseModel

from mlops_core.errors import ConfigError
from mlops_core.settings import Settings, find_workspace_root, load_settings


@pytest.fixture
def clean_env(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    import os

    for name in list(os.environ):
        if name.startswith("MLOPS_"):
            monkeypatch.delenv(name)
    return monkeypatch


def test_defaults_put_all_state_under_state_dir(tmp_path: Path, clean_env) -> None:
    s = load_settings(root=tmp_path)
    assert s.state_dir == tmp_path / ".mlops"
    for path in (s.data_repo_dir, s.artifact_root, s.airflow_home, s.reports_dir, s.ledger_path, s.registry_path):
        assert path.is_relative_to(s.state_dir)
    assert s.tracking_uri == f"sqlite:///{tmp_path / '.mlops' / 'mlflow.db'}"


def test_layers_workspace_project_env_explicit(tmp_path: Path, clean_env) -> None:
    (tmp_path / "pyproject.toml").write_text(
        '[tool.uv.workspace]\nmembers = []\n[tool.mlops.monitor]\ndrift_threshold = 0.3\nmin_rows = 10\n'
        '[tool.mlops.serve]\nport = 9000\n'
    )
    proj = tmp_path / "projects" / "p"
    proj.mkdir(parents=True)
    (proj / "pyproject.toml").write_text('[project]\nname="p"\n[tool.mlops.monitor]\nmin_rows = 20\n')
    clean_env.setenv("MLOPS_SERVE__PORT", "9100")
    s = load_settings(root=proj, project_path=proj, monitor={"drift_threshold": 0.9})
    assert s.workspace_root == tmp_path
    assert s.monitor.min_rows == 20  # project beats workspace
    assert s.serve.port == 9100  # env beats files
    assert s.monitor.drift_threshold == 0.9  # explicit beats everything


def test_mlops_toml_wins_over_pyproject(tmp_path: Path, clean_env) -> None:
    (tmp_path / "mlops.toml").write_text('[tracking]\nchampion_alias = "prod"\n')
    (tmp_path / "pyproject.toml").write_text('[tool.mlops.tracking]\nchampion_alias = "x"\n')
    assert load_settings(root=tmp_path).tracking.champion_alias == "prod"


def test_unknown_key_is_an_error_naming_the_key_and_the_file(tmp_path: Path, clean_env) -> None:
    (tmp_path / "mlops.toml").write_text("[tracking]\nchampion_alais = 'prod'\n")
    with pytest.raises(ConfigError) as info:
        load_settings(root=tmp_path)
    assert "tracking.champion_alais" in str(info.value)
    assert "mlops.toml" in str(info.value)
    assert info.value.fix and "mlops config" in info.value.fix


def test_wrong_type_is_an_error(tmp_path: Path, clean_env) -> None:
    (tmp_path / "mlops.toml").write_text("[serve]\nport = 'eighty'\n")
    with pytest.raises(ConfigError, match="serve.port"):
        load_settings(root=tmp_path)


def test_bad_env_var_is_an_error(tmp_path: Path, clean_env) -> None:
    clean_env.setenv("MLOPS_MONITOR__DRIFT_THRESHOLD", "2.5")
    with pytest.raises(ConfigError, match="monitor.drift_threshold"):
        load_settings(root=tmp_path)


def test_invalid_toml_is_an_error(tmp_path: Path, clean_env) -> None:
    (tmp_path / "mlops.toml").write_text("[serve\n")
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_settings(root=tmp_path)


def test_every_field_is_described() -> None:
    for name, field in Settings.model_fields.items():
        assert field.description, name
        sub = field.default_factory() if field.default_factory else None  # type: ignore[call-arg]
        for subname, subfield in (type(sub).model_fields.items() if isinstance(sub, BaseModel) else []):
            assert subfield.description, f"{name}.{subname}"


def test_workspace_root_found_from_a_subfolder(tmp_path: Path) -> None:
    (tmp_path / "pyproject.toml").write_text("[tool.uv.workspace]\nmembers = []\n")
    deep = tmp_path / "a" / "b"
    deep.mkdir(parents=True)
    assert find_workspace_root(deep) == tmp_path


def test_standalone_project_uses_its_own_folder(tmp_path: Path) -> None:
    (tmp_path / "pyproject.toml").write_text('[project]\nname = "x"\n')
    assert find_workspace_root(tmp_path) == tmp_path
