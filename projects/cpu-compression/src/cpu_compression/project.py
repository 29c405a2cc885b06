"""The ``cpu-compression`` project: what it tells the platform, with every heavy import deferred.

The registry imports each project's entry point when the CLI starts, so this module imports only
the standard library and :mod:`mlops_core`; numpy, scikit-learn and MLX load inside the methods.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any, ClassVar

from mlops_core.project import Feature, MetricLogger, Predictor, Project, Schema

from cpu_compression.params import DEFAULT_PARAMS, N_FEATURES

__all__ = ["DigitsProject"]


class DigitsProject(Project):
    """An MLX MLP on scikit-learn's digits, quantized to a few bits per weight for CPU serving."""

    name: ClassVar[str] = "cpu-compression"
    description: ClassVar[str] = (
        "A small MLX MLP on scikit-learn's bundled 8x8 digits, weight-quantized for CPU serving."
    )
    model_name: ClassVar[str] = "digits-mlp"
    extras: ClassVar[tuple[str, ...]] = ("hw", "data", "tracking", "orchestrate", "serve", "monitor")
    default_params: ClassVar[Mapping[str, Any]] = DEFAULT_PARAMS
    primary_metric: ClassVar[str] = "accuracy"
    higher_is_better: ClassVar[bool] = True

    def schema(self) -> Schema:
        return Schema(
            inputs=tuple(Feature(f"pixel_{i}", "double") for i in range(N_FEATURES)),
            output="digit",
            output_dtype="long",
        )

    def prepare(self, data_dir: Path) -> list[Path]:
        from cpu_compression.dataset import write_dataset

        return [write_dataset(Path(data_dir))]

    def validate_params(self, params: Mapping[str, Any]) -> dict[str, Any]:
        from cpu_compression.params import TrainParams

        return TrainParams.from_mapping(params).as_dict()

    def train(
        self, data_dir: Path, model_dir: Path, params: Mapping[str, Any], log: MetricLogger
    ) -> Mapping[str, float]:
        from cpu_compression.params import TrainParams

        checked = TrainParams.from_mapping(params)  # before MLX loads: bad params fail fast
        from cpu_compression.training import train_and_compress

        return train_and_compress(Path(data_dir), Path(model_dir), checked, log)

    def evaluate(self, data_dir: Path, model_dir: Path) -> Mapping[str, float]:
        from cpu_compression.evaluation import evaluate_saved

        return evaluate_saved(Path(data_dir), Path(model_dir))

    def load(self, model_dir: Path) -> Predictor:
        from cpu_compression.predictor import load_predictor

        return load_predictor(Path(model_dir))

    def reference(self, data_dir: Path) -> list[list[float]]:
        from cpu_compression.dataset import read_split

        pixels, _ = read_split(Path(data_dir), "train")
        return pixels.astype(float).tolist()

    def samples(self, data_dir: Path, kind: str, n: int) -> list[list[float]]:
        from cpu_compression.dataset import sample_rows

        return sample_rows(Path(data_dir), kind, n)
