"""The stack's parts that need no supervisord: config, restart listener, discovery, logs, CLI."""

from __future__ import annotations

import configparser
import io
import json
import os
import socket
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from mlops_core.cli import main
from mlops_core.errors import InputValidationError
from mlops_core.hookspecs import hookimpl
from mlops_core.plugins import PluginManager
from mlops_core.records import ServiceSpec
from mlops_core.settings import Settings, load_settings
from mlops_core.stack import discovery, service_url, stack_notice
from mlops_core.stack.config import MARKER_ENV, render_config
from mlops_core.stack.health import http_ok, port_free
from mlops_core.stack.listener import record_restart, serve
from mlops_core.stack.logs import follow, tail
from mlops_core.stack.paths import stack_paths
from mlops_core.stack.services import collect_services, env_var, select


def _spec(name: str = "svc", **kw: object) -> ServiceSpec:
    base: dict[str, object] = {"concern": "serve", "command": ("srv", "--flag", "50%")}
    base.update(kw)
    return ServiceSpec(name=name, **base)  # type: ignore[arg-type]


def _parse(text: str) -> configparser.RawConfigParser:
    from supervisor.options import UnhosedConfigParser

    parser = UnhosedConfigParser()  # supervisord's own parser, inline comments and all
    parser.read_string(text)
    return parser


def test_config_declares_supervision_per_service(settings: Settings) -> None:
    from supervisor.datatypes import dict_of_key_value_pairs

    paths = stack_paths(settings)
    env = {"A": "spaces, commas and 'quotes'x", "B": "100%"}
    text = render_config([_spec(env=env, order=7), _spec("other", port=5)], paths, cwd="/w", stop_timeout=12.5)
    cfg = _parse(text)
    prog = cfg["program:svc"]
    assert prog["command"] == "srv --flag 50%%"  # supervisord expands %(...)s: a % is doubled
    assert prog["autostart"] == "false" and prog["autorestart"] == "true"
    assert prog["stopasgroup"] == "true" and prog["killasgroup"] == "true"
    assert prog["stopwaitsecs"] == "13" and prog["priority"] == "7"
    assert prog["stdout_logfile"] == str(paths.log("svc")) and prog["redirect_stderr"] == "true"
    assert prog["directory"] == "/w"
    # supervisord's own parser reads the environment back exactly (after %% expansion)
    parsed = dict_of_key_value_pairs(prog["environment"].replace("%%", "%"))
    assert parsed == {**env, MARKER_ENV: str(paths.dir)}
    assert cfg["unix_http_server"]["file"] == str(paths.socket)
    assert "events" in cfg[[s for s in cfg.sections() if s.startswith("eventlistener:")][0]]


@pytest.mark.parametrize("spec", [
    _spec(command=(sys.executable, "-c", "import sys\nprint('two lines')")),
    _spec(env={"QUOTED": 'say "hi"'}),
    _spec(env={"EDGE": "'x'"}),
    _spec(command=("sh", "-c", "echo a ; echo b")),
    _spec(env={"URL": "http://h/x #frag"}),
], ids=["multiline-command", "double-quote-in-env", "single-quotes-around-env", "semicolon", "hash"])
def test_what_the_config_cannot_hold_goes_through_a_launcher(settings: Settings, spec: ServiceSpec) -> None:
    import subprocess
    from supervisor.datatypes import dict_of_key_value_pairs

    paths = stack_paths(settings)
    cfg = _parse(render_config([spec], paths, cwd="/w", stop_timeout=5))
    launch = paths.dir / "commands" / "svc.json"
    assert str(launch) in cfg["program:svc"]["command"]
    stored = json.loads(launch.read_text())
    assert stored["argv"] == list(spec.command) and stored["env"] == {**spec.env, MARKER_ENV: str(paths.dir)}
    assert dict_of_key_value_pairs(cfg["program:svc"]["environment"]) == {MARKER_ENV: str(paths.dir)}
    # the launcher really execs the stored command with the stored environment
    import shlex

    argv = shlex.split(cfg["program:svc"]["command"].replace("%%", "%"))
    launch.write_text(json.dumps({"argv": [sys.executable, "-c", "import os; print(os.environ['K'])"],
                                  "env": {"K": 'a "b" \'c\''}}))
    out = subprocess.run(argv, capture_output=True, text=True, check=True).stdout
    assert out == 'a "b" \'c\'\n'


