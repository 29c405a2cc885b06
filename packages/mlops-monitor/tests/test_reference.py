"""The reference store: Parquet round trip, whole replacement, bad input keeps the old one."""

from __future__ import annotations

import pytest

from mlops_core.errors import InputValidationError
from mlops_core.settings import Settings
from mlops_monitor import Monitor

NAMES = ["a", "b", "c"]
ROWS = [[0.1, 2.0, -3.5], [1e-300, 5.0, 1.0 / 3.0]]


def test_round_trip(monitor: Monitor, settings: Settings) -> None:
    monitor.set_reference("proj", "clf", NAMES, ROWS)
    ref = monitor.reference("proj", "clf")
    assert ref is not None
    assert (ref.project, ref.model, ref.feature_names, ref.rows) == ("proj", "clf", tuple(NAMES), 2)
    assert ref.path == str(settings.state_dir / "monitor" / "reference" / "proj" / "clf.parquet")
    frame = monitor.references.frame("proj", "clf")
    assert list(frame.columns) == NAMES
    assert frame.to_numpy().tolist() == ROWS  # float64, bit for bit
    assert monitor.reference("proj", "other") is None


def test_setting_again_replaces_it_whole(monitor: Monitor) -> None:
    monitor.set_reference("proj", "clf", NAMES, ROWS)
    first = monitor.reference("proj", "clf")
    monitor.set_reference("proj", "clf", ["x", "y"], [[1, 2], [3, 4], [5, 6]])
    second = monitor.reference("proj", "clf")
    assert first is not None and second is not None
    assert second.feature_names == ("x", "y") and second.rows == 3
    assert second.set_at > first.set_at
    assert monitor.references.frame("proj", "clf").to_numpy().tolist() == [[1, 2], [3, 4], [5, 6]]
    # No temporary files left next to it.
    assert [p.name for p in (monitor.references.root / "proj").iterdir()] == ["clf.parquet"]


@pytest.mark.parametrize(
    ("names", "rows", "message"),
    [
        (NAMES, [], "no rows"),
        (NAMES, [[1.0, 2.0]], "row 0 has 2 values"),
        (NAMES, [[1.0, 2.0, "3"]], "not a number"),
        (NAMES, [[1.0, 2.0, None]], "not a number"),
        (["a", "a", "c"], [[1.0, 2.0, 3.0]], "distinct"),
        ([], [[]], "distinct"),
    ],
)
def test_bad_input_keeps_the_stored_reference(monitor: Monitor, names, rows, message) -> None:
    monitor.set_reference("proj", "clf", NAMES, ROWS)
    before = monitor.reference("proj", "clf")
    with pytest.raises(InputValidationError, match=message):
        monitor.set_reference("proj", "clf", names, rows)
    assert monitor.reference("proj", "clf") == before
    assert monitor.references.frame("proj", "clf").to_numpy().tolist() == ROWS


def test_names_that_are_not_file_names(monitor: Monitor) -> None:
    monitor.set_reference("proj", "team/model v2", NAMES, ROWS)
    ref = monitor.reference("proj", "team/model v2")
    assert ref is not None and ref.model == "team/model v2"
    assert monitor.references.root in monitor.references.path("proj", "team/model v2").parents
    with pytest.raises(InputValidationError):
        monitor.set_reference("..", "clf", NAMES, ROWS)
    assert [(r.project, r.model) for r in monitor.references.all()] == [("proj", "team/model v2")]
