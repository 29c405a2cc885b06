"""The capture store: round trips, windows, validation, several writing processes."""

from __future__ import annotations

import math
import sqlite3
import subprocess
import sys
import textwrap
from contextlib import closing

import pytest

from mlops_core.errors import InputValidationError
from mlops_core.records import PredictionBatch
from mlops_core.settings import Settings
from mlops_monitor import Monitor
from mlops_monitor.captures import feature_matrix
from mlops_monitor.db import utc_now
from mlops_monitor.paths import db_path

NAMES = ["a", "b", "c"]


def test_rows_round_trip_in_order_per_model(monitor: Monitor, make_batch, settings: Settings) -> None:
    monitor.capture(make_batch([[1, 2, 3], [4, 5, 6]], NAMES, version="1", served_at="2026-12-03T10:00:00+00:00"))
    monitor.capture(make_batch([[7, 8, 9]], NAMES, version="2"))
    monitor.capture(make_batch([[0, 0, 0]], NAMES, model="other"))
    monitor.capture(make_batch([[0, 0, 0]], NAMES, project="elsewhere"))

    rows = monitor.rows("proj", "clf")
    assert [r.features for r in rows] == [(1.0, 2.0, 3.0), (4.0, 5.0, 6.0), (7.0, 8.0, 9.0)]
    assert [r.version for r in rows] == ["1", "1", "2"]
    assert [r.output for r in rows] == [0, 1, 0]
    assert rows[0].served_at == "2026-12-03T10:00:00+00:00"
    assert rows[0].feature_names == tuple(NAMES)
    assert rows[0].id < rows[1].id < rows[2].id
    assert [r.features for r in monitor.rows("proj", "clf", last_n=2)] == [(4.0, 5.0, 6.0), (7.0, 8.0, 9.0)]
    assert monitor.captures.count("proj", "clf") == 3
    assert db_path(settings).is_file() and db_path(settings).is_relative_to(settings.state_dir)
    traffic = {(t.project, t.model): t.rows for t in monitor.captures.traffic()}
    assert traffic == {("proj", "clf"): 3, ("proj", "other"): 1, ("elsewhere", "clf"): 1}


def test_rows_since_a_time(monitor: Monitor, make_batch) -> None:
    monitor.capture(make_batch([[1, 1, 1]], NAMES))
    cut = utc_now()
    monitor.capture(make_batch([[2, 2, 2]], NAMES))
    assert [r.features[0] for r in monitor.rows("proj", "clf", since=cut)] == [2.0]
    assert monitor.captures.count("proj", "clf", since=cut) == 1
    # A date without time or zone means midnight UTC.
    assert len(monitor.rows("proj", "clf", since="2000-01-01")) == 2
    assert monitor.rows("proj", "clf", since="2999-01-01") == []
    with pytest.raises(InputValidationError, match="not an ISO date"):
        monitor.rows("proj", "clf", since="yesterday")
    with pytest.raises(InputValidationError, match="last_n"):
        monitor.rows("proj", "clf", last_n=0)


@pytest.mark.parametrize(
    ("inputs", "outputs", "names", "message"),
    [
        (((1.0, 2.0, 3.0), (1.0, 2.0)), (0, 1), NAMES, "row 1 has 2 values"),
        (((1.0, "x", 3.0),), (0,), NAMES, "not a number"),
        (((1.0, True, 3.0),), (0,), NAMES, "not a number"),
        (((1.0, 2.0, 3.0),), (0, 1), NAMES, "1 input rows but 2 outputs"),
        (((1.0, 2.0, 3.0),), (0,), ["a", "a", "c"], "distinct"),
    ],
)
def test_bad_batches_store_nothing(monitor: Monitor, make_batch, inputs, outputs, names, message) -> None:
    monitor.capture(make_batch([[9, 9, 9]], NAMES))
    bad = PredictionBatch("proj", "clf", "1", tuple(names), inputs, outputs, "2026-12-03T10:00:00+00:00")
    with pytest.raises(InputValidationError, match=message):
        monitor.capture(bad)
    assert [r.features for r in monitor.rows("proj", "clf")] == [(9.0, 9.0, 9.0)]


def test_missing_values_and_odd_outputs_round_trip(monitor: Monitor) -> None:
    batch = PredictionBatch("proj", "clf", "1", tuple(NAMES), ((1.0, math.nan, 3.0),), ({"label": 3, "p": 0.9},),
                            "2026-12-03T10:00:00+00:00")
    monitor.capture(batch)
    (row,) = monitor.rows("proj", "clf")
    assert row.features[0] == 1.0 and math.isnan(row.features[1])
    assert row.output == {"label": 3, "p": 0.9}


def test_feature_matrix_reorders_and_rejects_other_features(monitor: Monitor, make_batch) -> None:
    monitor.capture(make_batch([[1, 2, 3]], NAMES))
    monitor.capture(make_batch([[30, 10, 20]], ["c", "a", "b"]))
    assert feature_matrix(monitor.rows("proj", "clf"), NAMES) == [(1.0, 2.0, 3.0), (10.0, 20.0, 30.0)]
    monitor.capture(make_batch([[1, 2, 3]], ["a", "b", "z"]))
    with pytest.raises(InputValidationError, match=r"missing \[c\] \(1\), unexpected \[z\] \(1\)") as info:
        feature_matrix(monitor.rows("proj", "clf"), NAMES)
    assert "mlops run proj" in (info.value.fix or "")


_WRITER = textwrap.dedent(
    """
    import sys
    from pathlib import Path
    from mlops_core.records import PredictionBatch
    from mlops_monitor.captures import CaptureStore

    store = CaptureStore(Path(sys.argv[1]))
    worker = int(sys.argv[2])
    for i in range(40):
        rows = tuple((float(worker), float(i), float(j)) for j in range(5))
        store.capture(PredictionBatch("proj", "clf", "1", ("w", "i", "j"), rows, (0,) * 5, "2026-12-03T10:00:00+00:00"))
    """
)


def test_several_processes_write_at_once(settings: Settings) -> None:
    path = db_path(settings)
    procs = [subprocess.Popen([sys.executable, "-c", _WRITER, str(path), str(w)]) for w in range(4)]
    assert [p.wait(timeout=120) for p in procs] == [0, 0, 0, 0]
    rows = Monitor(settings).rows("proj", "clf")
    assert len(rows) == 4 * 40 * 5
    assert len({r.id for r in rows}) == len(rows)
    # Every batch landed whole: each (worker, i) pair has its five rows.
    seen: dict[tuple[float, float], int] = {}
    for r in rows:
        seen[r.features[:2]] = seen.get(r.features[:2], 0) + 1
    assert set(seen.values()) == {5} and len(seen) == 160
    with closing(sqlite3.connect(path)) as db:  # WAL is what lets readers run beside the writers
        assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
