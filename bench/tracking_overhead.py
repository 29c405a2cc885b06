"""What tracking costs a training loop: 2,000 steps x 5 metrics, measured in the same run.

Run: uv run python bench/tracking_overhead.py [--steps 2000] [--rounds 7] [--per-point-rounds 1]

Each step is a real forward/backward pass of a small numpy MLP (~1 ms). The loop runs:
  1. untracked (the baseline);
  1b. appending every point to a list (a control: the floor of any in-process logger);
  2. through mlops-tracking's RunHandle (``log_metrics`` buffers; batches are stored in the
     background: writer "auto" = a writer process for a local store; "thread" shown for comparison);
  3. calling ``mlflow.log_metric`` once per point, the naive way.
Every tracked variant uses its own fresh sqlite store in a temporary state directory.
"loop" is the training loop alone; "+finish" adds the time ``finish()`` takes to store the rest.
Target: ours (loop) <= 1.05x untracked.
"""

from __future__ import annotations

import os

# One BLAS thread: on a 2-core machine BLAS threads would fight the writer (and each other),
# making even the untracked baseline erratic. Set before numpy is imported; same for every variant.
for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import argparse  # noqa: E402
import statistics  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from collections.abc import Callable, Mapping  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402

Log = Callable[[int, Mapping[str, float]], None] | None
KEYS = ("loss", "accuracy", "grad_norm", "weight_norm", "lr")


class MLP:
    """64 -> 256 -> 10 softmax classifier trained by plain SGD on one fixed random batch."""

    def __init__(self, seed: int = 0, batch: int = 256) -> None:
        rng = np.random.default_rng(seed)
        self.x = rng.normal(size=(batch, 64))
        self.y = rng.integers(0, 10, size=batch)
        self.w1 = rng.normal(scale=0.1, size=(64, 256))
        self.w2 = rng.normal(scale=0.1, size=(256, 10))
        self.lr = 0.05

    def step(self) -> dict[str, float]:
        h = np.tanh(self.x @ self.w1)
        logits = h @ self.w2
        logits -= logits.max(axis=1, keepdims=True)
        p = np.exp(logits)
        p /= p.sum(axis=1, keepdims=True)
        n = len(self.y)
        loss = float(-np.log(p[np.arange(n), self.y] + 1e-12).mean())
        accuracy = float((p.argmax(axis=1) == self.y).mean())
        d_logits = p
        d_logits[np.arange(n), self.y] -= 1
        d_logits /= n
        g2 = h.T @ d_logits
        g1 = self.x.T @ ((d_logits @ self.w2.T) * (1 - h**2))
        self.w1 -= self.lr * g1
        self.w2 -= self.lr * g2
        grad_norm = float(np.sqrt((g1**2).sum() + (g2**2).sum()))
        return {"loss": loss, "accuracy": accuracy, "grad_norm": grad_norm,
                "weight_norm": float(np.abs(self.w2).sum()), "lr": self.lr}


def train(steps: int, log: Log) -> float:
    """Seconds the training loop takes."""
    model = MLP()
    start = time.perf_counter()
    for step in range(steps):
        metrics = model.step()
        if log is not None:
            log(step, metrics)
    return time.perf_counter() - start


def untracked(steps: int) -> tuple[float, float, str]:
    loop = train(steps, None)
    return loop, loop, ""


def list_append(steps: int) -> tuple[float, float, str]:
    """Control: the least any in-process logger can cost (append each point to a list)."""
    points: list[tuple[str, float, int, int]] = []

    def log(step: int, metrics: Mapping[str, float]) -> None:
        stamp = int(time.time() * 1000)
        for key, value in metrics.items():
            points.append((key, float(value), stamp, step))

    loop = train(steps, log)
    return loop, loop, "control, stores nothing"


