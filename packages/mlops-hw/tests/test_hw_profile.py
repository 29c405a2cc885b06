"""probe() on this machine: real values, static part cached, dynamic part re-read."""

from __future__ import annotations

import json
import os
import platform
import subprocess
import sys
from pathlib import Path

import psutil
import pytest

from mlops_core.records import HardwareProfile, as_dict
from mlops_hw.profile import probe, static_facts
from mlops_hw.thermal import read_thermal_zones, sensors_state, zones_state


def test_probe_reports_this_machine() -> None:
    profile = probe()
    assert isinstance(profile, HardwareProfile)
    assert profile.os == platform.system().lower()
    assert profile.arch == platform.machine()
    assert profile.cpu_cores_logical == os.cpu_count()
    assert profile.cpu_cores_physical == psutil.cpu_count(logical=False)
    assert profile.memory_total_bytes == psutil.virtual_memory().total
    assert profile.memory_available_bytes is not None
    assert 0 < profile.memory_available_bytes <= profile.memory_total_bytes
    assert profile.chip and profile.chip != "unknown"
    if Path("/proc/meminfo").exists():
        kib = next(int(line.split()[1]) for line in Path("/proc/meminfo").read_text().splitlines()
                   if line.startswith("MemTotal:"))
        assert profile.memory_total_bytes == kib * 1024


@pytest.mark.skipif(sys.platform != "linux", reason="the Linux path")
def test_thermal_is_unknown_without_a_sensor() -> None:
    profile = probe()
    no_sensor = zones_state(read_thermal_zones()) is None and sensors_state(psutil.sensors_temperatures()) is None
    if no_sensor and not profile.gpus:
        assert (profile.thermal_state, profile.thermal_source) == ("unknown", "none")
        assert not any(key.startswith("thermal.") for key in profile.extra)
    else:
        assert profile.thermal_state in ("nominal", "fair", "serious", "critical")
        assert profile.thermal_source != "none"


def test_backends_match_what_is_installed() -> None:
    from importlib.util import find_spec

    profile = probe()
    if find_spec("mlx") is None:
        assert not any(b.startswith("mlx-") for b in profile.backends)
        assert profile.extra["mlx_status"] == "mlx not installed"
    else:
        # The workspace installs mlx[cpu]: importing it and computing on the CPU must work.
        assert "mlx-cpu" in profile.backends
        assert profile.backends[-1] == "mlx-cpu"  # accelerators first, the CPU fallback last
    assert ("cuda" in profile.backends) == bool(profile.gpus)


def test_static_part_is_cached_and_dynamic_part_is_reread(monkeypatch: pytest.MonkeyPatch) -> None:
    first = static_facts()
    calls: list[int] = []
    real = psutil.virtual_memory

    def counting() -> object:
        calls.append(1)
        return real()

    monkeypatch.setattr(psutil, "virtual_memory", counting)
    probe()
    probe()
    assert static_facts() is first          # chip, cores, backends: read once per process
    assert len(calls) == 2                  # available memory: read on every call


def test_profile_is_json_and_tags() -> None:
    profile = probe()
    data = json.loads(json.dumps(as_dict(profile)))
    assert data["cpu_cores_logical"] == profile.cpu_cores_logical
    tags = profile.tags()
    assert tags["hw.thermal_state"] == profile.thermal_state
    assert tags["hw.backends"] == (",".join(profile.backends) or "none")


def test_importing_the_plugin_loads_nothing_heavy() -> None:
    code = ("import sys, mlops_hw, mlops_hw.plugin; "
            "print(sorted(m for m in ('psutil', 'mlx', 'pynvml') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
