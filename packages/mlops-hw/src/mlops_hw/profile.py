"""``probe()``: this machine as a :class:`~mlops_core.records.HardwareProfile`.

What cannot change while a process runs (chip, cores, total memory, usable backends, GPU
models) is read once per process; what can (available memory, thermal state, memory pressure,
GPU memory/temperature/utilization) is read on every call.
"""

from __future__ import annotations

import functools
import platform
from dataclasses import dataclass, field
from typing import Any

from mlops_core.records import HardwareProfile

from mlops_hw import linux, macos
from mlops_hw.accelerators import MlxProbe, probe_mlx
from mlops_hw.nvidia import NvidiaProbe, gpu_thermal, probe_nvidia
from mlops_hw.thermal import NO_SOURCE, UNKNOWN, ThermalReading, linux_thermal, macos_thermal, worst

__all__ = ["StaticFacts", "probe", "static_facts"]

@dataclass(frozen=True)
class StaticFacts:
    """The part of the profile that is read once per process."""

    os: str
    arch: str
    chip: str
    cpu_cores_physical: int | None
    cpu_cores_logical: int | None
    memory_total_bytes: int | None
    mlx: MlxProbe
    nvidia: NvidiaProbe
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def backends(self) -> tuple[str, ...]:
        """Usable accelerator backends, accelerators first, the MLX CPU backend last."""
        gpu = [b for b in self.mlx.backends if b != "mlx-cpu"]
        cuda = ["cuda"] if self.nvidia.available else []
        cpu = [b for b in self.mlx.backends if b == "mlx-cpu"]
        return tuple(gpu + cuda + cpu)


@functools.cache
def static_facts() -> StaticFacts:
    """Read the static facts once per process (``static_facts.cache_clear()`` to re-read)."""
    import psutil

    system = platform.system().lower()
    arch = platform.machine() or "unknown"
    chip: str | None = None
    extra: dict[str, Any] = {}
    if system == "darwin":
        sysctl = macos.read_sysctl(macos.SYSCTL_STATIC)
        chip = sysctl.get("machdep.cpu.brand_string")
        extra.update(macos.apple_static_extras(sysctl))
        if arch == "arm64":
            extra["unified_memory"] = True
            gpu_model, gpu_cores = macos.read_gpu_cores()
            if gpu_cores is not None:
                extra["gpu_cores"] = gpu_cores
            if gpu_model:
                extra["gpu_model"] = gpu_model
    elif system == "linux":
        chip = linux.read_cpu_model()
    chip = chip or platform.processor() or "unknown"

    mlx = probe_mlx()
    nvidia = probe_nvidia()
    extra["mlx_status"] = mlx.status
    if mlx.version:
        extra["mlx_version"] = mlx.version
    extra["nvidia_status"] = nvidia.status
    return StaticFacts(
        os=system,
        arch=arch,
        chip=chip,
        cpu_cores_physical=psutil.cpu_count(logical=False),
        cpu_cores_logical=psutil.cpu_count(logical=True),
        memory_total_bytes=int(psutil.virtual_memory().total),
        mlx=mlx,
        nvidia=nvidia,
        extra=extra,
    )


def _thermal_extra(reading: ThermalReading) -> dict[str, Any]:
    """The raw values behind the thermal state, as flat ``thermal.*`` entries."""
    return {f"thermal.{key}": value for key, value in reading.detail.items() if value is not None}


def probe() -> HardwareProfile:
    """Describe this machine now: static facts (cached) plus fresh dynamic readings."""
    import psutil

    facts = static_facts()
    extra = dict(facts.extra)
    readings: list[ThermalReading | None] = []
    if facts.os == "darwin":
        readings.append(macos_thermal())
        extra.update(macos.memory_pressure_extras(macos.read_sysctl(macos.SYSCTL_DYNAMIC)))
    elif facts.os == "linux":
        readings.append(linux_thermal())
        extra.update({f"memory_psi_{k}": v for k, v in linux.read_memory_pressure().items() if k.endswith("avg10")})

    gpus: tuple[dict[str, Any], ...] = ()
    if facts.nvidia.available:
        # A GPU that vanished (driver reset) shows as a failed probe, not as stale numbers.
        live = probe_nvidia()
        gpus = live.gpus
        extra["nvidia_status"] = live.status
        readings.extend(gpu_thermal(gpu) for gpu in gpus)

    thermal = worst(readings)
    if thermal is not None:
        extra.update(_thermal_extra(thermal))
    return HardwareProfile(
        os=facts.os,
        arch=facts.arch,
        chip=facts.chip,
        cpu_cores_physical=facts.cpu_cores_physical,
        cpu_cores_logical=facts.cpu_cores_logical,
        memory_total_bytes=facts.memory_total_bytes,
        memory_available_bytes=int(psutil.virtual_memory().available),
        backends=facts.backends,
        thermal_state=thermal.state if thermal else UNKNOWN,
        thermal_source=thermal.source if thermal else NO_SOURCE,
        gpus=gpus,
        extra=extra,
    )
