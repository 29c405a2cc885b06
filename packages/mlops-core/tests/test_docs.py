"""The docs name every setting and every command."""

from pathlib import Path

from mlops_core.cli import settings_rows

DOCS = Path(__file__).resolve().parents[3] / "docs"


def test_every_setting_is_documented() -> None:
    text = (DOCS / "settings.md").read_text()
    missing = [key for key, *_ in settings_rows() if f"`{key}`" not in text]
    assert not missing, f"docs/settings.md lacks {missing}: regenerate it with `mlops config --markdown`"
