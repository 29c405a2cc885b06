"""Fast tests: contract, import cost, parameters, data preparation and samples (no MLX training)."""

from __future__ import annotations

import csv
import subprocess
import sys
from importlib.metadata import entry_points
from pathlib import Path

import pytest

from mlops_core.errors import InputValidationError
from mlops_core.project import Project

import cpu_compression
from cpu_compression.params import DEFAULT_PARAMS, TrainParams

project = cpu_compression.project


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    project.prepare(tmp_path / "data")
    return tmp_path / "data"


def test_entry_point_loads_the_project() -> None:
    (ep,) = [ep for ep in entry_points(group="mlops.projects") if ep.name == "cpu-compression"]
    loaded = ep.load()
    assert isinstance(loaded, Project)
    assert loaded.name == "cpu-compression"
    assert loaded.registered_model == "digits-mlp"
    assert loaded.primary_metric == "accuracy" and loaded.higher_is_better


def test_extras_match_the_pyproject() -> None:
    pyproject = (Path(__file__).parents[1] / "pyproject.toml").read_text()
    assert f'"mlops-core[{",".join(project.extras)}]"' in pyproject


def test_import_does_not_load_heavy_libraries() -> None:
    code = (
        "import sys, cpu_compression; cpu_compression.project.schema(); "
        "print(','.join(m for m in ('mlx', 'numpy', 'sklearn') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""


def test_schema_has_64_pixels_and_a_digit() -> None:
    schema = project.schema()
    assert schema.feature_names == tuple(f"pixel_{i}" for i in range(64))
    assert {f.dtype for f in schema.inputs} == {"double"}
    assert (schema.output, schema.output_dtype) == ("digit", "long")


def test_default_params_are_valid_and_complete() -> None:
    params = TrainParams.from_mapping(project.default_params)
    assert params.as_dict() == DEFAULT_PARAMS


def test_params_from_strings_are_coerced() -> None:
    params = TrainParams.from_mapping({"epochs": "3", "learning_rate": "0.01", "serve_quantized": "false"})
    assert (params.epochs, params.learning_rate, params.serve_quantized) == (3, 0.01, False)


@pytest.mark.parametrize(
    ("params", "needle"),
    [
        ({"quantize_group_size": 128}, "does not divide the 64 input pixels"),
        ({"hidden_size": 96, "quantize_group_size": 64}, "does not divide hidden_size (96)"),
        ({"quantize_group_size": 16}, "quantize_group_size must be one of"),
        ({"quantize_bits": 7}, "quantize_bits must be one of"),
        ({"epochs": 0}, "epochs must be between 1 and"),
        ({"hidden_size": 10**9}, "hidden_size must be between 1 and 8192"),
        ({"epochs": 1.5}, "not an integer: 1.5"),
        ({"epochs": True}, "not an integer: True"),
        ({"learning_rate": float("nan")}, "learning_rate must be a finite number"),
        ({"epochs": "many"}, "invalid training parameter"),
        ({"epoch": 3}, "unknown training parameter(s) epoch"),
    ],
)
def test_bad_params_are_rejected_before_training(tmp_path: Path, params: dict, needle: str) -> None:
    with pytest.raises(InputValidationError) as info:
        project.train(tmp_path / "data", tmp_path / "model", params, lambda step, metrics: None)
    assert needle in str(info.value)
    assert info.value.fix
    assert not (tmp_path / "model").exists()


def test_prepare_is_byte_identical(tmp_path: Path) -> None:
    (first,) = project.prepare(tmp_path / "a")
    (second,) = project.prepare(tmp_path / "b")
    content = first.read_bytes()
    assert first.name == "digits.csv"
    assert content == second.read_bytes()
    (again,) = project.prepare(tmp_path / "a")
    assert again == first and again.read_bytes() == content
    assert sorted(p.name for p in (tmp_path / "a").iterdir()) == ["digits.csv"]


def test_prepare_repairs_a_changed_file(data_dir: Path) -> None:
    path = data_dir / "digits.csv"
    original = path.read_bytes()
    path.write_bytes(original[:1000])
    project.prepare(data_dir)
    assert path.read_bytes() == original


def test_dataset_has_all_digits_split_80_20(data_dir: Path) -> None:
    with (data_dir / "digits.csv").open(newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert len(rows) == 1797
    assert list(rows[0])[:64] == [f"pixel_{i}" for i in range(64)]
    assert list(rows[0])[64:] == ["target", "split"]
    test_rows = [r for r in rows if r["split"] == "test"]
    assert {r["split"] for r in rows} == {"train", "test"}
    assert 0.18 < len(test_rows) / len(rows) < 0.22
    # stratified: every digit is in the test split
    assert {r["target"] for r in test_rows} == {str(d) for d in range(10)}
    assert all(0 <= int(r["pixel_10"]) <= 16 for r in rows)


def test_reference_is_the_train_split(data_dir: Path) -> None:
    reference = project.reference(data_dir)
    with (data_dir / "digits.csv").open(newline="") as fh:
        train = [r for r in csv.DictReader(fh) if r["split"] == "train"]
    assert len(reference) == len(train)
    assert all(len(row) == 64 and isinstance(row[0], float) for row in reference)
    assert reference[0] == [float(train[0][f"pixel_{i}"]) for i in range(64)]


def test_held_out_samples_are_the_first_test_rows(data_dir: Path) -> None:
    rows = project.samples(data_dir, "held_out", 5)
    with (data_dir / "digits.csv").open(newline="") as fh:
        test = [r for r in csv.DictReader(fh) if r["split"] == "test"][:5]
    assert rows == [[float(r[f"pixel_{i}"]) for i in range(64)] for r in test]
    train = {tuple(row) for row in project.reference(data_dir)}
    # a test row can equal some train row by chance (tiny images), but not all five
    assert sum(tuple(r) in train for r in rows) < 5


def test_shifted_samples_are_visibly_shifted(data_dir: Path) -> None:
    held_out = project.samples(data_dir, "held_out", 50)
    shifted = project.samples(data_dir, "shifted", 50)
    assert len(shifted) == len(held_out) == 50
    assert all(0.0 <= v <= 16.0 for row in shifted for v in row)
    mean = lambda rows: sum(map(sum, rows)) / (64 * len(rows))  # noqa: E731
    # digits are mostly dark background; inverted, they are mostly bright
    assert mean(held_out) < 6 < mean(shifted)
    assert all(a != b for a, b in zip(held_out, shifted, strict=True))


def test_sample_count_is_capped_and_checked(data_dir: Path) -> None:
    assert project.samples(data_dir, "held_out", 0) == []
    assert len(project.samples(data_dir, "held_out", 10_000)) == 359
    with pytest.raises(ValueError, match="n must be >= 0"):
        project.samples(data_dir, "held_out", -1)


def test_unknown_sample_kind_names_the_kinds(data_dir: Path) -> None:
    with pytest.raises(ValueError, match="unknown sample kind 'drifted'") as info:
        project.samples(data_dir, "drifted", 3)
    assert isinstance(info.value, InputValidationError)
    assert "held_out" in str(info.value) and "shifted" in str(info.value)


def test_missing_data_says_to_prepare(tmp_path: Path) -> None:
    with pytest.raises(Exception, match="no dataset at") as info:
        project.reference(tmp_path / "nothing")
    assert "prepare" in str(info.value)
