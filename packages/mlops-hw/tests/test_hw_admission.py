"""Admission over a profile: memory headroom and thermal state."""

from __future__ import annotations

import pytest

from mlops_core.records import HardwareProfile
from mlops_hw.admission import admit

GIB = 2**30


def profile(available_gib: float, thermal: str = "unknown", source: str = "none") -> HardwareProfile:
    return HardwareProfile(
        os="linux", arch="x86_64", chip="test", cpu_cores_physical=2, cpu_cores_logical=2,
        memory_total_bytes=24 * GIB, memory_available_bytes=int(available_gib * GIB),
        thermal_state=thermal, thermal_source=source,
    )


def test_fits_with_headroom() -> None:
    ok, reason = admit(profile(20), 10 * GIB, 0.15)
    assert ok
    assert reason.startswith("admitted") and "thermal state unknown (no sensor)" in reason


def test_headroom_counts() -> None:
    # 10 GiB + 15 % of 24 GiB (3.6 GiB) = 13.6 GiB > 12 GiB available
    ok, reason = admit(profile(12), 10 * GIB, 0.15)
    assert not ok and "only 12.0 GiB available" in reason
    assert admit(profile(12), 10 * GIB, 0.0)[0]


@pytest.mark.parametrize("state", ["serious", "critical"])
def test_hot_machine_defers(state: str) -> None:
    ok, reason = admit(profile(20, state, "pmset -g therm"), GIB)
    assert not ok and reason == f"deferred: thermal state is {state} (pmset -g therm)"


def test_fair_admits() -> None:
    ok, reason = admit(profile(20, "fair", "nvml"), GIB)
    assert ok and "thermal fair" in reason


def test_bad_arguments() -> None:
    with pytest.raises(ValueError):
        admit(profile(20), -1)
    with pytest.raises(ValueError):
        admit(profile(20), GIB, 1.0)
