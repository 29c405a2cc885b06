"""``mlops up`` / ``status`` / ``down``: the stack's life, driven through supervisord.

supervisord does the supervising (spawn, restart with backoff, SIGTERM then SIGKILL to process
groups, log rotation); this module writes its config, starts it once, asks it over XML-RPC to
start and stop programs, and checks health over HTTP.
"""

from __future__ import annotations

import json
import os
import subprocess
import time
import xmlrpc.client
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

from mlops_core.errors import ServiceError
from mlops_core.records import ServiceSpec
from mlops_core.stack import discovery
from mlops_core.stack.config import MARKER_ENV, render_config
from mlops_core.stack.daemon import daemon_pid, end_survivors, marked_pids, rpc, start_daemon, tree_pids
from mlops_core.stack.health import http_ok, port_free
from mlops_core.stack.logs import tail
from mlops_core.stack.paths import StackPaths, stack_paths
from mlops_core.stack.services import Skipped, collect_services, env_var, select, spec_dict

if TYPE_CHECKING:
    from mlops_core.plugins import PluginManager
    from mlops_core.settings import Settings

__all__ = ["DownResult", "ServiceStatus", "UpResult", "start_stack", "stack_status", "stop_stack"]

#: supervisord states in which a program is alive or about to be (not to be started again)
ACTIVE_STATES = frozenset({"STARTING", "RUNNING", "BACKOFF", "STOPPING"})
SETUP_TIMEOUT = 600.0
LOG_TAIL_LINES = 20

#: progress callback: (event, service, detail); events "skip", "setup", "setup-done", "start",
#: "waiting", "healthy" (detail: seconds since its start)
Progress = Callable[[str, str, str], None]


@dataclass(frozen=True)
class ServiceStatus:
    """One line of ``mlops status``."""

    name: str
    concern: str
    #: supervisord's state name: RUNNING, STARTING, BACKOFF, STOPPED, EXITED, FATAL, ...
    state: str
    #: running and healthy: what `mlops status` calls "up"
    up: bool
    #: supervisord has the process alive (STARTING or RUNNING)
    running: bool
    #: its health URL answers 2xx; without a URL: supervisord says RUNNING (up for startsecs)
    healthy: bool
    port: int | None
    pid: int | None
    uptime_seconds: float | None
    restarts: int
    url: str | None
    log: str

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class UpResult:
    """What ``start_stack`` did."""

    #: services it started now
    started: list[str] = field(default_factory=list)
    #: selected services that were already running, left as they were
    already_running: list[str] = field(default_factory=list)
    skipped: list[Skipped] = field(default_factory=list)
    #: True when this call started supervisord (False: it was running)
    daemon_started: bool = False
    #: seconds from the call to every selected service healthy
    seconds: float = 0.0
    #: of which the setup commands took
    setup_seconds: float = 0.0
    services: list[ServiceStatus] = field(default_factory=list)


@dataclass
class DownResult:
    """What ``stop_stack`` did."""

    was_running: bool
    #: programs supervisord stopped
    stopped: list[str] = field(default_factory=list)
    #: pids still alive after supervisord exited, ended by ``stop_stack`` itself
    ended: list[int] = field(default_factory=list)
    #: every pid of the stack's process tree, recorded before stopping
    pids: list[int] = field(default_factory=list)
    seconds: float = 0.0


def _noop(event: str, name: str, detail: str) -> None:
    return None


# -- up -----------------------------------------------------------------------------------------


