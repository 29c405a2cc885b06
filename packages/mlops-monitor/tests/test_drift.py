"""Drift checks: errors before any work, then real Evidently reports on synthetic data."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import pytest

from mlops_core.errors import InputValidationError, MlopsError, ReferenceNotFoundError
from mlops_core.settings import Settings
from mlops_monitor import Monitor
from mlops_monitor.drift import NotEnoughRowsError, parse_drifted_columns

REF_ROWS = 1300  # above 1000, where Evidently's own choice of method would change


def _serve(monitor: Monitor, make_batch, rows: list[list[float]], names: list[str], batch: int = 20) -> None:
    for i in range(0, len(rows), batch):
        monitor.capture(make_batch(rows[i:i + batch], names))


def _column_results(report_json: str) -> dict[str, dict[str, Any]]:
    """Per-column ValueDrift results of a report: column -> {method, threshold, value}."""
    out = {}
    for metric in json.loads(Path(report_json).read_text())["metrics"]:
        config = metric["config"]
        if config["type"] == "evidently:metric_v2:ValueDrift":
            out[config["column"]] = {"method": config["method"], "threshold": config["threshold"], "value": metric["value"]}
    return out


# -- errors, found before Evidently is involved -------------------------------------------------


def test_no_reference(monitor: Monitor, make_batch, names, tabular) -> None:
    _serve(monitor, make_batch, tabular(50, 3, seed=1), names(3))
    with pytest.raises(ReferenceNotFoundError, match="no drift reference for proj/clf") as info:
        monitor.check("proj", "clf")
    assert "mlops run proj" in (info.value.fix or "")


def test_too_few_rows_counts_only_the_window(monitor: Monitor, make_batch, names, tabular, settings: Settings) -> None:
    _serve(monitor, make_batch, tabular(100, 3, seed=1), names(3))  # served before the reference: not counted
    monitor.set_reference("proj", "clf", names(3), tabular(200, 3, seed=2))
    _serve(monitor, make_batch, tabular(10, 3, seed=3), names(3))
    with pytest.raises(NotEnoughRowsError, match=r"only 10 rows captured since the reference was set") as info:
        monitor.check("proj", "clf")
    assert "monitor.min_rows" in (info.value.fix or "")
    with pytest.raises(NotEnoughRowsError, match=r"proj/clf: only 5 rows among the last 5 captured; .* at least 30"):
        monitor.check("proj", "clf", last_n=5)
    assert not settings.reports_dir.exists()  # nothing written for a check that could not run


def test_feature_mismatch(monitor: Monitor, make_batch, names, tabular) -> None:
    monitor.set_reference("proj", "clf", names(3), tabular(200, 3, seed=2))
    _serve(monitor, make_batch, tabular(40, 3, seed=3), ["f0", "f1", "other"])
    with pytest.raises(InputValidationError, match="other features than its reference"):
        monitor.check("proj", "clf")


@pytest.mark.parametrize(("kwargs", "message"), [({"threshold": 0.0}, "threshold"), ({"threshold": 1.5}, "threshold"),
                                                 ({"last_n": 0}, "last_n")])
def test_bad_arguments(monitor: Monitor, kwargs, message) -> None:
    with pytest.raises(InputValidationError, match=message):
        monitor.check("proj", "clf", **kwargs)


def test_parse_drifted_columns() -> None:
    metric = {"config": {"type": "evidently:metric_v2:DriftedColumnsCount"}, "value": {"count": 3.0, "share": 0.25}}
    other = {"config": {"type": "evidently:metric_v2:ValueDrift"}, "value": 0.5}
    assert parse_drifted_columns(json.dumps({"metrics": [other, metric]})) == (3, 0.25)
    with pytest.raises(MlopsError, match="no DriftedColumnsCount"):
        parse_drifted_columns({"metrics": [other]})
    nan = {**metric, "value": {"count": 0.0, "share": math.nan}}
    with pytest.raises(MlopsError, match="no usable value"):
        parse_drifted_columns({"metrics": [nan]})


# -- real Evidently reports --------------------------------------------------------------------

@pytest.mark.slow
@pytest.mark.integration
def test_same_distribution_is_not_drift(monitor: Monitor, make_batch, names, tabular, settings: Settings) -> None:
    cols = names(12)
    _serve(monitor, make_batch, tabular(200, 12, seed=9, shift=2.0), cols)  # before the reference: ignored
    monitor.set_reference("proj", "clf", cols, tabular(REF_ROWS, 12, seed=1))
    _serve(monitor, make_batch, tabular(200, 12, seed=2), cols)

    report = monitor.check("proj", "clf")

    assert (report.rows_current, report.rows_reference, report.total_columns) == (200, REF_ROWS, 12)
    assert report.drift_share <= 0.25 and not report.drift_detected
    assert report.drift_share == pytest.approx(report.drifted_columns / 12)
    assert report.threshold == settings.monitor.drift_threshold
    # The JSON is Evidently's own, with the count we report.
    data = json.loads(Path(report.json_path).read_text())
    assert parse_drifted_columns(data) == (report.drifted_columns, report.drift_share)
    assert Path(report.json_path) == settings.reports_dir / "proj" / f"{report.report_id}.json"
    assert len(_column_results(report.json_path)) == 12
    html = Path(report.html_path)
    assert html == settings.reports_dir / "proj" / f"{report.report_id}.html"
    assert html.stat().st_size > 100_000 and "<html" in html.read_text(encoding="utf-8")[:2000].lower()
    assert [r.report for r in monitor.list_reports("proj")] == [report]


@pytest.mark.slow
@pytest.mark.integration
def test_shifted_data_is_drift(monitor: Monitor, make_batch, names, tabular) -> None:
    cols = names(12)
    monitor.set_reference("proj", "clf", cols, tabular(REF_ROWS, 12, seed=1))
    _serve(monitor, make_batch, tabular(200, 12, seed=2), cols)
    _serve(monitor, make_batch, tabular(200, 12, seed=3, shift=1.0), cols)

    report = monitor.check("proj", "clf", last_n=200)

    assert report.rows_current == 200
    assert report.drift_share >= 0.9 and report.drift_detected
    assert report.drifted_columns == round(report.drift_share * 12)
    # A stricter threshold than the share is not drift; the verdict follows the threshold given.
    strict = monitor.check("proj", "clf", last_n=200, threshold=1.0)
    assert strict.drift_detected == (strict.drift_share == 1.0)
    assert strict.threshold == 1.0


@pytest.mark.slow
@pytest.mark.integration
def test_a_small_window_of_healthy_traffic_is_not_drift(monitor: Monitor, make_batch, names, tabular,
                                                        settings: Settings) -> None:
    # With >1000 reference rows Evidently's default method (normed Wasserstein, fixed 0.1 cut-off)
    # flags most columns of 30 healthy rows; the K-S test used here accounts for the sample size.
    cols = names(12)
    monitor.set_reference("proj", "clf", cols, tabular(REF_ROWS, 12, seed=1))
    _serve(monitor, make_batch, tabular(settings.monitor.min_rows, 12, seed=4), cols)
    report = monitor.check("proj", "clf")
    assert report.rows_current == settings.monitor.min_rows
    assert report.drift_share <= 0.25 and not report.drift_detected


@pytest.mark.slow
@pytest.mark.integration
def test_constant_columns(monitor: Monitor, make_batch, names, tabular, settings: Settings) -> None:
    settings.monitor.html_reports = False
    cols = names(10)
    constant = (0, 4, 9)  # like the always-blank corner pixels of digits
    monitor.set_reference("proj", "clf", cols, tabular(REF_ROWS, 10, seed=1, constant=constant))
    _serve(monitor, make_batch, tabular(200, 10, seed=2, constant=constant), cols)

    healthy = monitor.check("proj", "clf")

    assert math.isfinite(healthy.drift_share) and not healthy.drift_detected
    results = _column_results(healthy.json_path)
    for col in ("f0", "f4", "f9"):  # the same constant on both sides: p = 1, no drift
        assert results[col]["value"] == pytest.approx(1.0)
    assert all(math.isfinite(r["value"]) for r in results.values())
    assert healthy.html_path == "" and not list((settings.reports_dir / "proj").glob("*.html"))

    # A constant column that starts to vary is drift in that column, and only there.
    varying = tabular(200, 10, seed=3, constant=(4, 9))
    _serve(monitor, make_batch, varying, cols)
    moved = monitor.check("proj", "clf", last_n=200)
    results = _column_results(moved.json_path)
    assert results["f0"]["value"] < results["f0"]["threshold"]
    assert results["f4"]["value"] == pytest.approx(1.0) and results["f9"]["value"] == pytest.approx(1.0)
    assert moved.drifted_columns >= 1
