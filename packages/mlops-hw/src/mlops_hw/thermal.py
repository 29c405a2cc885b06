"""Thermal state from real sensors only: macOS, Linux sysfs/psutil, NVIDIA.

The answer is one of ``nominal < fair < serious < critical`` together with the source it was read
from, or ``"unknown"`` with source ``"none"``. A state is never guessed: "no sensor", "sensor
without thresholds" and "tool printed nothing we recognise" all give ``None`` here, which the
profile reports as ``"unknown"``.

The parsers (``parse_*``, ``*_state``) are pure functions over text or plain values, tested
against recorded real outputs (``tests/fixtures/``); the ``read_*`` functions run the command or
read the files and hand the result to them.
"""

from __future__ import annotations

import platform
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mlops_hw.commands import run

__all__ = [
    "NOTIFYUTIL_KEY",
    "STATES",
    "ThermalReading",
    "ThermalZone",
    "PmsetTherm",
    "linux_thermal",
    "macos_thermal",
    "parse_notifyutil_level",
    "parse_pmset_therm",
    "pmset_state",
    "pressure_level_state",
    "read_thermal_zones",
    "sensors_state",
    "worst",
    "zones_state",
]

#: the thermal states, from best to worst (the names of ``NSProcessInfo.thermalState``)
STATES = ("nominal", "fair", "serious", "critical")
UNKNOWN = "unknown"
NO_SOURCE = "none"

#: the notify(3) key thermald publishes; the one ``powermetrics -s thermal`` reads, no root needed
NOTIFYUTIL_KEY = "com.apple.system.thermalpressurelevel"
NOTIFYUTIL_SOURCE = f"notifyutil -g {NOTIFYUTIL_KEY}"
PMSET_SOURCE = "pmset -g therm"


@dataclass(frozen=True)
class ThermalReading:
    """A state read from one real source, with the raw values behind it."""

    state: str
    source: str
    detail: dict[str, Any] = field(default_factory=dict)


def worst(readings: Iterable[ThermalReading | None]) -> ThermalReading | None:
    """The hottest of several readings (their sources joined), or ``None`` when there is none."""
    real = [r for r in readings if r is not None]
    if not real:
        return None
    top = max(STATES.index(r.state) for r in real)
    sources = [r.source for r in real if STATES.index(r.state) == top]
    detail: dict[str, Any] = {}
    for r in real:
        detail.update(r.detail)
    return ThermalReading(STATES[top], " + ".join(dict.fromkeys(sources)), detail)


# ----------------------------------------------------------------------------------------------
# macOS: pmset -g therm
# ----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class PmsetTherm:
    """What ``pmset -g therm`` said. ``None`` means pmset did not report that value."""

    cpu_scheduler_limit: int | None = None
    cpu_available_cpus: int | None = None
    cpu_speed_limit: int | None = None
    thermal_warning_level: int | None = None
    performance_warning_level: int | None = None
    #: the "Note: No ... has been recorded" lines, e.g. {"thermal warning level", "CPU power status"}
    not_recorded: frozenset[str] = frozenset()


_NOTE = re.compile(r"^Note:\s*No (?P<what>.+?) has been recorded", re.IGNORECASE)
_LIMIT = re.compile(r"^(?P<key>CPU_Scheduler_Limit|CPU_Available_CPUs|CPU_Speed_Limit)\s*=\s*(?P<value>\d+)")
# pmset's wording when a level *has* been recorded was not available as a captured output (see
# tests/fixtures/SOURCES.md), so this accepts "<kind> warning level = N" / ":" / "set to" loosely.
_LEVEL = re.compile(
    r"^(?P<kind>thermal|performance)[ _]+(?:warning[ _]+)?level\s*(?:=|:|set to)?\s*(?P<value>\d+)",
    re.IGNORECASE,
)


def parse_pmset_therm(text: str) -> PmsetTherm:
    """Parse the output of ``pmset -g therm`` (or the CPU power blocks of ``pmset -g thermlog``)."""
    values: dict[str, Any] = {}
    not_recorded: set[str] = set()
    for raw in text.splitlines():
        line = raw.strip()
        if note := _NOTE.match(line):
            not_recorded.add(note.group("what").strip())
        elif limit := _LIMIT.match(line):
            # thermlog repeats the block; the last one is the current state
            values[limit.group("key").lower()] = int(limit.group("value"))
        elif level := _LEVEL.match(line):
            values[f"{level.group('kind').lower()}_warning_level"] = int(level.group("value"))
    return PmsetTherm(not_recorded=frozenset(not_recorded), **values)


