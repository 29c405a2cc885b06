"""The dashboard against the in-test world: real gateway on uvicorn, real ledger, real report files.

The world's in-test tracker keeps model versions but no runs; :class:`TrackerWithRuns` adds the
runs that produced them, so the dashboard has runs to list, as the MLflow tracker would.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from html.parser import HTMLParser
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from mlops_core.hookspecs import hookimpl
from mlops_core.records import DriftReport, HardwareProfile, RunRecord
from mlops_core.settings import Settings
from mlops_core.errors import ReferenceNotFoundError
from mlops_serve.dashboard import best_run, key_metrics, report_path

if TYPE_CHECKING:
    from collections.abc import Callable

    from conftest import World


@dataclass
class TrackerWithRuns:
    """The world's registry tracker, plus the runs behind its versions."""

    inner: Any
    recorded: list[RunRecord] = field(default_factory=list)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)

    def runs(self, project: str, limit: int = 10) -> list[RunRecord]:
        newest_first = [r for r in reversed(self.recorded) if r.project == project]
        return newest_first[:limit]


class RunsPlugin:
    """Registered after the world's own plugin, so its tracker answers first.

    The gateway asks for its tracker once, while starting; the world's registry is plugged in
    behind it afterwards.
    """

    def __init__(self) -> None:
        self.tracker = TrackerWithRuns(inner=None)

    @hookimpl
    def mlops_tracker(self, settings: Settings) -> TrackerWithRuns:
        return self.tracker


class HardwarePlugin:
    @hookimpl
    def mlops_hardware_profile(self, settings: Settings) -> HardwareProfile:
        return HardwareProfile(os="Linux", arch="x86_64", chip="Test Chip 9000", cpu_cores_physical=2,
                               cpu_cores_logical=2, memory_total_bytes=24 * 2**30,
                               memory_available_bytes=20 * 2**30, backends=("mlx-cpu",))


@dataclass
class Dashboard:
    world: World
    tracker: TrackerWithRuns
    runs: dict[str, RunRecord]
    drift: DriftReport


def record_run(world: World, tracker: TrackerWithRuns, project: str, run_id: str, metrics: dict[str, float],
               status: str = "FINISHED") -> RunRecord:
    """A finished run, known to the tracker and announced (so the ledger records when it finished)."""
    run = RunRecord(project=project, run_id=run_id, experiment=project, status=status, metrics=metrics)
    tracker.recorded.append(run)
    world.plugins.emit("mlops_after_run", project=world.projects[project], run=run)
    return run


def write_drift(world: World, project: str, model: str, version: str, *, detected: bool, report_id: str) -> DriftReport:
    """Drift report files under the reports folder, and the ledger entry the core makes for them."""
    folder = world.settings.reports_dir / project
    folder.mkdir(parents=True, exist_ok=True)
    json_path, html_path = folder / f"{report_id}.json", folder / f"{report_id}.html"
    json_path.write_text(json.dumps({"report_id": report_id, "drift": detected}))
    html_path.write_text(f"<html><body>report {report_id}</body></html>")
    report = DriftReport(project=project, model=model, version=version, report_id=report_id,
                         drift_share=0.67 if detected else 0.0, drifted_columns=2 if detected else 0,
                         total_columns=3, threshold=0.5, drift_detected=detected,
                         json_path=str(json_path), html_path=str(html_path), rows_current=150, rows_reference=40)
    world.plugins.emit("mlops_drift_checked", report=report)
    return report


@pytest.fixture
def dash(make_world: Callable[..., World]) -> Dashboard:
    """toy: two runs (v1 champion from the first), a calm then a drifting report; digits: one run."""
    plugin = RunsPlugin()
    world = make_world(extra_plugins=[plugin, HardwarePlugin()])
    tracker = plugin.tracker
    tracker.inner = world.tracker
    [toy_v1] = world.tracker.model_versions("toy", "toy")
    [digits_v1] = world.tracker.model_versions("digits", "digits")
    runs = {
        "toy1": record_run(world, tracker, "toy", toy_v1.run_id, {"eval_accuracy": 0.95, "loss": 0.2, "accuracy": 0.9}),
        "toy2": record_run(world, tracker, "toy", "run-second-toy", {"eval_accuracy": 0.975, "loss": 0.1}),
        "digits1": record_run(world, tracker, "digits", digits_v1.run_id, {"eval_accuracy": 0.5}),
    }
    world.new_version("toy", promote=False)  # v2: registered, not promoted
    write_drift(world, "toy", "toy", "1", detected=False, report_id="calm-report")
    drift = write_drift(world, "toy", "toy", "1", detected=True, report_id="drift-report-1")
    return Dashboard(world, tracker, runs, drift)


