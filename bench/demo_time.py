"""Wall time of the whole `mlops demo` in a fresh state directory, then a second run on it.

Run: uv run python bench/demo_time.py
Target: <= 120 s on 2 cores after `uv sync`.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def main() -> None:
    mlops = shutil.which("mlops", path=str(Path(sys.executable).parent)) or "mlops"
    state = Path(tempfile.mkdtemp(prefix="mlops-bench-"))
    env = {**os.environ, "MLOPS_STATE_DIR": str(state)}
    try:
        for label in ("first run (fresh state)", "second run (same state)"):
            t0 = time.perf_counter()
            done = subprocess.run([mlops, "demo"], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
            seconds = time.perf_counter() - t0
            status = "ok" if done.returncode == 0 else f"FAILED ({done.returncode}): {done.stderr[-500:]}"
            print(f"mlops demo, {label}: {seconds:6.1f} s  target <= 120 s  {'OK' if seconds <= 120 else 'MISSED'}  [{status}]")
    finally:
        shutil.rmtree(state, ignore_errors=True)


if __name__ == "__main__":
    main()
