"""The champion alias moves; the gateway follows it without restart and without a gap."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from conftest import World

ROWS = {"inputs": [[0.0, 0.5, 1], [5.0, 4.5, 5]]}
V1_PREDICTIONS = [0, 1]
V2_PREDICTIONS = [10, 11]  # v2 is trained with label_offset=10


def _predict(world: World) -> dict[str, Any]:
    response = world.client.post("/predict/toy/toy", json=ROWS)
    assert response.status_code == 200, response.text
    return response.json()


def _until(condition: Callable[[], bool], timeout: float = 5.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.01)
    return False


def test_a_promotion_is_picked_up_without_restart(world: World) -> None:
    assert _predict(world)["version"] == "1"

    world.new_version("toy", label_offset=10)

    assert _until(lambda: _predict(world)["version"] == "2"), "the gateway never served v2"
    answer = _predict(world)
    assert answer["predictions"] == V2_PREDICTIONS
    toy_loads = [v for p, _, v in world.tracker.loads if p == "toy"]
    assert toy_loads == ["1", "2"]  # one load per version, not one per request


def test_the_old_version_answers_while_the_new_one_loads(world: World) -> None:
    assert _predict(world)["version"] == "1"
    world.tracker.gates["2"] = release = threading.Event()
    world.new_version("toy", label_offset=10)

    with ThreadPoolExecutor(1) as pool:
        # Keep asking until one request notices the move and starts loading v2; it blocks there.
        def first_to_notice() -> dict[str, Any]:
            while True:
                answer = _predict(world)
                if answer["version"] == "2":
                    return answer

        loader = pool.submit(first_to_notice)
        assert _until(lambda: "2" in world.tracker.loading), "no request started loading v2"
        during = [_predict(world) for _ in range(10)]
        assert not loader.done()
        release.set()
        after = loader.result(timeout=10)

    assert {a["version"] for a in during} == {"1"}
    assert all(a["predictions"] == V1_PREDICTIONS for a in during)
    assert after["predictions"] == V2_PREDICTIONS
    assert _predict(world)["version"] == "2"


def test_the_alias_is_looked_up_at_most_once_per_ttl(make_world: Callable[..., World]) -> None:
    world = make_world(ttl=3600)
    for _ in range(20):
        _predict(world)
    world.new_version("toy", label_offset=10)
    answers = [_predict(world) for _ in range(5)]

    assert world.tracker.lookups == 1
    assert {a["version"] for a in answers} == {"1"}  # within the TTL the promotion is not seen yet


def test_a_tracker_outage_keeps_the_loaded_model_serving(world: World) -> None:
    assert _predict(world)["version"] == "1"
    world.tracker.down = True
    lookups_before = world.tracker.lookups
    time.sleep(0.1)  # past the TTL, so the gateway does try the tracker

    during = [_predict(world) for _ in range(3)]
    world.tracker.down = False
    world.new_version("toy", label_offset=10)

    assert {a["version"] for a in during} == {"1"}
    assert _until(lambda: _predict(world)["version"] == "2")
    assert world.tracker.lookups > lookups_before


def test_a_tracker_outage_before_the_first_load_is_a_503(world: World) -> None:
    world.tracker.down = True

    response = world.client.post("/predict/toy/toy", json=ROWS)

    assert response.status_code == 503
    assert "tracking server unreachable" in response.json()["error"]
    assert "mlops doctor" in response.json()["fix"]


def test_removing_the_alias_stops_serving_the_old_champion(world: World) -> None:
    assert _predict(world)["version"] == "1"

    world.tracker.clear_alias("toy", "toy", "champion")

    def gone() -> bool:
        return world.client.post("/predict/toy/toy", json=ROWS).status_code == 404

    assert _until(gone)
    assert "`mlops run toy`" in world.client.post("/predict/toy/toy", json=ROWS).json()["fix"]
