"""Metrics of a saved model folder on the test split."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from cpu_compression.dataset import read_split
from cpu_compression.predictor import load_predictor

__all__ = ["evaluate_saved"]


def evaluate_saved(data_dir: Path, model_dir: Path) -> dict[str, float]:
    """Accuracy of the served weights (``accuracy``), of both variants, and their file sizes."""
    pixels, labels = read_split(data_dir, "test")
    served = load_predictor(model_dir)
    metrics: dict[str, float] = {"n_test": float(len(labels))}
    for variant in ("float", "quantized"):
        predictor = served if variant == served.variant else load_predictor(model_dir, variant)
        predictions = np.asarray(predictor.predict(pixels))
        metrics[f"accuracy_{variant}"] = float(np.mean(predictions == labels))
        metrics[f"size_bytes_{variant}"] = float((model_dir / served.config.weights[variant]).stat().st_size)
    metrics["accuracy"] = metrics[f"accuracy_{served.variant}"]
    metrics["size_bytes_served"] = metrics[f"size_bytes_{served.variant}"]
    metrics["compression_ratio"] = metrics["size_bytes_float"] / metrics["size_bytes_quantized"]
    return metrics
