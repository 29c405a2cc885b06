"""The MLX network and its saved form: shared by training and serving.

Kept apart from :mod:`cpu_compression.training` so that loading a model for serving needs only
this module, the config and the weights file.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path

import mlx.core as mx
import mlx.nn as nn
import numpy as np

from mlops_core.errors import ProjectError

from cpu_compression.dataset import MAX_PIXEL
from cpu_compression.params import N_CLASSES, N_FEATURES

__all__ = [
    "CONFIG_FILE",
    "FLOAT_WEIGHTS",
    "QUANTIZED_WEIGHTS",
    "DigitsMLP",
    "ModelConfig",
    "build_model",
    "quantize_model",
    "to_inputs",
]

CONFIG_FILE = "config.json"
FLOAT_WEIGHTS = "weights.float.safetensors"
QUANTIZED_WEIGHTS = "weights.quantized.safetensors"
CONFIG_FORMAT = 1


class DigitsMLP(nn.Module):
    """64 pixels -> ReLU hidden layer -> 10 digit logits."""

    def __init__(self, hidden_size: int) -> None:
        super().__init__()
        self.hidden = nn.Linear(N_FEATURES, hidden_size)
        self.out = nn.Linear(hidden_size, N_CLASSES)

    def __call__(self, x: mx.array) -> mx.array:
        return self.out(nn.relu(self.hidden(x)))


@dataclass(frozen=True)
class ModelConfig:
    """What ``config.json`` in a model folder says: sizes, quantization, which weights serve."""

    hidden_size: int
    bits: int
    group_size: int
    #: "quantized" or "float": the weights :func:`cpu_compression.predictor.load_predictor` serves
    serve: str
    input_dim: int = N_FEATURES
    num_classes: int = N_CLASSES
    #: pixels are divided by this before the first layer
    input_scale: float = float(MAX_PIXEL)
    quantization_mode: str = "affine"
    weights: dict[str, str] = field(default_factory=lambda: {"float": FLOAT_WEIGHTS, "quantized": QUANTIZED_WEIGHTS})
    format: int = CONFIG_FORMAT
    mlx_version: str = ""

    def write(self, model_dir: Path) -> Path:
        path = model_dir / CONFIG_FILE
        path.write_text(json.dumps(asdict(self), indent=2, sort_keys=True) + "\n")
        return path

    @classmethod
    def read(cls, model_dir: Path) -> ModelConfig:
        path = model_dir / CONFIG_FILE
        if not path.is_file():
            raise ProjectError(
                f"no {CONFIG_FILE} in {model_dir}: not a cpu-compression model folder",
                fix="train the model first (`mlops run cpu-compression`), or point at the folder it was saved to",
            )
        try:
            raw = json.loads(path.read_text())
            config = cls(**raw)
        except (ValueError, TypeError) as exc:
            raise ProjectError(f"{path} is not a valid model config: {exc}", fix="retrain the model") from exc
        if config.format != CONFIG_FORMAT or config.input_dim != N_FEATURES or config.num_classes != N_CLASSES:
            raise ProjectError(
                f"{path} describes an incompatible model (format {config.format}, "
                f"{config.input_dim} inputs, {config.num_classes} classes)",
                fix="retrain the model with this version of cpu-compression",
            )
        if config.serve not in config.weights:
            raise ProjectError(
                f"{path} says serve={config.serve!r}, expected one of {sorted(config.weights)}",
                fix="set serve to 'quantized' or 'float'",
            )
        return config


def build_model(hidden_size: int) -> DigitsMLP:
    return DigitsMLP(hidden_size)


def quantize_model(model: nn.Module, *, bits: int, group_size: int) -> nn.Module:
    """Replace every Linear layer by its affine-quantized form, in place."""
    nn.quantize(model, group_size=group_size, bits=bits, class_predicate=lambda _, m: isinstance(m, nn.Linear))
    return model


def to_inputs(pixels: np.ndarray, scale: float = float(MAX_PIXEL)) -> mx.array:
    """Pixels 0..16 as the network's float32 input in 0..1."""
    return mx.array(np.asarray(pixels, dtype=np.float32) / np.float32(scale))
