"""``mlops doctor`` rows for data versioning: DVC and git installed, repository, cache, remote.

Read-only: the doctor never creates the repository or writes to the remote.
"""

from __future__ import annotations

import os
import subprocess
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from importlib.metadata import PackageNotFoundError
from importlib.metadata import version as dist_version
from pathlib import Path
from typing import TYPE_CHECKING

from mlops_core.doctor import Check
from mlops_core.errors import MlopsError

from mlops_data.git import Git, git_available
from mlops_data.remote import REMOTE_NAME, is_local, missing_plugin, normalize_url, scheme

if TYPE_CHECKING:
    from mlops_core.settings import Settings

__all__ = ["checks"]

CONCERN = "data"
REMOTE_TIMEOUT_S = 15.0


def checks(settings: Settings) -> list[Check]:
    """Every data check, in the order a user would fix them."""
    return [_dvc(), _git(), _repository(settings), _remote(settings)]


def _dvc() -> Check:
    try:
        return Check(CONCERN, "dvc installed", "ok", f"dvc {dist_version('dvc')}")
    except PackageNotFoundError:
        return Check(CONCERN, "dvc installed", "fail", "the dvc package is missing", "uv add mlops-data  (or uv sync)")


def _git() -> Check:
    if not git_available():
        return Check(CONCERN, "git installed", "fail",
                     "the git program is not on PATH (the data repository is a git repository)",
                     "install git (Debian/Ubuntu: apt install git; macOS: xcode-select --install)")
    proc = subprocess.run(["git", "--version"], capture_output=True, text=True, check=False)
    return Check(CONCERN, "git installed", "ok", proc.stdout.strip())


def _repository(settings: Settings) -> Check:
    from mlops_data.store import DvcStore, check_cache_type

    store = DvcStore(settings)
    try:
        check_cache_type(store.cache_type)
    except MlopsError as exc:
        return Check(CONCERN, "repository", "fail", exc.message, exc.fix or "")
    root = store.root
    has_git, has_dvc = (root / ".git").exists(), (root / ".dvc").is_dir()
    if not has_git and not has_dvc:
        where = _writable_parent(root)
        if where is None:
            return Check(CONCERN, "repository", "fail", f"{root} cannot be created (no writable parent folder)",
                         "set data.repo_dir (MLOPS_DATA__REPO_DIR) to a writable folder")
        return Check(CONCERN, "repository", "ok",
                     f"will be created on first use at {root} (cache.type {store.cache_type})")
    if has_dvc and not has_git:
        return Check(CONCERN, "repository", "warn", f"{root} has .dvc but no .git",
                     f"move {root} aside; the next `mlops data` command creates a fresh repository")
    git = Git(root)
    head = git.head()
    commits = git.out("rev-list", "--count", "HEAD") if head else "0"
    state = "initialized" if has_dvc else "git only; DVC will be initialized on first use"
    return Check(CONCERN, "repository", "ok",
                 f"{root}: {state}, {commits} commits, HEAD {head[:10] if head else '-'}, "
                 f"cache.type {store.cache_type}")


def _remote(settings: Settings) -> Check:
    url = normalize_url(settings.data_remote_url, settings.workspace_root)
    name = f"remote '{REMOTE_NAME}'"
    extra = missing_plugin(url)
    if extra is not None:
        return Check(CONCERN, name, "fail", f"{url} needs DVC's {scheme(url)} support, which is not installed",
                     f'uv add "dvc[{extra}]"')
    if is_local(url):
        folder = Path(url)
        if folder.is_dir():
            if os.access(folder, os.W_OK | os.X_OK):
                return Check(CONCERN, name, "ok", f"{folder} (writable folder)")
            return Check(CONCERN, name, "fail", f"{folder} is not writable",
                         f"make it writable (chmod u+w {folder}) or set data.remote_url")
        if folder.exists():
            return Check(CONCERN, name, "fail", f"{folder} exists and is not a folder",
                         "set data.remote_url to a folder")
        if _writable_parent(folder) is None:
            return Check(CONCERN, name, "fail", f"{folder} cannot be created (no writable parent folder)",
                         "set data.remote_url (MLOPS_DATA__REMOTE_URL) to a writable folder or an s3:// URL")
        return Check(CONCERN, name, "ok", f"{folder} (created on the first push)")
    return _cloud_remote(settings, url, name)


def _cloud_remote(settings: Settings, url: str, name: str) -> Check:
    from mlops_data.store import DvcStore

    store = DvcStore(settings)
    if not store.is_initialized():
        return Check(CONCERN, name, "ok", f"{url} (DVC support installed; reached on the first push)")

    pool = ThreadPoolExecutor(max_workers=1)
    try:
        exists = pool.submit(store.remote_exists).result(timeout=REMOTE_TIMEOUT_S)
    except FutureTimeout:
        return Check(CONCERN, name, "warn", f"{url} did not answer within {REMOTE_TIMEOUT_S:.0f} s",
                     "check the network and the endpoint (dvc remote modify --local local endpointurl URL)")
    except Exception as exc:
        return Check(CONCERN, name, "fail", f"{url} is unreachable: {type(exc).__name__}: {exc}",
                     "check credentials (e.g. AWS_PROFILE / AWS_ACCESS_KEY_ID) and the endpoint; "
                     "see the mlops-data README")
    finally:
        pool.shutdown(wait=False)
    detail = "reachable" if exists else "reachable; the prefix is created on the first push"
    return Check(CONCERN, name, "ok", f"{url} ({detail})")


def _writable_parent(path: Path) -> Path | None:
    for folder in (path, *path.parents):
        if folder.exists():
            return folder if folder.is_dir() and os.access(folder, os.W_OK | os.X_OK) else None
    return None