def _limit_state(percent: int) -> str:
    """A CPU speed/scheduler limit (100 = not throttled) as a state."""
    if percent >= 100:
        return "nominal"
    if percent >= 80:
        return "fair"
    if percent >= 50:
        return "serious"
    return "critical"


def _warning_level_state(level: int) -> str:
    # IOPMLib: kIOPMThermalWarningLevelNormal = 0, ...Danger = 5, ...Crisis = 10
    if level <= 0:
        return "nominal"
    if level < 5:
        return "fair"
    if level < 10:
        return "serious"
    return "critical"


def pmset_state(therm: PmsetTherm) -> ThermalReading | None:
    """The state pmset reports, or ``None`` when it reported nothing measurable.

    On Apple Silicon pmset prints only "Note: No ... has been recorded" lines, whatever the
    temperature: those notes say the (Intel-era) mechanism has nothing to report, not that the
    machine is cool, so they alone give ``None``. A CPU power block (Intel Macs) is a real reading:
    ``CPU_Speed_Limit``/``CPU_Scheduler_Limit`` of 100 mean no throttling.
    """
    states: list[str] = []
    detail: dict[str, Any] = {}
    limits = [v for v in (therm.cpu_speed_limit, therm.cpu_scheduler_limit) if v is not None]
    if limits:
        states.append(_limit_state(min(limits)))
        detail["cpu_speed_limit"] = therm.cpu_speed_limit
        detail["cpu_scheduler_limit"] = therm.cpu_scheduler_limit
        if therm.cpu_available_cpus is not None:
            detail["cpu_available_cpus"] = therm.cpu_available_cpus
    for name in ("thermal_warning_level", "performance_warning_level"):
        value = getattr(therm, name)
        if value is not None:
            states.append(_warning_level_state(value))
            detail[name] = value
    if not states:
        return None
    detail = {k: v for k, v in detail.items() if v is not None}
    return ThermalReading(max(states, key=STATES.index), PMSET_SOURCE, detail)


# ----------------------------------------------------------------------------------------------
# macOS: thermal pressure level (notifyutil)
# ----------------------------------------------------------------------------------------------

#: OSThermalNotification.h: 0 nominal, 1 moderate, 2 heavy, 3 trapping, 4 sleeping
_PRESSURE_NAMES = ("nominal", "moderate", "heavy", "trapping", "sleeping")
_PRESSURE_STATES = ("nominal", "fair", "serious", "critical", "critical")


def parse_notifyutil_level(text: str, key: str = NOTIFYUTIL_KEY) -> int | None:
    """The level in ``notifyutil -g KEY`` output (``"<key> <int>"``), or ``None``."""
    parts = text.split()
    if len(parts) != 2 or parts[0] != key:
        return None
    try:
        return int(parts[1])
    except ValueError:
        return None


def pressure_level_state(level: int) -> ThermalReading | None:
    """A thermal pressure level as a state; an unknown level gives ``None``."""
    if not 0 <= level < len(_PRESSURE_STATES):
        return None
    return ThermalReading(
        _PRESSURE_STATES[level], NOTIFYUTIL_SOURCE,
        {"thermal_pressure_level": level, "thermal_pressure": _PRESSURE_NAMES[level]},
    )


def _macos_publishes_pressure(mac_version: str) -> bool:
    """thermald publishes the pressure key since macOS 10.10.

    ``notifyutil -g`` prints ``<key> 0`` for a key nobody ever posted, so a 0 is only a real
    "nominal" on a system known to publish it.
    """
    try:
        major, minor = (int(p) for p in (mac_version.split(".") + ["0"])[:2])
    except ValueError:
        return False
    return (major, minor) >= (10, 10)


def macos_thermal() -> ThermalReading | None:
    """Thermal state on macOS: the pressure level and ``pmset -g therm``, the worse of the two."""
    readings: list[ThermalReading | None] = []
    out = run(["notifyutil", "-g", NOTIFYUTIL_KEY], timeout=2.0)
    level = parse_notifyutil_level(out) if out else None
    if level is not None and (level > 0 or _macos_publishes_pressure(platform.mac_ver()[0])):
        readings.append(pressure_level_state(level))
    out = run(["pmset", "-g", "therm"], timeout=2.0)
    if out:
        readings.append(pmset_state(parse_pmset_therm(out)))
    return worst(readings)


