"""Training on the real digits with MLX, compression, the saved model, and serving it."""

from __future__ import annotations

import json
import math
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path

import numpy as np
import pytest

from mlops_core.errors import InputValidationError, ProjectError

import cpu_compression
from cpu_compression.dataset import read_split

project = cpu_compression.project
pytestmark = pytest.mark.slow


class Trained:
    def __init__(self, root: Path) -> None:
        self.data_dir = root / "data"
        self.model_dir = root / "model"
        self.logged: list[tuple[int, dict[str, float]]] = []
        project.prepare(self.data_dir)
        self.metrics = project.train(self.data_dir, self.model_dir, {}, self._log)

    def _log(self, step: int, metrics: Mapping[str, float]) -> None:
        self.logged.append((step, dict(metrics)))


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> Trained:
    return Trained(tmp_path_factory.mktemp("cpu-compression"))


def test_float_model_is_accurate_and_quantized_stays_close(trained: Trained) -> None:
    metrics = trained.metrics
    assert metrics["accuracy"] >= 0.9
    assert abs(metrics["accuracy"] - metrics["accuracy_quantized"]) <= 0.02
    assert metrics["train_seconds"] > 0
    assert all(isinstance(v, float) and math.isfinite(v) for v in metrics.values())


def test_quantized_weights_are_smaller(trained: Trained) -> None:
    metrics = trained.metrics
    assert metrics["compression_ratio"] > 1
    assert metrics["size_bytes_quantized"] < metrics["size_bytes_float"]
    assert metrics["size_bytes_float"] == (trained.model_dir / "weights.float.safetensors").stat().st_size
    assert metrics["size_bytes_quantized"] == (trained.model_dir / "weights.quantized.safetensors").stat().st_size


def test_saved_config_describes_the_served_model(trained: Trained) -> None:
    config = json.loads((trained.model_dir / "config.json").read_text())
    defaults = project.default_params
    assert config["serve"] == "quantized"
    assert config["bits"] == defaults["quantize_bits"]
    assert config["group_size"] == defaults["quantize_group_size"]
    assert config["hidden_size"] == defaults["hidden_size"]
    assert (trained.model_dir / config["weights"][config["serve"]]).is_file()


def test_training_logs_steps_epochs_memory_and_throughput(trained: Trained) -> None:
    per_step = [m for _, m in trained.logged if "loss" in m]
    per_epoch = [m for _, m in trained.logged if "epoch" in m]
    assert len(per_epoch) == project.default_params["epochs"]
    assert len(per_step) > len(per_epoch)
    assert all({"loss", "accuracy"} <= set(m) for m in per_step)
    assert per_step[-1]["loss"] < per_step[0]["loss"]
    steps = [s for s, _ in trained.logged]
    assert steps == sorted(steps)
    last = per_epoch[-1]
    assert last["samples_per_second"] > 0
    assert 0 < last["mlx_active_memory_bytes"] <= last["mlx_peak_memory_bytes"]
    assert last["test_accuracy"] == pytest.approx(trained.metrics["accuracy"])


def test_evaluate_measures_the_saved_served_model(trained: Trained) -> None:
    metrics = project.evaluate(trained.data_dir, trained.model_dir)
    assert metrics["accuracy"] == metrics["accuracy_quantized"]
    assert metrics["accuracy_quantized"] == pytest.approx(trained.metrics["accuracy_quantized"])
    assert metrics["accuracy_float"] == pytest.approx(trained.metrics["accuracy"])
    assert metrics["n_test"] == 359
    assert metrics["compression_ratio"] == pytest.approx(trained.metrics["compression_ratio"])


def test_load_predicts_held_out_digits(trained: Trained) -> None:
    predictor = project.load(trained.model_dir)
    rows = project.samples(trained.data_dir, "held_out", 100)
    _, labels = read_split(trained.data_dir, "test")
    predictions = predictor.predict(rows)
    assert len(predictions) == 100
    assert all(type(p) is int and 0 <= p <= 9 for p in predictions)
    assert np.mean(np.asarray(predictions) == labels[:100]) >= 0.9
    # rows keyed by feature name give the same answers
    named = [dict(zip(project.schema().feature_names, row, strict=True)) for row in rows[:5]]
    assert predictor.predict(named) == predictions[:5]
    assert predictor.predict([]) == []


def test_shifted_rows_fool_the_model(trained: Trained) -> None:
    predictor = project.load(trained.model_dir)
    _, labels = read_split(trained.data_dir, "test")
    shifted = predictor.predict(project.samples(trained.data_dir, "shifted", 100))
    assert np.mean(np.asarray(shifted) == labels[:100]) < 0.5


@pytest.mark.parametrize(
    ("rows", "needle"),
    [
        ([[1.0] * 63], "row 0 has 63 values, expected 64"),
        ([[0.0] * 64, [0.0] * 65], "row 1 has 65 values"),
        ([["a"] * 64], "pixel_0 is 'a', not a number"),
        ([[float("nan")] * 64], "row 0 holds NaN"),
        ([[True] * 64], "not a number"),
        ("0" * 64, "rows must be a list of rows"),
        ([5.0] * 64, "row 0 is a float"),
        ([{"pixel_0": 1.0}], "row 0 lacks 63 feature(s)"),
        (np.zeros((2, 8, 8)), "expected (n, 64)"),
    ],
)
def test_bad_rows_are_rejected_with_a_fix(trained: Trained, rows: object, needle: str) -> None:
    predictor = project.load(trained.model_dir)
    with pytest.raises(InputValidationError) as info:
        predictor.predict(rows)  # type: ignore[arg-type]
    assert needle in str(info.value)
    assert info.value.fix


def test_config_can_serve_the_float_weights(trained: Trained, tmp_path: Path) -> None:
    model_dir = tmp_path / "model"
    model_dir.mkdir()
    for f in trained.model_dir.iterdir():
        (model_dir / f.name).write_bytes(f.read_bytes())
    config = json.loads((model_dir / "config.json").read_text())
    (model_dir / "config.json").write_text(json.dumps({**config, "serve": "float"}))
    assert project.evaluate(trained.data_dir, model_dir)["accuracy"] == pytest.approx(trained.metrics["accuracy"])
    (model_dir / "weights.float.safetensors").unlink()
    with pytest.raises(ProjectError, match="missing weights file"):
        project.load(model_dir)


def test_loading_a_folder_without_a_model_is_explained(tmp_path: Path) -> None:
    with pytest.raises(ProjectError, match="not a cpu-compression model folder") as info:
        project.load(tmp_path)
    assert "train" in str(info.value)


def test_serving_does_not_need_the_training_code(trained: Trained) -> None:
    code = (
        "import sys, json; from pathlib import Path; import cpu_compression; "
        f"p = cpu_compression.project.load(Path({str(trained.model_dir)!r})); "
        "print(json.dumps([p.predict([[0.0] * 64]), "
        "[m for m in ('cpu_compression.training', 'sklearn', 'mlx.optimizers') if m in sys.modules]]))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    predictions, loaded = json.loads(out.stdout)
    assert len(predictions) == 1 and loaded == []


def test_training_is_reproducible(trained: Trained, tmp_path: Path) -> None:
    again = project.train(trained.data_dir, tmp_path / "model", {}, lambda step, metrics: None)
    assert again["accuracy"] == trained.metrics["accuracy"]
    for name in ("weights.float.safetensors", "weights.quantized.safetensors"):
        assert (tmp_path / "model" / name).read_bytes() == (trained.model_dir / name).read_bytes()
