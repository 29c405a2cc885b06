"""Time one drift check the size of the digits project: 64 columns, 1,300 reference rows, 200 current.

    uv run --frozen python packages/mlops-monitor/bench/bench_check.py [--repeat 3]

Prints the Evidently import time (fresh interpreter), the check with and without the HTML report,
where the time goes, the capture cost, and the same check with Evidently's automatic method as the
baseline measured in the same run. Data are digits-like (integers 0..16, three always-blank
columns), generated with numpy.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

from mlops_core.records import PredictionBatch
from mlops_core.settings import load_settings
from mlops_monitor import Monitor
from mlops_monitor.drift import evidently_snapshot, import_evidently

COLS, REF_ROWS, CUR_ROWS, BATCH = 64, 1300, 200, 20
NAMES = tuple(f"pixel_{i}" for i in range(COLS))


def digits_like(n: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    centre = np.abs(np.linspace(-1, 1, COLS))  # brighter in the middle, like a drawn digit
    data = np.clip(np.round(rng.normal(16 * (1 - centre), 5, size=(n, COLS))), 0, 16)
    data[:, [0, 32, 39]] = 0.0
    return data


class Timing:
    """Median wall and CPU seconds of a few runs (CPU time is steadier on a busy machine)."""

    def __init__(self, fn: Callable[[], object], repeat: int) -> None:
        walls, cpus = [], []
        for _ in range(repeat):
            w0, c0 = time.perf_counter(), time.process_time()
            fn()
            walls.append(time.perf_counter() - w0)
            cpus.append(time.process_time() - c0)
        self.wall, self.cpu = statistics.median(walls), statistics.median(cpus)

    def __str__(self) -> str:
        return f"{self.wall:6.2f} s wall {self.cpu:6.2f} s CPU"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()

    code = "import time; t = time.perf_counter(); from mlops_monitor.drift import import_evidently; import_evidently(); print(time.perf_counter() - t)"
    import_s = float(subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout)
    import_evidently()

    with tempfile.TemporaryDirectory() as tmp:
        settings = load_settings(root=Path(tmp))
        monitor = Monitor(settings)
        reference, current = digits_like(REF_ROWS, 1), digits_like(CUR_ROWS, 2)
        t0 = time.perf_counter()
        monitor.set_reference("bench", "digits", NAMES, reference.tolist())
        set_ref_s = time.perf_counter() - t0
        rows = current.tolist()
        t0 = time.perf_counter()
        for i in range(0, CUR_ROWS, BATCH):
            chunk = tuple(tuple(r) for r in rows[i:i + BATCH])
            monitor.capture(PredictionBatch("bench", "digits", "1", NAMES, chunk, (0,) * len(chunk), "2026-12-03T00:00:00+00:00"))
        capture_s = (time.perf_counter() - t0) / (CUR_ROWS / BATCH)

        settings.monitor.html_reports = True
        with_html = Timing(lambda: monitor.check("bench", "digits"), args.repeat)
        settings.monitor.html_reports = False
        without_html = Timing(lambda: monitor.check("bench", "digits"), args.repeat)
        report = monitor.check("bench", "digits")

        import pandas as pd

        ref_frame = monitor.references.frame("bench", "digits")

        cur_frame = pd.DataFrame(current, columns=list(NAMES))
        snapshot = evidently_snapshot(ref_frame, cur_frame, threshold=0.5)
        run_s = Timing(lambda: evidently_snapshot(ref_frame, cur_frame, threshold=0.5), args.repeat)
        json_s = Timing(snapshot.json, args.repeat)
        html_s = Timing(lambda: snapshot.save_html(str(Path(tmp) / "x.html")), args.repeat)
        auto_s = Timing(lambda: evidently_snapshot(ref_frame, cur_frame, threshold=0.5, num_method=None), args.repeat)
        html_mb = Path(tmp, "x.html").stat().st_size / 2**20

    print(f"drift check, {COLS} columns x {REF_ROWS} reference rows x {CUR_ROWS} current rows (median of {args.repeat})")
    print(f"  evidently import (fresh interpreter)  {import_s:6.2f} s wall")
    print(f"  check, JSON + HTML                    {with_html}")
    print(f"  check, JSON only                      {without_html}  (CPU {without_html.cpu / with_html.cpu:.2f}x of with HTML)")
    print(f"    Evidently Report.run                {run_s}  (it renders its widgets even without HTML)")
    print(f"    snapshot.json()                     {json_s}")
    print(f"    snapshot.save_html()                {html_s}  ({html_mb:.1f} MB)")
    print(f"  baseline: Report.run with Evidently's automatic method {auto_s}  (K-S: CPU {run_s.cpu / auto_s.cpu:.2f}x)")
    print(f"  set_reference                         {set_ref_s:6.3f} s")
    print(f"  capture of one {BATCH}-row batch          {capture_s * 1000:6.1f} ms")
    print(f"  verdict: {report.drifted_columns}/{report.total_columns} columns drifted, share {report.drift_share:.2f}")


if __name__ == "__main__":
    main()
