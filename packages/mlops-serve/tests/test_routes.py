"""The read-only routes: index, health, models, a model's features, the OpenAPI document."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from conftest import World


def test_index_lists_the_endpoints(world: World) -> None:
    body = world.client.get("/").json()

    assert body["service"] == "mlops-gateway"
    assert "POST /predict/{project}/{model}" in body["endpoints"]


def test_health_says_ok_and_what_is_there(world: World) -> None:
    body = world.client.get("/health").json()

    assert body["status"] == "ok" and body["service"] == "mlops-gateway"
    assert body["tracker"] is True
    assert body["alias"] == "champion"
    assert len(body["predictions_served_to"]) == 1  # the in-test plugin
    assert "core" in body["plugins"]


def test_models_lists_projects_with_model_and_champion(world: World) -> None:
    world.client.post("/predict/toy/toy", json={"inputs": [[1, 2, 3]]})
    world.new_version("digits", promote=False)

    body = world.client.get("/models").json()

    by_project = {m["project"]: m for m in body["models"]}
    assert sorted(by_project) == ["digits", "lonely", "toy"]
    assert by_project["toy"] | {"description": ""} == {
        "project": "toy", "model": "toy", "description": "", "champion": "1", "serving": "1",
        "predict": "/predict/toy/toy",
    }
    assert by_project["digits"]["champion"] == "1"  # v2 exists but is not promoted
    assert by_project["digits"]["serving"] is None  # nothing asked for it yet
    assert by_project["lonely"]["model"] == "lonely-model"
    assert by_project["lonely"]["champion"] is None


def test_a_models_features_come_in_order(world: World) -> None:
    served = world.client.get("/models/toy/toy").json()
    not_promoted = world.client.get("/models/lonely/lonely-model").json()

    assert served["version"] == "1"
    assert served["features"] == [{"name": "x0", "dtype": "double"}, {"name": "x1", "dtype": "double"},
                                  {"name": "n", "dtype": "long"}]
    assert not_promoted["version"] is None
    assert [f["name"] for f in not_promoted["features"]] == ["a", "b"]
    assert world.client.get("/models/toy/nope").status_code == 404


def test_the_openapi_document_describes_predict(world: World) -> None:
    spec = world.client.get("/openapi.json").json()

    predict = spec["paths"]["/predict/{project}/{model}"]["post"]
    assert {"404", "413", "422"} <= set(predict["responses"])
    assert "PredictRequest" in spec["components"]["schemas"]
