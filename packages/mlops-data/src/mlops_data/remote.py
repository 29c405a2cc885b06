"""DVC remotes: which URL schemes need which DVC plugin, and how to say so when one is missing."""

from __future__ import annotations

import os
from importlib.util import find_spec
from pathlib import Path
from urllib.parse import urlparse

from mlops_core.errors import ConfigError

__all__ = ["REMOTE_NAME", "is_local", "missing_plugin", "normalize_url", "require_plugin", "scheme"]

#: name of the default remote in the data repository's DVC config
REMOTE_NAME = "local"

#: URL scheme -> (import name of the DVC plugin, the dvc extra that installs it)
PLUGINS: dict[str, tuple[str, str]] = {
    "s3": ("dvc_s3", "s3"),
    "gs": ("dvc_gs", "gs"),
    "gcs": ("dvc_gs", "gs"),
    "azure": ("dvc_azure", "azure"),
    "az": ("dvc_azure", "azure"),
    "ssh": ("dvc_ssh", "ssh"),
    "hdfs": ("dvc_hdfs", "hdfs"),
    "webhdfs": ("dvc_webhdfs", "webhdfs"),
    "webdav": ("dvc_webdav", "webdav"),
    "webdavs": ("dvc_webdav", "webdav"),
    "oss": ("dvc_oss", "oss"),
    "gdrive": ("dvc_gdrive", "gdrive"),
    "http": ("dvc_http", "http"),
    "https": ("dvc_http", "http"),
}


def scheme(url: str) -> str | None:
    """The URL scheme of a remote, or None for a local folder (``C:\\`` drive letters included)."""
    parsed = urlparse(url)
    if len(parsed.scheme) <= 1 or parsed.scheme == "file":
        return None
    return parsed.scheme.lower()


def is_local(url: str) -> bool:
    return scheme(url) is None


def normalize_url(url: str, base: Path) -> str:
    """An absolute folder for a local remote (relative ones are taken from ``base``); others as given."""
    if url.startswith("file://"):
        url = urlparse(url).path
    if scheme(url) is not None:
        return url
    path = Path(os.path.expanduser(url))
    return str(path if path.is_absolute() else (base / path).resolve())


def missing_plugin(url: str) -> str | None:
    """The dvc extra to install for ``url``, or None if nothing is missing."""
    name = scheme(url)
    if name is None:
        return None
    module, extra = PLUGINS.get(name, (None, name))
    if module is None or find_spec(module) is None:
        return extra
    return None


def require_plugin(url: str) -> None:
    """Raise :class:`ConfigError` with the install command when ``url`` needs a missing plugin."""
    name = scheme(url)
    if name is not None and name not in PLUGINS:
        raise ConfigError(
            f"the DVC remote {url!r} has the unsupported scheme {name!r}",
            fix="set data.remote_url (MLOPS_DATA__REMOTE_URL) to a folder or an s3://, gs://, azure://, "
                "ssh://, hdfs://, webdav://, oss://, http(s):// URL",
        )
    extra = missing_plugin(url)
    if extra is not None:
        raise ConfigError(
            f"the DVC remote {url!r} needs DVC's {name} support, which is not installed",
            fix=f'install it next to mlops-data: uv add "dvc[{extra}]"  (pip: pip install "dvc[{extra}]")',
        )
