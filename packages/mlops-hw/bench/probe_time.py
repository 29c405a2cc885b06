"""How long probe() takes: the first call (imports + static facts) and the cached calls after it.

Run: ``uv run --frozen python packages/mlops-hw/bench/probe_time.py`` (each run is a fresh process,
so the first-call figure includes importing psutil and MLX). Prints the profile it measured.
"""

from __future__ import annotations

import json
import statistics
import time


def main(repeats: int = 50) -> None:
    start = time.perf_counter()
    from mlops_hw.profile import probe

    profile = probe()
    first = time.perf_counter() - start
    later = []
    for _ in range(repeats):
        t = time.perf_counter()
        probe()
        later.append(time.perf_counter() - t)
    from mlops_core.records import as_dict

    print(json.dumps(as_dict(profile), indent=2, sort_keys=True))
    print(f"first probe() incl. imports: {first * 1000:.1f} ms")
    print(f"later probe(): median {statistics.median(later) * 1000:.2f} ms, max {max(later) * 1000:.2f} ms "
          f"over {repeats} calls; first/later = {first / statistics.median(later):.0f}x")


if __name__ == "__main__":
    main()