def _check_ports(specs: list[ServiceSpec], skip: set[str]) -> None:
    by_port: dict[int, ServiceSpec] = {}
    for spec in specs:
        if spec.port is None:
            continue
        if spec.port in by_port:
            other = by_port[spec.port]
            raise ServiceError(
                f"services {other.name!r} and {spec.name!r} are both set to port {spec.port}",
                fix=f"give one of them another port: setting {spec.port_setting or '?'} "
                f"(env {env_var(spec.port_setting) if spec.port_setting else '?'})",
            )
        by_port[spec.port] = spec
        if spec.name in skip or port_free(spec.port):
            continue
        setting = spec.port_setting or "(no setting declared)"
        env = f"{env_var(spec.port_setting)}={spec.port + 1}" if spec.port_setting else "?"
        raise ServiceError(
            f"port {spec.port} on 127.0.0.1, needed by service {spec.name!r}, is already taken; nothing was started",
            fix=f"stop what listens there (`ss -ltnp 'sport = :{spec.port}'`), or choose another port with "
            f"the setting {setting} (e.g. {env})",
        )


def _run_setup(spec: ServiceSpec, paths: StackPaths, cwd: str) -> float:
    """Run the setup commands of ``spec`` in order, output to its log; their seconds."""
    t0 = time.monotonic()
    log = paths.log(spec.name)
    env = {**os.environ, **spec.env, MARKER_ENV: str(paths.dir)}
    for command in spec.setup:
        with log.open("ab") as out:
            out.write(f"[mlops up] {time.strftime('%F %T')} setup: {' '.join(command)}\n".encode())
            out.flush()
            try:
                done = subprocess.run(list(command), stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
                                      env=env, cwd=spec.cwd or cwd, timeout=SETUP_TIMEOUT, check=False)
                code: int | str = done.returncode
            except FileNotFoundError:
                code = "command not found"
            except subprocess.TimeoutExpired:
                code = f"timed out after {SETUP_TIMEOUT:.0f} s"
        if code != 0:
            raise ServiceError(
                f"setup of service {spec.name!r} failed ({code}): {' '.join(command)}\n"
                f"--- last lines of {log} ---\n{tail(log, LOG_TAIL_LINES)}",
                fix=f"read {log}; run the command by hand to see what it needs",
            )
    return time.monotonic() - t0


def _apply_config(proxy: Any) -> None:
    """What ``supervisorctl update`` does: reread the config, add/replace/remove program groups."""
    [[added, changed, removed]] = proxy.supervisor.reloadConfig()
    for name in removed + changed:
        try:
            proxy.supervisor.stopProcessGroup(name)
        except xmlrpc.client.Fault:
            pass
        proxy.supervisor.removeProcessGroup(name)
    for name in changed + added:
        proxy.supervisor.addProcessGroup(name)


def _states(proxy: Any) -> dict[str, dict[str, Any]]:
    return {info["name"]: info for info in proxy.supervisor.getAllProcessInfo()}


def _write_state(paths: StackPaths, pid: int, specs: list[ServiceSpec]) -> None:
    services = {}
    for spec in specs:
        data = spec_dict(spec)
        data["url"] = f"http://127.0.0.1:{spec.port}" if spec.port else None
        data["log"] = str(paths.log(spec.name))
        services[spec.name] = data
    state = {"daemon_pid": pid, "config": str(paths.config), "socket": str(paths.socket),
             "updated_at": time.time(), "services": services}
    tmp = paths.state.with_suffix(".tmp")
    tmp.write_text(json.dumps(state, indent=1))
    os.replace(tmp, paths.state)


def _unhealthy_error(spec: ServiceSpec, paths: StackPaths, waited: float, state: str) -> ServiceError:
    log = paths.log(spec.name)
    probe = f"{spec.health_url} did not answer 2xx" if spec.health_url else "it did not stay running"
    return ServiceError(
        f"service {spec.name!r} was not healthy within {waited:.0f} s ({probe}; supervisord state {state}); "
        f"it was stopped, the other services keep running\n"
        f"--- last {LOG_TAIL_LINES} lines of {log} ---\n{tail(log, LOG_TAIL_LINES)}",
        fix=f"read the lines above (`mlops logs {spec.name}`); check its settings and that its tool is installed "
        f"(`mlops doctor`); if it is only slow, raise stack.health_timeout; `mlops down` stops the rest",
    )


