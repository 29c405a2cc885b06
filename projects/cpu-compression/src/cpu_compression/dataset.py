"""The digits dataset as one deterministic CSV file, and the readers the project needs.

scikit-learn ships the 1,797 8x8 digit images inside the package, so nothing is downloaded.
Pixels are integers 0..16. The split is stratified per digit from a fixed seed, and the file is
written byte-for-byte the same on every call: DVC versions it by content hash, so preparing twice
must not create a second dataset version.
"""

from __future__ import annotations

import csv
import io
import os
import tempfile
from pathlib import Path

import numpy as np

from mlops_core.errors import ProjectError

from cpu_compression.errors import DigitsInputError
from cpu_compression.params import N_FEATURES

__all__ = [
    "DATA_FILE",
    "FEATURE_NAMES",
    "MAX_PIXEL",
    "SAMPLE_KINDS",
    "TEST_FRACTION",
    "read_split",
    "sample_rows",
    "shift_rows",
    "write_dataset",
]

DATA_FILE = "digits.csv"
FEATURE_NAMES = tuple(f"pixel_{i}" for i in range(N_FEATURES))
MAX_PIXEL = 16
TEST_FRACTION = 0.2
#: the split is part of the dataset, not a training parameter: changing it makes new data
SPLIT_SEED = 20240611
SAMPLE_KINDS = ("held_out", "shifted")


def _render() -> bytes:
    """The CSV bytes: header, then one row per image in scikit-learn's order."""
    from sklearn.datasets import load_digits

    digits = load_digits()
    pixels = np.asarray(digits.data)
    targets = np.asarray(digits.target)
    if not np.array_equal(pixels, np.round(pixels)):  # guards the integer formatting below
        raise ProjectError("scikit-learn's digits are not integer pixels any more", fix="update cpu_compression.dataset")

    # Stratified split: each digit contributes the same share to the test set.
    rng = np.random.default_rng(SPLIT_SEED)
    is_test = np.zeros(len(targets), dtype=bool)
    for label in np.unique(targets):
        idx = np.flatnonzero(targets == label)
        n_test = int(round(len(idx) * TEST_FRACTION))
        is_test[rng.permutation(idx)[:n_test]] = True

    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow([*FEATURE_NAMES, "target", "split"])
    for row, label, test in zip(pixels.astype(int), targets, is_test, strict=True):
        writer.writerow([*row.tolist(), int(label), "test" if test else "train"])
    return out.getvalue().encode("ascii")


def write_dataset(data_dir: Path) -> Path:
    """Write ``digits.csv`` into ``data_dir`` (unchanged if already identical); return its path."""
    data_dir.mkdir(parents=True, exist_ok=True)
    path = data_dir / DATA_FILE
    payload = _render()
    if path.is_file() and path.read_bytes() == payload:
        return path
    # Write-then-rename: a crash never leaves a half-written dataset behind.
    fd, tmp = tempfile.mkstemp(dir=data_dir, prefix=".digits-", suffix=".csv")
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(payload)
        os.chmod(tmp, 0o644)  # mkstemp makes it owner-only; a dataset is meant to be shared
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def read_split(data_dir: Path, split: str) -> tuple[np.ndarray, np.ndarray]:
    """``(pixels float32 [n, 64], labels int64 [n])`` of the ``"train"`` or ``"test"`` split."""
    path = data_dir / DATA_FILE
    if not path.is_file():
        raise ProjectError(
            f"no dataset at {path}",
            fix="prepare the data first (`mlops run cpu-compression` does, or call project.prepare(data_dir))",
        )
    with path.open(newline="") as fh:
        reader = csv.reader(fh)
        header = next(reader, None)
        if header is None or tuple(header[:N_FEATURES]) != FEATURE_NAMES or header[N_FEATURES:] != ["target", "split"]:
            raise ProjectError(f"{path} does not have the digits columns", fix="prepare the data again into an empty folder")
        rows = [r for r in reader if r[-1] == split]
    if not rows:
        raise ProjectError(f"{path} holds no {split!r} rows", fix="prepare the data again into an empty folder")
    table = np.asarray([r[: N_FEATURES + 1] for r in rows], dtype=np.float32)
    return table[:, :N_FEATURES], table[:, N_FEATURES].astype(np.int64)


def shift_rows(pixels: np.ndarray) -> np.ndarray:
    """The rows as production drift would show them: inverted ink (``16 - x``), then dimmed by 2.

    Inversion turns the mostly-zero background into bright pixels, so every pixel's distribution
    moves and a drift report flags it; the clipping keeps values in the valid 0..16 range.
    """
    return np.clip(MAX_PIXEL - pixels - 2, 0, MAX_PIXEL)


def sample_rows(data_dir: Path, kind: str, n: int) -> list[list[float]]:
    """The first ``n`` test rows (``held_out``), or the same rows shifted (``shifted``)."""
    if kind not in SAMPLE_KINDS:
        raise DigitsInputError(
            f"unknown sample kind {kind!r}", fix=f"use one of: {', '.join(SAMPLE_KINDS)}"
        )
    if n < 0:
        raise DigitsInputError(f"n must be >= 0, got {n}", fix="ask for a non-negative number of rows")
    pixels, _ = read_split(data_dir, "test")
    rows = pixels[:n]
    if kind == "shifted":
        rows = shift_rows(rows)
    return rows.astype(float).tolist()
