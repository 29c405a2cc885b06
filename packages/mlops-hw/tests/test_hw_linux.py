"""Linux: thermal zones in a sysfs tree built in tmp_path, and the real readings of this machine."""

from __future__ import annotations

import os
from collections import namedtuple
from pathlib import Path

import psutil
import pytest

from mlops_hw import linux
from mlops_hw.thermal import linux_thermal, read_thermal_zones, sensors_state, zones_state

FIXTURES = Path(__file__).parent / "fixtures"
linux_only = pytest.mark.skipif(not Path("/proc/cpuinfo").exists(), reason="reads /proc of a Linux machine")


def make_zone(root: Path, n: int, kind: str, temp_mc: int | str, trips: dict[str, int] | None = None) -> Path:
    """One thermal_zoneN as the kernel lays it out (millidegrees Celsius)."""
    zone = root / f"thermal_zone{n}"
    zone.mkdir(parents=True)
    (zone / "type").write_text(f"{kind}\n")
    (zone / "temp").write_text(f"{temp_mc}\n")
    for i, (trip_type, trip_temp) in enumerate((trips or {}).items()):
        (zone / f"trip_point_{i}_type").write_text(f"{trip_type}\n")
        (zone / f"trip_point_{i}_temp").write_text(f"{trip_temp}\n")
    return zone


@pytest.mark.parametrize(("temp_mc", "state"), [
    (45000, "nominal"),
    (88000, "fair"),        # within 10 °C of the passive trip
    (96000, "serious"),     # past passive: the kernel is throttling
    (105000, "critical"),
])
def test_zone_state_against_trip_points(tmp_path: Path, temp_mc: int, state: str) -> None:
    make_zone(tmp_path, 0, "x86_pkg_temp", temp_mc, {"passive": 95000, "critical": 105000})
    zones = read_thermal_zones(tmp_path)
    assert [(z.type, z.temp_c, z.trips_c) for z in zones] == [
        ("x86_pkg_temp", temp_mc / 1000, {"passive": 95.0, "critical": 105.0})]
    reading = zones_state(zones, str(tmp_path))
    assert reading is not None
    assert (reading.state, reading.source) == (state, str(tmp_path))
    assert reading.detail == {"temp_c.x86_pkg_temp": temp_mc / 1000}


def test_hottest_zone_wins_and_broken_or_disabled_parts_are_skipped(tmp_path: Path) -> None:
    make_zone(tmp_path, 0, "acpitz", 30000, {"critical": 100000})
    make_zone(tmp_path, 1, "cpu", 99000, {"passive": 0, "hot": 95000})   # passive disabled (0)
    make_zone(tmp_path, 2, "broken", "not-a-number", {"critical": 90000})
    zones = read_thermal_zones(tmp_path)
    assert [z.type for z in zones] == ["acpitz", "cpu"]
    assert zones[1].trips_c == {"hot": 95.0}
    reading = zones_state(zones)
    assert reading is not None and reading.state == "serious"


def test_zone_without_trip_points_is_no_reading(tmp_path: Path) -> None:
    make_zone(tmp_path, 0, "soc", 60000)
    zones = read_thermal_zones(tmp_path)
    assert zones[0].temp_c == 60.0
    assert zones_state(zones) is None  # a temperature with no reference is not a state


def test_empty_sysfs_is_no_reading(tmp_path: Path) -> None:
    assert read_thermal_zones(tmp_path) == []
    assert zones_state([]) is None


def test_psutil_sensor_thresholds() -> None:
    # The fields of psutil's record type (psutil._ntuples.shwtemp in 7.x, a private module).
    shwtemp = namedtuple("shwtemp", ["label", "current", "high", "critical"])
    cool = {"coretemp": [shwtemp("Package id 0", 45.0, 80.0, 100.0)]}
    hot = {"coretemp": [shwtemp("Package id 0", 45.0, 80.0, 100.0), shwtemp("Core 1", 85.0, 80.0, 100.0)]}
    no_thresholds = {"nvme": [shwtemp("Composite", 40.0, None, None)]}
    assert sensors_state(cool).state == "nominal"  # type: ignore[union-attr]
    hot_reading = sensors_state(hot)
    assert hot_reading is not None and hot_reading.state == "serious"
    assert hot_reading.detail["temp_c.coretemp.Core 1"] == 85.0
    assert sensors_state(no_thresholds) is None
    assert sensors_state({}) is None


def test_psi_fixture() -> None:
    values = linux.parse_psi((FIXTURES / "linux_proc_pressure_memory_idle.txt").read_text())
    assert values == {"some_avg10": 0.0, "some_avg60": 0.0, "some_avg300": 0.0,
                      "full_avg10": 0.0, "full_avg60": 0.0, "full_avg300": 0.0}


def test_cpuinfo_model_name() -> None:
    text = "processor\t: 0\nvendor_id\t: AuthenticAMD\nmodel\t\t: 1\nmodel name\t: AMD EPYC\n"
    assert linux.parse_cpuinfo_model(text) == "AMD EPYC"
    assert linux.parse_cpuinfo_model("processor\t: 0\nBogoMIPS\t: 48.00\n") is None


# -- this machine --------------------------------------------------------------------------------


def _has_sensor() -> bool:
    zones = read_thermal_zones()
    return bool(zones_state(zones)) or bool(sensors_state(psutil.sensors_temperatures()))


@linux_only
def test_thermal_of_this_machine_is_honest() -> None:
    reading = linux_thermal()
    if _has_sensor():
        assert reading is not None and reading.state in ("nominal", "fair", "serious", "critical")
    else:
        # The development and CI machines: /sys/class/thermal empty, sensors_temperatures() == {}.
        assert reading is None


@linux_only
def test_cpu_model_and_psi_of_this_machine() -> None:
    model = linux.read_cpu_model()
    names = [line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
             if line.startswith("model name")]
    assert model
    if names:
        assert model == names[0]
    psi = linux.read_memory_pressure()
    if Path("/proc/pressure/memory").exists():
        assert set(psi) >= {"some_avg10", "full_avg10"}
        assert all(0.0 <= v <= 100.0 for v in psi.values())
    else:
        assert psi == {}
    assert os.cpu_count()