def _wait_healthy(proxy: Any, specs: list[ServiceSpec], paths: StackPaths, health_timeout: float,
                  progress: Progress, started_at: dict[str, float]) -> None:
    """Wait until every one of ``specs`` is healthy, each up to its ready_timeout (at most
    ``health_timeout``) from its start; one that misses it is stopped and reported with its log."""
    if not specs:
        return
    start = time.monotonic()
    pending = {s.name: s for s in specs}
    deadline = {s.name: started_at.get(s.name, start) + min(s.ready_timeout, health_timeout) for s in specs}
    with ThreadPoolExecutor(max_workers=max(1, len(specs))) as pool:
        while pending:
            states = _states(proxy)
            names = list(pending)
            probes = pool.map(lambda n: http_ok(pending[n].health_url, 5.0) if pending[n].health_url else True, names)
            for name, probe in zip(names, probes, strict=True):
                spec = pending[name]
                state = states.get(name, {}).get("statename", "UNKNOWN")
                # With a health URL, an answer counts even before startsecs is over (STARTING);
                # without one, only supervisord's RUNNING (up for startsecs) says it stayed up.
                if probe and (state == "RUNNING" or (state == "STARTING" and spec.health_url)):
                    since = started_at.get(name, start)
                    progress("healthy", name, f"{time.monotonic() - since:.1f}s")
                    del pending[name]
                elif state == "FATAL" or time.monotonic() > deadline[name]:
                    try:
                        proxy.supervisor.stopProcess(name, True)
                    except xmlrpc.client.Fault:
                        pass
                    raise _unhealthy_error(spec, paths, time.monotonic() - started_at.get(name, start), state)
                else:
                    progress("waiting", name, f"{state.lower()} {time.monotonic() - start:.0f}s")
            if pending:
                time.sleep(0.2)


def _start_program(proxy: Any, spec: ServiceSpec, paths: StackPaths, progress: Progress) -> None:
    progress("start", spec.name, f"port {spec.port}" if spec.port else "")
    try:
        proxy.supervisor.startProcess(spec.name, False)
    except xmlrpc.client.Fault as fault:
        if "ALREADY_STARTED" not in fault.faultString:
            raise ServiceError(
                f"supervisord could not start {spec.name!r}: {fault.faultString}\n"
                f"--- last lines of {paths.log(spec.name)} ---\n{tail(paths.log(spec.name), LOG_TAIL_LINES)}",
                fix=f"check that {spec.command[0]!r} exists and runs; read {paths.daemon_log}",
            ) from None


def _ensure_daemon(paths: StackPaths, specs: list[ServiceSpec], settings: Settings, cwd: str,
                   proxy: Any, result: UpResult) -> Any:
    """Write the config; start supervisord on it, or make the running one apply it. The proxy."""
    paths.config.write_text(render_config(specs, paths, cwd=cwd, stop_timeout=settings.stack.stop_timeout))
    if proxy is None:
        paths.restarts.unlink(missing_ok=True)  # a new supervisord: counts start from zero
        pid = start_daemon(paths, env={**os.environ, MARKER_ENV: str(paths.dir)})
        proxy = rpc(paths)
        result.daemon_started = True
    else:
        _apply_config(proxy)
        pid = daemon_pid(paths) or 0
    _write_state(paths, pid, specs)
    discovery.forget_cache()
    return proxy


def _start_waves(proxy: Any, selected: list[ServiceSpec], to_start: list[ServiceSpec], setups: dict[str, Any],
                 paths: StackPaths, health_timeout: float, result: UpResult, progress: Progress) -> None:
    """Start in order, one order value at a time, each wave once the health URLs of the one
    before answer: a client started later (the gateway) then finds its server (MLflow) up and
    uses it rather than falling back to the embedded default. Services without a health URL
    (e.g. a scheduler) do not hold the next wave; they are checked at the end."""
    t0 = time.monotonic()
    unprobed: list[ServiceSpec] = []
    started_at: dict[str, float] = {}
    for order in sorted({s.order for s in selected}):
        wave = [s for s in selected if s.order == order]
        for spec in wave:
            if spec.name in setups:
                seconds = setups[spec.name].result()  # raises the setup's ServiceError
                waited = time.monotonic() - t0
                result.setup_seconds = max(result.setup_seconds, seconds)
                progress("setup-done", spec.name, f"{seconds:.1f}s" + (f", waited {waited:.1f}s for it" if waited > 0.1 else ""))
            if spec in to_start:
                _start_program(proxy, spec, paths, progress)
                started_at[spec.name] = time.monotonic()
                result.started.append(spec.name)
        _wait_healthy(proxy, [s for s in wave if s.health_url], paths, health_timeout, progress, started_at)
        unprobed += [s for s in wave if not s.health_url]
    _wait_healthy(proxy, unprobed, paths, health_timeout, progress, started_at)


