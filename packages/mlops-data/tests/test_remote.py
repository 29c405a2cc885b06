"""Remote URLs: local folders vs schemes, and the install hint for a missing DVC plugin."""

from __future__ import annotations

from importlib.util import find_spec
from pathlib import Path

import pytest

from mlops_core.errors import ConfigError

from mlops_data.remote import PLUGINS, missing_plugin, normalize_url, require_plugin, scheme


@pytest.mark.parametrize(
    ("url", "expected"),
    [("s3://bucket/dvc", "s3"), ("GS://b/x", "gs"), ("azure://c/p", "azure"), ("/srv/remote", None),
     ("relative/remote", None), ("C:\\remote", None), ("file:///srv/remote", None)],
)
def test_scheme(url: str, expected: str | None) -> None:
    assert scheme(url) == expected


def test_local_urls_become_absolute_folders(tmp_path: Path) -> None:
    assert normalize_url("remote", tmp_path) == str(tmp_path / "remote")
    assert normalize_url("file:///srv/remote", tmp_path) == "/srv/remote"
    assert normalize_url("s3://bucket/dvc", tmp_path) == "s3://bucket/dvc"


def test_local_and_http_remotes_need_nothing_more() -> None:
    assert missing_plugin("/srv/remote") is None
    assert missing_plugin("https://example.org/dvc") is None  # dvc-http comes with dvc
    require_plugin("/srv/remote")


def test_an_unknown_scheme_is_refused() -> None:
    with pytest.raises(ConfigError, match="unsupported scheme 'ftp'"):
        require_plugin("ftp://host/x")


@pytest.mark.parametrize("name", sorted(PLUGINS))
def test_a_missing_plugin_names_the_dvc_extra(name: str) -> None:
    module, extra = PLUGINS[name]
    if find_spec(module) is not None:
        assert missing_plugin(f"{name}://bucket/x") is None
        return
    assert missing_plugin(f"{name}://bucket/x") == extra
    with pytest.raises(ConfigError) as info:
        require_plugin(f"{name}://bucket/x")
    assert f'uv add "dvc[{extra}]"' in (info.value.fix or "")
