"""The project registry.

Projects are found through the entry-point group ``mlops.projects`` (a new project is picked up
by installing it, with no platform edit) and their registrations are persisted in
``<state_dir>/projects.json``: name, path, extras in use, registered_at, active.
"""

from __future__ import annotations

import json
import logging
import os
import re
import tempfile
from collections.abc import Mapping
from dataclasses import asdict, replace
from importlib.metadata import EntryPoint, entry_points
from pathlib import Path
from typing import TYPE_CHECKING

from mlops_core.errors import ConfigError, PluginError, ProjectNotFoundError
from mlops_core.ledger import now_iso
from mlops_core.project import Project
from mlops_core.records import ProjectInfo

if TYPE_CHECKING:
    from mlops_core.plugins import PluginManager
    from mlops_core.settings import Settings

__all__ = ["PROJECTS_GROUP", "ProjectRegistry"]

PROJECTS_GROUP = "mlops.projects"
log = logging.getLogger(__name__)
_CORE_EXTRAS = re.compile(r"^mlops-core\[([^\]]+)\]")


class ProjectRegistry:
    """Finds, loads and persists the registered projects."""

    def __init__(
        self,
        settings: Settings,
        plugins: PluginManager | None = None,
        *,
        projects: Mapping[str, Project] | None = None,
        entrypoints: bool = True,
    ) -> None:
        """``projects`` are registered as given (tests, notebooks); ``entrypoints=False`` skips
        discovery through the ``mlops.projects`` group, as ``PluginManager`` does for plugins."""
        self.settings = settings
        self.plugins = plugins
        self.path = settings.registry_path
        self._given: dict[str, Project] = dict(projects or {})
        self._entrypoints = entrypoints
        self._loaded: dict[str, Project] = {}
        #: entry-point name -> error text, for projects that failed to import
        self.failures: dict[str, str] = {}
        self._discovered = False

    # -- persistence ------------------------------------------------------------------------

    def stored(self) -> dict[str, ProjectInfo]:
        if not self.path.is_file():
            return {}
        try:
            raw = json.loads(self.path.read_text())
            return {name: ProjectInfo(**{**info, "extras": tuple(info.get("extras", ()))}) for name, info in raw.items()}
        except (ValueError, TypeError, AttributeError) as exc:
            raise ConfigError(
                f"the project registry {self.path} is damaged: {exc}",
                fix=f"delete {self.path}; `mlops projects` registers the installed projects again",
            ) from None

    def _store(self, infos: dict[str, ProjectInfo]) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        payload = json.dumps({n: asdict(i) for n, i in sorted(infos.items())}, indent=2)
        # Write-then-rename: a crash never leaves a half-written registry.
        fd, tmp = tempfile.mkstemp(dir=self.path.parent, prefix=".projects-")
        with os.fdopen(fd, "w") as fh:
            fh.write(payload)
        os.replace(tmp, self.path)

    # -- discovery --------------------------------------------------------------------------

    def _load_entry_point(self, ep: EntryPoint) -> Project:
        obj = ep.load()
        project = obj() if isinstance(obj, type) else obj
        if not isinstance(project, Project):
            raise PluginError(
                f"entry point {ep.name} = {ep.value} is a {type(project).__name__}, not a mlops_core.Project",
                fix="point the entry point at a Project instance or subclass",
            )
        if project.name != ep.name:
            raise PluginError(
                f"entry point {ep.name!r} loads a project named {project.name!r}",
                fix="make the entry-point name equal to the project's name",
            )
        return project

    def discover(self) -> dict[str, Project]:
        """Load every installed project; failures are kept in :attr:`failures`, not raised."""
        if self._discovered:
            return self._loaded
        self._loaded.update(self._given)
        for ep in entry_points(group=PROJECTS_GROUP) if self._entrypoints else ():
            if ep.name in self._given:
                continue  # a project given explicitly wins over an installed one of that name
            try:
                self._loaded[ep.name] = self._load_entry_point(ep)
            except Exception as exc:
                self.failures[ep.name] = f"{type(exc).__name__}: {exc}"
                log.info("project %r (%s) failed to load: %s", ep.name, ep.value, exc)
        self._discovered = True
        return self._loaded

    def sync(self) -> list[ProjectInfo]:
        """Discover projects, persist their registrations, announce new or changed ones."""
        found = self.discover()
        eps = {ep.name: ep for ep in entry_points(group=PROJECTS_GROUP)} if self._entrypoints else {}
        stored = self.stored()
        changed: list[ProjectInfo] = []
        infos = dict(stored)
        for name, project in found.items():
            info = ProjectInfo(
                name=name,
                path=str(_project_path(project)),
                extras=_extras_in_use(eps[name], project) if name in eps else tuple(sorted(project.extras)),
                registered_at=stored[name].registered_at if name in stored else now_iso(),
                active=True,
                description=project.description,
                entry_point=eps[name].value if name in eps else "",
            )
            if stored.get(name) != info:
                changed.append(info)
            infos[name] = info
        for name, info in stored.items():
            if name not in found and info.active:
                infos[name] = replace(info, active=False)
                changed.append(infos[name])
        if infos != stored:
            self._store(infos)
        if self.plugins is not None:
            for info in changed:
                if info.active:
                    self.plugins.emit("mlops_project_registered", project=info)
        return sorted(infos.values(), key=lambda i: i.name)

    def get(self, name: str) -> Project:
        """The loaded project ``name``; a clear error if it is unknown or broken."""
        found = self.discover()
        if name in found:
            return found[name]
        if name in self.failures:
            raise PluginError(
                f"project {name!r} is installed but failed to load: {self.failures[name]}",
                fix=f"fix the import error in project {name!r}, then run `mlops doctor`",
            )
        known = ", ".join(sorted(found)) or "none"
        raise ProjectNotFoundError(
            f"no project named {name!r} (registered: {known})",
            fix="use one of the registered names (`mlops projects`), or install the project so its "
            "entry point in group 'mlops.projects' is visible",
        )


def _project_path(project: Project) -> Path:
    module = __import__(type(project).__module__.split(".")[0])
    here = Path(module.__file__ or ".").resolve().parent
    for folder in (here, *here.parents):
        if (folder / "pyproject.toml").is_file():
            return folder
    return here


def _extras_in_use(ep: EntryPoint, project: Project) -> tuple[str, ...]:
    """The platform extras the project's distribution asks for (``mlops-core[...]``)."""
    extras: set[str] = set(project.extras)
    dist = ep.dist
    for req in (dist.requires or []) if dist else []:
        match = _CORE_EXTRAS.match(req.replace(" ", ""))
        if match:
            extras.update(x.strip() for x in match.group(1).split(","))
    return tuple(sorted(extras))
