"""`mlops --help` cold start vs `mlflow --help`, measured in the same run.

Run: uv run python bench/cli_startup.py [--repeat 7]
Targets: mlops --help <= 0.5 s and <= 0.3x mlflow --help.
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path


def _time(cmd: list[str], repeat: int) -> float:
    samples = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True)
        samples.append(time.perf_counter() - t0)
    return statistics.median(samples)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeat", type=int, default=7)
    args = parser.parse_args()
    bindir = Path(sys.executable).parent
    mlops = shutil.which("mlops", path=str(bindir)) or "mlops"
    mlflow = shutil.which("mlflow", path=str(bindir)) or "mlflow"
    baseline = _time([sys.executable, "-c", "pass"], args.repeat)
    ours = _time([mlops, "--help"], args.repeat)
    theirs = _time([mlflow, "--help"], args.repeat)
    print(f"python -c pass   {baseline:6.3f} s (interpreter start, for reference)")
    print(f"mlops --help     {ours:6.3f} s   target <= 0.500 s  {'OK' if ours <= 0.5 else 'MISSED'}")
    print(f"mlflow --help    {theirs:6.3f} s")
    ratio = ours / theirs
    print(f"ratio mlops/mlflow {ratio:5.2f}x  target <= 0.30x  {'OK' if ratio <= 0.3 else 'MISSED'}")


if __name__ == "__main__":
    main()