def test_json_has_each_project_its_runs_versions_champion_and_drift(dash: Dashboard) -> None:
    dash.world.client.post("/predict/toy/toy", json={"inputs": [[1, 2, 3]]})  # loads toy v1

    body = dash.world.client.get("/dashboard.json").json()

    projects = {p["project"]: p for p in body["projects"]}
    assert sorted(projects) == ["digits", "lonely", "toy"]
    toy = projects["toy"]
    assert [r["run_id"] for r in toy["runs"]] == ["run-second-toy", dash.runs["toy1"].run_id]
    assert toy["runs"][1]["metrics"] == {"eval_accuracy": 0.95, "accuracy": 0.9, "loss": 0.2}
    assert toy["runs"][0]["status"] == "FINISHED" and toy["runs"][0]["finished_at"]
    assert toy["best"] == {"run_id": "run-second-toy", "metric": "eval_accuracy", "value": 0.975}
    assert [(v["version"], v["aliases"], v["champion"], v["serving"], v["value"]) for v in toy["versions"]] == [
        ("2", [], False, False, None), ("1", ["champion"], True, True, 0.95)]
    assert (toy["champion"], toy["serving"], toy["champion_value"]) == ("1", "1", 0.95)
    drift = toy["drift"]
    assert (drift["verdict"], drift["report_id"], drift["share"], drift["checks"]) == ("DRIFT", "drift-report-1", 0.67, 2)
    assert drift["json_url"] == "/dashboard/reports/toy/drift-report-1.json"
    assert projects["lonely"]["champion"] is None and projects["lonely"]["versions"][0]["aliases"] == []
    assert projects["lonely"]["drift"] is None
    summary = {row["project"]: row for row in body["summary"]}
    assert summary["toy"] == {"project": "toy", "model": "toy", "champion": "1", "primary_metric": "accuracy",
                              "champion_value": 0.95, "best_value": 0.975, "drift": "DRIFT",
                              "last_run_at": toy["last_run_at"]}
    assert summary["digits"]["drift"] is None and summary["digits"]["champion"] == "1"
    assert body["hardware"]["chip"] == "Test Chip 9000"
    assert body["tracking"] == {"installed": True, "note": ""}


class _Text(HTMLParser):
    """The page's visible text and every link target."""

    def __init__(self) -> None:
        super().__init__()
        self.text: list[str] = []
        self.hrefs: list[str] = []
        self.srcs: list[str] = []

    def handle_data(self, data: str) -> None:
        if data.strip():
            self.text.append(data.strip())

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        found = dict(attrs)
        if found.get("href"):
            self.hrefs.append(found["href"] or "")
        if found.get("src"):
            self.srcs.append(found["src"] or "")


def parse(html: str) -> _Text:
    parser = _Text()
    parser.feed(html)
    return parser


def test_page_shows_project_run_version_champion_and_drift(dash: Dashboard) -> None:
    answer = dash.world.client.get("/dashboard")

    assert answer.status_code == 200 and answer.headers["content-type"].startswith("text/html")
    page = parse(answer.text)
    text = " ".join(page.text)
    for expected in ("toy", "digits", "lonely", dash.runs["toy1"].run_id, "run-second-toy", "v2", "v1",
                     "champion", "DRIFT", "67% of columns drifted", "Test Chip 9000", "0.975"):
        assert expected in text, expected
    assert "/dashboard/reports/toy/drift-report-1.html" in page.hrefs
    assert "#project-toy" in page.hrefs


def test_page_fetches_nothing_from_elsewhere(dash: Dashboard) -> None:
    html = dash.world.client.get("/dashboard").text
    page = parse(html)

    assert page.srcs == []  # no scripts, images or frames
    assert "<link" not in html and "@import" not in html and "url(" not in html
    assert all(h.startswith(("/", "#")) for h in page.hrefs), page.hrefs


def test_stack_uis_show_stack_down_when_nothing_runs(dash: Dashboard) -> None:
    body = dash.world.client.get("/dashboard.json").json()
    page = " ".join(parse(dash.world.client.get("/dashboard").text).text)

    assert {k: (v["url"], v["status"]) for k, v in body["links"].items()} == {
        "mlflow": (None, "stack down"), "airflow": (None, "stack down"), "evidently": (None, "stack down")}
    assert "MLflow: stack down" in page and "Airflow: stack down" in page and "Evidently: stack down" in page


def test_report_files_are_served_from_the_reports_folder_only(dash: Dashboard) -> None:
    client = dash.world.client
    secret = dash.world.settings.state_dir / "secret.txt"
    secret.write_text("not for the browser")
    (dash.world.settings.reports_dir / "escape").symlink_to(secret)

    report = client.get("/dashboard/reports/toy/drift-report-1.json")
    html = client.get("/dashboard/reports/toy/drift-report-1.html")

    assert report.status_code == 200 and report.json() == {"report_id": "drift-report-1", "drift": True}
    assert html.status_code == 200 and html.headers["content-type"].startswith("text/html")
    for bad in ("../secret.txt", "..%2Fsecret.txt", "%2E%2E/secret.txt", "escape", "toy", "nope.json",
                "%2Fetc%2Fpasswd", "toy/..%2F..%2Fsecret.txt"):
        answer = client.get(f"/dashboard/reports/{bad}")
        assert answer.status_code == 404, (bad, answer.status_code, answer.text)
        assert "not for the browser" not in answer.text
        assert answer.json()["fix"]


