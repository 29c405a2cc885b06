"""An open MLflow run whose metrics are buffered and stored in the background.

``log_metrics`` only appends to a buffer; a flusher thread sends ``log_batch`` chunks of at most
``batch_size`` points. A run that logs little is written by that thread directly.

A run that fills a whole batch within one flush interval is in *bulk* mode when the store is a
local database: the ORM work of a SQL store (~0.13 ms per point, all of it holding the GIL) would
otherwise slow the training loop down, so its points are held and, once the run has lasted
``writer_delay`` seconds, handed to a writer process (:mod:`mlops_tracking.writer`). A shorter
run never pays for starting one: what it holds is written when it finishes. ``finish`` flushes
everything, raises what could not be stored, and closes the run.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from types import TracebackType
from typing import TYPE_CHECKING, Any

from mlflow.entities import Metric, Param, RunTag
from mlflow.exceptions import MlflowException
from mlflow.utils.validation import MAX_ENTITY_KEY_LENGTH, _validate_metric_name

from mlops_core.errors import InputValidationError, ServiceError
from mlops_core.records import RunRecord
from mlops_tracking.writer import Point, WriterProcess

if TYPE_CHECKING:
    from mlflow import MlflowClient

__all__ = ["FINAL_STATUSES", "MlflowRunHandle"]

FINAL_STATUSES = ("FINISHED", "FAILED", "KILLED")
log = logging.getLogger(__name__)


def _chunks(points: list[Point], size: int) -> Iterator[list[Point]]:
    for start in range(0, len(points), size):
        yield points[start:start + size]


class MlflowRunHandle:
    """A run open for logging. Use :meth:`finish`, or the handle as a context manager."""

    def __init__(
        self,
        client: MlflowClient,
        run_id: str,
        *,
        project: str,
        experiment: str,
        record_factory: Callable[[str], RunRecord],
        batch_size: int = 1000,
        flush_interval: float = 2.0,
        writer_uri: str | None = None,
        writer_delay: float = 5.0,
    ) -> None:
        """``writer_uri``: the store a writer process may use in bulk mode (None: never)."""
        self.run_id = run_id
        self.project = project
        self.experiment = experiment
        #: the record :meth:`finish` returned, once it has
        self.record: RunRecord | None = None
        self._client = client
        self._record_factory = record_factory
        self._batch_size = max(1, min(batch_size, 1000))
        self._interval = flush_interval
        self._writer_uri = writer_uri
        self._writer_delay = writer_delay
        self._writer: WriterProcess | None = None
        self._bulk = False
        #: bulk points waiting for the writer process (or for finish)
        self._held: list[Point] = []
        self._opened = time.monotonic()
        self._lock = threading.Lock()
        self._pending: list[Point] = []
        self._closed = False
        self._known_keys: set[str] = set()
        #: (points not stored, error text), from the flusher and the writer process
        self._errors: list[tuple[int, str]] = []
        self._logged = 0
        self._wake = threading.Event()
        self._stopping = threading.Event()
        self._flusher = threading.Thread(target=self._flush_loop, name=f"mlops-flush-{run_id[:8]}", daemon=True)
        self._flusher.start()

    @property
    def writer(self) -> WriterProcess | None:
        """The writer process storing this run's metrics, if the volume called for one."""
        return self._writer

    # -- logging ------------------------------------------------------------------------------

    def log_metrics(self, step: int, metrics: Mapping[str, float]) -> None:
        """Buffer one point per metric at ``step``; returns at once."""
        timestamp = int(time.time() * 1000)
        step = int(step)
        points: list[Point] = []
        for key, value in metrics.items():
            if key not in self._known_keys:
                self._check_key(key)
            try:
                number = float(value)
            except (TypeError, ValueError):
                raise InputValidationError(
                    f"metric {key!r} at step {step} is {value!r}, not a number",
                    fix="log numbers only (convert tensors with float(...))",
                ) from None
            points.append((key, number, timestamp, step))
        with self._lock:
            if self._closed:
                raise InputValidationError(
                    f"run {self.run_id} is finished; metrics can no longer be logged to this handle",
                    fix="log before finish(), or reopen the run with tracker.resume_run(run_id)",
                )
            self._pending.extend(points)
            full = len(self._pending) >= self._batch_size
        if full:
            self._wake.set()

    def _check_key(self, key: str) -> None:
        # Checked once per key here: an invalid key inside a batch would make the store refuse
        # the whole batch, dropping the valid points around it.
        problem = None
        if not isinstance(key, str) or not key:
            problem = "metric names must be non-empty strings"
        elif len(key) > MAX_ENTITY_KEY_LENGTH:
            problem = f"metric names have at most {MAX_ENTITY_KEY_LENGTH} characters"
        else:
            try:
                _validate_metric_name(key)
            except MlflowException as exc:
                problem = exc.message
        if problem:
            raise InputValidationError(f"invalid metric name {key!r}: {problem}",
                                       fix="use letters, digits, '_', '-', '.', ' ' and '/' in metric names")
        self._known_keys.add(key)

    def log_params(self, params: Mapping[str, Any]) -> None:
        """Store parameters now (MLflow keeps the first value of a parameter; a change is refused)."""
        if params:
            self._store(lambda: self._client.log_batch(
                self.run_id, params=[Param(str(k), str(v)) for k, v in params.items()], synchronous=True),
                "log parameters")

    def set_tags(self, tags: Mapping[str, str]) -> None:
        """Set (or overwrite) tags now."""
        if tags:
            self._store(lambda: self._client.log_batch(
                self.run_id, tags=[RunTag(str(k), str(v)) for k, v in tags.items()], synchronous=True),
                "set tags")

    def _store(self, call: Callable[[], None], what: str) -> None:
        try:
            call()
        except MlflowException as exc:
            raise InputValidationError(f"could not {what} on run {self.run_id}: {exc.message}",
                                       fix="parameters cannot change once logged; use a new run, or a tag") from exc

    # -- flushing -----------------------------------------------------------------------------

    def _flush_loop(self) -> None:
        while True:
            self._wake.wait(self._interval)
            self._wake.clear()
            stopping = self._stopping.is_set()
            with self._lock:
                pending, self._pending = self._pending, []
            if pending or self._held:
                try:
                    self._dispatch(pending, final=stopping)
                except Exception as exc:  # the thread must survive; finish() reports it
                    log.exception("metric flusher of run %s failed", self.run_id)
                    self._errors.append((len(pending), f"{type(exc).__name__}: {exc}"))
            if stopping:
                return

    def _dispatch(self, points: list[Point], *, final: bool = False) -> None:
        self._logged += len(points)
        if self._writer_uri and not self._bulk and len(points) >= self._batch_size:
            self._bulk = True
        if not self._bulk:
            self._write(points)
            return
        held, self._held = self._held + points, []
        if final:
            # finish() writes the rest in-process: faster than starting a writer, or than
            # queueing behind a niced one.
            self._held = held
            return
        if self._writer is None and time.monotonic() - self._opened >= self._writer_delay:
            try:
                self._writer = WriterProcess(self._writer_uri or "", self.run_id)
            except OSError as exc:
                log.warning("could not start a metric writer process (%s); writing in-process", exc)
                self._writer_uri, self._bulk = None, False
                self._write(held)
                return
        if self._writer is None:
            self._held = held
            return
        self._writer.send(list(_chunks(held, self._batch_size)))

    def _write(self, points: list[Point]) -> None:
        for chunk in _chunks(points, self._batch_size):
            try:
                self._client.log_batch(
                    self.run_id, metrics=[Metric(k, v, ts, s) for k, v, ts, s in chunk], synchronous=True)
            except Exception as exc:  # kept and raised at finish(): never swallowed
                self._errors.append((len(chunk), f"{type(exc).__name__}: {exc}"))

    def _stop_flusher(self) -> None:
        self._stopping.set()
        self._wake.set()
        self._flusher.join()

    def _close_writer(self) -> None:
        with self._lock:  # nothing should be left here, but nothing logged may be dropped
            held, self._held, self._pending = self._held + self._pending, [], []
        if self._writer is None:
            self._write(held)
            return
        unsent = self._writer.stop()
        # Written here while the child finishes the little it has left: the training is over,
        # so this process's CPU is free, and a niced child may be slow to get any.
        for batch in unsent:
            self._write(batch)
        self._write(held)
        # Idempotent: a batch the writer stored without answering is not stored twice.
        for batch in self._writer.wait():
            self._write(batch)
        self._errors.extend(self._writer.errors)

    def _raise_errors(self) -> None:
        if not self._errors:
            return
        lost = sum(n for n, _ in self._errors)
        first = self._errors[0][1]
        self._errors = []
        raise ServiceError(
            f"{lost} of {self._logged} metric points could not be stored in run {self.run_id} "
            f"(tracking store said: {first})",
            fix="check the tracking store (`mlops doctor`); the run was not deleted while training, was it?",
        )

    # -- closing ------------------------------------------------------------------------------

    def finish(self, status: str = "FINISHED") -> RunRecord:
        """Flush every buffered metric, close the run with ``status`` and return its record.

        If some metrics could not be stored, the run is closed as FAILED and the error is raised.
        """
        status = status.upper()
        if status not in FINAL_STATUSES:
            raise InputValidationError(f"unknown run status {status!r}", fix=f"use one of {', '.join(FINAL_STATUSES)}")
        with self._lock:
            if self._closed:
                if self.record is not None:
                    return self.record
                raise InputValidationError(f"run {self.run_id} is already being finished",
                                           fix="call finish() once")
            self._closed = True
        self._stop_flusher()
        self._close_writer()
        if self._errors:
            status = "FAILED"
        try:
            self._client.set_terminated(self.run_id, status=status)
        except MlflowException as exc:
            if not self._errors:
                raise ServiceError(f"could not close run {self.run_id}: {exc.message}",
                                   fix="check the tracking store (`mlops doctor`)") from exc
            log.warning("could not close run %s: %s", self.run_id, exc.message)
        self._raise_errors()
        self.record = self._record_factory(self.run_id)
        return self.record

    def __enter__(self) -> MlflowRunHandle:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if self.record is not None:
            return
        if exc is None:
            self.finish("FINISHED")
            return
        try:
            self.finish("FAILED")
        except Exception as finish_error:  # the training error stays the one raised
            log.error("while closing failed run %s: %s", self.run_id, finish_error)

    def __repr__(self) -> str:
        return f"MlflowRunHandle(project={self.project!r}, run_id={self.run_id!r})"

