"""Generated DAG files: content, idempotent writes, pruning of unregistered projects."""

from __future__ import annotations

import pytest

from mlops_core.errors import InputValidationError
from mlops_core.settings import Settings
from mlops_orchestrate.dagfiles import (
    dag_file_path,
    list_dag_files,
    render_dag_file,
    write_dag_file,
    write_dag_files,
)
from mlops_orchestrate.home import dags_folder


def test_dag_file_builds_the_projects_dag_with_the_workspace_root_baked_in(settings: Settings) -> None:
    text = render_dag_file(settings, "cpu-compression")
    assert "build_dag('cpu-compression', workspace_root=" in text
    assert repr(str(settings.workspace_root)) in text
    # Airflow's safe mode skips files that do not mention both words.
    assert "airflow" in text.lower() and "dag" in text.lower()
    compile(text, "dag.py", "exec")


def test_files_live_in_the_airflow_dags_folder_under_the_state_dir(settings: Settings) -> None:
    path = dag_file_path(settings, "demo")
    assert path == settings.state_dir / "airflow" / "dags" / "mlops__demo.py"


def test_writing_twice_rewrites_nothing(settings: Settings) -> None:
    first = write_dag_files(settings, ["a", "b"])
    assert sorted(p.name for p in first.written) == ["mlops__a.py", "mlops__b.py"]
    mtimes = {p: p.stat().st_mtime_ns for p in first.written}
    second = write_dag_files(settings, ["b", "a"])
    assert second.written == [] and second.removed == []
    assert sorted(p.name for p in second.unchanged) == ["mlops__a.py", "mlops__b.py"]
    assert {p: p.stat().st_mtime_ns for p in first.written} == mtimes


def test_a_changed_file_is_rewritten(settings: Settings) -> None:
    path, written = write_dag_file(settings, "a")
    assert written
    path.write_text(path.read_text().replace("workspace_root=", "workspace_root=None or "))
    path2, written2 = write_dag_file(settings, "a")
    assert path2 == path and written2
    assert path.read_text() == render_dag_file(settings, "a")


def test_files_of_unregistered_projects_are_removed_and_foreign_files_kept(settings: Settings) -> None:
    write_dag_files(settings, ["a", "b"])
    foreign = dags_folder(settings) / "my_own_dag.py"
    foreign.write_text("# an Airflow DAG the user wrote\n")
    result = write_dag_files(settings, ["b"])
    assert [p.name for p in result.removed] == ["mlops__a.py"]
    assert not dag_file_path(settings, "a").exists()
    assert foreign.read_text() == "# an Airflow DAG the user wrote\n"
    assert [(f.project, f.dag_id) for f in list_dag_files(settings)] == [("b", "mlops__b")]


def test_no_temporary_files_are_left_behind(settings: Settings) -> None:
    write_dag_files(settings, ["a"])
    write_dag_file(settings, "a")
    assert sorted(p.name for p in dags_folder(settings).iterdir()) == ["mlops__a.py"]


@pytest.mark.parametrize("name", ["has space", "slash/name", "", "semi;colon"])
def test_a_project_name_airflow_cannot_use_is_refused(settings: Settings, name: str) -> None:
    with pytest.raises(InputValidationError, match="cannot be used in an Airflow DAG id"):
        write_dag_file(settings, name)
    assert not dags_folder(settings).exists() or list(dags_folder(settings).iterdir()) == []