# ----------------------------------------------------------------------------------------------
# Linux: /sys/class/thermal and psutil.sensors_temperatures()
# ----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ThermalZone:
    """One ``/sys/class/thermal/thermal_zoneN``: its temperature and trip points, in °C."""

    path: str
    type: str
    temp_c: float
    #: trip type ("passive", "active", "hot", "critical") -> lowest temperature of that type
    trips_c: dict[str, float] = field(default_factory=dict)


def _read_text(path: Path) -> str | None:
    try:
        return path.read_text().strip()
    except OSError:  # some zones answer EIO/ENODATA when their sensor is off
        return None


def read_thermal_zones(root: Path = Path("/sys/class/thermal")) -> list[ThermalZone]:
    """Every thermal zone under ``root`` whose temperature can be read."""
    zones: list[ThermalZone] = []
    for zone in sorted(root.glob("thermal_zone*")):
        raw = _read_text(zone / "temp")
        try:
            temp_c = int(raw) / 1000 if raw is not None else None
        except ValueError:
            temp_c = None
        if temp_c is None:
            continue
        trips: dict[str, float] = {}
        for trip_type_file in sorted(zone.glob("trip_point_*_type")):
            trip_type = _read_text(trip_type_file)
            trip_temp = _read_text(trip_type_file.with_name(trip_type_file.name.replace("_type", "_temp")))
            if not trip_type or not trip_temp:
                continue
            try:
                value = int(trip_temp) / 1000
            except ValueError:
                continue
            if value <= 0:  # disabled trip points read 0 or negative
                continue
            trips[trip_type] = min(value, trips.get(trip_type, value))
        zones.append(ThermalZone(str(zone), _read_text(zone / "type") or "", temp_c, trips))
    return zones


def _threshold_state(temp: float, high: float | None, critical: float | None) -> str | None:
    """State of a temperature against its thresholds; ``None`` when there are none.

    At or over ``critical``: critical. With a ``high`` (throttling) threshold: serious at or over
    it, fair within 10 °C of it. With only ``critical``: serious within 10 °C, fair within 20 °C.
    """
    high = high if high and high > 0 else None
    critical = critical if critical and critical > 0 else None
    if critical is not None and temp >= critical:
        return "critical"
    if high is not None:
        if temp >= high:
            return "serious"
        return "fair" if temp >= high - 10 else "nominal"
    if critical is not None:
        if temp >= critical - 10:
            return "serious"
        return "fair" if temp >= critical - 20 else "nominal"
    return None


def zones_state(zones: Sequence[ThermalZone], root: str = "/sys/class/thermal") -> ThermalReading | None:
    """State over thermal zones: ``passive`` trips are where the kernel starts throttling.

    Zones without trip points carry no reference, so they do not count (their temperature is
    kept in the detail).
    """
    states: list[str] = []
    detail: dict[str, Any] = {}
    for zone in zones:
        name = f"{zone.type or Path(zone.path).name}"
        detail[f"temp_c.{name}"] = zone.temp_c
        high = zone.trips_c.get("passive", zone.trips_c.get("hot"))
        state = _threshold_state(zone.temp_c, high, zone.trips_c.get("critical"))
        if state is not None:
            states.append(state)
    if not states:
        return None
    return ThermalReading(max(states, key=STATES.index), root, detail)


def sensors_state(sensors: Mapping[str, Sequence[Any]]) -> ThermalReading | None:
    """State over ``psutil.sensors_temperatures()`` (entries with ``label``, ``current``, ``high``, ``critical``)."""
    states: list[str] = []
    detail: dict[str, Any] = {}
    for chip, entries in sensors.items():
        for i, entry in enumerate(entries):
            label = getattr(entry, "label", "") or str(i)
            current = getattr(entry, "current", None)
            if current is None:
                continue
            detail[f"temp_c.{chip}.{label}"] = current
            state = _threshold_state(current, getattr(entry, "high", None), getattr(entry, "critical", None))
            if state is not None:
                states.append(state)
    if not states:
        return None
    return ThermalReading(max(states, key=STATES.index), "psutil.sensors_temperatures()", detail)


def linux_thermal(root: Path = Path("/sys/class/thermal")) -> ThermalReading | None:
    """Thermal state on Linux from sysfs thermal zones and psutil's hwmon sensors."""
    import psutil

    readings = [zones_state(read_thermal_zones(root), str(root))]
    reader = getattr(psutil, "sensors_temperatures", None)
    if reader is not None:
        try:
            readings.append(sensors_state(reader()))
        except (OSError, RuntimeError):
            pass
    return worst(readings)
