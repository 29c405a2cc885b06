"""Fixtures of the monitor's tests: a monitor on the isolated state dir, batches, synthetic data."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
import pytest

from mlops_core.records import PredictionBatch
from mlops_core.settings import Settings
from mlops_monitor import Monitor

PROJECT, MODEL = "proj", "clf"


def feature_names(n: int) -> list[str]:
    return [f"f{i}" for i in range(n)]


@pytest.fixture
def names() -> Callable[[int], list[str]]:
    """``names(n)``: feature names f0..f{n-1}."""
    return feature_names


@pytest.fixture
def monitor(settings: Settings) -> Monitor:
    return Monitor(settings)


BatchFactory = Callable[..., PredictionBatch]


@pytest.fixture
def make_batch() -> BatchFactory:
    """``make_batch(rows, names, project=..., model=..., version=...)``: a served batch, outputs = row index."""

    def make(
        rows: Sequence[Sequence[float]],
        names: Sequence[str],
        *,
        project: str = PROJECT,
        model: str = MODEL,
        version: str = "1",
        served_at: str = "2026-12-03T10:00:00.000+00:00",
    ) -> PredictionBatch:
        return PredictionBatch(
            project=project,
            model=model,
            version=version,
            feature_names=tuple(names),
            inputs=tuple(tuple(float(v) for v in row) for row in rows),
            outputs=tuple(range(len(rows))),
            served_at=served_at,
        )

    return make


def _tabular(
    n_rows: int, n_cols: int, *, seed: int, shift: float = 0.0, constant: Sequence[int] = ()
) -> list[list[float]]:
    """Rows like real features: mixed scales, some integer-valued (pixel-like) columns, some constant.

    ``shift`` moves every non-constant column by that many of its standard deviations.
    """
    rng = np.random.default_rng(seed)
    scales = np.linspace(0.5, 20.0, n_cols)
    data = rng.normal(loc=scales, scale=scales, size=(n_rows, n_cols))
    data[:, 1::3] = np.clip(np.round(rng.normal(8, 4, size=(n_rows, len(range(1, n_cols, 3))))), 0, 16)
    std = np.array([scales[i] if i % 3 != 1 else 4.0 for i in range(n_cols)])
    data = data + shift * std
    for col in constant:
        data[:, col] = 0.0
    return data.tolist()


@pytest.fixture
def tabular() -> Callable[..., list[list[float]]]:
    """``tabular(n_rows, n_cols, seed=..., shift=0.0, constant=())``: synthetic feature rows."""
    return _tabular
