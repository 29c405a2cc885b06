"""Admission: may a job that needs this much memory start now?

Not a hook yet; :func:`admit` is a plain function over a :class:`HardwareProfile`.
"""

from __future__ import annotations

from mlops_core.records import HardwareProfile

__all__ = ["DEFER_STATES", "admit"]

#: thermal states in which new work waits (the machine is already throttling)
DEFER_STATES = frozenset({"serious", "critical"})


def _gib(n: float) -> str:
    return f"{n / 2**30:.1f} GiB"


def admit(profile: HardwareProfile, required_memory_bytes: int, headroom_fraction: float = 0.15) -> tuple[bool, str]:
    """``(True, why)`` when the job fits, else ``(False, why)``.

    It fits when ``required_memory_bytes`` plus a headroom of ``headroom_fraction`` of total
    memory is available, and the thermal state is not serious or critical. An unknown thermal
    state does not block (there is no sensor to wait for), and the reason says so.
    """
    if required_memory_bytes < 0:
        raise ValueError("required_memory_bytes must be >= 0")
    if not 0 <= headroom_fraction < 1:
        raise ValueError("headroom_fraction must be in [0, 1)")
    if profile.thermal_state in DEFER_STATES:
        return False, f"deferred: thermal state is {profile.thermal_state} ({profile.thermal_source})"
    available, total = profile.memory_available_bytes, profile.memory_total_bytes
    if available is None or total is None:
        return False, "deferred: available memory is unknown"
    headroom = int(total * headroom_fraction)
    needed = required_memory_bytes + headroom
    if needed > available:
        return False, (
            f"deferred: needs {_gib(required_memory_bytes)} + {_gib(headroom)} headroom, "
            f"only {_gib(available)} available"
        )
    thermal = (
        "thermal state unknown (no sensor)" if profile.thermal_state == "unknown"
        else f"thermal {profile.thermal_state}"
    )
    return True, f"admitted: {_gib(needed)} of {_gib(available)} available; {thermal}"