def start_stack(plugins: PluginManager, only: list[str] | None = None, progress: Progress | None = None) -> UpResult:
    """Start the stack (or the services in ``only``) and wait until every one is healthy.

    Services start in waves of equal ``order``; a wave starts once the health URLs of the one
    before answer. Setup commands run in the background; a service starts once its own setup
    is done. A running stack is reused: only stopped services are started, a service whose spec
    changed is restarted, running ones keep their pids. Each service gets its ready_timeout
    (at most ``stack.health_timeout``) from its start to become healthy.
    """
    progress = progress or _noop
    settings = plugins.settings
    t0 = time.monotonic()
    paths = stack_paths(settings)
    specs, skipped = collect_services(plugins)
    for s in skipped:
        progress("skip", s.concern, s.reason + (f"  ->  {s.fix}" if s.fix else ""))
    selected = select(specs, only)
    if not selected:
        raise ServiceError(
            "no service to start: no installed concern offers one",
            fix='install the concerns you want, e.g. uv add "mlops-core[tracking,serve]"',
        )
    result = UpResult(skipped=skipped)
    pid = daemon_pid(paths)
    proxy = rpc(paths) if pid else None
    states = _states(proxy) if proxy else {}
    old = discovery.read_state(paths.state).get("services", {}) if pid else {}
    active = {n for n, i in states.items() if i["statename"] in ACTIVE_STATES}
    changed = {s.name for s in selected if s.name in active and old.get(s.name, {}).get("command") is not None
               and {**old[s.name], "url": None, "log": None} != {**spec_dict(s), "url": None, "log": None}}
    to_start = [s for s in selected if s.name not in active or s.name in changed]
    result.already_running = [s.name for s in selected if s not in to_start]
    # Ports first, all of them: a taken port must leave everything as it was.
    same_port = {n for n in changed if old[n].get("port") == next(s.port for s in selected if s.name == n)}
    _check_ports(to_start, skip=same_port)

    paths.dir.mkdir(parents=True, exist_ok=True)
    paths.logs_dir.mkdir(parents=True, exist_ok=True)
    cwd = str(settings.workspace_root)
    # Setup commands (migrations) run in the background from here on; a service's wave waits for
    # its own setup only, so e.g. Airflow's migration overlaps MLflow's start.
    with_setup = [s for s in to_start if s.setup]
    for s in with_setup:
        progress("setup", s.name, " && ".join(" ".join(c) for c in s.setup))
    with ThreadPoolExecutor(max_workers=max(1, len(with_setup))) as setup_pool:
        setups = {s.name: setup_pool.submit(_run_setup, s, paths, cwd) for s in with_setup}
        try:
            proxy = _ensure_daemon(paths, specs, settings, cwd, proxy, result)
            _start_waves(proxy, selected, to_start, setups, paths, settings.stack.health_timeout, result, progress)
        finally:
            for future in setups.values():
                future.cancel()  # those not begun yet; running ones are waited for
    result.seconds = time.monotonic() - t0
    result.services = stack_status(settings) or []
    return result


# -- status -------------------------------------------------------------------------------------


def _restart_counts(paths: StackPaths) -> dict[str, int]:
    data = discovery.read_state(paths.restarts)
    return {name: int(entry.get("restarts", 0)) for name, entry in data.items() if isinstance(entry, dict)}


