"""Test sessions. `uv run --frozen nox` runs them all (this is what CI runs).

* ``tests``: the whole suite (unit + integration against the real tools) in one environment
  holding the full workspace.
* ``pkg-<name>`` / ``project-<name>``: each package and each project installed ALONE with only
  what its own pyproject declares (``uv sync --package``), running its own fast tests. A missing
  dependency declaration fails here, not in a user's hands.
"""

from __future__ import annotations

from pathlib import Path

import nox

nox.options.default_venv_backend = "uv"
nox.options.reuse_venv = "yes"
nox.options.error_on_missing_interpreters = True

ROOT = Path(__file__).parent
PACKAGES = sorted(p.name for p in (ROOT / "packages").iterdir() if (p / "pyproject.toml").is_file())
PROJECTS = sorted(p.name for p in (ROOT / "projects").iterdir() if (p / "pyproject.toml").is_file())
TEST_DEPS = ("pytest>=8.3", "pytest-timeout>=2.3", "httpx>=0.27")  # httpx: the HTTP test client


def _sync(session: nox.Session, *args: str) -> None:
    """Install into the session's venv from the workspace lock, exactly as locked."""
    session.run_install(
        "uv", "sync", "--frozen", "--inexact", *args,
        env={"UV_PROJECT_ENVIRONMENT": session.virtualenv.location},
        external=True,
    )


@nox.session(python="3.11")
def tests(session: nox.Session) -> None:
    """The whole suite against the real tools, in the full workspace environment."""
    # Bytecode compiled once here: the suite starts many Python subprocesses (CLI, Airflow tasks,
    # MLflow loaders), and without .pyc each cold import is 2-3x slower.
    _sync(session, "--all-packages", "--all-extras", "--compile-bytecode")
    session.run("pytest", *(session.posargs or ["-q"]))


def _isolated(session: nox.Session, member: str, folder: str) -> None:
    _sync(session, "--package", member, "--no-default-groups")
    session.install(*TEST_DEPS)
    session.run("pytest", f"{folder}/{member}", "-q", "-m", "not slow and not integration", *session.posargs,
                success_codes=[0, 5])  # 5: every test of the package is slow or integration


@nox.session(python="3.11")
@nox.parametrize("package", PACKAGES, ids=PACKAGES)
def pkg(session: nox.Session, package: str) -> None:
    """One package installed alone, with only its declared dependencies."""
    _isolated(session, package, "packages")


@nox.session(python="3.11")
@nox.parametrize("project", PROJECTS, ids=PROJECTS)
def project(session: nox.Session, project: str) -> None:
    """One project installed alone, with only the platform extras it declares."""
    _isolated(session, project, "projects")
