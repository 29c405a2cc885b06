"""The shared stack for real: `mlops up`, `mlops demo --stack`, kill -9 of every service, `mlops down`.

Everything runs as a user would run it (the `mlops` command in subprocesses) on free ports in a
throwaway state directory. One module, one stack: it takes a few minutes.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import psutil
import pytest

pytestmark = [pytest.mark.integration, pytest.mark.slow]
MLOPS = str(Path(sys.executable).parent / "mlops")
SERVICES = ("mlflow", "airflow-api-server", "airflow-scheduler", "airflow-dag-processor", "gateway", "evidently-ui")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def stack_env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, str]]:
    state = tmp_path_factory.mktemp("stack") / "s"
    env = {k: v for k, v in os.environ.items() if not k.startswith("MLOPS_")}
    env.update({
        "MLOPS_STATE_DIR": str(state),
        "MLOPS_TRACKING__SERVER_PORT": str(_free_port()),
        "MLOPS_ORCHESTRATE__API_PORT": str(_free_port()),
        "MLOPS_SERVE__PORT": str(_free_port()),
        "MLOPS_MONITOR__UI_PORT": str(_free_port()),
    })
    up = _mlops("up", env=env, timeout=600)
    assert up.returncode == 0, up.stdout[-3000:] + up.stderr[-3000:]
    try:
        yield env
    finally:
        down = _mlops("down", env=env, timeout=300)
        assert down.returncode == 0, down.stderr


def _mlops(*args: str, env: dict[str, str], timeout: int = 900) -> subprocess.CompletedProcess[str]:
    return subprocess.run([MLOPS, *args], capture_output=True, text=True, env=env, timeout=timeout)


def _status(env: dict[str, str]) -> dict[str, dict]:
    done = _mlops("status", "--json", env=env, timeout=60)
    assert done.returncode == 0, done.stderr
    return {s["name"]: s for s in json.loads(done.stdout)["services"]}


def _demo(env: dict[str, str]) -> str:
    done = _mlops("demo", "--stack", env=env)
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-4000:]
    assert "airflow-rest" in done.stdout and "the stack's gateway" in done.stdout
    for kind in ("dataset:", "run:", "model:", "drift:", "retrain:"):
        assert kind in done.stdout
    return done.stdout


def _runs(state: Path) -> int:
    with sqlite3.connect(state / "mlflow.db") as db:
        return db.execute("SELECT count(*) FROM runs").fetchone()[0]


TOOLS = ("airflow", "mlflow", "evidently", "supervisord", "mlops serve", "uvicorn", "gunicorn")


def _orphans(since: float) -> list[str]:
    """Processes of our tools started since ``since`` from this checkout (the stack's cwd).

    Independent of what `mlops down` records: Airflow workers overwrite their environment
    (setproctitle), so this looks at start time, cwd and command line instead.
    """
    root = str(Path.cwd())
    found = []
    for proc in psutil.process_iter(["pid", "create_time", "cmdline", "status"]):
        try:
            cmd = " ".join(proc.info["cmdline"] or [])
            if (proc.info["create_time"] >= since and proc.info["status"] != psutil.STATUS_ZOMBIE
                    and any(t in cmd for t in TOOLS) and proc.cwd() == root and proc.pid != os.getpid()):
                found.append(f"{proc.pid} {cmd[:80]}")
        except (psutil.NoSuchProcess, psutil.AccessDenied):
            continue
    return found


def test_stack_serves_the_demo_survives_kill_9_and_stops_clean(stack_env: dict[str, str]) -> None:
    state = Path(stack_env["MLOPS_STATE_DIR"])
    since = time.time() - 900  # the stack was started by the fixture, shortly before
    status = _status(stack_env)
    assert set(SERVICES) <= set(status), status.keys()
    assert all(status[name]["up"] for name in SERVICES), status

    again = _mlops("up", env=stack_env, timeout=120)  # no second copy
    assert again.returncode == 0
    assert {n: s["pid"] for n, s in _status(stack_env).items()} == {n: s["pid"] for n, s in status.items()}

    _demo(stack_env)
    runs_before = _runs(state)
    reports_before = sorted((state / "reports").rglob("*.json"))
    gateway = f"http://127.0.0.1:{stack_env['MLOPS_SERVE__PORT']}"
    page = httpx.get(f"{gateway}/dashboard", timeout=60).text
    assert "cpu-compression" in page and "digits-mlp" in page and "DRIFT" in page

    # kill -9 every service at once; supervisord restarts each (and the listener ends what a
    # killed main process leaves in its group, e.g. MLflow's worker holding the port)
    old = _status(stack_env)
    for name in SERVICES:
        os.kill(old[name]["pid"], signal.SIGKILL)
    deadline = time.monotonic() + 300
    pending = set(SERVICES)
    while pending:
        now = _status(stack_env)
        pending = {n for n in pending if not (now[n]["up"] and now[n]["pid"] != old[n]["pid"])}
        assert time.monotonic() < deadline, f"not back after kill -9: {[now[n] for n in pending]}"
        time.sleep(2)
    now = _status(stack_env)
    for name in SERVICES:
        assert now[name]["restarts"] == old[name]["restarts"] + 1, (name, now[name])

    _demo(stack_env)  # the loop still completes, and nothing earlier was lost
    assert _runs(state) > runs_before
    assert set(reports_before) <= set((state / "reports").rglob("*.json"))

    tree = [p for p in psutil.process_iter(["environ"]) if _in_stack(p, str(state))]
    assert tree, "expected stack processes while it is up"
    down = _mlops("down", env=stack_env, timeout=300)
    assert down.returncode == 0, down.stderr
    time.sleep(1)
    left = [p.pid for p in tree if p.is_running() and p.status() != psutil.STATUS_ZOMBIE]
    assert left == [], f"processes left after mlops down: {left}"
    assert _orphans(since) == []  # incl. children of killed services (e.g. Airflow workers)
    after = _mlops("status", "--json", env=stack_env, timeout=60)
    assert json.loads(after.stdout)["running"] is False


def _in_stack(process: psutil.Process, state: str) -> bool:
    try:
        return (process.info.get("environ") or {}).get("MLOPS_STATE_DIR") == state
    except (psutil.NoSuchProcess, psutil.AccessDenied):
        return False
