"""A separate process that writes metric batches to a local MLflow store.

Writing to a SQL store in-process costs ~0.13 ms of pure-Python ORM work per metric point
(measured with MLflow 3.17 on sqlite), all of it holding the GIL: a training loop logging 10,000
points would lose over a second to a background *thread*. A child process has its own GIL, so on
a machine with two cores the training loop does not wait on the store at all.

The protocol is JSON lines. The parent writes ``{"seq": n, "points": [[key, value,
timestamp_ms, step], ...]}`` to the child's stdin; the child answers ``{"ready": true}`` once its
store is open and the run found, then ``{"seq": n}`` or ``{"seq": n, "error": "..."}`` per batch. Closing
stdin asks it to finish the batches it has and exit. MLflow's metric writes are idempotent (an
identical point is stored once), so a batch whose answer never came can be written again.

One process serves one run: ``python -m mlops_tracking.writer TRACKING_URI RUN_ID``.
"""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
import threading
from collections import deque
from collections.abc import Sequence

__all__ = ["Point", "WriterProcess", "main"]

#: one metric point: (key, value, timestamp in ms, step)
Point = tuple[str, float, int, int]

log = logging.getLogger(__name__)


class WriterProcess:
    """The parent's side of one writer process: send batches, learn which were stored."""

    def __init__(self, tracking_uri: str, run_id: str) -> None:
        self.run_id = run_id
        self._proc = subprocess.Popen(
            [sys.executable, "-m", "mlops_tracking.writer", tracking_uri, run_id],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            bufsize=1,
        )
        self._ready = threading.Event()
        self._lock = threading.Lock()
        self._seq = 0
        #: batches sent and not yet answered, by sequence number
        self._unacked: dict[int, list[Point]] = {}
        #: batches waiting for the child to be ready
        self._queued: list[list[Point]] = []
        #: (points lost, error text) per batch the child could not store
        self.errors: list[tuple[int, str]] = []
        self._stderr_tail: deque[str] = deque(maxlen=20)
        self._readers = [
            threading.Thread(target=self._read_answers, name="mlops-writer-answers", daemon=True),
            threading.Thread(target=self._read_stderr, name="mlops-writer-stderr", daemon=True),
        ]
        for reader in self._readers:
            reader.start()

    @property
    def pid(self) -> int:
        return self._proc.pid

    @property
    def ready(self) -> bool:
        return self._ready.is_set()

    def send(self, batches: Sequence[list[Point]]) -> None:
        """Queue ``batches``; they go down the pipe once the child has opened its store.

        Until then they stay here, so a child that is slow to start never blocks the caller.
        """
        self._queued.extend(batches)
        if self.ready:
            self._drain_queue()

    def _drain_queue(self) -> None:
        queued, self._queued = self._queued, []
        for i, batch in enumerate(queued):
            if not self._write(batch):
                # The child is gone; keep the rest for stop() to hand back.
                self._queued = queued[i + 1:]
                return

    def _write(self, batch: list[Point]) -> bool:
        with self._lock:
            self._seq += 1
            seq = self._seq
            self._unacked[seq] = batch
        line = json.dumps({"seq": seq, "points": batch}) + "\n"
        try:
            assert self._proc.stdin is not None
            self._proc.stdin.write(line)
            self._proc.stdin.flush()
        except (BrokenPipeError, OSError, ValueError):
            return False
        return True

    def stop(self) -> list[list[Point]]:
        """Send nothing more; return the batches never sent, to be written elsewhere now.

        A ready child finishes the few batches already in its pipe and exits (see :meth:`wait`);
        one still starting up is terminated, since writing in-process is then faster than
        waiting for its imports. Either way the caller need not wait for a busy (niced) child.
        """
        if not self.ready:
            self._proc.terminate()
        self._close_stdin()
        queued, self._queued = self._queued, []
        return queued

    def wait(self) -> list[list[Point]]:
        """Wait for the child to exit; return the batches it did not answer for."""
        self._proc.wait()
        for reader in self._readers:
            reader.join(timeout=5)
        for stream in (self._proc.stdout, self._proc.stderr):
            if stream is not None:
                stream.close()
        with self._lock:
            left = list(self._unacked.values())
            self._unacked.clear()
        if left and self.ready:
            log.warning("metric writer %s exited with %d unanswered batches (exit %s): %s",
                        self.pid, len(left), self._proc.returncode, self.stderr_tail())
        return left

    def stderr_tail(self) -> str:
        return " | ".join(self._stderr_tail)

    def _close_stdin(self) -> None:
        try:
            assert self._proc.stdin is not None
            self._proc.stdin.close()
        except (BrokenPipeError, OSError):
            pass

    def _read_answers(self) -> None:
        assert self._proc.stdout is not None
        for line in self._proc.stdout:
            try:
                answer = json.loads(line)
            except ValueError:
                continue
            if answer.get("ready"):
                self._ready.set()
                continue
            with self._lock:
                batch = self._unacked.pop(answer.get("seq"), None)
            if batch is not None and "error" in answer:
                self.errors.append((len(batch), str(answer["error"])))

    def _read_stderr(self) -> None:
        assert self._proc.stderr is not None
        for line in self._proc.stderr:
            self._stderr_tail.append(line.rstrip())


def main(argv: Sequence[str] | None = None) -> int:
    """The child: open the store, then store every batch read from stdin."""
    args = list(sys.argv[1:] if argv is None else argv)
    if len(args) != 2:
        print("usage: python -m mlops_tracking.writer TRACKING_URI RUN_ID", file=sys.stderr)
        return 2
    uri, run_id = args
    if hasattr(os, "nice"):
        # Background work: it should use idle CPU only, never the training loop's.
        os.nice(19)
    # The answers need a clean channel: keep the real stdout for them, send stray prints to stderr.
    answers = os.fdopen(os.dup(1), "w", buffering=1)
    os.dup2(2, 1)

    from mlflow import MlflowClient
    from mlflow.entities import Metric

    client = MlflowClient(tracking_uri=uri)
    client.get_run(run_id)  # opens the store now, so that "ready" means batches go straight in

    def answer(payload: dict[str, object]) -> None:
        answers.write(json.dumps(payload) + "\n")

    answer({"ready": True})
    for line in sys.stdin:
        message = json.loads(line)
        try:
            metrics = [Metric(k, v, ts, step) for k, v, ts, step in message["points"]]
            client.log_batch(run_id, metrics=metrics, synchronous=True)
        except Exception as exc:  # reported to the parent, which raises it at finish
            answer({"seq": message["seq"], "error": f"{type(exc).__name__}: {exc}"})
        else:
            answer({"seq": message["seq"]})
    answers.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
