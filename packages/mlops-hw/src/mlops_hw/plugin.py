"""The ``hw`` plugin: the hardware profile, its doctor checks and the ``mlops hw`` command.

Imported when the CLI starts, so nothing heavy happens at module level: psutil, MLX and NVML are
imported inside the hooks.
"""

from __future__ import annotations

import json
import platform
from typing import TYPE_CHECKING

from mlops_core.doctor import Check
from mlops_core.hookspecs import hookimpl

if TYPE_CHECKING:
    import typer

    from mlops_core.records import HardwareProfile
    from mlops_core.settings import Settings

__all__ = ["mlops_cli", "mlops_doctor_checks", "mlops_hardware_profile"]

CONCERN = "hw"


@hookimpl
def mlops_hardware_profile(settings: Settings) -> HardwareProfile:
    """This machine, probed now (static facts cached per process)."""
    from mlops_hw.profile import probe

    return probe()


def _psutil_check() -> Check:
    try:
        import psutil
    except ImportError as exc:
        return Check(CONCERN, "psutil", "fail", f"psutil does not import: {exc}", "uv add psutil")
    return Check(CONCERN, "psutil", "ok", f"psutil {psutil.__version__}")


def _thermal_check(profile: HardwareProfile) -> Check:
    if profile.thermal_state != "unknown":
        return Check(CONCERN, "thermal sensor", "ok", f"{profile.thermal_state} (from {profile.thermal_source})")
    if profile.os == "linux":
        fix = ("none needed in a VM or container (there is no sensor to read); on bare metal load the "
               "hwmon/thermal drivers (e.g. `sensors-detect` from lm-sensors)")
    elif profile.os == "darwin":
        fix = "check that `notifyutil -g com.apple.system.thermalpressurelevel` and `pmset -g therm` run"
    else:
        fix = "no thermal probe exists for this OS yet"
    return Check(CONCERN, "thermal sensor", "warn", "unknown — no sensor", fix)


def _mlx_check(profile: HardwareProfile) -> Check:
    status = str(profile.extra.get("mlx_status", ""))
    mlx = [b for b in profile.backends if b.startswith("mlx-")]
    if mlx:
        version = profile.extra.get("mlx_version")
        return Check(CONCERN, "mlx backend", "ok", f"usable: {', '.join(mlx)}" + (f" (mlx {version})" if version else ""))
    fix = 'uv add "mlops-hw[mlx]"'
    if profile.os == "darwin" and profile.arch != "arm64":
        return Check(CONCERN, "mlx backend", "warn", "MLX has no build for Intel Macs", "")
    if status == "mlx not installed":
        return Check(CONCERN, "mlx backend", "missing", "mlx not installed", fix)
    return Check(CONCERN, "mlx backend", "fail", status or "no usable MLX device", f"reinstall: {fix}")


def _nvidia_check(profile: HardwareProfile) -> Check:
    status = str(profile.extra.get("nvidia_status", ""))
    if profile.gpus:
        names = ", ".join(str(g.get("name")) for g in profile.gpus)
        return Check(CONCERN, "nvidia", "ok", f"{len(profile.gpus)} GPU(s): {names}")
    if profile.os == "darwin":
        return Check(CONCERN, "nvidia", "ok", "not applicable on macOS")
    if status == "nvidia-ml-py not installed":
        return Check(CONCERN, "nvidia", "warn", "not checked: nvidia-ml-py not installed", 'uv add "mlops-hw[nvidia]"')
    if status.startswith("no NVIDIA driver") or status == "NVML found no GPU":
        return Check(CONCERN, "nvidia", "ok", f"no NVIDIA GPU: {status}")
    return Check(CONCERN, "nvidia", "fail", status, "check the NVIDIA driver with `nvidia-smi`")


@hookimpl
def mlops_doctor_checks(settings: Settings) -> list[Check]:
    """psutil, the thermal sensor, the MLX backends and NVIDIA GPUs."""
    psutil_check = _psutil_check()
    if psutil_check.status != "ok":
        return [psutil_check]
    from mlops_hw.profile import probe

    profile = probe()
    return [psutil_check, _thermal_check(profile), _mlx_check(profile), _nvidia_check(profile)]


def _gib(n: int | None) -> str:
    return f"{n / 2**30:.1f} GiB" if n is not None else "unknown"


def render_table(profile: HardwareProfile) -> object:
    """The profile as a rich table (returned, so callers and tests can print it anywhere)."""
    from rich.table import Table

    table = Table(title=f"Hardware ({platform.node() or 'this machine'})", show_header=True)
    table.add_column("field")
    table.add_column("value")
    cores = f"{profile.cpu_cores_physical} physical / {profile.cpu_cores_logical} logical"
    rows = [
        ("os / arch", f"{profile.os} / {profile.arch}"),
        ("chip", profile.chip),
        ("cpu cores", cores),
        ("memory", f"{_gib(profile.memory_available_bytes)} available of {_gib(profile.memory_total_bytes)}"),
        ("backends", ", ".join(profile.backends) or "none"),
        ("thermal", f"{profile.thermal_state} (source: {profile.thermal_source})"),
    ]
    for gpu in profile.gpus:
        rows.append((
            f"gpu {gpu.get('index')}",
            f"{gpu.get('name')}, {_gib(gpu.get('memory_used_bytes'))} used of {_gib(gpu.get('memory_total_bytes'))}, "
            f"{gpu.get('temperature_c')} °C, {gpu.get('utilization_gpu_percent')}% busy",
        ))
    rows.extend((key, str(value)) for key, value in sorted(profile.extra.items()))
    for field_name, value in rows:
        table.add_row(field_name, value)
    return table


@hookimpl
def mlops_cli(app: typer.Typer) -> None:
    """Add ``mlops hw``."""
    import typer

    @app.command("hw")
    # Option as a default value, not Annotated: with postponed annotations typer would evaluate
    # the annotation in this module's globals, where typer is deliberately not imported.
    def hw(as_json: bool = typer.Option(False, "--json", help="Print the profile as JSON.")) -> None:
        """Show this machine: chip, cores, memory, usable backends, thermal state, GPUs."""
        from rich.console import Console

        from mlops_core.records import as_dict
        from mlops_hw.profile import probe

        profile = probe()
        if as_json:
            typer.echo(json.dumps(as_dict(profile), indent=2, sort_keys=True))
        else:
            Console().print(render_table(profile))
