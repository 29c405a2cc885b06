"""Training parameters: defaults, coercion and the checks that quantization imposes."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import Any

from cpu_compression.errors import DigitsInputError

__all__ = ["DEFAULT_PARAMS", "N_CLASSES", "N_FEATURES", "SUPPORTED_BITS", "SUPPORTED_GROUP_SIZES", "TrainParams"]

N_FEATURES = 64
N_CLASSES = 10
#: what MLX's affine quantization accepts (measured on mlx 0.32: 7 bits is rejected)
SUPPORTED_BITS = (1, 2, 3, 4, 5, 6, 8)
SUPPORTED_GROUP_SIZES = (32, 64, 128)

DEFAULT_PARAMS: dict[str, Any] = {
    "epochs": 20,
    "batch_size": 32,
    "learning_rate": 0.001,
    "hidden_size": 128,
    "seed": 0,
    "quantize_bits": 4,
    "quantize_group_size": 64,
    "serve_quantized": True,
}


#: upper bounds: beyond them MLX would try to allocate more than this machine class has
#: (hidden_size=1e9 crashed MLX with SIGSEGV instead of an error)
LIMITS = {"epochs": 10_000, "batch_size": 100_000, "hidden_size": 8192}


def _as_int(value: Any) -> int:
    # Strict: 1.5 or true must not silently become 1 (the CLI parses values as JSON).
    if isinstance(value, bool):
        raise ValueError(f"not an integer: {value!r}")
    if isinstance(value, float):
        if not value.is_integer():
            raise ValueError(f"not an integer: {value!r}")
        return int(value)
    if isinstance(value, str):
        return int(value.strip())
    if isinstance(value, int):
        return value
    raise ValueError(f"not an integer: {value!r}")


def _as_bool(value: Any) -> bool:
    # Params may arrive as strings from the CLI (`--param serve_quantized=false`).
    if isinstance(value, str):
        lowered = value.strip().lower()
        if lowered in {"1", "true", "yes", "on"}:
            return True
        if lowered in {"0", "false", "no", "off"}:
            return False
        raise ValueError(f"not a boolean: {value!r}")
    return bool(value)


@dataclass(frozen=True)
class TrainParams:
    """Validated training parameters (see :data:`DEFAULT_PARAMS`)."""

    epochs: int
    batch_size: int
    learning_rate: float
    hidden_size: int
    seed: int
    quantize_bits: int
    quantize_group_size: int
    serve_quantized: bool

    @classmethod
    def from_mapping(cls, params: Mapping[str, Any] | None) -> TrainParams:
        """Defaults overridden by ``params``; a clear error on unknown or invalid values."""
        given = dict(params or {})
        unknown = sorted(set(given) - set(DEFAULT_PARAMS))
        if unknown:
            raise DigitsInputError(
                f"unknown training parameter(s) {', '.join(unknown)}",
                fix=f"use only: {', '.join(DEFAULT_PARAMS)}",
            )
        merged = {**DEFAULT_PARAMS, **given}
        try:
            parsed = cls(
                epochs=_as_int(merged["epochs"]),
                batch_size=_as_int(merged["batch_size"]),
                learning_rate=float(merged["learning_rate"]),
                hidden_size=_as_int(merged["hidden_size"]),
                seed=_as_int(merged["seed"]),
                quantize_bits=_as_int(merged["quantize_bits"]),
                quantize_group_size=_as_int(merged["quantize_group_size"]),
                serve_quantized=_as_bool(merged["serve_quantized"]),
            )
        except (TypeError, ValueError) as exc:
            raise DigitsInputError(
                f"invalid training parameter: {exc}",
                fix=f"pass whole numbers for epochs, batch_size, hidden_size, seed and the quantize_* "
                f"parameters, a number for learning_rate (defaults: {DEFAULT_PARAMS})",
            ) from exc
        parsed._check()
        return parsed

    def _check(self) -> None:
        import math

        problems: list[str] = []
        for name, top in LIMITS.items():
            value = getattr(self, name)
            if not 1 <= value <= top:
                problems.append(f"{name} must be between 1 and {top} (got {value})")
        if not (math.isfinite(self.learning_rate) and self.learning_rate > 0):
            problems.append(f"learning_rate must be a finite number > 0 (got {self.learning_rate})")
        if self.quantize_bits not in SUPPORTED_BITS:
            problems.append(f"quantize_bits must be one of {SUPPORTED_BITS}")
        gs = self.quantize_group_size
        if gs not in SUPPORTED_GROUP_SIZES:
            problems.append(f"quantize_group_size must be one of {SUPPORTED_GROUP_SIZES}")
        else:
            # MLX quantizes each row of a weight in groups of `gs` inputs, so every quantized
            # layer's input width (64 pixels, then hidden_size) must be a multiple of it.
            for label, width in (("the 64 input pixels", N_FEATURES), ("hidden_size", self.hidden_size)):
                if width % gs:
                    problems.append(f"quantize_group_size {gs} does not divide {label} ({width})")
        if problems:
            quantization = any("quantize" in p for p in problems)
            raise DigitsInputError(
                "invalid training parameters: " + "; ".join(problems),
                fix=(
                    "quantize_group_size 32 or 64 with hidden_size a multiple of it (e.g. 64, 128, 256); "
                    f"quantize_bits one of {SUPPORTED_BITS}"
                    if quantization
                    else f"use values in range (defaults: {DEFAULT_PARAMS})"
                ),
            )

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)
