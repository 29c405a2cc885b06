"""The docs name every setting and every command."""

from pathlib import Path

from mlops_core.cli import settings_rows

DOCS = Path(__file__).resolve().parents[3] / "docs"


def test_every_setting_is_documented() -> None:
    text = (DOCS / "settings.md").read_text()
    missing = [key for key, *_ in settings_rows() if f"`{key}`" not in text]
    assert not missing, f"docs/settings.md lacks {missing}: regenerate it with `mlops config --markdown`"


def test_every_hook_is_documented() -> None:
    from mlops_core import hookspecs

    text = (DOCS / "hooks.md").read_text()
    missing = [n for n in dir(hookspecs) if n.startswith("mlops_") and f"`{n}(" not in text]
    assert not missing, f"docs/hooks.md lacks {missing}: uv run python docs/gen_hooks.py > docs/hooks.md"
