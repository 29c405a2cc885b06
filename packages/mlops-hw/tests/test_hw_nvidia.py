"""NVIDIA through NVML: the real no-driver path here, and the reason bits against pynvml's own."""

from __future__ import annotations

import ctypes.util
from importlib.util import find_spec

import pytest

from mlops_hw.nvidia import THROTTLE_REASONS, decode_throttle_reasons, gpu_thermal, probe_nvidia

HAS_PYNVML = find_spec("pynvml") is not None
HAS_DRIVER = ctypes.util.find_library("nvidia-ml") is not None


def test_probe_without_driver_lists_no_gpu() -> None:
    result = probe_nvidia()
    if not HAS_PYNVML:
        assert (result.available, result.status, result.gpus) == (False, "nvidia-ml-py not installed", ())
    elif not HAS_DRIVER:
        # nvmlInit() raises NVMLError_LibraryNotFound: that is "no GPU", not an error.
        assert (result.available, result.gpus) == (False, ())
        assert result.status == "no NVIDIA driver (NVML library not found)"
    else:
        assert all({"name", "memory_total_bytes", "temperature_c"} <= set(g) for g in result.gpus)


@pytest.mark.skipif(not HAS_PYNVML, reason='needs nvidia-ml-py (uv add "mlops-hw[nvidia]")')
def test_reason_bits_match_pynvml() -> None:
    import pynvml

    names = {
        "gpu_idle": "GpuIdle", "applications_clocks_setting": "ApplicationsClocksSetting",
        "sw_power_cap": "SwPowerCap", "hw_slowdown": "HwSlowdown", "sync_boost": "SyncBoost",
        "sw_thermal_slowdown": "SwThermalSlowdown", "hw_thermal_slowdown": "HwThermalSlowdown",
        "hw_power_brake_slowdown": "HwPowerBrakeSlowdown", "display_clock_setting": "DisplayClockSetting",
    }
    for bit, name in THROTTLE_REASONS.items():
        assert getattr(pynvml, f"nvmlClocksThrottleReason{names[name]}") == bit
    mask = pynvml.nvmlClocksThrottleReasonHwThermalSlowdown | pynvml.nvmlClocksThrottleReasonSwPowerCap
    assert decode_throttle_reasons(mask) == ["sw_power_cap", "hw_thermal_slowdown"]


def test_decode_reasons() -> None:
    assert decode_throttle_reasons(0) == []
    assert decode_throttle_reasons(0x1 | 0x40) == ["gpu_idle", "hw_thermal_slowdown"]


# Rules of gpu_thermal over NVML's values (not recorded readings: none of a real GPU were found).
@pytest.mark.parametrize(("gpu", "state"), [
    ({"throttle_reasons": ["gpu_idle"]}, "nominal"),
    ({"throttle_reasons": ["sw_thermal_slowdown"]}, "fair"),
    ({"throttle_reasons": ["hw_thermal_slowdown"]}, "serious"),
    ({"temperature_c": 60, "slowdown_temp_c": 90, "shutdown_temp_c": 100}, "nominal"),
    ({"temperature_c": 85, "slowdown_temp_c": 90, "shutdown_temp_c": 100}, "fair"),
    ({"temperature_c": 91, "slowdown_temp_c": 90, "shutdown_temp_c": 100}, "serious"),
    ({"temperature_c": 96, "slowdown_temp_c": 90, "shutdown_temp_c": 100}, "critical"),
    ({"temperature_c": 60, "slowdown_temp_c": 90, "throttle_reasons": ["hw_thermal_slowdown"]}, "serious"),
])
def test_gpu_thermal_rules(gpu: dict, state: str) -> None:
    reading = gpu_thermal(gpu)
    assert reading is not None and (reading.state, reading.source) == (state, "nvml")


def test_gpu_without_thresholds_or_reasons_is_no_reading() -> None:
    assert gpu_thermal({"temperature_c": 70}) is None
    assert gpu_thermal({}) is None
