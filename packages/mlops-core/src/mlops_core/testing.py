"""Helpers for testing projects and plugins against the real discovery mechanism.

:func:`install_project` writes a real module and a real ``*.dist-info`` (with its
``entry_points.txt``) into a folder and puts it on ``sys.path``, so ``importlib.metadata`` finds
the project exactly as it finds an installed one, in this process and in subprocesses that get
the folder on ``PYTHONPATH``.
"""

from __future__ import annotations

import importlib
import sys
import textwrap
from pathlib import Path

__all__ = ["install_project"]


def install_project(site: Path, name: str, source: str, *, attr: str = "project", group: str = "mlops.projects") -> Path:
    """Install module ``source`` as distribution ``name`` with entry point ``name = <module>:<attr>``.

    Returns ``site``; the caller removes it from ``sys.path`` (pytest's ``monkeypatch.syspath_prepend``
    does that, and clears import caches).
    """
    module = name.replace("-", "_")
    site.mkdir(parents=True, exist_ok=True)
    (site / f"{module}.py").write_text(textwrap.dedent(source))
    dist = site / f"{module}-0.0.1.dist-info"
    dist.mkdir(exist_ok=True)
    (dist / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: 0.0.1\n")
    (dist / "entry_points.txt").write_text(f"[{group}]\n{name} = {module}:{attr}\n")
    if str(site) not in sys.path:
        sys.path.insert(0, str(site))
    importlib.invalidate_caches()
    return site
