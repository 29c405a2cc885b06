"""The `mlops` command as a user runs it: subprocesses, real state directories, bad input."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from mlops_core.testing import install_project


pytestmark = pytest.mark.integration
MLOPS = str(Path(sys.executable).parent / "mlops")


def mlops(*args: str, state: Path, env: dict | None = None, cwd: Path | None = None, timeout: int = 600):
    full = {k: v for k, v in os.environ.items() if not k.startswith("MLOPS_")}
    full.update({"MLOPS_STATE_DIR": str(state), **(env or {})})
    return subprocess.run([MLOPS, *args], capture_output=True, text=True, env=full, cwd=cwd, timeout=timeout)


@pytest.mark.slow
def test_demo_runs_twice_and_prints_the_lineage_chain(tmp_path: Path) -> None:
    state = tmp_path / "state"
    for _ in range(2):
        done = mlops("demo", state=state)
        assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
        assert "lineage" in done.stdout
        for kind in ("dataset:", "run:", "model:", "drift:", "retrain:"):
            assert kind in done.stdout, kind


def test_demo_with_unknown_project_fails_clearly_and_stores_nothing(tmp_path: Path, snapshot) -> None:
    state = tmp_path / "state"
    state.mkdir()
    (state / "keep.txt").write_text("stored before")
    before = snapshot(state)
    done = mlops("demo", "--project", "no-such-project", state=state)
    assert done.returncode == 2
    assert "no project named 'no-such-project'" in done.stderr
    assert "fix:" in done.stderr and "cpu-compression" in done.stderr
    assert snapshot(state) == before


def test_lineage_with_unknown_reference_fails_clearly(tmp_path: Path) -> None:
    done = mlops("lineage", "deadbeef00", state=tmp_path / "state")
    assert done.returncode == 2
    assert "no lineage record matches" in done.stderr and "fix:" in done.stderr


@pytest.mark.parametrize(
    ("content", "expected"),
    [("[serve]\nport = 'eighty'\n", "serve.port"), ("[tracking]\nnot_a_key = 1\n", "unknown setting 'tracking.not_a_key'")],
)
def test_bad_settings_file_is_named(tmp_path: Path, content: str, expected: str) -> None:
    (tmp_path / "mlops.toml").write_text(content)
    done = mlops("config", state=tmp_path / "state", cwd=tmp_path)
    assert done.returncode == 2
    assert expected in done.stderr and "mlops.toml" in done.stderr


def test_broken_project_does_not_hide_the_others_and_doctor_names_it(tmp_path: Path) -> None:
    site = install_project(tmp_path / "site", "broken-project", "raise ImportError('kaput: missing dependency')\n")
    sys.path.remove(str(site))
    env = {"PYTHONPATH": str(site)}
    listed = mlops("projects", state=tmp_path / "state", env=env)
    assert listed.returncode == 0, listed.stderr
    assert "cpu-compression" in listed.stdout
    assert "broken-project" in listed.stderr
    doctor = mlops("doctor", state=tmp_path / "state", env=env)
    assert doctor.returncode == 1
    assert "broken-project" in doctor.stdout and "kaput" in doctor.stdout


@pytest.mark.parametrize("param", ["hidden_size=1e9", "epochs=1.5", "epochs=true", "notaparam=1", "learning_rate=nan"])
def test_bad_training_parameters_fail_before_anything_is_stored(tmp_path: Path, param: str) -> None:
    state = tmp_path / "state"
    done = mlops("run", "cpu-compression", "-p", param, state=state, timeout=120)
    assert done.returncode == 2, done.stderr
    assert "fix:" in done.stderr
    assert not state.exists() or not any(p.is_file() for p in state.rglob("*"))


def test_damaged_registry_and_ledger_are_named_with_the_fix(tmp_path: Path) -> None:
    state = tmp_path / "state"
    state.mkdir()
    (state / "projects.json").write_text("{broken")
    done = mlops("projects", state=state)
    assert done.returncode == 2 and "projects.json is damaged" in done.stderr and "fix:" in done.stderr
    (state / "projects.json").unlink()
    (state / "lineage.db").write_text("not a database")
    done = mlops("lineage", "abcdef", state=state)
    assert done.returncode == 1 and "lineage ledger" in done.stderr and "fix:" in done.stderr
