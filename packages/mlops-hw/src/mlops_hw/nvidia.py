"""NVIDIA GPUs through NVML (the ``nvidia-ml-py`` package, imported as ``pynvml``).

No driver means no GPUs: ``nvmlInit()`` raises ``NVMLError_LibraryNotFound`` when
``libnvidia-ml`` is absent, and that is reported as such, not as an error.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from importlib.util import find_spec
from typing import Any

from mlops_hw.thermal import STATES, ThermalReading

__all__ = [
    "NVML_SOURCE",
    "NvidiaProbe",
    "THROTTLE_REASONS",
    "decode_throttle_reasons",
    "gpu_thermal",
    "probe_nvidia",
]

NVML_SOURCE = "nvml"

#: NVML clocks-event (throttle) reason bits, as defined by nvml.h / pynvml
THROTTLE_REASONS: dict[int, str] = {
    0x1: "gpu_idle",
    0x2: "applications_clocks_setting",
    0x4: "sw_power_cap",
    0x8: "hw_slowdown",
    0x10: "sync_boost",
    0x20: "sw_thermal_slowdown",
    0x40: "hw_thermal_slowdown",
    0x80: "hw_power_brake_slowdown",
    0x100: "display_clock_setting",
}


@dataclass(frozen=True)
class NvidiaProbe:
    """Whether NVML answered, why not if it did not, and the GPUs it listed."""

    available: bool
    status: str
    gpus: tuple[dict[str, Any], ...] = field(default_factory=tuple)


def decode_throttle_reasons(mask: int) -> list[str]:
    """The names of the reason bits set in ``mask``."""
    return [name for bit, name in THROTTLE_REASONS.items() if mask & bit]


def gpu_thermal(gpu: dict[str, Any]) -> ThermalReading | None:
    """A GPU's thermal state from its throttle reasons and temperature thresholds.

    Hardware thermal slowdown is serious (the GPU already cut its clocks to cool down), software
    thermal slowdown is fair; the temperature counts against NVML's own slowdown and shutdown
    thresholds. With neither, there is no reading.
    """
    states: list[str] = []
    reasons = gpu.get("throttle_reasons")
    if reasons is not None:
        if "hw_thermal_slowdown" in reasons:
            states.append("serious")
        elif "sw_thermal_slowdown" in reasons:
            states.append("fair")
        else:
            states.append("nominal")
    temp = gpu.get("temperature_c")
    slowdown, shutdown = gpu.get("slowdown_temp_c"), gpu.get("shutdown_temp_c")
    if temp is not None and (slowdown or shutdown):
        if shutdown and temp >= shutdown - 5:
            states.append("critical")
        elif slowdown and temp >= slowdown:
            states.append("serious")
        elif slowdown and temp >= slowdown - 10:
            states.append("fair")
        else:
            states.append("nominal")
    if not states:
        return None
    detail = {f"gpu{gpu.get('index', 0)}_temperature_c": temp} if temp is not None else {}
    return ThermalReading(max(states, key=STATES.index), NVML_SOURCE, detail)


def _call(fn: Any, *args: Any) -> Any:
    """One NVML query; a GPU that does not support it gives ``None``."""
    import pynvml

    try:
        return fn(*args)
    except pynvml.NVMLError:
        return None


def _gpu(pynvml: Any, index: int) -> dict[str, Any]:
    handle = pynvml.nvmlDeviceGetHandleByIndex(index)
    name = _call(pynvml.nvmlDeviceGetName, handle)
    memory = _call(pynvml.nvmlDeviceGetMemoryInfo, handle)
    util = _call(pynvml.nvmlDeviceGetUtilizationRates, handle)
    reasons_fn = getattr(pynvml, "nvmlDeviceGetCurrentClocksEventReasons", None) or getattr(
        pynvml, "nvmlDeviceGetCurrentClocksThrottleReasons", None
    )
    mask = _call(reasons_fn, handle) if reasons_fn else None
    return {
        "index": index,
        "name": name.decode() if isinstance(name, bytes) else name,
        "memory_total_bytes": int(memory.total) if memory else None,
        "memory_used_bytes": int(memory.used) if memory else None,
        "temperature_c": _call(pynvml.nvmlDeviceGetTemperature, handle, pynvml.NVML_TEMPERATURE_GPU),
        "slowdown_temp_c": _call(
            pynvml.nvmlDeviceGetTemperatureThreshold, handle, pynvml.NVML_TEMPERATURE_THRESHOLD_SLOWDOWN
        ),
        "shutdown_temp_c": _call(
            pynvml.nvmlDeviceGetTemperatureThreshold, handle, pynvml.NVML_TEMPERATURE_THRESHOLD_SHUTDOWN
        ),
        "utilization_gpu_percent": util.gpu if util else None,
        "utilization_memory_percent": util.memory if util else None,
        "throttle_reasons": decode_throttle_reasons(int(mask)) if mask is not None else None,
    }


def probe_nvidia() -> NvidiaProbe:
    """List NVIDIA GPUs with memory, temperature, utilization and throttle reasons."""
    if find_spec("pynvml") is None:
        return NvidiaProbe(False, "nvidia-ml-py not installed")
    import pynvml

    try:
        pynvml.nvmlInit()
    except pynvml.NVMLError_LibraryNotFound:
        return NvidiaProbe(False, "no NVIDIA driver (NVML library not found)")
    except pynvml.NVMLError as exc:
        return NvidiaProbe(False, f"NVML failed to start: {exc}")
    try:
        count = pynvml.nvmlDeviceGetCount()
        gpus = tuple(_gpu(pynvml, i) for i in range(count))
    except pynvml.NVMLError as exc:
        return NvidiaProbe(False, f"NVML query failed: {exc}")
    finally:
        try:
            pynvml.nvmlShutdown()
        except pynvml.NVMLError:
            pass
    return NvidiaProbe(bool(gpus), f"{len(gpus)} GPU(s)" if gpus else "NVML found no GPU", gpus)
