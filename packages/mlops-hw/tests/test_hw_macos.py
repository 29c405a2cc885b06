"""macOS parsers against recorded real outputs (tests/fixtures, see SOURCES.md)."""

from __future__ import annotations

from pathlib import Path

import pytest

from mlops_hw import macos
from mlops_hw.thermal import (
    NOTIFYUTIL_SOURCE,
    PMSET_SOURCE,
    ThermalReading,
    parse_notifyutil_level,
    parse_pmset_therm,
    pmset_state,
    pressure_level_state,
    worst,
)

FIXTURES = Path(__file__).parent / "fixtures"


def fixture(name: str) -> str:
    return (FIXTURES / name).read_text()


def test_pmset_on_apple_silicon_reports_nothing_measurable() -> None:
    therm = parse_pmset_therm(fixture("pmset_therm_m1pro_monterey.txt"))
    assert therm.not_recorded == {"thermal warning level", "performance warning level", "CPU power status"}
    assert therm.cpu_speed_limit is None
    # The notes say the mechanism has nothing to report; they are not a reading of "nominal".
    assert pmset_state(therm) is None


def test_pmset_cpu_power_block_at_full_speed_is_nominal() -> None:
    therm = parse_pmset_therm(fixture("pmset_therm_12cpu_2021.txt"))
    assert (therm.cpu_scheduler_limit, therm.cpu_available_cpus, therm.cpu_speed_limit) == (100, 12, 100)
    reading = pmset_state(therm)
    assert reading == ThermalReading(
        "nominal", PMSET_SOURCE, {"cpu_speed_limit": 100, "cpu_scheduler_limit": 100, "cpu_available_cpus": 12}
    )


def test_pmset_thermlog_normal_and_throttled() -> None:
    normal = pmset_state(parse_pmset_therm(fixture("pmset_thermlog_8cpu_normal.txt")))
    throttled_therm = parse_pmset_therm(fixture("pmset_thermlog_8cpu_throttled.txt"))
    throttled = pmset_state(throttled_therm)
    assert normal is not None and normal.state == "nominal"
    assert (throttled_therm.cpu_scheduler_limit, throttled_therm.cpu_speed_limit) == (40, 28)
    # CPU held at 28 % of its speed: the worst state.
    assert throttled is not None and throttled.state == "critical"
    assert throttled.detail["cpu_speed_limit"] == 28


def test_pmset_thermlog_uses_the_last_block() -> None:
    # thermlog is a log: the block printed last is the current one.
    log = fixture("pmset_thermlog_8cpu_throttled.txt") + fixture("pmset_thermlog_8cpu_normal.txt")
    reading = pmset_state(parse_pmset_therm(log))
    assert reading is not None and reading.state == "nominal"


@pytest.mark.parametrize(("name", "level", "state", "pressure"), [
    ("notifyutil_thermalpressurelevel_0.txt", 0, "nominal", "nominal"),
    ("notifyutil_thermalpressurelevel_1.txt", 1, "fair", "moderate"),
])
def test_notifyutil_pressure_level(name: str, level: int, state: str, pressure: str) -> None:
    parsed = parse_notifyutil_level(fixture(name))
    assert parsed == level
    reading = pressure_level_state(parsed)
    assert reading is not None
    assert (reading.state, reading.source) == (state, NOTIFYUTIL_SOURCE)
    assert reading.detail == {"thermal_pressure_level": level, "thermal_pressure": pressure}


def test_notifyutil_output_for_another_key_is_not_a_reading() -> None:
    # notifyutil answers "<key> 0" for any key; only the thermal key is read.
    assert parse_notifyutil_level("com.apple.system.this.key.does.not.exist 0\n") is None
    assert parse_notifyutil_level("") is None
    assert pressure_level_state(9) is None


def test_apple_silicon_state_comes_from_pressure_when_pmset_is_silent() -> None:
    pmset = pmset_state(parse_pmset_therm(fixture("pmset_therm_m1pro_monterey.txt")))
    pressure = pressure_level_state(parse_notifyutil_level(fixture("notifyutil_thermalpressurelevel_1.txt")) or 0)
    combined = worst([pmset, pressure])
    assert combined is not None
    assert (combined.state, combined.source) == ("fair", NOTIFYUTIL_SOURCE)
    assert worst([pmset]) is None


def test_worst_takes_the_hotter_reading_and_names_its_source() -> None:
    throttled = pmset_state(parse_pmset_therm(fixture("pmset_thermlog_8cpu_throttled.txt")))
    nominal = pressure_level_state(0)
    combined = worst([nominal, throttled])
    assert combined is not None and (combined.state, combined.source) == ("critical", PMSET_SOURCE)


@pytest.mark.parametrize(("name", "chip", "p_cores", "e_cores", "memsize"), [
    ("sysctl_darwin_sequoia_m3_max.txt", "Apple M3 Max", 10, 4, 38654705664),
    ("sysctl_darwin_sequoia_m4_max.txt", "Apple M4 Max", 12, 4, 68719476736),
])
def test_sysctl_apple_silicon(name: str, chip: str, p_cores: int, e_cores: int, memsize: int) -> None:
    values = macos.parse_sysctl(fixture(name))
    assert values["machdep.cpu.brand_string"] == chip
    assert int(values["hw.memsize"]) == memsize
    assert values["hw.osenvironment"] == ""
    extras = macos.apple_static_extras(values)
    assert extras == {
        "perf_cores": p_cores,
        "efficiency_cores": e_cores,
        "perflevel0_name": "Performance",
        "perflevel1_name": "Efficiency",
    }
    assert p_cores + e_cores == int(values["hw.physicalcpu"])


def test_sysctl_without_perflevels_gives_no_core_split() -> None:
    # An Intel Mac has no hw.perflevel*; nothing is invented.
    assert macos.apple_static_extras({"machdep.cpu.brand_string": "Intel(R) Core(TM) i7"}) == {}


def test_memory_pressure_levels() -> None:
    # Values from the kernel's NOTE_MEMORYSTATUS_PRESSURE_* (see SOURCES.md); no captured output.
    assert macos.memory_pressure_extras({"kern.memorystatus_vm_pressure_level": "1"}) == {
        "memory_pressure": "normal", "memory_pressure_level": 1}
    assert macos.memory_pressure_extras({"kern.memorystatus_vm_pressure_level": "4"})["memory_pressure"] == "critical"
    assert macos.memory_pressure_extras({"kern.memorystatus_vm_pressure_level": "3"}) == {}
    assert macos.memory_pressure_extras({}) == {}


def test_system_profiler_gpu_cores_from_real_m1_output() -> None:
    assert macos.parse_gpu_cores(fixture("system_profiler_displays_m1.json")) == ("Apple M1", 7)


def test_system_profiler_garbage_gives_nothing() -> None:
    assert macos.parse_gpu_cores("not json") == (None, None)
    assert macos.parse_gpu_cores('{"SPDisplaysDataType": []}') == (None, None)