def ours(steps: int, writer: str) -> tuple[float, float, str]:
    from mlops_core.settings import load_settings
    from mlops_tracking.tracker import MlflowTracker

    with tempfile.TemporaryDirectory(prefix="mlops-bench-") as tmp:
        settings = load_settings(root=Path(tmp), state_dir=Path(tmp) / ".mlops")
        tracker = MlflowTracker(settings, writer=writer)  # type: ignore[arg-type]
        handle = tracker.start_run("bench")  # creates the store: not part of the timing
        loop = train(steps, handle.log_metrics)
        proc = handle.writer
        note = "no writer process"
        if proc is not None:
            note = ("writer process (started after writer_delay) stored points during the loop" if proc.ready
                    else "writer process still starting at finish: the rest written in-process")
        t0 = time.perf_counter()
        record = handle.finish()
        total = loop + time.perf_counter() - t0
        stored = sum(len(tracker.client.get_metric_history(record.run_id, k)) for k in KEYS)
        assert stored == steps * len(KEYS), f"only {stored} points stored"
    return loop, total, note


def per_point(steps: int) -> tuple[float, float, str]:
    import mlflow

    with tempfile.TemporaryDirectory(prefix="mlops-bench-") as tmp:
        # The naive way uses the fluent API; this script owns the process, so it may set it.
        previous = mlflow.get_tracking_uri()
        mlflow.set_tracking_uri(f"sqlite:///{tmp}/mlflow.db")
        try:
            experiment = mlflow.set_experiment("bench")
            with mlflow.start_run(experiment_id=experiment.experiment_id):
                def log(step: int, metrics: Mapping[str, float]) -> None:
                    for key, value in metrics.items():
                        mlflow.log_metric(key, value, step=step)

                loop = train(steps, log)
        finally:
            mlflow.set_tracking_uri(previous)
    return loop, loop, "synchronous"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--steps", type=int, default=2000)
    parser.add_argument("--rounds", type=int, default=7, help="rounds of untracked/ours (median reported)")
    parser.add_argument("--per-point-rounds", type=int, default=1,
                        help="rounds of the slow per-point variant (0: skip it)")
    args = parser.parse_args()

    t0 = time.perf_counter()
    import mlflow  # noqa: F401  (imported once, outside every timing)

    from mlops_tracking import tracker  # noqa: F401

    print(f"imports: {time.perf_counter() - t0:.1f} s; load average {os.getloadavg()[0]:.2f} on {os.cpu_count()} cores")
    train(200, None)  # warm up numpy

    variants: dict[str, Callable[[], tuple[float, float, str]]] = {
        "untracked": lambda: untracked(args.steps),
        "list.append (control)": lambda: list_append(args.steps),
        "mlops-tracking (auto)": lambda: ours(args.steps, "auto"),
        "mlops-tracking (thread)": lambda: ours(args.steps, "thread"),
    }
    samples: dict[str, list[tuple[float, float, str]]] = {name: [] for name in variants}
    for _ in range(args.rounds):  # interleaved, so that load changes hit every variant alike
        for name, run in variants.items():
            samples[name].append(run())
    if args.per_point_rounds > 0:
        samples["mlflow.log_metric per point"] = [per_point(args.steps) for _ in range(args.per_point_rounds)]

    base = statistics.median(s[0] for s in samples["untracked"])
    best = min(s[0] for s in samples["untracked"])
    points = args.steps * len(KEYS)
    print(f"{args.steps} steps x {len(KEYS)} metrics = {points} points, {base / args.steps * 1000:.2f} ms per "
          f"untracked step; median of {args.rounds} interleaved rounds ({args.per_point_rounds} for per-point)")
    print(f"{'variant':30} {'loop s':>8} {'x untracked':>12} {'best-of x':>10} {'+finish s':>10} {'x untracked':>12}  note")
    for name, runs in samples.items():
        loop = statistics.median(s[0] for s in runs)
        total = statistics.median(s[1] for s in runs)
        notes = sorted({s[2] for s in runs if s[2]})
        print(f"{name:30} {loop:8.3f} {loop / base:11.2f}x {min(s[0] for s in runs) / best:9.2f}x "
              f"{total:10.3f} {total / base:11.2f}x  {'; '.join(notes)}")
    ratio = statistics.median(s[0] for s in samples["mlops-tracking (auto)"]) / base
    print(f"target: mlops-tracking loop <= 1.05x untracked: {ratio:.3f}x {'OK' if ratio <= 1.05 else 'MISSED'}")
    print(f"load average now {os.getloadavg()[0]:.2f} (other work on the machine makes every figure noisier)")

if __name__ == "__main__":
    main()
