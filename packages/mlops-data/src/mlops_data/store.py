"""``DvcStore``: versioned datasets and model files in one git + DVC repository.

Layout of the data repository (``settings.data_repo_dir``, default ``<state_dir>/data``)::

    <repo>/
      .git/                 git history of every .dvc file (one commit per version call)
      .dvc/config           committed DVC config: analytics and update checks off
      .dvc/config.local     this machine: cache.type, site_cache_dir, remote "local" (git-ignored)
      .dvc/cache/           the ONE shared content-addressed cache (files/md5/ab/cdef...)
      <project>/            one folder per project: its data files, model folders and their .dvc files

Every writer takes a file lock on the repository, so Airflow tasks in several processes can
version at the same time. DVC runs in-process (``dvc.repo.Repo``), git through its CLI.
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
import subprocess
import sys
from collections.abc import Iterator, Sequence
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING, Any, NoReturn

from mlops_core.errors import (
    ConfigError,
    InputValidationError,
    MlopsError,
    ReferenceNotFoundError,
    ServiceError,
)
from mlops_core.records import DatasetVersion

from mlops_data.errors import DataRepoError
from mlops_data.git import GIT_IDENTITY, Git
from mlops_data.remote import REMOTE_NAME, normalize_url, require_plugin

if TYPE_CHECKING:
    from dvc.repo import Repo

    from mlops_core.settings import Settings

__all__ = ["KINDS", "DvcStore"]

KINDS = ("dataset", "model")
LINK_TYPES = ("reflink", "hardlink", "symlink", "copy")
#: the lock file serialising writers (git-ignored, at the repository root)
LOCK_FILE = ".mlops-data.lock"
LOCK_TIMEOUT_S = 600.0
PROJECT_TRAILER = "Mlops-Project"
KIND_TRAILER = "Mlops-Kind"
_PROJECT_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$")
_VERSION_FIRST = "version data first: run the project's pipeline, or `mlops data version PROJECT PATH`"
_UNSAVED = "unsaved files"  # start of DVC's refusal to overwrite changes not in the cache


class DvcStore:
    """The platform's :class:`~mlops_core.providers.DataStore`, on DVC.

    One git + DVC repository holds every project (one folder each) and one shared cache; a
    ``version`` call is one git commit, pushed to the remote ``local`` when ``data.autopush``.
    """

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        root = Path(settings.data_repo_dir).expanduser()
        self.root = (root if root.is_absolute() else settings.workspace_root / root).resolve()
        self.remote_url = normalize_url(settings.data_remote_url, settings.workspace_root)
        self.cache_type = settings.data.cache_type
        self.autopush = settings.data.autopush
        #: where DVC keeps its per-repository indexes (it defaults to /var/tmp/dvc)
        self.site_cache_dir = (settings.state_dir / "dvc-site-cache").resolve()
        self.git = Git(self.root)
        self._lock: Any = None
        self._ready = False

    # -- the DataStore protocol ---------------------------------------------------------------

    def project_dir(self, project: str) -> Path:
        """The project's folder inside the data repository (created, with the repository, if missing)."""
        _check_project(project)
        with self._locked():
            self._ensure_repo()
            folder = self.root / project
            folder.mkdir(exist_ok=True)
        return folder

    def version(
        self, project: str, paths: Sequence[Path], *, kind: str = "dataset", message: str = ""
    ) -> list[DatasetVersion]:
        """Track ``paths`` (files or folders inside :meth:`project_dir`), commit, push.

        Relative paths are taken from the project folder. Versioning content that is already the
        latest version makes no commit and returns the commit that holds it. If DVC or git
        fails, the .dvc files, .gitignore files and the git index are put back as they were.
        """
        _check_project(project)
        if kind not in KINDS:
            raise InputValidationError(f"unknown kind {kind!r}", fix=f"use one of: {', '.join(KINDS)}")
        if isinstance(paths, (str, os.PathLike)):
            paths = [Path(paths)]
        if not paths:
            raise InputValidationError(f"no paths given to version for project {project!r}",
                                       fix="pass the files or folders to version")
        with self._locked():
            self._ensure_repo()
            folder = self.root / project
            folder.mkdir(exist_ok=True)
            targets = self._targets(project, folder.resolve(), paths)
            dvcfiles = [t.with_name(t.name + ".dvc") for t in targets]
            touched = [*dvcfiles, *sorted({t.parent / ".gitignore" for t in targets})]
            before = {p: p.read_bytes() if p.exists() else None for p in touched}
            try:
                with self._dvc() as repo:
                    repo.add([str(t) for t in targets])
                present = [self._rel(p) for p in touched if p.exists()]
                self.git.run("add", "--", *present)
                if self.git.staged_changes(present):
                    text = _commit_message(project, kind, [self._rel(t) for t in targets], message)
                    self.git.run("commit", "-q", "--no-verify", "-F", "-", "--", *present, input=text.encode())
            except BaseException as exc:
                self._restore(before)
                _reraise(exc, f"versioning {', '.join(str(p) for p in paths)}")
            versions = [self._record(project, self._rel(f), f.read_text(), kind) for f in dvcfiles]
            if self.autopush:
                self._push([str(f) for f in dvcfiles], what=f"the new version of {project!r} is committed locally")
        return versions

    def read(self, project: str, path: str, rev: str) -> bytes:
        """The bytes of ``path`` (relative to the project folder) at revision ``rev``."""
        _check_project(project)
        relpath = self._project_relpath(project, path)
        if not self.is_initialized():
            raise ReferenceNotFoundError(f"there is no data repository at {self.root} yet", fix=_VERSION_FIRST)
        sha = self._resolve(rev)
        import dvc.api
        from dvc.exceptions import DvcException, PathMissingError

        try:
            return dvc.api.read(relpath, repo=str(self.root), rev=sha, mode="rb", config=self._api_config())
        except (PathMissingError, FileNotFoundError) as exc:
            hint = (f"; the path is relative to the project folder: drop the leading '{project}/'"
                    if str(path).startswith(f"{project}/") else "")
            raise ReferenceNotFoundError(
                f"{path!r} of project {project!r} is not versioned at revision {rev!r}{hint}",
                fix=f"list the versions with `mlops data versions {project}`",
            ) from exc
        except IsADirectoryError as exc:
            raise InputValidationError(f"{path!r} of project {project!r} is a folder, not a file",
                                       fix="read one file inside it") from exc
        except DvcException as exc:
            raise DataRepoError(
                f"could not read {relpath!r} at revision {rev!r}: {exc}",
                fix="its content is neither in the cache nor on the remote; see `mlops data status`",
            ) from exc

    def checkout(self, project: str, rev: str, *, force: bool = False) -> list[Path]:
        """Put the project's files as they were at ``rev`` into the working tree.

        The .dvc files of the project at ``rev`` are written into the working tree (HEAD does not
        move, history is untouched), then DVC checks their data out of the cache. The working tree
        stays at that version until ``checkout(project, "HEAD")`` brings back the latest one, or
        a new ``version`` call records the files as they are. Files versioned only after ``rev``
        are left alone. Changes that were never versioned are not overwritten unless ``force``.
        Returns the paths whose content changed.
        """
        _check_project(project)
        if not self.is_initialized():
            raise ReferenceNotFoundError(f"there is no data repository at {self.root} yet", fix=_VERSION_FIRST)
        with self._locked():
            self._ensure_repo()
            sha = self._resolve(rev)
            dvcfiles = [f for f in self.git.ls_tree(sha, project) if f.endswith(".dvc")]
            if not dvcfiles:
                raise ReferenceNotFoundError(
                    f"project {project!r} has no versioned files at revision {rev!r}",
                    fix=f"list the versions with `mlops data versions {project}`",
                )
            contents = self.git.cat_files(f"{sha}:{f}" for f in dvcfiles)
            targets = [self.root / f for f in dvcfiles]
            before = {p: p.read_bytes() if p.exists() else None for p in targets}
            try:
                for target, content in zip(targets, contents, strict=True):
                    target.parent.mkdir(parents=True, exist_ok=True)
                    target.write_bytes(content or b"")
                changes = self._dvc_checkout([str(t) for t in targets], force=force)
            except BaseException as exc:
                self._restore(before)
                if _UNSAVED in str(exc):
                    raise InputValidationError(
                        f"checking out {project!r} at {rev!r} would overwrite changes that were never "
                        f"versioned: {str(exc).split(chr(10), 1)[-1].strip()}",
                        fix="version them first (DataStore.version / `mlops data version`), "
                            "or discard them with force=True (`mlops data checkout --force`)",
                    ) from exc
                _reraise(exc, f"checking out {project!r} at {rev!r}")
        return [Path(os.path.abspath(p.rstrip("/" + os.sep))) for key in ("added", "modified")
                for p in changes.get(key, [])]

    def history(self, project: str) -> list[DatasetVersion]:
        """Every version of the project's tracked files and folders, newest first."""
        _check_project(project)
        if not self.is_initialized() or self.git.head() is None:
            return []
        log = self.git.out(
            "log", f"--format=%x00%H%x1f%(trailers:key={KIND_TRAILER},valueonly,separator=%x2C)",
            "--name-only", "--diff-filter=AMR", "--", f":(glob){project}/**/*.dvc",
        )
        entries: list[tuple[str, str, str]] = []
        for chunk in log.split("\x00"):
            if not chunk.strip():
                continue
            header, _, files = chunk.partition("\n")
            sha, _, kind = header.partition("\x1f")
            kind = kind.split(",")[0].strip() or "dataset"
            entries.extend((sha.strip(), kind, f) for f in files.splitlines() if f.endswith(".dvc"))
        blobs = self.git.cat_files(f"{sha}:{f}" for sha, _, f in entries)
        out = []
        for (sha, kind, f), blob in zip(entries, blobs, strict=True):
            if blob is None:
                continue
            with contextlib.suppress(DataRepoError):
                out.append(self._record(project, f, blob.decode(), kind, rev=sha))
        return out

    # -- beyond the protocol --------------------------------------------------------------------

    def push(self) -> int:
        """Push every version of every project (all commits) to the remote; the number of files sent."""
        with self._locked():
            self._ensure_repo()
            return self._push(None, what="nothing was lost locally")

    def status(self, *, remote: bool = True) -> dict[str, Any]:
        """The repository at a glance, for ``mlops data status`` and doctor.

        ``remote=True`` also lists what is not yet on the remote (one remote listing).
        """
        info: dict[str, Any] = {
            "repo": str(self.root), "initialized": self.is_initialized(), "remote_name": REMOTE_NAME,
            "remote": self.remote_url, "cache_dir": str(self.root / ".dvc" / "cache"),
            "cache_type": self.cache_type, "autopush": self.autopush, "head": None, "projects": [],
            "uncommitted": [], "not_in_cache": [], "not_in_remote": None,
        }
        if not info["initialized"]:
            return info
        with self._locked():
            self._ensure_repo()
            info["head"] = self.git.head()
            tracked = self.git.out("ls-files", "--", "*.dvc").splitlines()
            names = {f.split("/", 1)[0] for f in tracked if "/" in f}
            names |= {p.name for p in self.root.iterdir() if p.is_dir() and not p.name.startswith(".")}
            for name in sorted(names):
                files = [f for f in tracked if f.startswith(f"{name}/")]
                info["projects"].append({
                    "project": name, "tracked": len(files),
                    "versions": int(self.git.out("rev-list", "--count", "HEAD", "--", f"{name}/") or 0),
                    "not_at_head": self.git.changed_in_worktree(files),
                })
            with self._dvc() as repo:
                data = repo.data_status(granular=False, not_in_remote=remote, remote_refresh=remote)
            uncommitted = data.get("uncommitted", {})
            info["uncommitted"] = sorted({p for paths in uncommitted.values() for p in paths})
            info["not_in_cache"] = sorted(data.get("not_in_cache", []))
            if remote:
                info["not_in_remote"] = sorted(data.get("not_in_remote", []))
        return info

    # -- the repository -------------------------------------------------------------------------

    def is_initialized(self) -> bool:
        """Whether the git + DVC repository exists (it is created on first use)."""
        return (self.root / ".git").exists() and (self.root / ".dvc").is_dir()

    def remote_exists(self) -> bool:
        """Whether the remote's folder or prefix exists; raises the remote's error if unreachable."""
        with self._dvc() as repo:
            remote = repo.cloud.get_remote(REMOTE_NAME)
            return bool(remote.fs.exists(remote.path))

    @contextlib.contextmanager
    def _locked(self) -> Iterator[None]:
        from filelock import FileLock, Timeout

        self.root.mkdir(parents=True, exist_ok=True)
        if self._lock is None:
            self._lock = FileLock(str(self.root / LOCK_FILE), timeout=LOCK_TIMEOUT_S)
        try:
            self._lock.acquire()
        except Timeout as exc:
            raise ServiceError(
                f"another process has held the data repository {self.root} for {LOCK_TIMEOUT_S:.0f} s",
                fix="wait for the other versioning or push to finish, then retry",
            ) from exc
        try:
            yield
        finally:
            self._lock.release()

    def _ensure_repo(self) -> None:
        """Create the git + DVC repository if missing and bring its config in line with settings."""
        if self._ready:
            return
        check_cache_type(self.cache_type)
        require_plugin(self.remote_url)
        if not self.git.is_repo():
            self.git.run("-c", "init.defaultBranch=main", "init", "-q")
        local = {**GIT_IDENTITY, "commit.gpgsign": "false"}
        for key, value in local.items():
            if not self.git.ok("config", "--local", "--get", key):
                self.git.run("config", "--local", key, value)
        if not (self.root / ".dvc").is_dir():
            self._dvc_init()
        gitignore = self.root / ".gitignore"
        lines = gitignore.read_text().splitlines() if gitignore.exists() else []
        if f"/{LOCK_FILE}" not in lines:
            gitignore.write_text("\n".join([*lines, f"/{LOCK_FILE}"]) + "\n")
        self._configure()
        setup = [".gitignore", ".dvcignore", ".dvc/.gitignore", ".dvc/config"]
        setup = [f for f in setup if (self.root / f).exists()]
        self.git.run("add", "--", *setup)
        if self.git.staged_changes(setup):
            self.git.run("commit", "-q", "--no-verify", "-m", "Set up the data repository", "--", *setup)
        self._ready = True

    def _dvc_init(self) -> None:
        # A subprocess, so that DVC_SITE_CACHE_DIR can be set for it alone: in-process,
        # Repo.init opens the repository before its config exists and writes under /var/tmp/dvc.
        env = {**self.git.env(), "DVC_SITE_CACHE_DIR": str(self.site_cache_dir)}
        proc = subprocess.run([sys.executable, "-m", "dvc", "init", "-q"], cwd=self.root, env=env,
                              capture_output=True, text=True, check=False)
        if proc.returncode != 0:
            raise DataRepoError(f"`dvc init` failed in {self.root}: {proc.stderr.strip() or proc.stdout.strip()}",
                                fix=f"check that {self.root} is writable and not inside .dvc; then retry")

    def _configure(self) -> None:
        """Write the DVC settings: offline (committed), and this machine's cache, site dir and remote (local)."""
        from dvc.config import Config
        from dvc.config import ConfigError as DvcConfigError

        config = Config(dvc_dir=str(self.root / ".dvc"), validate=False)
        wanted = {
            "repo": {("core", "analytics"): "false", ("core", "check_update"): "false"},
            "local": {
                ("core", "site_cache_dir"): str(self.site_cache_dir),
                ("core", "remote"): REMOTE_NAME,
                ("cache", "type"): self.cache_type,
                ("remote", REMOTE_NAME, "url"): self.remote_url,
            },
        }
        try:
            for level, values in wanted.items():
                current = config.load_one(level)
                if all(str(_dig(current, key)).lower() == value.lower() for key, value in values.items()):
                    continue
                with config.edit(level) as conf:
                    for key, value in values.items():
                        node = conf
                        for part in key[:-1]:
                            node = node.setdefault(part, {})
                        node[key[-1]] = value
        except DvcConfigError as exc:
            raise ConfigError(f"DVC refused the data settings: {exc}",
                              fix="correct data.cache_type / data.remote_url (see `mlops config`)") from exc

    @contextlib.contextmanager
    def _dvc(self) -> Iterator[Repo]:
        repo_cls = _dvc_repo_class()
        with repo_cls(str(self.root)) as repo:
            repo.scm_context.quiet = True  # no "To track the changes with git, run: ..." hints
            yield repo

    def _api_config(self) -> dict[str, Any]:
        # dvc.api opens the repository at a git revision, whose config has no local part.
        return {"core": {"site_cache_dir": str(self.site_cache_dir)}}

    def _dvc_checkout(self, targets: list[str], *, force: bool) -> dict[str, Any]:
        from dvc.exceptions import CheckoutError

        with self._dvc() as repo:
            try:
                return repo.checkout(targets=targets, force=force)
            except CheckoutError:
                # The cache lacks some of it (e.g. a fresh clone): fetch from the remote, retry.
                repo.fetch(targets=targets, remote=REMOTE_NAME)
                return repo.checkout(targets=targets, force=force)

    def _push(self, targets: list[str] | None, *, what: str) -> int:
        try:
            with self._dvc() as repo:
                if targets is None:
                    return int(repo.push(remote=REMOTE_NAME, all_commits=True) or 0)
                return int(repo.push(targets=targets, remote=REMOTE_NAME) or 0)
        except MlopsError:
            raise
        except Exception as exc:
            raise ServiceError(
                f"pushing to the DVC remote {self.remote_url} failed ({what}): {type(exc).__name__}: {exc}",
                fix="check that the remote is reachable and writable (`mlops doctor`), then `mlops data push`",
            ) from exc

    def _restore(self, before: dict[Path, bytes | None]) -> None:
        """Put files back as they were and drop them from the git index (after a failure)."""
        for path, content in before.items():
            if content is None:
                path.unlink(missing_ok=True)
            else:
                path.write_bytes(content)
        self.git.run("reset", "-q", "--", *[self._rel(p) for p in before], check=False)

    # -- paths and records ----------------------------------------------------------------------

    def _rel(self, path: Path) -> str:
        return path.relative_to(self.root).as_posix()

    def _resolve(self, rev: str) -> str:
        sha = self.git.resolve(str(rev))
        if sha is None:
            raise ReferenceNotFoundError(
                f"unknown revision {rev!r} in the data repository {self.root}",
                fix="use a commit from `mlops data versions PROJECT` (or HEAD for the latest)",
            )
        return sha

    def _targets(self, project: str, folder: Path, paths: Sequence[Path]) -> list[Path]:
        out: list[Path] = []
        for raw in paths:
            given = Path(raw).expanduser()
            path = (given if given.is_absolute() else folder / given).resolve()
            if path == folder or not path.is_relative_to(folder):
                raise InputValidationError(
                    f"{str(raw)!r} is outside the folder of project {project!r} ({folder})",
                    fix=f"write it inside {folder} (DataStore.project_dir({project!r})) and version it there",
                )
            if not path.exists():
                raise InputValidationError(f"{str(raw)!r} does not exist", fix="write the file before versioning it")
            if path.name.endswith(".dvc") or path.name in (".gitignore", ".dvcignore"):
                raise InputValidationError(f"{str(raw)!r} is version-control metadata, not data",
                                           fix="version the data file or folder itself")
            if not (path.is_file() or path.is_dir()) or any(c in str(path) for c in "\n\r\t"):
                raise InputValidationError(f"{str(raw)!r} is not a regular file or folder with a plain name",
                                           fix="version regular files or folders")
            for parent in path.parents:
                if parent == folder:
                    break
                if parent.with_name(parent.name + ".dvc").exists():
                    raise InputValidationError(
                        f"{str(raw)!r} is inside {self._rel(parent)}, which is versioned as a folder",
                        fix=f"version the folder {parent} instead",
                    )
            if path not in out:
                out.append(path)
        for a in out:
            for b in out:
                if a != b and b.is_relative_to(a):
                    raise InputValidationError(f"{b} is inside {a}, which is versioned in the same call",
                                               fix="version the folder or the files in it, not both")
        return out

    def _project_relpath(self, project: str, path: str | os.PathLike[str]) -> str:
        given = Path(path)
        if given.is_absolute():
            folder = (self.root / project).resolve()
            if not given.resolve().is_relative_to(folder):
                raise InputValidationError(f"{str(path)!r} is outside the folder of project {project!r}",
                                           fix="give the path relative to the project folder")
            given = given.resolve().relative_to(folder)
        rel = PurePosixPath(given.as_posix())
        if not rel.parts or ".." in rel.parts:
            raise InputValidationError(f"{str(path)!r} is not a path inside project {project!r}",
                                       fix="give the path relative to the project folder, e.g. data/train.csv")
        return f"{project}/{rel}"

    def _record(self, project: str, dvcfile: str, text: str, kind: str, rev: str | None = None) -> DatasetVersion:
        from dvc.utils.serialize import parse_yaml

        try:
            outs = (parse_yaml(text, dvcfile) or {}).get("outs") or []
            out = outs[0]
            digest = str(out["md5"])
        except Exception as exc:
            raise DataRepoError(f"{dvcfile} is not a DVC file with an md5", fix="re-version the file") from exc
        path = (PurePosixPath(dvcfile).parent / str(out["path"])).as_posix()
        rev = rev or self.git.last_commit(dvcfile) or ""
        return DatasetVersion(project=project, path=path, hash=digest, rev=rev,
                              size_bytes=int(out.get("size") or 0), kind=kind)


