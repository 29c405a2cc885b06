"""The supervisord configuration for a set of services.

Every program is declared with ``autostart=false``: ``mlops up`` starts the ones asked for over
XML-RPC, so ``mlops up --only mlflow`` and a later plain ``mlops up`` share one supervisord.
"""

from __future__ import annotations

import json
import math
import re
import shlex
import sys
from collections.abc import Iterable

from mlops_core.records import ServiceSpec
from mlops_core.stack.paths import StackPaths

__all__ = [
    "LISTENER_NAME",
    "LOG_BACKUPS",
    "LOG_MAX_BYTES",
    "MARKER_ENV",
    "START_RETRIES",
    "START_SECONDS",
    "render_config",
]

#: supervisord calls a service started once it has stayed up this long; a death before that is
#: a failed start, retried after 1 s, 2 s, 3 s ... (supervisord's linear backoff)
START_SECONDS = 3
#: failed starts in a row before supervisord gives up (state FATAL): waits 1+2+3+4+5 = 15 s
START_RETRIES = 5
LOG_MAX_BYTES = "10MB"
LOG_BACKUPS = 3
LISTENER_NAME = "mlops-restart-counter"
#: set in every process of the stack, so `mlops down` finds strays that left the process tree.
#: Not MLOPS_-prefixed on purpose: those variables are read as settings.
MARKER_ENV = "_MLOPS_STACK"


def _value(text: str) -> str:
    # supervisord expands %(name)s in every value: a literal percent sign must be doubled.
    return text.replace("%", "%%")


def _env(env: dict[str, str]) -> str:
    # supervisord splits this with a non-POSIX shlex: "..." protects commas and spaces, but there
    # is no escape for a double quote (values that need one go through the launcher file).
    return ",".join(f'{k}="{_value(v)}"' for k, v in sorted(env.items()))


_KEY = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


#: supervisord's parser ends a value at whitespace followed by ';' or '#' (an inline comment)
_COMMENT = re.compile(r"\s[;#]")


def _inline_ok(command: tuple[str, ...], env: dict[str, str]) -> bool:
    """Whether command and env survive supervisord's config parsing as they are."""
    line = shlex.join(command)
    if "\n" in line or "\r" in line or _COMMENT.search(line):
        return False
    return all(
        _KEY.match(k) and not any(c in v for c in '"\n\r') and not _COMMENT.search(v)
        and not v.startswith("'") and not v.endswith("'")
        for k, v in env.items()
    )


#: execs the command and environment stored in a JSON file (same pid: exec, not a child)
_EXEC = "import json,os,sys; c=json.load(open(sys.argv[1])); os.execvpe(c['argv'][0], c['argv'], {**os.environ, **c['env']})"


def _command_and_env(spec: ServiceSpec, paths: StackPaths, marker: str) -> tuple[str, dict[str, str]]:
    env = {**spec.env, MARKER_ENV: marker}
    if _inline_ok(spec.command, env):
        return shlex.join(spec.command), env
    # A config value cannot hold a line break (e.g. a `python -c` script), nor every character in
    # an environment value: keep such a command and its environment in a file, and let a
    # one-line launcher exec it.
    launch = paths.dir / "commands" / f"{spec.name}.json"
    launch.parent.mkdir(parents=True, exist_ok=True)
    launch.write_text(json.dumps({"argv": list(spec.command), "env": env}))
    return shlex.join([sys.executable, "-c", _EXEC, str(launch)]), {MARKER_ENV: marker}


def _program(spec: ServiceSpec, paths: StackPaths, cwd: str, stop_timeout: float, marker: str) -> str:
    command, env = _command_and_env(spec, paths, marker)
    return "\n".join([
        f"[program:{spec.name}]",
        f"command={_value(command)}",
        f"directory={_value(spec.cwd or cwd)}",
        f"environment={_env(env)}",
        "autostart=false",
        # restart after any exit, expected or not: a service of the stack is meant to be up
        "autorestart=true",
        f"startsecs={START_SECONDS}",
        f"startretries={START_RETRIES}",
        # lower starts first (supervisord's priority is also its start and stop order)
        f"priority={max(1, spec.order)}",
        "stopsignal=TERM",
        # SIGTERM (then SIGKILL) goes to the whole process group: workers die with their parent
        "stopasgroup=true",
        "killasgroup=true",
        f"stopwaitsecs={max(1, math.ceil(stop_timeout))}",
        "redirect_stderr=true",
        f"stdout_logfile={_value(str(paths.log(spec.name)))}",
        f"stdout_logfile_maxbytes={LOG_MAX_BYTES}",
        f"stdout_logfile_backups={LOG_BACKUPS}",
        "",
    ])


def render_config(
    specs: Iterable[ServiceSpec], paths: StackPaths, *, cwd: str, stop_timeout: float
) -> str:
    """The whole supervisord.conf: daemon, socket, RPC, the restart counter and every service."""
    marker = str(paths.dir)
    sock = _value(str(paths.socket))
    listener = shlex.join([sys.executable, "-m", "mlops_core.stack.listener", str(paths.restarts)])
    parts = [
        "; written by `mlops up`; edits are overwritten",
        "[unix_http_server]",
        f"file={sock}",
        "chmod=0700",
        "",
        "[supervisord]",
        f"logfile={_value(str(paths.daemon_log))}",
        "logfile_maxbytes=5MB",
        "logfile_backups=2",
        "loglevel=info",
        f"pidfile={_value(str(paths.pidfile))}",
        f"directory={_value(str(paths.dir))}",
        f"childlogdir={_value(str(paths.logs_dir))}",
        "nodaemon=false",
        "identifier=mlops",
        f"environment={_env({MARKER_ENV: marker})}",
        "",
        "[rpcinterface:supervisor]",
        "supervisor.rpcinterface_factory = supervisor.rpcinterface:make_main_rpcinterface",
        "",
        "[supervisorctl]",
        f"serverurl=unix://{sock}",
        "",
        f"[eventlistener:{LISTENER_NAME}]",
        f"command={_value(listener)}",
        "events=PROCESS_STATE",
        "buffer_size=256",
        "autostart=true",
        "autorestart=true",
        "priority=1",
        # a listener's stdout is the protocol channel with supervisord, not a log
        "stdout_logfile=NONE",
        f"stderr_logfile={_value(str(paths.listener_log))}",
        "stderr_logfile_maxbytes=1MB",
        "stderr_logfile_backups=1",
        "",
    ]
    for spec in sorted(specs, key=lambda s: (s.order, s.name)):
        parts.append(_program(spec, paths, cwd, stop_timeout, marker))
    return "\n".join(parts)