def stack_status(settings: Settings) -> list[ServiceStatus] | None:
    """Every service of the running stack, in start order; None when the stack is not running."""
    paths = stack_paths(settings)
    if daemon_pid(paths) is None:
        return None
    try:
        infos = _states(rpc(paths, timeout=10))
    except OSError:
        return None
    services = discovery.read_state(paths.state).get("services", {})
    restarts = _restart_counts(paths)
    names = sorted(services, key=lambda n: (services[n].get("order", 50), n))

    def probe(name: str) -> bool:
        url = services[name].get("health_url")
        state = infos.get(name, {}).get("statename")
        # As in `mlops up`: a health answer counts during STARTING; without a URL, RUNNING does.
        if url:
            return state in ("STARTING", "RUNNING") and http_ok(url, 2.0)
        return state == "RUNNING"

    with ThreadPoolExecutor(max_workers=max(1, len(names))) as pool:
        healthy = dict(zip(names, pool.map(probe, names), strict=True))
    out = []
    for name in names:
        svc, info = services[name], infos.get(name, {})
        alive = info.get("statename") in ("STARTING", "RUNNING")
        out.append(ServiceStatus(
            name=name,
            concern=svc.get("concern", ""),
            state=info.get("statename", "UNKNOWN"),
            up=alive and healthy[name],
            running=alive,
            healthy=healthy[name],
            port=svc.get("port"),
            pid=info.get("pid") or None,
            uptime_seconds=float(info["now"] - info["start"]) if alive else None,
            restarts=restarts.get(name, 0),
            url=svc.get("ui_url") or svc.get("url"),
            log=svc.get("log", str(paths.log(name))),
        ))
    return out


# -- down ---------------------------------------------------------------------------------------


def _wait_gone(pid: int, timeout: float) -> bool:
    import psutil

    try:
        psutil.Process(pid).wait(timeout)
    except psutil.NoSuchProcess:
        return True
    except psutil.TimeoutExpired:
        return False
    return True


def stop_stack(settings: Settings, progress: Progress | None = None) -> DownResult:
    """Stop every service (SIGTERM to its process group, SIGKILL after ``stack.stop_timeout``),
    shut supervisord down, then end by pid whatever of the recorded process tree is left."""
    progress = progress or _noop
    t0 = time.monotonic()
    paths = stack_paths(settings)
    stop_timeout = settings.stack.stop_timeout
    pid = daemon_pid(paths)
    # Record the whole tree BEFORE stopping anything: once supervisord is gone, its children's
    # children are reparented and no longer findable as descendants.
    pids = tree_pids(pid, str(paths.dir), MARKER_ENV) if pid else marked_pids(str(paths.dir), MARKER_ENV)
    result = DownResult(was_running=bool(pid or pids), pids=sorted(pids))
    if pid:
        try:
            proxy = rpc(paths, timeout=stop_timeout + 30)
            progress("stopping", "services", f"SIGTERM, SIGKILL after {stop_timeout:.0f}s")
            services = discovery.read_state(paths.state).get("services", {})
            for item in proxy.supervisor.stopAllProcesses(True):
                if item["name"] in services:
                    result.stopped.append(item["name"])
            progress("stopping", "supervisord", "")
            proxy.supervisor.shutdown()
        except (OSError, xmlrpc.client.Error):
            # supervisord does not answer: SIGTERM makes it stop its programs the same way.
            try:
                os.kill(pid, 15)
            except ProcessLookupError:
                pass
        if not _wait_gone(pid, stop_timeout + 10):
            try:
                os.kill(pid, 9)
            except ProcessLookupError:
                pass
            _wait_gone(pid, 5)
    result.ended = end_survivors(pids, grace=min(stop_timeout, 5.0))
    paths.state.unlink(missing_ok=True)
    paths.socket.unlink(missing_ok=True)
    paths.pidfile.unlink(missing_ok=True)
    discovery.forget_cache()
    result.seconds = time.monotonic() - t0
    return result
