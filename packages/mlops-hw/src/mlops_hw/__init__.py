"""Hardware awareness for the shared MLOps layer: chip, memory, accelerators, thermal state, admission.

``probe()`` returns a :class:`mlops_core.records.HardwareProfile`; ``admit()`` decides whether a
job that needs some memory may start. Both are imported lazily so that loading the plugin (at
CLI start) does not import psutil, MLX or NVML.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from mlops_hw.admission import admit
    from mlops_hw.profile import probe

__all__ = ["admit", "probe"]


def __getattr__(name: str) -> Any:
    if name == "probe":
        from mlops_hw.profile import probe

        return probe
    if name == "admit":
        from mlops_hw.admission import admit

        return admit
    raise AttributeError(f"module 'mlops_hw' has no attribute {name!r}")
