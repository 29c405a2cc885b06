"""The Airflow home: environment of the subprocess, metadata DB status."""

from __future__ import annotations

from mlops_core.settings import Settings
from mlops_orchestrate.home import VERSION_MARKER, airflow_env, airflow_version, db_status, metadata_db


def test_env_points_airflow_at_the_state_dir_only(settings: Settings) -> None:
    base = {"PATH": "/bin", "AIRFLOW_HOME": "/elsewhere", "AIRFLOW_CONFIG": "/elsewhere/airflow.cfg",
            "AIRFLOW__CORE__UNIT_TEST_MODE": "True", "PYTHONDONTWRITEBYTECODE": "1"}
    env = airflow_env(settings, base)
    home = settings.state_dir / "airflow"
    assert env["PATH"] == "/bin"
    assert env["AIRFLOW_HOME"] == str(home)
    assert "AIRFLOW_CONFIG" not in env
    assert env["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"] == f"sqlite:///{home / 'airflow.db'}"
    assert env["AIRFLOW__CORE__DAGS_FOLDER"] == str(home / "dags")
    assert env["AIRFLOW__CORE__LOAD_EXAMPLES"] == "False"
    assert env["AIRFLOW__CORE__UNIT_TEST_MODE"] == "False"
    # bytecode is cached under the Airflow home, never in the virtualenv
    assert "PYTHONDONTWRITEBYTECODE" not in env
    assert env["PYTHONPYCACHEPREFIX"].startswith(str(home))


def test_a_custom_airflow_home_is_honoured(settings: Settings, tmp_path) -> None:
    settings.orchestrate.airflow_home = tmp_path / "af"
    assert airflow_env(settings, {})["AIRFLOW_HOME"] == str(tmp_path / "af")


def test_db_status_missing_outdated_current(settings: Settings) -> None:
    assert db_status(settings) == "missing"
    db = metadata_db(settings)
    db.parent.mkdir(parents=True)
    db.write_bytes(b"")
    assert db_status(settings) == "outdated"  # no marker: unknown version
    (db.parent / VERSION_MARKER).write_text("2.10.0\n")
    assert db_status(settings) == "outdated"
    (db.parent / VERSION_MARKER).write_text(f"{airflow_version()}\n")
    assert db_status(settings) == "current"


def test_airflow_version_is_read_without_importing_airflow() -> None:
    import subprocess
    import sys

    code = "import sys; from mlops_orchestrate.home import airflow_version; v = airflow_version(); print(v, 'airflow' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split()
    assert out[0].startswith("3.") and out[1] == "False"
