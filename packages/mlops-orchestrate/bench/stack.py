"""The stack's Airflow services: seconds to healthy, memory, and a triggered run, by parallelism.

Run: ``uv run --frozen python packages/mlops-orchestrate/bench/stack.py [parallelism ...]``
(default ``4 32 4``). One temporary workspace for all rounds, so only the first round pays for
``airflow db migrate`` and compiling bytecode; the last round repeats the first one warm, as the
baseline the others compare with. Each round starts the api-server, scheduler and dag-processor
from this package's specs (as plain processes, not through the supervisor), waits for health,
lets them settle 10 s, sums RSS and PSS over every process of their groups, triggers two runs of
a 5-task DAG with trivial steps through the REST runner, and stops them.
"""

from __future__ import annotations

import json
import os
import socket
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
TESTS = HERE.parent / "tests"
SETTLE_S = 10


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _memory(pids: list[int]) -> tuple[float, float]:
    import psutil

    rss = pss = 0
    for pid in pids:
        try:
            info = psutil.Process(pid).memory_full_info()
        except (psutil.NoSuchProcess, psutil.AccessDenied):
            continue
        rss += info.rss
        pss += getattr(info, "pss", 0)
    return rss / 2**20, pss / 2**20


def _round(root: Path, parallelism: int) -> dict[str, float]:
    from mlops_core.settings import load_settings
    from mlops_orchestrate.rest_runner import AirflowRestRunner
    from mlops_orchestrate.services import api_base_url, services
    from mlops_orchestrate.standalone import start_services

    settings = load_settings(root=root, orchestrate={"api_port": _free_port(), "parallelism": parallelism})
    started = time.perf_counter()
    local = start_services(services(settings), root / "logs" / f"p{parallelism}-{int(time.time())}",
                           extra_env={"PYTHONPATH": str(TESTS)})
    row: dict[str, float] = {"parallelism": parallelism, "setup_s": time.perf_counter() - started}
    try:
        row["healthy_s"] = local.wait_healthy(timeout=300, heartbeats=False)
        row["heartbeats_s"] = local.wait_healthy(timeout=300, heartbeats=True)
        time.sleep(SETTLE_S)
        pids = [pid for group in local.pids().values() for pid in group]
        row["processes"] = len(pids)
        row["rss_mib"], row["pss_mib"] = _memory(pids)
        runner = AirflowRestRunner(settings, api_base_url(settings), step_runner="trivial_steps:run_step",
                                   poll_interval=0.5)
        for label in ("run1", "run2"):
            runner.run("bench", {"round": parallelism})
            row[f"{label}_s"] = runner.last_run.seconds
        pids = [pid for group in local.pids().values() for pid in group]
        row["processes_after_runs"] = len(pids)
        row["rss_after_runs_mib"], _ = _memory(pids)
    finally:
        stopping = time.perf_counter()
        local.stop(timeout=settings.stack.stop_timeout)
        row["stop_s"] = time.perf_counter() - stopping
    return row


def main(rounds: list[int]) -> None:
    sys.path.insert(0, str(TESTS))
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        rows = [_round(root, p) for p in rounds]
    base = rows[-1]
    keys = ["setup_s", "healthy_s", "heartbeats_s", "processes", "rss_mib", "pss_mib", "run1_s", "run2_s",
            "processes_after_runs", "rss_after_runs_mib", "stop_s"]
    heads = [f"p={r['parallelism']} #{i + 1}" for i, r in enumerate(rows)]
    print(f"{'':>22}" + "".join(f"{h:>12}" for h in heads) + "".join(f"{h + '/last':>16}" for h in heads[:-1]))
    for key in keys:
        ratios = [r[key] / base[key] if base.get(key) else float("nan") for r in rows[:-1]]
        print(f"{key:>22}" + "".join(f"{r[key]:>12.1f}" for r in rows) + "".join(f"{x:>16.2f}" for x in ratios))
    print(json.dumps(rows))


if __name__ == "__main__":
    os.environ.pop("PYTHONDONTWRITEBYTECODE", None)
    main([int(a) for a in sys.argv[1:]] or [4, 32, 4])