def test_report_path_refuses_whatever_resolves_outside_the_reports_folder(dash: Dashboard) -> None:
    settings = dash.world.settings
    (settings.state_dir / "secret.txt").write_text("x")

    assert report_path(settings, "toy/drift-report-1.json") == settings.reports_dir.resolve() / "toy/drift-report-1.json"
    for bad in ("../secret.txt", "toy/../../secret.txt", str(settings.state_dir / "secret.txt"), "toy", "", "a\0b"):
        with pytest.raises(ReferenceNotFoundError):
            report_path(settings, bad)


def test_without_a_tracker_each_section_says_how_to_install_it(make_world: Callable[..., World]) -> None:
    world = make_world(with_tracker=False)
    write_drift(world, "toy", "toy", "1", detected=False, report_id="calm")

    body = world.client.get("/dashboard.json").json()
    page = world.client.get("/dashboard")

    assert page.status_code == 200
    note = "tracking not installed: uv add mlops-tracking"
    assert body["tracking"] == {"installed": False, "note": note}
    toy = next(p for p in body["projects"] if p["project"] == "toy")
    assert toy["tracking_note"] == note and toy["runs"] == [] and toy["versions"] == []
    assert toy["drift"]["verdict"] == "no drift"  # the ledger still answers
    assert note in page.text
    assert body["hardware"] is None and body["hardware_note"] == "hardware profile not installed: uv add mlops-hw"
    assert "hardware profile not installed: uv add mlops-hw" in page.text


def test_a_failing_tracker_is_shown_in_its_section_not_raised(dash: Dashboard) -> None:
    dash.world.tracker.down = True

    answer = dash.world.client.get("/dashboard.json")

    assert answer.status_code == 200
    toy = next(p for p in answer.json()["projects"] if p["project"] == "toy")
    assert "tracking server unreachable" in toy["errors"]["models"]
    assert toy["drift"]["verdict"] == "DRIFT" and toy["runs"]  # the other sections still answer
    assert "tracking server unreachable" in dash.world.client.get("/dashboard").text


def test_text_from_projects_and_reports_is_escaped(make_world: Callable[..., World]) -> None:
    world = make_world()
    world.projects["toy"].description = '<script>alert("x")</script>'  # type: ignore[misc]
    write_drift(world, "toy", "toy", '1"><img src=x>', detected=True, report_id="r<b>1")

    html = world.client.get("/dashboard").text

    assert "<script>alert" not in html and "<img src=x>" not in html and "r<b>1" not in html
    assert "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;" in html
    assert parse(html).srcs == []


def test_best_run_follows_the_direction_of_the_primary_metric() -> None:
    runs = [RunRecord("p", "a", "p", metrics={"eval_rmse": 2.0}), RunRecord("p", "b", "p", metrics={"rmse": 1.0}),
            RunRecord("p", "c", "p", metrics={"eval_rmse": float("nan")}), RunRecord("p", "d", "p")]

    assert best_run(runs, "rmse", higher_is_better=False).run_id == "b"  # type: ignore[union-attr]
    assert best_run(runs, "rmse", higher_is_better=True).run_id == "a"  # type: ignore[union-attr]
    assert best_run(runs[2:], "rmse") is None


def test_key_metrics_put_the_primary_metric_and_evaluations_first() -> None:
    metrics = {"loss": 0.1, "eval_f1": 0.8, "lr": 0.01, "eval_accuracy": 0.9, "accuracy": 0.85, "epoch": 4.0}

    assert list(key_metrics(metrics, "accuracy")) == ["eval_accuracy", "accuracy", "eval_f1", "epoch"]


def test_page_links_reports_only_when_they_are_under_the_reports_folder(
    make_world: Callable[..., World], tmp_path: Path
) -> None:
    world = make_world()
    outside = tmp_path / "elsewhere.json"
    outside.write_text("{}")
    report = DriftReport("toy", "toy", "1", "r-out", 0.0, 0, 3, 0.5, False, json_path=str(outside))
    world.plugins.emit("mlops_drift_checked", report=report)

    toy = next(p for p in world.client.get("/dashboard.json").json()["projects"] if p["project"] == "toy")

    assert toy["drift"]["report_id"] == "r-out"
    assert toy["drift"]["json_url"] is None and toy["drift"]["html_url"] is None


def test_a_running_stack_ui_is_linked_from_the_header_and_each_project(dash: Dashboard) -> None:
    from mlops_serve.dashboard_page import render

    data = dash.world.client.get("/dashboard.json").json()
    data["links"]["mlflow"] |= {"url": "http://127.0.0.1:5999", "status": "up"}

    page = parse(render(data))

    assert "http://127.0.0.1:5999" in page.hrefs
    assert "http://127.0.0.1:5999/#/models/toy" in page.hrefs
    assert "Airflow: stack down" in " ".join(page.text)
