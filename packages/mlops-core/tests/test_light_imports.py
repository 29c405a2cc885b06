"""`import mlops_core` and `mlops --help` must not import any heavy tool."""

import subprocess
import sys

HEAVY = ("mlflow", "airflow", "ray", "bentoml", "evidently", "dvc", "mlx", "pandas", "sklearn", "fastapi")

PROBE = """
import sys
{body}
heavy = sorted({{m.split('.')[0] for m in sys.modules}} & set({heavy!r}))
print('HEAVY=' + ','.join(heavy))
"""


def _heavy_after(body: str) -> str:
    code = PROBE.format(body=body, heavy=HEAVY)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    [line] = [l for l in out.stdout.splitlines() if l.startswith("HEAVY=")]
    return line.removeprefix("HEAVY=")


def test_import_mlops_core_is_light() -> None:
    assert _heavy_after("import mlops_core, mlops_core.plugins, mlops_core.registry, mlops_core.settings") == ""


def test_mlops_help_is_light() -> None:
    body = (
        "from mlops_core import cli\n"
        "try:\n    cli.main(['--help'])\nexcept SystemExit:\n    pass\n"
    )
    assert _heavy_after(body) == ""
