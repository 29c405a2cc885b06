"""MLX backends: usable only when mlx really imports and computes."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from importlib.util import find_spec
from pathlib import Path

from mlops_hw.accelerators import probe_mlx


def test_mlx_backends_here() -> None:
    result = probe_mlx()
    if find_spec("mlx") is None:
        assert (result.backends, result.status) == ((), "mlx not installed")
        return
    import mlx.core as mx

    assert result.status == "ok"
    assert result.version == mx.__version__
    assert "mlx-cpu" in result.backends  # the CPU backend computed 1 + 1
    assert ("mlx-metal" in result.backends) == mx.metal.is_available()
    if sys.platform == "linux":
        assert "mlx-metal" not in result.backends


def test_broken_mlx_install_is_not_usable(tmp_path: Path) -> None:
    # A real package named mlx whose native core fails to load, first on sys.path in a fresh
    # interpreter: what a wrong wheel (plain `mlx` on Linux) looks like to the probe.
    (tmp_path / "mlx").mkdir()
    (tmp_path / "mlx" / "__init__.py").write_text("")
    (tmp_path / "mlx" / "core.py").write_text("raise ImportError('libmlx.so: cannot open shared object file')\n")
    code = textwrap.dedent("""
        import json, sys
        sys.path.insert(0, sys.argv[1])
        from mlops_hw.accelerators import probe_mlx
        r = probe_mlx()
        print(json.dumps({"backends": list(r.backends), "status": r.status}))
    """)
    out = subprocess.run([sys.executable, "-c", code, str(tmp_path)], capture_output=True, text=True, check=True)
    result = json.loads(out.stdout)
    assert result["backends"] == []
    assert result["status"] == "mlx does not import: ImportError: libmlx.so: cannot open shared object file"
