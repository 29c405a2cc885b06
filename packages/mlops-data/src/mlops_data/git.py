"""The git commands the data repository needs, run with the ``git`` program.

The git CLI rather than a Python binding: it is what users debug with, its behaviour is the
reference, and every call here is one short command.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Iterable, Sequence
from pathlib import Path

from mlops_data.errors import DataRepoError

__all__ = ["GIT_IDENTITY", "Git", "git_available"]

#: the identity written into the data repository's own .git/config, so commits work on a fresh
#: machine without a global git identity (the user's global config is never touched)
GIT_IDENTITY = {"user.name": "mlops-data", "user.email": "mlops-data@localhost"}

# Variables that would point git at another repository or index than ours (set inside git hooks,
# for instance). They are dropped from the environment of every git call.
_REDIRECTING_VARS = (
    "GIT_DIR", "GIT_WORK_TREE", "GIT_INDEX_FILE", "GIT_OBJECT_DIRECTORY",
    "GIT_ALTERNATE_OBJECT_DIRECTORIES", "GIT_COMMON_DIR", "GIT_NAMESPACE", "GIT_PREFIX",
)


def git_available() -> bool:
    """Whether the ``git`` program is on PATH."""
    return shutil.which("git") is not None


class Git:
    """Runs git in one repository folder, never in a repository around it."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if k not in _REDIRECTING_VARS}
        # The data repository usually sits inside the workspace's own git repository; before
        # `git init` a git call must fail rather than act on that outer repository.
        env["GIT_CEILING_DIRECTORIES"] = str(self.root.parent)
        env["GIT_TERMINAL_PROMPT"] = "0"
        env["DVC_NO_ANALYTICS"] = "1"
        return env

    def run(self, *args: str, input: bytes | None = None, check: bool = True) -> subprocess.CompletedProcess[bytes]:
        """Run ``git args`` in the repository; raise :class:`DataRepoError` on failure if ``check``."""
        if not git_available():
            raise DataRepoError(
                "the git program is not installed; the data repository is a git repository",
                fix="install git (Debian/Ubuntu: apt install git; macOS: xcode-select --install)",
            )
        cmd = ["git", "-c", "core.quotepath=off", *args]
        proc = subprocess.run(cmd, cwd=self.root, env=self.env(), input=input, capture_output=True, check=False)
        if check and proc.returncode != 0:
            raise DataRepoError(
                f"`git {' '.join(args)}` failed in {self.root}: "
                f"{proc.stderr.decode(errors='replace').strip() or proc.stdout.decode(errors='replace').strip()}",
                fix=f"inspect the data repository with `git -C {self.root} status`",
            )
        return proc

    def out(self, *args: str) -> str:
        """The stripped standard output of ``git args``."""
        return self.run(*args).stdout.decode().strip()

    def ok(self, *args: str) -> bool:
        """Whether ``git args`` succeeds."""
        return self.run(*args, check=False).returncode == 0

    # -- queries ------------------------------------------------------------------------------

    def is_repo(self) -> bool:
        return (self.root / ".git").exists()

    def head(self) -> str | None:
        """The commit HEAD points at, or None in a repository without commits."""
        proc = self.run("rev-parse", "--verify", "-q", "HEAD^{commit}", check=False)
        return proc.stdout.decode().strip() if proc.returncode == 0 else None

    def resolve(self, rev: str) -> str | None:
        """The full commit id ``rev`` names, or None if it names no commit."""
        if not rev or rev.startswith("-") or any(c.isspace() for c in rev):
            return None
        proc = self.run("rev-parse", "--verify", "-q", f"{rev}^{{commit}}", check=False)
        return proc.stdout.decode().strip() if proc.returncode == 0 else None

    def last_commit(self, path: str) -> str | None:
        """The newest commit that changed ``path``."""
        return self.out("log", "-1", "--format=%H", "--", path) or None

    def ls_tree(self, rev: str, folder: str) -> list[str]:
        """Files under ``folder`` at ``rev`` (repository-relative, posix)."""
        text = self.out("ls-tree", "-r", "--name-only", rev, "--", f"{folder}/")
        return [line for line in text.splitlines() if line]

    def staged_changes(self, paths: Sequence[str]) -> bool:
        """Whether the index differs from HEAD for ``paths``."""
        if self.head() is None:
            return bool(self.out("diff", "--cached", "--name-only", "--", *paths))
        return not self.ok("diff", "--cached", "--quiet", "HEAD", "--", *paths)

    def changed_in_worktree(self, paths: Sequence[str]) -> list[str]:
        """Which of ``paths`` differ in the working tree from HEAD."""
        if self.head() is None or not paths:
            return []
        text = self.out("diff", "--name-only", "HEAD", "--", *paths)
        return [line for line in text.splitlines() if line]

    def cat_files(self, specs: Iterable[str]) -> list[bytes | None]:
        """The contents of ``rev:path`` objects, in one ``git cat-file --batch`` call."""
        specs = list(specs)
        if not specs:
            return []
        raw = self.run("cat-file", "--batch", input=("\n".join(specs) + "\n").encode()).stdout
        out: list[bytes | None] = []
        pos = 0
        for _ in specs:
            end = raw.index(b"\n", pos)
            header = raw[pos:end].split()
            pos = end + 1
            if len(header) < 3 or header[-1] == b"missing":
                out.append(None)
                continue
            size = int(header[2])
            out.append(raw[pos:pos + size])
            pos += size + 1
        return out