# -- helpers ------------------------------------------------------------------------------------


def _check_project(project: str) -> None:
    if not isinstance(project, str) or not _PROJECT_NAME.match(project):
        raise InputValidationError(
            f"invalid project name {project!r}",
            fix="use letters, digits, '.', '_' or '-', starting with a letter or digit",
        )


def check_cache_type(value: str) -> None:
    kinds = [k.strip() for k in value.split(",")]
    if not kinds or any(k not in LINK_TYPES for k in kinds):
        raise ConfigError(
            f"data.cache_type {value!r} is not a list of DVC link types",
            fix=f"set data.cache_type to a comma-separated list of {', '.join(LINK_TYPES)} "
                "(e.g. \"reflink,copy\")",
        )


def _dig(tree: Any, key: tuple[str, ...]) -> Any:
    for part in key:
        if not isinstance(tree, dict) or part not in tree:
            return None
        tree = tree[part]
    return tree


def _commit_message(project: str, kind: str, paths: list[str], message: str) -> str:
    subject = message.strip() or f"Version {kind} of {project}: {', '.join(paths)}"
    return f"{subject}\n\n{PROJECT_TRAILER}: {project}\n{KIND_TRAILER}: {kind}\n"


def _reraise(exc: BaseException, doing: str) -> NoReturn:
    """Raise DVC's and the OS's errors as platform errors; anything else unchanged."""
    if isinstance(exc, MlopsError) or not isinstance(exc, Exception):
        raise exc
    from dvc.exceptions import DvcException

    if isinstance(exc, DvcException):
        raise InputValidationError(f"DVC refused {doing}: {exc}",
                                   fix="correct the paths as DVC's message says; nothing stored was changed") from exc
    raise DataRepoError(f"{doing} failed: {type(exc).__name__}: {exc}",
                        fix="see the error; nothing stored was changed, retry once it is fixed") from exc


_quieted = False


def _dvc_repo_class() -> type[Repo]:
    """``dvc.repo.Repo``, imported on first use with DVC's console logging turned down."""
    global _quieted
    from dvc.repo import Repo

    if not _quieted:
        # `import dvc` attaches stdout handlers at INFO to its loggers; a library's progress
        # chatter does not belong on the caller's stdout. Warnings and errors still show.
        for name in ("dvc", "dvc_data", "dvc_objects"):
            logging.getLogger(name).setLevel(logging.WARNING)
        _quieted = True
    return Repo
