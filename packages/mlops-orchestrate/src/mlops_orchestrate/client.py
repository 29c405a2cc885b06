"""A small client of Airflow 3's REST API (``/api/v2``) as the stack's api-server runs it.

Authentication is the simple auth manager's: the api-server writes the admin password to
``$AIRFLOW_HOME/simple_auth_manager_passwords.json.generated``; ``POST /auth/token`` turns it into
a JWT, sent as a bearer token and renewed once when the api-server answers 401. Standard library
only (``urllib``): a run makes a few requests a second at most.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from mlops_core.errors import ServiceError
from mlops_orchestrate.services import MONITOR_PATH

__all__ = ["AirflowClient", "ApiError", "render_log"]

USERNAME = "admin"


class ApiError(ServiceError):
    """The api-server answered with an unexpected HTTP status."""

    def __init__(self, message: str, *, status: int, fix: str | None = None) -> None:
        super().__init__(message, fix=fix)
        self.status = status


class AirflowClient:
    """Calls to the api-server at ``base_url`` (e.g. ``http://127.0.0.1:8080``)."""

    def __init__(self, base_url: str, passwords_file: Path, *, timeout: float = 15.0) -> None:
        self.base_url = base_url.rstrip("/")
        self.passwords_file = passwords_file
        self.timeout = timeout
        self._token: str | None = None

    # -- plumbing ---------------------------------------------------------------------------

    def _password(self) -> str:
        try:
            passwords = json.loads(self.passwords_file.read_text())
            return str(passwords[USERNAME])
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise ServiceError(
                f"cannot read the Airflow admin password from {self.passwords_file}: {type(exc).__name__}: {exc}",
                fix="the api-server writes it when it starts: check `mlops status` and `mlops logs airflow-api-server`",
            ) from exc

    def _send(self, method: str, path: str, body: Any = None, *, auth: bool = True,
              accept: str = "application/json") -> tuple[int, bytes]:
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(self.base_url + path, data=data, method=method)
        request.add_header("Accept", accept)
        if data is not None:
            request.add_header("Content-Type", "application/json")
        if auth:
            request.add_header("Authorization", f"Bearer {self.token()}")
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:
                return response.status, response.read()
        except urllib.error.HTTPError as exc:
            return exc.code, exc.read()
        except (urllib.error.URLError, OSError) as exc:
            reason = getattr(exc, "reason", exc)
            raise ServiceError(
                f"the Airflow api-server at {self.base_url} did not answer {method} {path}: {reason}",
                fix="check `mlops status` and `mlops logs airflow-api-server`; `mlops up` starts it",
            ) from exc

    def token(self) -> str:
        """A JWT for the admin user (fetched once, renewed after a 401)."""
        if self._token is None:
            status, raw = self._send("POST", "/auth/token", {"username": USERNAME, "password": self._password()},
                                     auth=False)
            if status not in (200, 201):
                raise ApiError(f"the Airflow api-server refused a token: HTTP {status} {raw[:300]!r}", status=status,
                               fix=f"is {self.passwords_file} the password file of this api-server? restart the stack")
            self._token = str(json.loads(raw)["access_token"])
        return self._token

    def call(self, method: str, path: str, body: Any = None, *, ok: tuple[int, ...] = (200,),
             missing_ok: bool = False, accept: str = "application/json") -> Any:
        """``method path`` with a JSON body; the JSON answer, ``None`` for a tolerated 404."""
        status, raw = self._send(method, path, body, accept=accept)
        if status == 401:  # the token expired: one fresh one
            self._token = None
            status, raw = self._send(method, path, body, accept=accept)
        if status == 404 and missing_ok:
            return None
        if status not in ok:
            detail = raw[:500].decode(errors="replace")
            raise ApiError(f"Airflow api-server: {method} {path} answered HTTP {status}: {detail}", status=status,
                           fix="see `mlops logs airflow-api-server`")
        return json.loads(raw) if raw else None

    # -- endpoints --------------------------------------------------------------------------

    def health(self) -> dict[str, Any]:
        """``/api/v2/monitor/health``: metadata DB, scheduler, dag-processor (no token needed)."""
        status, raw = self._send("GET", MONITOR_PATH, auth=False)
        if status != 200:
            raise ApiError(f"Airflow health answered HTTP {status}", status=status,
                           fix="see `mlops logs airflow-api-server`")
        return json.loads(raw)

    def dag(self, dag_id: str) -> dict[str, Any] | None:
        return self.call("GET", f"/api/v2/dags/{_q(dag_id)}", missing_ok=True)

    def set_paused(self, dag_id: str, paused: bool) -> dict[str, Any]:
        return self.call("PATCH", f"/api/v2/dags/{_q(dag_id)}", {"is_paused": paused})

    def reparse(self, file_token: str) -> None:
        """Ask the dag-processor to parse a known DAG file next."""
        self.call("PUT", f"/api/v2/parseDagFile/{_q(file_token)}", ok=(200, 201))

    def import_errors(self) -> list[dict[str, Any]]:
        return list(self.call("GET", "/api/v2/importErrors?limit=100").get("import_errors", []))

    def pool(self, name: str) -> dict[str, Any] | None:
        return self.call("GET", f"/api/v2/pools/{_q(name)}", missing_ok=True)

    def create_pool(self, name: str, slots: int, description: str) -> dict[str, Any]:
        return self.call("POST", "/api/v2/pools",
                         {"name": name, "slots": slots, "description": description, "include_deferred": False},
                         ok=(200, 201))

    def trigger(self, dag_id: str, conf: Mapping[str, Any], *, run_id: str | None = None,
                note: str | None = None) -> dict[str, Any]:
        body: dict[str, Any] = {"logical_date": None, "conf": dict(conf)}
        if run_id:
            body["dag_run_id"] = run_id
        if note:
            body["note"] = note
        return self.call("POST", f"/api/v2/dags/{_q(dag_id)}/dagRuns", body, ok=(200, 201))

    def dag_run(self, dag_id: str, run_id: str) -> dict[str, Any]:
        return self.call("GET", f"/api/v2/dags/{_q(dag_id)}/dagRuns/{_q(run_id)}")

    def set_run_state(self, dag_id: str, run_id: str, state: str) -> dict[str, Any]:
        return self.call("PATCH", f"/api/v2/dags/{_q(dag_id)}/dagRuns/{_q(run_id)}", {"state": state})

    def task_instances(self, dag_id: str, run_id: str) -> list[dict[str, Any]]:
        answer = self.call("GET", f"/api/v2/dags/{_q(dag_id)}/dagRuns/{_q(run_id)}/taskInstances?limit=100")
        return list(answer.get("task_instances", []))

    def xcom(self, dag_id: str, run_id: str, task_id: str, key: str = "return_value") -> Any:
        """A task's XCom value (JSON-decoded), ``None`` if it has none."""
        path = f"/api/v2/dags/{_q(dag_id)}/dagRuns/{_q(run_id)}/taskInstances/{_q(task_id)}/xcomEntries/{_q(key)}"
        entry = self.call("GET", path, missing_ok=True)
        if entry is None:
            return None
        value = entry.get("value")
        if isinstance(value, str):  # stored as serialized JSON text
            try:
                return json.loads(value)
            except ValueError:
                return value
        return value

    def task_log(self, dag_id: str, run_id: str, task_id: str, try_number: int) -> list[dict[str, Any]]:
        """A task try's structured log entries (the whole log)."""
        path = (f"/api/v2/dags/{_q(dag_id)}/dagRuns/{_q(run_id)}/taskInstances/{_q(task_id)}/logs/"
                f"{try_number}?full_content=true")
        content = self.call("GET", path).get("content", [])
        return [c if isinstance(c, dict) else {"event": str(c)} for c in content]


def _q(part: str) -> str:
    return urllib.parse.quote(part, safe="")


def render_log(entries: list[dict[str, Any]]) -> list[str]:
    """Structured log entries as text lines; an exception as a Python-style traceback."""
    lines: list[str] = []
    for entry in entries:
        event = str(entry.get("event", ""))
        level = str(entry.get("level", "")).upper()
        stamp = str(entry.get("timestamp", ""))
        lines.append(" ".join(p for p in (stamp, f"[{level}]" if level else "", event) if p))
        for error in entry.get("error_detail") or []:
            if not isinstance(error, dict):
                continue
            lines.append("Traceback (most recent call last):")
            for frame in error.get("frames") or []:
                lines.append(f'  File "{frame.get("filename")}", line {frame.get("lineno")}, in {frame.get("name")}')
            lines += f"{error.get('exc_type')}: {error.get('exc_value')}".splitlines()
    return lines
