"""How long one embedded Airflow run of a 5-task pipeline takes, with trivial steps.

Run: ``uv run --frozen python packages/mlops-orchestrate/bench/run_time.py [runs]`` (default 3).
Uses a fresh state directory in a temp folder, so the first run includes ``airflow db migrate``
and compiling Airflow's bytecode into ``<airflow_home>/.pycache``. Baselines measured in the same
run: the same five steps called in-process, and a bare ``python -c "import airflow.sdk"``.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
TESTS = HERE.parent / "tests"


def main(runs: int = 3) -> None:
    os.environ["PYTHONPATH"] = os.pathsep.join(filter(None, [str(TESTS), os.environ.get("PYTHONPATH")]))
    sys.path.insert(0, str(TESTS))
    from trivial_steps import run_step

    from mlops_core.settings import load_settings
    from mlops_orchestrate.dags import STEPS
    from mlops_orchestrate.home import airflow_env
    from mlops_orchestrate.runner import AirflowRunner

    with tempfile.TemporaryDirectory() as tmp:
        settings = load_settings(root=Path(tmp), state_dir=str(Path(tmp) / "state"))
        start = time.perf_counter()
        state: dict = {}
        for step in STEPS:
            state = run_step(step, project="bench", state=state, params={}, settings=settings)
        inprocess = time.perf_counter() - start

        env = airflow_env(settings)
        start = time.perf_counter()
        subprocess.run([sys.executable, "-c", "import airflow.sdk"], env=env, check=True)
        import_first = time.perf_counter() - start
        start = time.perf_counter()
        subprocess.run([sys.executable, "-c", "import airflow.sdk"], env=env, check=True)
        import_cached = time.perf_counter() - start

        marks: list[tuple[str, float]] = []
        runner = AirflowRunner(settings, step_runner="trivial_steps:run_step",
                               on_event=lambda step, status, _d: marks.append((f"{step} {status}", time.perf_counter())))
        rows = []
        for i in range(runs):
            marks.clear()
            start = time.perf_counter()
            runner.run("bench", {"run": i})
            total = time.perf_counter() - start
            first_task = marks[0][1] - start
            tasks = marks[-1][1] - marks[0][1]
            rows.append((i + 1, runner.last_run.migrated, total, first_task, tasks))

    print(f"load: {os.getloadavg()[0]:.2f} (1 min), cores: {os.cpu_count()}")
    print(f"baseline: 5 trivial steps in-process {inprocess * 1000:.1f} ms; "
          f"`import airflow.sdk` {import_first:.1f} s (no bytecode yet), {import_cached:.1f} s (cached)")
    print("run  migrated  total s  to first task s  5 tasks s")
    for n, migrated, total, first_task, tasks in rows:
        print(f"{n:>3}  {migrated!s:>8}  {total:7.1f}  {first_task:15.1f}  {tasks:9.2f}")
    later = [r[2] for r in rows[1:]]
    if later:
        print(f"first/later run = {rows[0][2] / (sum(later) / len(later)):.1f}x")


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 3)
