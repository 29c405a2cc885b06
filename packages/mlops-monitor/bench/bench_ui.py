"""The Evidently workspace and UI: cost of a run in the workspace, UI start time and memory.

    uv run --frozen python packages/mlops-monitor/bench/bench_ui.py [--runs 20] [--repeat 3]

1. Adds ``--runs`` digits-sized drift snapshots (64 columns, 1,300 reference rows, 200 current)
   to a throwaway workspace through ``DriftWorkspace`` and prints the time per ``add_run`` and the
   size of one snapshot file (the baseline: the report's own ``snapshot.json()``).
2. Starts ``evidently ui`` from the service spec on a free port, ``--repeat`` times, over an empty
   workspace (the baseline) and over the one above: seconds to the first answer of /api/version
   and to the first 2xx of its health URL (/api/projects: the workspace is read), and the RSS/PSS
   of its process tree. Every process it starts is stopped by its process group.
"""

from __future__ import annotations

import argparse
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

import numpy as np
import pandas as pd
import psutil

from mlops_core.settings import load_settings
from mlops_monitor.drift import evidently_snapshot
from mlops_monitor.paths import db_path
from mlops_monitor.reports import ReportIndex
from mlops_monitor.service import ui_service
from mlops_monitor.workspace import DriftWorkspace

COLS, REF_ROWS, CUR_ROWS = 64, 1300, 200


def _frame(n: int, seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    return pd.DataFrame(np.clip(np.round(rng.normal(8, 5, size=(n, COLS))), 0, 16),
                        columns=[f"pixel_{i}" for i in range(COLS)])


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def fill_workspace(root: Path, runs: int) -> None:
    settings = load_settings(root=root)
    ws = DriftWorkspace(settings, ReportIndex(db_path(settings)))
    reference = _frame(REF_ROWS, 0)
    times, snap = [], None
    for i in range(runs):
        snap = evidently_snapshot(reference, _frame(CUR_ROWS, i + 1), threshold=0.5, tags=["model:digits"])
        t0 = time.perf_counter()
        run = ws.add_run("digits", "digits", snap, name=f"run {i}")
        times.append(time.perf_counter() - t0)
    assert snap is not None
    print(f"add_run: median {statistics.median(times) * 1000:.0f} ms, first (creates the project) "
          f"{times[0] * 1000:.0f} ms; snapshot file {Path(run.path).stat().st_size / 1e6:.2f} MB "
          f"(baseline: the report's snapshot.json() {len(snap.json()) / 1e3:.1f} kB)")


def _answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=1) as resp:
            return 200 <= resp.status < 300
    except OSError:
        return False


def _memory(pid: int) -> tuple[float, float]:
    tree = [psutil.Process(pid), *psutil.Process(pid).children(recursive=True)]
    return (sum(p.memory_info().rss for p in tree) / 2**20, sum(p.memory_full_info().pss for p in tree) / 2**20)


def start_ui(root: Path) -> tuple[float, float, float, float, float]:
    """Seconds to /api/version, seconds to healthy (workspace read), RSS and PSS (MiB) at both."""
    settings = load_settings(root=root, monitor={"ui_port": _free_port()})
    spec = ui_service(settings)
    assert spec is not None and spec.health_url
    Path(spec.cwd).mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    proc = subprocess.Popen(spec.command, env={**os.environ, **spec.env}, cwd=spec.cwd, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL, start_new_session=True)
    version_url = spec.health_url.replace("/api/projects", "/api/version")
    try:
        while not _answers(version_url):
            if proc.poll() is not None:
                raise SystemExit(f"evidently ui exited with {proc.returncode}")
            time.sleep(0.1)
        answers = time.perf_counter() - t0
        rss_answers, _ = _memory(proc.pid)
        while not _answers(spec.health_url):
            time.sleep(0.1)
        healthy = time.perf_counter() - t0
        rss, pss = _memory(proc.pid)
        return answers, healthy, rss_answers, rss, pss
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=30)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as empty, tempfile.TemporaryDirectory() as full:
        fill_workspace(Path(full), args.runs)
        for label, root in (("empty workspace (baseline)", empty), (f"{args.runs} digits-sized runs", full)):
            results = [start_ui(Path(root)) for _ in range(args.repeat)]
            answers, healthy, rss_answers, rss, pss = (statistics.median(col) for col in zip(*results, strict=True))
            print(f"evidently ui, {label}: /api/version after {answers:.1f} s (RSS {rss_answers:.0f} MiB); "
                  f"healthy (workspace read) after {healthy:.1f} s (all: {', '.join(f'{r[1]:.1f}' for r in results)}), "
                  f"RSS {rss:.0f} MiB, PSS {pss:.0f} MiB")
    print(f"python {sys.version.split()[0]}, load average {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
