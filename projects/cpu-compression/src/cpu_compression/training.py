"""Training the MLP with MLX, then compressing it for CPU serving."""

from __future__ import annotations

import time
from pathlib import Path

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
import numpy as np

from mlops_core.project import MetricLogger

from cpu_compression.dataset import read_split
from cpu_compression.model import FLOAT_WEIGHTS, QUANTIZED_WEIGHTS, ModelConfig, build_model, quantize_model, to_inputs
from cpu_compression.params import TrainParams

__all__ = ["accuracy_of", "train_and_compress"]


def _loss(model: nn.Module, x: mx.array, y: mx.array) -> tuple[mx.array, mx.array]:
    """Mean cross-entropy (differentiated) and the count of correct rows (carried along)."""
    logits = model(x)
    correct = mx.sum(mx.argmax(logits, axis=1) == y)
    return nn.losses.cross_entropy(logits, y, reduction="mean"), correct


def accuracy_of(model: nn.Module, pixels: np.ndarray, labels: np.ndarray) -> float:
    """Share of rows whose arg-max logit is the label."""
    predictions = np.asarray(mx.argmax(model(to_inputs(pixels)), axis=1))
    # numpy, not MLX, computes the mean so it matches evaluate_saved() to the last digit
    return float(np.mean(predictions == labels))


def train_and_compress(data_dir: Path, model_dir: Path, params: TrainParams, log: MetricLogger) -> dict[str, float]:
    """Train on the train split, save float and quantized weights, return the final metrics."""
    x_train, y_train = read_split(data_dir, "train")
    x_test, y_test = read_split(data_dir, "test")

    mx.random.seed(params.seed)  # weight initialisation
    rng = np.random.default_rng(params.seed)  # batch order
    model = build_model(params.hidden_size)
    mx.eval(model.parameters())
    optimizer = optim.Adam(learning_rate=params.learning_rate)
    loss_and_grad = nn.value_and_grad(model, _loss)
    x_all, y_all = to_inputs(x_train), mx.array(y_train)
    mx.reset_peak_memory()

    step = 0
    seen = 0
    busy = 0.0  # seconds spent in optimizer steps, for throughput
    started = time.perf_counter()
    for epoch in range(1, params.epochs + 1):
        order = mx.array(rng.permutation(len(y_train)))
        epoch_loss = epoch_correct = 0.0
        epoch_seen = 0
        epoch_started = time.perf_counter()
        for begin in range(0, len(y_train), params.batch_size):
            idx = order[begin : begin + params.batch_size]
            x, y = x_all[idx], y_all[idx]
            (loss, correct), grads = loss_and_grad(model, x, y)
            optimizer.update(model, grads)
            mx.eval(model.parameters(), optimizer.state, loss, correct)
            batch = int(y.shape[0])
            step += 1
            loss_value = float(loss.item())
            batch_correct = float(correct.item())
            epoch_loss += loss_value * batch
            epoch_correct += batch_correct
            epoch_seen += batch
            log(step, {"loss": loss_value, "accuracy": batch_correct / batch})
        epoch_seconds = time.perf_counter() - epoch_started
        busy += epoch_seconds
        seen += epoch_seen
        log(
            step,
            {
                "epoch": float(epoch),
                "epoch_loss": epoch_loss / epoch_seen,
                "epoch_accuracy": epoch_correct / epoch_seen,
                "test_accuracy": accuracy_of(model, x_test, y_test),
                "samples_per_second": epoch_seen / epoch_seconds,
                "mlx_active_memory_bytes": float(mx.get_active_memory()),
                "mlx_peak_memory_bytes": float(mx.get_peak_memory()),
            },
        )
    train_seconds = time.perf_counter() - started

    accuracy = accuracy_of(model, x_test, y_test)
    model_dir.mkdir(parents=True, exist_ok=True)
    float_path = model_dir / FLOAT_WEIGHTS
    model.save_weights(str(float_path))

    quantize_model(model, bits=params.quantize_bits, group_size=params.quantize_group_size)
    mx.eval(model.parameters())
    accuracy_quantized = accuracy_of(model, x_test, y_test)
    quantized_path = model_dir / QUANTIZED_WEIGHTS
    model.save_weights(str(quantized_path))

    ModelConfig(
        hidden_size=params.hidden_size,
        bits=params.quantize_bits,
        group_size=params.quantize_group_size,
        serve="quantized" if params.serve_quantized else "float",
        mlx_version=mx.__version__,
    ).write(model_dir)

    size_float = float_path.stat().st_size
    size_quantized = quantized_path.stat().st_size
    return {
        "accuracy": accuracy,
        "accuracy_quantized": accuracy_quantized,
        "size_bytes_float": float(size_float),
        "size_bytes_quantized": float(size_quantized),
        "compression_ratio": size_float / size_quantized,
        "train_seconds": train_seconds,
        "samples_per_second": seen / busy if busy else 0.0,
        "mlx_peak_memory_bytes": float(mx.get_peak_memory()),
    }
