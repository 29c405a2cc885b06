"""Example project: a small MLX classifier on scikit-learn's bundled digits, compressed for CPU serving.

The platform finds it through the entry point ``cpu-compression = "cpu_compression:project"`` in
the group ``mlops.projects``. Importing this package is cheap: MLX, numpy and scikit-learn load
only when a method needs them.
"""

from __future__ import annotations

from cpu_compression.project import DigitsProject

__all__ = ["DigitsProject", "project"]

#: the instance the platform loads
project = DigitsProject()