def test_socket_path_fits_sockaddr_un(tmp_path: Path) -> None:
    deep = tmp_path / ("d" * 90)
    paths = stack_paths(load_settings(root=tmp_path, state_dir=str(deep)))
    assert len(str(paths.socket)) <= 100
    assert paths.socket == stack_paths(load_settings(root=tmp_path, state_dir=str(deep))).socket


def test_listener_counts_only_restarts_supervisord_made(tmp_path: Path) -> None:
    counts = tmp_path / "restarts.json"

    def event(name: str, from_state: str) -> str:
        payload = f"processname:{name} groupname:{name} from_state:{from_state} tries:0"
        return f"ver:3.0 server:mlops serial:1 pool:l poolserial:1 eventname:PROCESS_STATE_STARTING len:{len(payload)}\n{payload}"

    stdin = io.StringIO(event("web", "EXITED") + event("web", "STOPPED") + event("web", "BACKOFF") + event("db", "FATAL"))
    stdout, stderr = io.StringIO(), io.StringIO()
    serve(counts, stdin, stdout, stderr)
    data = json.loads(counts.read_text())
    assert data["web"]["restarts"] == 2 and data["web"]["last_from"] == "BACKOFF"
    assert "db" not in data
    # the protocol: READY before each event, a RESULT after each
    assert stdout.getvalue().count("READY\n") == 5 and stdout.getvalue().count("RESULT 2\nOK") == 4


def test_record_restart_survives_a_corrupt_file(tmp_path: Path) -> None:
    counts = tmp_path / "restarts.json"
    counts.write_text("{not json")
    assert record_restart(counts, "web", "EXITED")["web"]["restarts"] == 1


def test_skipped_concerns_and_select(settings: Settings) -> None:
    class Plugin:
        @hookimpl
        def mlops_services(self, settings: Settings) -> list[ServiceSpec]:
            return [_spec("web", order=2), _spec("api", concern="tracking", order=1)]

    pm = PluginManager(settings, plugins=[Plugin()], entrypoints=False)
    specs, skipped = collect_services(pm)
    assert [s.name for s in specs] == ["api", "web"]  # start order
    assert {s.concern for s in skipped} == {"orchestrate", "monitor"}
    assert all(s.reason and s.fix for s in skipped)
    assert [s.name for s in select(specs, ["tracking"])] == ["api"]
    assert [s.name for s in select(specs, ["web"])] == ["web"]
    with pytest.raises(InputValidationError, match="'nope'.*services: api, web"):
        select(specs, ["nope"])
    assert env_var("monitor.ui_port") == "MLOPS_MONITOR__UI_PORT"


def test_port_free_sees_a_listener() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        assert not port_free(sock.getsockname()[1])
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    assert port_free(port)


class _Health(BaseHTTPRequestHandler):
    def do_GET(self) -> None:  # noqa: N802
        self.send_response(200 if self.path == "/ok" else 503)
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def health_server() -> object:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Health)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


def _write_state(settings: Settings, pid: int, port: int, health: str) -> None:
    paths = stack_paths(settings)
    paths.dir.mkdir(parents=True, exist_ok=True)
    paths.state.write_text(json.dumps({"daemon_pid": pid, "services": {"web": {
        "url": f"http://127.0.0.1:{port}", "port": port, "health_url": f"http://127.0.0.1:{port}{health}"}}}))


def test_service_url_follows_state_health_and_setting(settings: Settings, health_server: object) -> None:
    port = health_server.server_address[1]  # type: ignore[attr-defined]
    discovery.forget_cache()
    assert service_url(settings, "web") is None  # no state file: down, no error
    _write_state(settings, os.getpid(), port, "/ok")
    discovery.forget_cache()
    assert service_url(settings, "web") == f"http://127.0.0.1:{port}"
    assert service_url(settings, "other") is None
    _write_state(settings, os.getpid(), port, "/unhealthy")
    discovery.forget_cache()
    assert service_url(settings, "web") is None
    _write_state(settings, 2**22 + 12345, port, "/ok")  # supervisord pid not alive
    discovery.forget_cache()
    assert service_url(settings, "web") is None
    stack_paths(settings).state.write_text("{broken")
    discovery.forget_cache()
    assert service_url(settings, "web") is None
    assert http_ok(f"http://127.0.0.1:{port}/ok") and not http_ok(f"http://127.0.0.1:{port}/no")


