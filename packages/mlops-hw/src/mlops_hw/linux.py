"""Linux readings: the CPU model from ``/proc/cpuinfo`` and memory pressure (PSI)."""

from __future__ import annotations

from pathlib import Path

__all__ = ["parse_cpuinfo_model", "parse_psi", "read_cpu_model", "read_memory_pressure"]


def parse_cpuinfo_model(text: str) -> str | None:
    """The first ``model name`` in ``/proc/cpuinfo`` (x86; many ARM kernels have ``Model`` instead)."""
    fallback = None
    for line in text.splitlines():
        key, sep, value = line.partition(":")
        if not sep:
            continue
        key = key.strip().lower()
        if key == "model name" and value.strip():
            return value.strip()
        if key in ("model", "hardware") and fallback is None and not value.strip().isdigit():
            fallback = value.strip() or None
    return fallback


def read_cpu_model(path: Path = Path("/proc/cpuinfo")) -> str | None:
    try:
        return parse_cpuinfo_model(path.read_text(errors="replace"))
    except OSError:
        return None


def parse_psi(text: str) -> dict[str, float]:
    """Pressure-stall lines (``some avg10=0.00 avg60=0.00 avg300=0.00 total=0``) as flat values.

    ``some_avg10`` is the share of the last 10 s in which at least one task waited for memory,
    ``full_avg10`` the share in which all non-idle tasks did (both in percent).
    """
    out: dict[str, float] = {}
    for line in text.splitlines():
        kind, *pairs = line.split()
        for pair in pairs:
            name, _, value = pair.partition("=")
            if name.startswith("avg"):
                try:
                    out[f"{kind}_{name}"] = float(value)
                except ValueError:
                    continue
    return out


def read_memory_pressure(path: Path = Path("/proc/pressure/memory")) -> dict[str, float]:
    """PSI memory pressure, or ``{}`` where the kernel has no PSI (before 4.20, or disabled)."""
    try:
        return parse_psi(path.read_text())
    except OSError:
        return {}
