"""Time DvcStore operations on a 10 MB file, against md5 and a plain copy measured in the same run.

    uv run --frozen python packages/mlops-data/bench/bench_version.py [--mb 10] [--repeat 3]

Each configuration gets its own throwaway workspace under the temp dir. Prints medians, and each
time as a multiple of hashing the file once (the least any versioning must do).
"""

from __future__ import annotations

import argparse
import hashlib
import os
import shutil
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from mlops_core.settings import load_settings

from mlops_data.store import DvcStore


def timed(fn: Callable[[], object], repeat: int) -> float:
    runs = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        runs.append(time.perf_counter() - start)
    return statistics.median(runs)


def fresh_file(path: Path, size: int) -> Path:
    path.unlink(missing_ok=True)  # a new inode: never write through a cache link
    path.write_bytes(os.urandom(size))
    return path


def bench_store(store: DvcStore, size: int, repeat: int, *, extras: bool) -> list[tuple[str, float]]:
    """Time versioning (new and unchanged content); with ``extras`` also read, checkout, push."""
    mb = size // 2**20
    kind = store.cache_type.split(",")[1] if "," in store.cache_type else store.cache_type
    label = f"cache.type={kind}, autopush={store.autopush}"
    target = store.project_dir("bench") / "data.bin"
    runs = []
    for _ in range(repeat):
        fresh_file(target, size)  # written outside the timer: only versioning is measured
        start = time.perf_counter()
        store.version("bench", [target])
        runs.append(time.perf_counter() - start)
    rows = [(f"version a new {mb} MB file ({label})", statistics.median(runs)),
            (f"version it again, unchanged ({label})", timed(lambda: store.version("bench", [target]), repeat))]
    if extras:
        old = store.history("bench")[-1].rev
        rows.append((f"read an old {mb} MB version", timed(lambda: store.read("bench", "data.bin", old), repeat)))
        rows.append((f"checkout old rev, then HEAD ({mb} MB)",
                     timed(lambda: (store.checkout("bench", old), store.checkout("bench", "HEAD")), repeat)))
        rows.append(("push (all commits, already pushed)", timed(store.push, repeat)))
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mb", type=int, default=10)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    size = args.mb * 2**20
    rows: list[tuple[str, float]] = []

    with tempfile.TemporaryDirectory() as tmp:
        sample = fresh_file(Path(tmp) / "sample.bin", size)
        md5 = timed(lambda: hashlib.md5(sample.read_bytes()).hexdigest(), args.repeat)
        rows.append((f"baseline: md5 of {args.mb} MB", md5))
        copy = timed(lambda: shutil.copyfile(sample, Path(tmp) / "copy.bin"), args.repeat)
        rows.append((f"baseline: copy {args.mb} MB", copy))

        start = time.perf_counter()
        import dvc.repo  # noqa: F401  (what the first call in a process pays)

        rows.append(("import dvc (once per process)", time.perf_counter() - start))

        for cache_type in ("reflink,hardlink,copy", "copy"):
            for autopush in (False, True):
                ws = Path(tempfile.mkdtemp(dir=tmp))
                store = DvcStore(load_settings(root=ws, data={"cache_type": cache_type, "autopush": autopush}))
                start = time.perf_counter()
                store.project_dir("bench")
                if cache_type.startswith("reflink") and not autopush:
                    rows.append(("create the repository (git init, dvc init)", time.perf_counter() - start))
                extras = cache_type == "copy" and autopush
                rows.extend(bench_store(store, size, args.repeat, extras=extras))
    width = max(len(name) for name, _ in rows)
    print(f"{'operation':<{width}}  {'median s':>9}  {'x md5':>7}")
    for name, seconds in rows:
        print(f"{name:<{width}}  {seconds:9.3f}  {seconds / md5:7.1f}")


if __name__ == "__main__":
    main()
