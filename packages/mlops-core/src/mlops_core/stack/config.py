"""The supervisord configuration for a set of services.

Every program is declared with ``autostart=false``: ``mlops up`` starts the ones asked for over
XML-RPC, so ``mlops up --only mlflow`` and a later plain ``mlops up`` share one supervisord.
"""

from __future__ import annotations

import math
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
    def quote(v: str) -> str:
        return '"' + v.replace("\\", "\\\\").replace('"', '\\"') + '"'

    return ",".join(f"{k}={_value(quote(v))}" for k, v in sorted(env.items()))


def _program(spec: ServiceSpec, paths: StackPaths, cwd: str, stop_timeout: float, marker: str) -> str:
    env = {**spec.env, MARKER_ENV: marker}
    return "\n".join([
        f"[program:{spec.name}]",
        f"command={_value(shlex.join(spec.command))}",
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
