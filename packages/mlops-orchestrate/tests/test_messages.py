"""The marked lines between the run subprocess and its parent; log tails."""

from __future__ import annotations

from pathlib import Path

from mlops_orchestrate.messages import MARKER, decode, encode
from mlops_orchestrate.runner import log_tail, task_log_tail


def test_messages_round_trip_and_other_lines_are_ignored() -> None:
    line = encode("event", step="train", status="success", detail={"metrics": {"acc": 0.9}})
    assert "\n" not in line
    assert decode(line) == {"kind": "event", "step": "train", "status": "success", "detail": {"metrics": {"acc": 0.9}}}
    assert decode("2026-12-03T17:07:49Z [info] Filling up the DagBag") is None
    assert decode(MARKER + "not json") is None
    assert decode(MARKER + '["no", "kind"]') is None


LOG = """\
2026-12-03T17:08:27.40Z [info     ] [DAG TEST] starting task_id=train map_index=-1 [airflow.sdk.definitions.dag]
2026-12-03T17:08:27.41Z [info     ] train says hello
2026-12-03T17:08:27.42Z [info     ] [DAG TEST] end task task_id=train map_index=-1 [airflow.sdk.definitions.dag]
2026-12-03T17:08:27.43Z [info     ] [DAG TEST] starting task_id=evaluate map_index=-1 [airflow.sdk.definitions.dag]
2026-12-03T17:08:27.44Z [error    ] Task failed with exception     [task]
Traceback (most recent call last):
  File "airflow/task_runner.py", line 9, in run
  File "steps.py", line 3, in run_step
RuntimeError: boom
2026-12-03T17:08:27.52Z [info     ] ::group::Post Execute          [task]
2026-12-03T17:08:27.55Z [info     ] Task instance state updated    [airflow.api_fastapi]
2026-12-03T17:08:27.57Z [info     ] [DAG TEST] end task task_id=evaluate map_index=-1 [airflow.sdk.definitions.dag]
2026-12-03T17:08:27.58Z [info     ] Marking run failed
"""


def test_task_log_tail_is_the_failed_tasks_section_ending_with_its_error(tmp_path: Path) -> None:
    path = tmp_path / "run.log"
    path.write_text(LOG)
    tail = task_log_tail(path, "evaluate")
    assert tail.splitlines() == ["Traceback (most recent call last):", '  File "airflow/task_runner.py", line 9, in run',
                                 '  File "steps.py", line 3, in run_step', "RuntimeError: boom"]
    assert task_log_tail(path, "evaluate", lines=3).splitlines() == [
        "Traceback (most recent call last):", "  ...", "RuntimeError: boom"]
    assert "train says hello" not in tail
    assert "train says hello" in task_log_tail(path, "train")
    # an unknown task: the log's own tail
    assert task_log_tail(path, "deploy", lines=1) == log_tail(path, lines=1) == LOG.splitlines()[-1]
    assert log_tail(tmp_path / "missing.log") == ""
