"""Which MLX backends are really usable here: installed, importable and answering."""

from __future__ import annotations

from dataclasses import dataclass
from importlib.util import find_spec

__all__ = ["MlxProbe", "probe_mlx"]


@dataclass(frozen=True)
class MlxProbe:
    """The usable MLX backends (``mlx-metal``, ``mlx-cuda``, ``mlx-cpu``) and why, if none."""

    backends: tuple[str, ...]
    status: str
    version: str | None = None


def probe_mlx() -> MlxProbe:
    """Import ``mlx.core`` and ask it; any failure means "not usable", with the reason.

    ``mlx-cpu`` counts only after a tiny computation on the CPU device really ran: plain ``mlx``
    without its ``[cpu]`` extra installs on Linux but fails at import or first use.
    """
    if find_spec("mlx") is None:
        return MlxProbe((), "mlx not installed")
    try:
        import mlx.core as mx
    except Exception as exc:  # a broken native build raises ImportError, OSError, RuntimeError...
        return MlxProbe((), f"mlx does not import: {type(exc).__name__}: {exc}")
    version = getattr(mx, "__version__", None)
    backends: list[str] = []
    for name, module in (("mlx-metal", "metal"), ("mlx-cuda", "cuda")):
        try:
            if getattr(mx, module).is_available():
                backends.append(name)
        except Exception:  # older MLX builds lack mx.cuda; treat as unavailable
            continue
    try:
        value = mx.add(mx.array([1.0]), 1.0, stream=mx.cpu)
        mx.eval(value)
        if float(value.item()) == 2.0:
            backends.append("mlx-cpu")
    except Exception as exc:
        if not backends:
            return MlxProbe((), f"mlx CPU backend failed: {type(exc).__name__}: {exc}", version)
    return MlxProbe(tuple(backends), "ok" if backends else "no usable MLX device", version)
