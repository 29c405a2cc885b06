"""Every answered batch is announced through ``mlops_predictions_served``, after the answer."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from datetime import datetime
from typing import TYPE_CHECKING

from mlops_core.hookspecs import hookimpl
from mlops_core.records import PredictionBatch

if TYPE_CHECKING:
    from conftest import World

ROWS = [[0.0, 0.5, 1], [5.0, 4.5, 5], [4, 6, 2]]


def test_the_served_batch_is_announced_with_what_was_served(world: World) -> None:
    answer = world.client.post("/predict/toy/toy", json={"inputs": ROWS}).json()

    assert world.plugin.announced.wait(5)
    [batch] = world.plugin.batches
    assert isinstance(batch, PredictionBatch)
    assert (batch.project, batch.model, batch.version) == ("toy", "toy", "1")
    assert batch.feature_names == ("x0", "x1", "n")
    assert batch.inputs == tuple(tuple(float(v) for v in row) for row in ROWS)
    assert all(isinstance(v, float) for row in batch.inputs for v in row)
    assert list(batch.outputs) == answer["predictions"] == [0, 1, 1]
    assert batch.latency_ms == answer["latency_ms"]
    served_at = datetime.fromisoformat(batch.served_at)
    assert served_at.tzinfo is not None


def test_records_are_announced_in_feature_order(world: World) -> None:
    world.client.post("/predict/toy/toy", json={"records": [{"n": 3, "x1": 2.0, "x0": 1.0}]})

    assert world.plugin.announced.wait(5)
    assert world.plugin.batches[0].inputs == ((1.0, 2.0, 3.0),)


def test_the_client_does_not_wait_for_the_announcement(world: World) -> None:
    world.plugin.hold = threading.Event()

    first = world.client.post("/predict/toy/toy", json={"inputs": ROWS})
    # Same client, same kept-alive connection: the next request is not queued behind it either.
    second = world.client.post("/predict/toy/toy", json={"inputs": ROWS[:1]})

    assert first.status_code == second.status_code == 200
    assert world.plugin.batches == []  # both answers arrived while the listener was still held
    world.plugin.hold.set()
    assert _until_count(world, 2)


def _until_count(world: World, n: int) -> bool:
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        if len(world.plugin.batches) >= n:
            return True
        time.sleep(0.01)
    return False


class _BrokenMonitor:
    @hookimpl
    def mlops_predictions_served(self, batch: PredictionBatch) -> None:
        raise RuntimeError("monitor disk full")


def test_a_failing_listener_neither_fails_the_request_nor_silences_the_others(
    make_world: Callable[..., World],
) -> None:
    world = make_world(extra_plugins=[_BrokenMonitor()])

    response = world.client.post("/predict/toy/toy", json={"inputs": ROWS})

    assert response.status_code == 200
    assert world.plugin.announced.wait(5)
    assert any("monitor disk full" in error for _, _, error in world.plugins.event_errors)


def test_failed_requests_announce_nothing(world: World) -> None:
    world.client.post("/predict/toy/toy", json={"inputs": [[1, 2]]})
    world.client.post("/predict/lonely/lonely-model", json={"inputs": [[1, 2]]})
    world.client.post("/predict/toy/toy", json={"inputs": ROWS})

    assert world.plugin.announced.wait(5)
    assert [len(b.inputs) for b in world.plugin.batches] == [3]


def test_a_graceful_stop_waits_for_the_announcements_of_answered_requests(world: World) -> None:
    world.plugin.hold = threading.Event()
    assert world.client.post("/predict/toy/toy", json={"inputs": ROWS}).status_code == 200
    world.client.close()

    stopper = threading.Thread(target=world.server.stop)
    stopper.start()
    time.sleep(0.5)
    still_stopping = stopper.is_alive()
    world.plugin.hold.set()
    stopper.join(10)

    assert still_stopping, "stop() returned while an announcement was still running"
    assert not stopper.is_alive() and not world.server.running
    assert len(world.plugin.batches) == 1
