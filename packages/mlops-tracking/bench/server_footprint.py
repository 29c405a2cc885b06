"""Seconds to healthy, processes and memory of the stack's MLflow server vs ``mlflow server`` defaults.

    uv run --frozen python packages/mlops-tracking/bench/server_footprint.py [--rounds 2]

Each variant starts on a free port with its own temporary state dir, is measured once healthy
(after a short settle), then stopped by its process group (the one this script started).
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

import psutil

from mlops_core.settings import load_settings
from mlops_tracking.service import mlflow_server_spec


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def healthy(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=1) as response:
            return response.status == 200
    except OSError:
        return False


def tree_memory(pid: int) -> tuple[int, float, float]:
    """(processes, RSS MiB, PSS MiB) of ``pid`` and its descendants."""
    root = psutil.Process(pid)
    procs = [root, *root.children(recursive=True)]
    rss = pss = 0.0
    for proc in procs:
        try:
            info = proc.memory_full_info()
        except psutil.Error:
            continue
        rss += info.rss
        pss += getattr(info, "pss", info.rss)
    return len(procs), rss / 2**20, pss / 2**20


def measure(name: str, command: list[str], env: dict[str, str], cwd: Path, health: str) -> dict[str, float]:
    log = (cwd / f"{name}.log").open("w")
    started = time.monotonic()
    proc = subprocess.Popen(command, env={**os.environ, **env}, cwd=cwd, stdout=log,
                            stderr=subprocess.STDOUT, start_new_session=True)
    try:
        while not healthy(health):
            if proc.poll() is not None or time.monotonic() - started > 180:
                raise RuntimeError(f"{name} did not become healthy: {(cwd / f'{name}.log').read_text()[-1500:]}")
            time.sleep(0.1)
        ready = time.monotonic() - started
        time.sleep(3)  # let worker pools finish spawning
        count, rss, pss = tree_memory(proc.pid)
    finally:
        stop_start = time.monotonic()
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
        stopped = time.monotonic() - stop_start
        log.close()
    return {"ready_s": ready, "processes": count, "rss_mib": rss, "pss_mib": pss, "stop_s": stopped}


def variants(tmp: Path) -> dict[str, tuple[list[str], dict[str, str], Path, str]]:
    lean_port, default_port = free_port(), free_port()
    settings = load_settings(root=tmp, state_dir=str(tmp / "lean"), tracking={"server_port": lean_port})
    settings.state_dir.mkdir(parents=True)
    spec = mlflow_server_spec(settings)
    assert spec is not None and spec.health_url
    default_dir = tmp / "default"
    default_dir.mkdir()
    mlflow = str(Path(sys.executable).parent / "mlflow")
    default = [mlflow, "server", "--backend-store-uri", f"sqlite:///{default_dir / 'mlflow.db'}",
               "--host", "127.0.0.1", "--port", str(default_port)]
    return {
        "stack spec (--workers 1, no job execution)": (list(spec.command), spec.env, Path(spec.cwd), spec.health_url),
        "mlflow server defaults": (default, {}, default_dir, f"http://127.0.0.1:{default_port}/health"),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args()
    results: dict[str, list[dict[str, float]]] = {}
    for _ in range(args.rounds):
        with tempfile.TemporaryDirectory(prefix="mlflow-bench-") as tmp:
            for name, (command, env, cwd, health) in variants(Path(tmp)).items():
                results.setdefault(name, []).append(measure(name.split()[0], command, env, cwd, health))
    print(f"load average {os.getloadavg()[0]:.1f}, {args.rounds} round(s), medians")
    print(f"{'variant':45} {'ready s':>8} {'procs':>6} {'RSS MiB':>8} {'PSS MiB':>8} {'stop s':>7}")
    medians = {name: {k: statistics.median(r[k] for r in rounds) for k in rounds[0]} for name, rounds in results.items()}
    for name, m in medians.items():
        print(f"{name:45} {m['ready_s']:8.1f} {m['processes']:6.0f} {m['rss_mib']:8.0f} {m['pss_mib']:8.0f} {m['stop_s']:7.1f}")
    lean, default = medians.values()
    print(f"defaults / stack spec: ready {default['ready_s'] / lean['ready_s']:.1f}x, "
          f"RSS {default['rss_mib'] / lean['rss_mib']:.1f}x, PSS {default['pss_mib'] / lean['pss_mib']:.1f}x")


if __name__ == "__main__":
    main()
