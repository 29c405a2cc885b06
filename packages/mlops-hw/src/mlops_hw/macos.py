"""macOS readings: ``sysctl`` values and the GPU core count from ``system_profiler``.

Pure parsers over the commands' text, and ``read_*`` functions that run them.
"""

from __future__ import annotations

import json
from typing import Any

from mlops_hw.commands import run

__all__ = [
    "MEMORY_PRESSURE",
    "SYSCTL_DYNAMIC",
    "SYSCTL_STATIC",
    "apple_static_extras",
    "memory_pressure_extras",
    "parse_gpu_cores",
    "parse_sysctl",
    "read_gpu_cores",
    "read_sysctl",
]

#: read once per process
SYSCTL_STATIC = (
    "machdep.cpu.brand_string",
    "hw.memsize",
    "hw.nperflevels",
    "hw.perflevel0.physicalcpu",
    "hw.perflevel1.physicalcpu",
    "hw.perflevel0.name",
    "hw.perflevel1.name",
)
#: read on every probe. A masked sysctl: absent from ``sysctl -a`` but readable by name, no root.
SYSCTL_DYNAMIC = ("kern.memorystatus_vm_pressure_level",)

#: kern.memorystatus_vm_pressure_level -> name (the kernel's NOTE_MEMORYSTATUS_PRESSURE_* values)
MEMORY_PRESSURE = {1: "normal", 2: "warn", 4: "critical"}


def parse_sysctl(text: str) -> dict[str, str]:
    """``name: value`` lines (``sysctl a b c`` without ``-n``) as a dict."""
    out: dict[str, str] = {}
    for line in text.splitlines():
        name, sep, value = line.partition(":")
        if sep and name.strip() and " " not in name.strip():
            out[name.strip()] = value.strip()
    return out


def read_sysctl(names: tuple[str, ...]) -> dict[str, str]:
    """The values of ``names`` that this macOS knows (unknown ones are simply missing)."""
    out = run(["sysctl", *names], timeout=2.0)
    return parse_sysctl(out) if out else {}


def _int(value: str | None) -> int | None:
    try:
        return int(value) if value is not None else None
    except ValueError:
        return None


def apple_static_extras(sysctl: dict[str, str]) -> dict[str, Any]:
    """Performance/efficiency core counts from ``hw.perflevelN`` (Apple Silicon only).

    ``perflevel0`` is always the fastest core type; on chips with two levels they are the
    performance and efficiency cores.
    """
    extras: dict[str, Any] = {}
    levels = _int(sysctl.get("hw.nperflevels"))
    p_cores = _int(sysctl.get("hw.perflevel0.physicalcpu"))
    e_cores = _int(sysctl.get("hw.perflevel1.physicalcpu"))
    if p_cores is not None and (levels is None or levels >= 1):
        extras["perf_cores"] = p_cores
    if e_cores is not None and (levels is None or levels >= 2):
        extras["efficiency_cores"] = e_cores
    for level in (0, 1):
        if name := sysctl.get(f"hw.perflevel{level}.name"):
            extras[f"perflevel{level}_name"] = name
    return extras


def memory_pressure_extras(sysctl: dict[str, str]) -> dict[str, Any]:
    """``memory_pressure`` (normal/warn/critical) and its raw level, when the kernel gave one."""
    level = _int(sysctl.get("kern.memorystatus_vm_pressure_level"))
    if level is None or level not in MEMORY_PRESSURE:
        return {}
    return {"memory_pressure": MEMORY_PRESSURE[level], "memory_pressure_level": level}


def parse_gpu_cores(text: str) -> tuple[str | None, int | None]:
    """(GPU model, core count) from ``system_profiler SPDisplaysDataType -json``.

    The model comes from ``sppci_model``: ``_name`` can be an internal item name such as
    ``kHW_AppleM1Item``. The first GPU that states its cores wins (Apple Silicon has one).
    """
    try:
        data = json.loads(text)
    except ValueError:
        return None, None
    items = data.get("SPDisplaysDataType") if isinstance(data, dict) else None
    for item in items or []:
        if not isinstance(item, dict):
            continue
        cores = _int(str(item.get("sppci_cores"))) if item.get("sppci_cores") is not None else None
        if cores is not None:
            return item.get("sppci_model") or item.get("_name"), cores
    return None, None


def read_gpu_cores() -> tuple[str | None, int | None]:
    """GPU model and core count; ``system_profiler`` is slow (~0.2-1 s), so call it once."""
    out = run(["system_profiler", "SPDisplaysDataType", "-json"], timeout=10.0)
    return parse_gpu_cores(out) if out else (None, None)
