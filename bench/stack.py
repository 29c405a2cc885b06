"""`mlops up` / `mlops down` on the real services of the installed plugins.

Runs the whole stack on free ports in a temporary state dir (never the default ports) and prints:
seconds from `up` to every service healthy (and each service's own figure), the RSS and PSS of
the whole process tree (per service, and supervisord's own share as the baseline of what the
supervision costs), the cost of a second `up` (nothing to start) and of `service_url`, and the
seconds `down` takes, then checks that no process of the tree is left.

Run: uv run python bench/stack.py [--rounds 1] [--only SERVICE ...] [--keep]
"""

from __future__ import annotations

import argparse
import os
import socket
import statistics
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
MB = 2**20


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def tree_memory(daemon_pid: int, service_pids: dict[str, int]) -> dict[str, tuple[int, int, int]]:
    """{group: (processes, rss, pss)} for each service subtree and for supervisord + its listener."""
    import psutil

    root = psutil.Process(daemon_pid)
    owner: dict[int, str] = {}
    for name, pid in service_pids.items():
        try:
            proc = psutil.Process(pid)
        except psutil.NoSuchProcess:
            continue
        for p in [proc, *proc.children(recursive=True)]:
            owner[p.pid] = name
    groups: dict[str, list[int]] = {}
    for p in [root, *root.children(recursive=True)]:
        groups.setdefault(owner.get(p.pid, "supervisord+listener"), []).append(p.pid)
    out = {}
    for name, pids in groups.items():
        rss = pss = 0
        for pid in pids:
            try:
                info = psutil.Process(pid).memory_full_info()
            except (psutil.NoSuchProcess, psutil.AccessDenied):
                continue
            rss += info.rss
            pss += getattr(info, "pss", info.rss)
        out[name] = (len(pids), rss, pss)
    return out


def one_round(state: Path, only: list[str] | None, keep: bool) -> dict[str, float]:
    import psutil

    from mlops_core.plugins import PluginManager
    from mlops_core.settings import load_settings
    from mlops_core.stack import service_url, stack_status, start_stack, stop_stack
    from mlops_core.stack.daemon import daemon_pid
    from mlops_core.stack.discovery import forget_cache
    from mlops_core.stack.paths import stack_paths

    settings = load_settings(
        root=REPO, state_dir=str(state),
        tracking={"server_port": free_port()}, orchestrate={"api_port": free_port()},
        serve={"port": free_port()}, monitor={"ui_port": free_port()},
        stack={"health_timeout": 600, "stop_timeout": 15},
    )
    healthy_at: dict[str, float] = {}

    def progress(event: str, name: str, detail: str) -> None:
        if event == "healthy":
            healthy_at[name] = float(detail.rstrip("s"))
        elif event == "skip":
            print(f"  skipped {name}: {detail}")

    plugins = PluginManager(settings)
    t_up = t_down = total_pss = total_rss = 0.0
    try:
        t0 = time.perf_counter()
        result = start_stack(plugins, only=only, progress=progress)
        t_up = time.perf_counter() - t0
        print(f"up: {t_up:.1f} s to all healthy ({len(result.started)} services: {', '.join(result.started)}), "
              f"of which setup commands {result.setup_seconds:.1f} s")
        for name, sec in healthy_at.items():
            print(f"    {name:<24} healthy {sec:5.1f} s after its start")

        time.sleep(3)  # let the services settle before measuring memory
        status = {s.name: s for s in stack_status(settings) or []}
        daemon = daemon_pid(stack_paths(settings))
        assert daemon is not None
        mem = tree_memory(daemon, {n: s.pid for n, s in status.items() if s.pid})
        total_n = sum(v[0] for v in mem.values())
        total_rss = sum(v[1] for v in mem.values())
        total_pss = sum(v[2] for v in mem.values())
        print(f"memory of the whole tree: {total_n} processes, RSS {total_rss / MB:.0f} MB, PSS {total_pss / MB:.0f} MB")
        for name, (n, rss, pss) in sorted(mem.items(), key=lambda kv: -kv[1][2]):
            print(f"    {name:<24} {n:3d} proc  RSS {rss / MB:6.0f} MB  PSS {pss / MB:6.0f} MB")
        sup = mem.get("supervisord+listener", (0, 0, 0))
        print(f"supervision overhead (baseline): PSS {sup[2] / MB:.0f} MB = {sup[2] / max(total_pss, 1):.1%} of the stack")

        t0 = time.perf_counter()
        again = start_stack(plugins, only=only)
        t_again = time.perf_counter() - t0
        assert again.started == [], again.started
        print(f"second up (all running, nothing started): {t_again:.2f} s")

        t0 = time.perf_counter()
        stack_status(settings)
        t_status = time.perf_counter() - t0
        name = next(iter(status))
        samples = []
        for _ in range(20):
            forget_cache()
            t = time.perf_counter()
            service_url(settings, name)
            samples.append(time.perf_counter() - t)
        t_url = statistics.median(samples)
        print(f"status: {t_status * 1000:.0f} ms; service_url uncached: {t_url * 1000:.1f} ms (median of 20)")
        if keep:
            print(f"--keep: stack left running, state {state}; stop it with MLOPS_STATE_DIR={state} mlops down")
            return {"up": t_up, "pss_mb": total_pss / MB, "rss_mb": total_rss / MB}
    finally:
        if not keep:
            t0 = time.perf_counter()
            down = stop_stack(settings)
            t_down = time.perf_counter() - t0
            left = [p for p in down.pids if psutil.pid_exists(p) and psutil.Process(p).status() != psutil.STATUS_ZOMBIE]
            print(f"down: {t_down:.1f} s ({len(down.pids)} processes recorded, "
                  f"{len(down.ended)} ended by pid after supervisord, {len(left)} left)")
            log = stack_paths(settings).daemon_log
            if log.exists():  # how each program stopped: by SIGTERM, or killed after stop_timeout
                for line in log.read_text().splitlines():
                    if " stopped: " in line or "SIGKILL" in line:
                        print("    " + line.split(" ", 2)[-1])
    return {"up": t_up, "down": t_down, "pss_mb": total_pss / MB, "rss_mb": total_rss / MB}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=1)
    parser.add_argument("--only", action="append", help="only this service or concern (repeatable)")
    parser.add_argument("--keep", action="store_true", help="leave the stack running after the first round")
    args = parser.parse_args()
    for name in [n for n in os.environ if n.startswith("MLOPS_")]:
        del os.environ[name]  # the bench chooses its own state dir and ports
    rows = []
    for i in range(args.rounds):
        with tempfile.TemporaryDirectory(prefix="mlops-bench-stack-") as tmp:
            print(f"--- round {i + 1}/{args.rounds} (state {tmp})")
            rows.append(one_round(Path(tmp) / "state", args.only, args.keep))
            if args.keep:
                return
    if len(rows) > 1:
        for key in rows[0]:
            print(f"median {key}: {statistics.median(r[key] for r in rows):.1f}")


if __name__ == "__main__":
    main()