def test_service_url_is_none_when_use_when_up_is_off(tmp_path: Path, health_server: object) -> None:
    port = health_server.server_address[1]  # type: ignore[attr-defined]
    settings = load_settings(root=tmp_path, stack={"use_when_up": False})
    _write_state(settings, os.getpid(), port, "/ok")
    discovery.forget_cache()
    assert service_url(settings, "web") is None


def test_stack_notice_once_per_what(settings: Settings, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(discovery, "_noticed", set())
    stack_notice(settings, "tracking")
    stack_notice(settings, "tracking")
    stack_notice(settings, "monitoring")
    err = capsys.readouterr().err
    assert err.count("stack is down: tracking uses the embedded default") == 1
    assert "stack is down: monitoring uses the embedded default" in err


def test_tail_and_follow_across_rotation(tmp_path: Path) -> None:
    log = tmp_path / "svc.log"
    assert "no log yet" in tail(log)
    log.write_text("".join(f"line {i}\n" for i in range(30)))
    assert tail(log, 3) == "line 27\nline 28\nline 29"
    seen: list[str] = []
    gen = follow(log, poll=0.01)

    def writer() -> None:
        with log.open("a") as fh:
            fh.write("new 1\n")
        log.rename(tmp_path / "svc.log.1")  # what supervisord's rotation does
        log.write_text("after rotation\n")

    timer = threading.Timer(0.2, writer)
    timer.start()
    for line in gen:
        seen.append(line)
        if len(seen) == 2:
            break
    gen.close()
    timer.join()
    assert seen == ["new 1", "after rotation"]


@pytest.fixture
def cli_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    for name in list(os.environ):
        if name.startswith("MLOPS_"):
            monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("MLOPS_STATE_DIR", str(tmp_path / "state"))
    return tmp_path


def test_cli_status_and_down_when_nothing_runs(cli_env: Path, capsys: pytest.CaptureFixture[str]) -> None:
    main(["down"])
    assert "stack is not running" in capsys.readouterr().out
    main(["status", "--json"])
    assert json.loads(capsys.readouterr().out) == {"running": False, "state_dir": str(cli_env / "state"), "services": []}


def test_cli_logs_unknown_service_lists_services(cli_env: Path, capsys: pytest.CaptureFixture[str]) -> None:
    settings = load_settings()
    paths = stack_paths(settings)
    paths.dir.mkdir(parents=True)
    paths.state.write_text(json.dumps({"daemon_pid": 0, "services": {"mlflow": {}, "gateway": {}}}))
    with pytest.raises(SystemExit) as exc:
        main(["logs", "nope"])
    assert exc.value.code == 2
    assert "services: mlflow, gateway" in capsys.readouterr().err
    paths.logs_dir.mkdir(parents=True)
    paths.log("gateway").write_text("a\nb\nc\n")
    main(["logs", "gateway", "-n", "2"])
    assert capsys.readouterr().out == "b\nc\n"


def test_listener_reaps_the_group_an_exited_service_leaves(tmp_path) -> None:
    """A child that outlives its killed parent (same process group) is ended on EXITED."""
    import io
    import subprocess
    import sys
    import time

    from mlops_core.stack import listener

    # parent in a new group, with a child that ignores nothing and sleeps
    parent = subprocess.Popen(
        [sys.executable, "-c", "import subprocess,sys,time; subprocess.Popen([sys.executable,'-c','import time; time.sleep(60)']); time.sleep(60)"],
        start_new_session=True,
    )
    time.sleep(0.5)
    parent.kill()
    parent.wait()
    payload = f"processname:svc groupname:svc from_state:RUNNING expected:0 pid:{parent.pid}"
    events = f"ver:3.0 eventname:PROCESS_STATE_EXITED len:{len(payload)}\n{payload}"
    out, err = io.StringIO(), io.StringIO()
    listener.serve(tmp_path / "restarts.json", io.StringIO(events), out, err)
    assert "ended the processes it left in its group" in err.getvalue()
    time.sleep(0.5)
    import os

    import psutil

    def live_members() -> list[int]:
        out = []
        for proc in psutil.process_iter(["status"]):
            try:
                if os.getpgid(proc.pid) == parent.pid and proc.info["status"] != psutil.STATUS_ZOMBIE:
                    out.append(proc.pid)
            except (ProcessLookupError, psutil.NoSuchProcess):
                continue
        return out

    assert live_members() == []
