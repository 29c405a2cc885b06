"""Loading a saved model for serving: needs the config, one weights file and MLX, nothing else."""

from __future__ import annotations

import numbers
import threading
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import mlx.core as mx
import numpy as np

from mlops_core.errors import ProjectError

from cpu_compression.dataset import FEATURE_NAMES
from cpu_compression.errors import DigitsInputError
from cpu_compression.model import ModelConfig, build_model, quantize_model, to_inputs
from cpu_compression.params import N_FEATURES

__all__ = ["DigitsPredictor", "load_predictor", "validate_rows"]


def _row_values(i: int, row: Any) -> Sequence[Any]:
    if isinstance(row, Mapping):
        missing = [name for name in FEATURE_NAMES if name not in row]
        if missing:
            shown = ", ".join(missing[:5]) + (", ..." if len(missing) > 5 else "")
            raise DigitsInputError(
                f"row {i} lacks {len(missing)} feature(s): {shown}",
                fix=f"send all {N_FEATURES} features pixel_0 .. pixel_63",
            )
        return [row[name] for name in FEATURE_NAMES]
    if isinstance(row, (str, bytes)) or not isinstance(row, (Sequence, np.ndarray)):
        raise DigitsInputError(
            f"row {i} is a {type(row).__name__}, not a list of {N_FEATURES} numbers",
            fix="send each row as a list of 64 pixel values (0..16), or an object keyed pixel_0 .. pixel_63",
        )
    return row


def _fast_table(rows: Any) -> np.ndarray | None:
    """``rows`` as a numeric array when numpy can read them as one, else None (checked row by row)."""
    if isinstance(rows, np.ndarray):
        return rows if rows.dtype.kind in "iuf" else None
    if not isinstance(rows, (list, tuple)) or any(isinstance(row, Mapping) for row in rows):
        return None
    try:
        table = np.asarray(rows)
    except (ValueError, TypeError):  # ragged rows: the slow path says which one
        return None
    # strings, booleans, None or objects take the slow path, which names the bad value
    ok = table.dtype.kind in "iuf" and table.ndim == 2 and table.shape[1] == N_FEATURES
    return table if ok else None


def validate_rows(rows: Any) -> np.ndarray:
    """``rows`` as a float32 array ``[n, 64]``; a :class:`DigitsInputError` naming the bad row otherwise."""
    table = _fast_table(rows)
    if table is None:
        if isinstance(rows, (str, bytes, Mapping)) or not isinstance(rows, (Sequence, np.ndarray)):
            raise DigitsInputError(
                f"rows must be a list of rows, got a {type(rows).__name__}",
                fix="send a list of rows, each a list of 64 pixel values (0..16)",
            )
        values: list[Sequence[Any]] = []
        for i, row in enumerate(rows):
            row_values = _row_values(i, row)
            if len(row_values) != N_FEATURES:
                raise DigitsInputError(
                    f"row {i} has {len(row_values)} values, expected {N_FEATURES}",
                    fix="send the 64 pixels of an 8x8 image, row by row (pixel_0 .. pixel_63)",
                )
            for j, value in enumerate(row_values):
                if isinstance(value, bool) or not isinstance(value, numbers.Real):
                    raise DigitsInputError(
                        f"row {i}, {FEATURE_NAMES[j]} is {value!r}, not a number",
                        fix="send pixel values as numbers (0..16)",
                    )
            values.append(row_values)
        table = np.asarray(values, dtype=np.float64).reshape(len(values), N_FEATURES)
    if table.ndim != 2 or table.shape[1] != N_FEATURES:
        raise DigitsInputError(
            f"rows have shape {table.shape}, expected (n, {N_FEATURES})",
            fix="send the 64 pixels of each 8x8 image as one row",
        )
    if not np.isfinite(table).all():
        i = int(np.flatnonzero(~np.isfinite(table).all(axis=1))[0])
        raise DigitsInputError(f"row {i} holds NaN or infinity", fix="send finite pixel values (0..16)")
    return table.astype(np.float32)


class DigitsPredictor:
    """A loaded digits model: rows of 64 pixels in, one digit (0..9) per row out."""

    def __init__(self, model: Any, config: ModelConfig, variant: str) -> None:
        self.model = model
        self.config = config
        #: "quantized" or "float": which weights this predictor runs
        self.variant = variant
        # MLX evaluates lazily on a shared stream; one forward pass at a time keeps
        # concurrent server threads from interleaving graph evaluation.
        self._lock = threading.Lock()

    def predict(self, rows: Sequence[Sequence[float]]) -> list[int]:
        table = validate_rows(rows)
        if len(table) == 0:
            return []
        with self._lock:
            logits = self.model(to_inputs(table, self.config.input_scale))
            predictions = mx.argmax(logits, axis=1)
            mx.eval(predictions)
            return [int(v) for v in predictions.tolist()]


def load_predictor(model_dir: Path, variant: str | None = None) -> DigitsPredictor:
    """Load the weights ``config.json`` names for serving (or ``variant``: "float"/"quantized")."""
    config = ModelConfig.read(model_dir)
    chosen = variant or config.serve
    if chosen not in config.weights:
        raise ProjectError(
            f"unknown model variant {chosen!r}", fix=f"use one of: {', '.join(sorted(config.weights))}"
        )
    path = model_dir / config.weights[chosen]
    if not path.is_file():
        raise ProjectError(f"missing weights file {path}", fix="retrain the model, or restore the whole model folder")
    model = build_model(config.hidden_size)
    if chosen == "quantized":
        quantize_model(model, bits=config.bits, group_size=config.group_size)
    try:
        model.load_weights(str(path), strict=True)
    except ValueError as exc:
        raise ProjectError(f"{path} does not match {model_dir / 'config.json'}: {exc}", fix="retrain the model") from exc
    model.eval()
    mx.eval(model.parameters())
    return DigitsPredictor(model, config, chosen)
