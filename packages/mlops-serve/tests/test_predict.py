"""POST /predict against a real uvicorn: good input answers, every bad input says how to fix it."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from conftest import World

MAX_BATCH_ROWS = 50

TOY_ROWS = [[0.0, 0.5, 1], [5.0, 4.5, 5]]
TOY_RECORDS = [{"x0": 0.0, "x1": 0.5, "n": 1}, {"n": 5, "x1": 4.5, "x0": 5.0}]


@pytest.fixture
def world(make_world: Callable[..., World]) -> World:
    return make_world(max_batch_rows=MAX_BATCH_ROWS)


def test_rows_in_feature_order_get_predictions(world: World) -> None:
    response = world.client.post("/predict/toy/toy", json={"inputs": TOY_ROWS})

    assert response.status_code == 200, response.text
    body = response.json()
    assert body["project"] == "toy" and body["model"] == "toy" and body["version"] == "1"
    assert body["predictions"] == [0, 1]
    assert body["latency_ms"] > 0


def test_records_keyed_by_feature_name_give_the_same_predictions(world: World) -> None:
    by_rows = world.client.post("/predict/toy/toy", json={"inputs": TOY_ROWS}).json()
    by_records = world.client.post("/predict/toy/toy", json={"records": TOY_RECORDS})

    assert by_records.status_code == 200, by_records.text
    assert by_records.json()["predictions"] == by_rows["predictions"] == [0, 1]


def test_predictions_are_the_models_own(world: World) -> None:
    rows = world.projects["digits"].samples(world.work / "digits" / "data", "held_out", 40)
    model_dir = Path(world.tracker.model_versions("digits", "digits")[0].uri)
    expected = world.projects["digits"].load(model_dir).predict(rows)

    response = world.client.post("/predict/digits/digits", json={"inputs": rows})

    assert response.status_code == 200, response.text
    assert response.json()["predictions"] == expected
    assert set(expected) == {0, 1}  # both classes appear, so a wrong model would show


def test_a_full_batch_and_whole_floats_for_integer_features_are_accepted(world: World) -> None:
    rows = [[1, 2, 3.0]] * MAX_BATCH_ROWS
    response = world.client.post("/predict/toy/toy", json={"inputs": rows})

    assert response.status_code == 200, response.text
    assert len(response.json()["predictions"]) == MAX_BATCH_ROWS


GOOD = {"json": {"inputs": TOY_ROWS}}
JSON = {"Content-Type": "application/json"}

# (id, method, path, request kwargs, status, words in "error", words in "fix")
BAD: list[tuple[str, str, str, dict[str, Any], int, list[str], list[str]]] = [
    ("unknown project", "POST", "/predict/nope/nope", GOOD, 404,
     ["'nope'", "registered: digits, lonely, toy"], ["mlops projects"]),
    ("unknown model", "POST", "/predict/toy/other", GOOD, 404,
     ["project 'toy' has no model 'other'", "serves 'toy'"], ["POST /predict/toy/toy"]),
    ("no champion yet", "POST", "/predict/lonely/lonely-model", {"json": {"inputs": [[1, 2]]}}, 404,
     ["lonely-model", "no 'champion' version"], ["`mlops run lonely`"]),
    ("no body", "POST", "/predict/toy/toy", {}, 422, ["no body"], ["Content-Type: application/json"]),
    ("empty body", "POST", "/predict/toy/toy", {"content": b"", "headers": JSON}, 422, ["no body"], ['"inputs"']),
    ("not JSON", "POST", "/predict/toy/toy", {"content": b"{not json", "headers": JSON}, 422,
     ["not valid JSON", "character 1"], ['{"inputs": [[']),
    ("not declared JSON", "POST", "/predict/toy/toy",
     {"content": b'{"inputs": [[1, 2, 3]]}', "headers": {"Content-Type": "text/plain"}}, 422,
     ["not read as JSON", "Content-Type: text/plain"], ["-H 'Content-Type: application/json'"]),
    ("body is an array", "POST", "/predict/toy/toy", {"json": [[1, 2, 3]]}, 422,
     ["must be a JSON object, got an array"], ['{"inputs"']),
    ("neither inputs nor records", "POST", "/predict/toy/toy", {"json": {}}, 422,
     ["neither 'inputs' nor 'records'"], ["3 numbers per row"]),
    ("both inputs and records", "POST", "/predict/toy/toy", {"json": {"inputs": TOY_ROWS, "records": TOY_RECORDS}},
     422, ["both 'inputs' and 'records'"], ["not both"]),
    ("no rows", "POST", "/predict/toy/toy", {"json": {"inputs": []}}, 422, ["'inputs' is empty"], ["at least one row"]),
    ("misspelt field", "POST", "/predict/toy/toy", {"json": {"input": TOY_ROWS}}, 422,
     ["unknown field 'input'"], ["'inputs'", "'records'"]),
    ("row too short", "POST", "/predict/digits/digits", {"json": {"inputs": [[0] * 64, [0] * 64, [0] * 63]}}, 422,
     ["row 3 has 63 values; model digits expects 64 (pixel_0 … pixel_63)"], ["64 numbers per row", "GET /models/digits/digits"]),
    ("rows of mixed length", "POST", "/predict/toy/toy", {"json": {"inputs": [[1, 2, 3], [1, 2], [1, 2, 3, 4]]}}, 422,
     ["row 2 has 2 values; model toy expects 3 (x0, x1, n) (and 1 more rows"], ["3 numbers per row"]),
    ("quoted number", "POST", "/predict/toy/toy", {"json": {"inputs": [[1, "2.5", 3]]}}, 422,
     ["row 1, value 2: expected a finite number, got the string '2.5'"], ["without quotes: 2.5"]),
    ("word for a number", "POST", "/predict/toy/toy", {"json": {"inputs": [[1, 2, 3], [1, 2, "three"]]}}, 422,
     ["row 2, value 3", "the string 'three'"], ["plain JSON numbers"]),
    ("null", "POST", "/predict/toy/toy", {"json": {"inputs": [[None, 2, 3]]}}, 422, ["row 1, value 1", "got null"], ["null"]),
    ("boolean", "POST", "/predict/toy/toy", {"json": {"inputs": [[1, True, 3]]}}, 422, ["row 1, value 2", "got true"], ["true/false"]),
    ("NaN", "POST", "/predict/toy/toy", {"content": b'{"inputs": [[1, NaN, 3]]}', "headers": JSON}, 422,
     ["row 1, value 2", "got NaN"], ["NaN or Infinity"]),
    ("several type errors", "POST", "/predict/toy/toy", {"json": {"inputs": [["a", "b", 3]]}}, 422,
     ["row 1, value 1", "(and 1 more problem)"], ["plain JSON numbers"]),
    ("inputs not an array", "POST", "/predict/toy/toy", {"json": {"inputs": 5}}, 422,
     ["'inputs' must be an array of rows"], ["[[1.0, 2.0], [3.0, 4.0]]"]),
    ("row not an array", "POST", "/predict/toy/toy", {"json": {"inputs": [5]}}, 422,
     ["row 1 must be an array of numbers"], ["list of numbers"]),
    ("fraction for an integer feature", "POST", "/predict/toy/toy", {"json": {"inputs": [[1, 2, 3], [1, 2, 1.5]]}}, 422,
     ["row 2, feature 'n'", "whole numbers", "1.5"], ["whole number for 'n'"]),
    ("too many rows", "POST", "/predict/toy/toy", {"json": {"inputs": [[1, 2, 3]] * (MAX_BATCH_ROWS + 1)}}, 413,
     [f"{MAX_BATCH_ROWS + 1} rows", f"at most {MAX_BATCH_ROWS}"], ["serve.max_batch_rows", "MLOPS_SERVE__MAX_BATCH_ROWS"]),
    ("record lacks a feature", "POST", "/predict/toy/toy", {"json": {"records": [{"x0": 1, "x1": 2}]}}, 422,
     ["record 1 lacks 1 feature(s): n"], ["x0, x1, n"]),
    ("record has an unknown feature", "POST", "/predict/toy/toy",
     {"json": {"records": [TOY_RECORDS[0], {"x0": 1, "x1": 2, "n": 3, "z": 4}]}}, 422,
     ["record 2 has feature(s) model toy does not know: 'z'"], ["exactly the model's 3 features"]),
    ("record value not a number", "POST", "/predict/toy/toy", {"json": {"records": [{"x0": "a", "x1": 2, "n": 3}]}}, 422,
     ["record 1, feature 'x0': expected a finite number"], ["plain JSON numbers"]),
    ("record not an object", "POST", "/predict/toy/toy", {"json": {"records": [[1, 2, 3]]}}, 422,
     ["record 1 must be an object keyed by feature name"], ['{"x0": 1.0']),
    ("unknown route", "GET", "/nope", {}, 404, ["no endpoint GET /nope"], ["GET /"]),
    ("wrong method", "GET", "/predict/toy/toy", {}, 405, ["GET is not allowed on /predict/toy/toy"], ["POST"]),
]


@pytest.mark.parametrize(("method", "path", "kwargs", "status", "error_words", "fix_words"),
                         [case[1:] for case in BAD], ids=[case[0] for case in BAD])
def test_bad_requests_say_what_is_wrong_and_how_to_fix_it(
    world: World, method: str, path: str, kwargs: dict[str, Any], status: int,
    error_words: list[str], fix_words: list[str],
) -> None:
    response = world.client.request(method, path, **kwargs)

    assert response.status_code == status, response.text
    body = response.json()
    for word in error_words:
        assert word in body["error"], (word, body)
    for word in fix_words:
        assert word in body["fix"], (word, body)


def test_bad_requests_leave_the_gateway_serving(world: World) -> None:
    for _, method, path, kwargs, *_ in BAD:
        world.client.request(method, path, **kwargs)

    response = world.client.post("/predict/toy/toy", json={"inputs": TOY_ROWS})
    assert response.status_code == 200 and response.json()["predictions"] == [0, 1]
    assert world.plugin.announced.wait(5)
    assert {b.project for b in world.plugin.batches} == {"toy"}  # failed requests announce nothing


def test_without_a_tracker_predict_names_the_missing_extra(make_world: Callable[..., World]) -> None:
    world = make_world(with_tracker=False)

    health = world.client.get("/health").json()
    response = world.client.post("/predict/toy/toy", json={"inputs": TOY_ROWS})

    assert health["tracker"] is False and "uv add" in health["tracker_problem"]
    assert response.status_code == 501
    assert "'tracking' concern is not installed" in response.json()["error"]
    assert "uv add" in response.json()["fix"]


@pytest.mark.parametrize(("mode", "words"), [
    ("raises", ["faulty-raises", "failed to predict 2 row(s)", "ValueError: matrix is singular"]),
    ("short", ["returned 1 predictions for 2 rows"]),
    ("nan", ["returned predictions JSON cannot carry"]),
])
def test_a_failing_model_is_a_500_that_blames_the_model(make_world: Callable[..., World], mode: str,
                                                        words: list[str]) -> None:
    world = make_world(faulty=[mode])

    response = world.client.post(f"/predict/faulty-{mode}/faulty-{mode}", json={"inputs": [[1, 2], [3, 4]]})

    assert response.status_code == 500
    for word in words:
        assert word in response.json()["error"]
    assert f"project 'faulty-{mode}'" in response.json()["fix"]
    assert world.client.post("/predict/toy/toy", json={"inputs": TOY_ROWS}).status_code == 200
