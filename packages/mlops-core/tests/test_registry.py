import json
from pathlib import Path

import pytest

from mlops_core.doctor import run_checks
from mlops_core.errors import PluginError, ProjectNotFoundError
from mlops_core.plugins import PluginManager
from mlops_core.registry import ProjectRegistry
from mlops_core.testing import install_project

GOOD = '''
from mlops_core.project import Project, Schema, Feature

class Toy(Project):
    name = "toy-project"
    description = "a toy"
    def schema(self): return Schema((Feature("x"),))
    def prepare(self, data_dir): return []
    def train(self, data_dir, model_dir, params, log): return {}
    def evaluate(self, data_dir, model_dir): return {}
    def load(self, model_dir): return None
    def reference(self, data_dir): return [[0.0]]
    def samples(self, data_dir, kind, n): return [[0.0]] * n

project = Toy()
'''

BROKEN = "import this_module_does_not_exist\n"


@pytest.fixture
def site(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    site = tmp_path / "site"
    install_project(site, "toy-project", GOOD)
    install_project(site, "broken-project", BROKEN)
    monkeypatch.syspath_prepend(str(site))
    return site


def test_new_project_is_picked_up_and_persisted(settings, site: Path) -> None:
    registry = ProjectRegistry(settings)
    infos = {i.name: i for i in registry.sync()}
    assert infos["toy-project"].active
    assert infos["toy-project"].registered_at
    stored = json.loads(settings.registry_path.read_text())
    assert set(stored["toy-project"]) >= {"name", "path", "extras", "registered_at", "active"}
    assert "broken-project" not in stored


def test_broken_project_does_not_block_the_others_and_doctor_names_it(settings, site: Path) -> None:
    plugins = PluginManager(settings)
    registry = ProjectRegistry(settings, plugins)
    assert "toy-project" in registry.discover()
    assert "this_module_does_not_exist" in registry.failures["broken-project"]
    checks = run_checks(plugins, registry)
    assert any(c.name == "broken-project" and c.status == "fail" for c in checks)
    with pytest.raises(PluginError, match="failed to load"):
        registry.get("broken-project")


def test_unknown_project_lists_the_known_ones(settings, site: Path) -> None:
    with pytest.raises(ProjectNotFoundError) as info:
        ProjectRegistry(settings).get("nope")
    assert "toy-project" in str(info.value)


def test_registration_is_announced_once(settings, site: Path) -> None:
    seen = []

    class Listener:
        from mlops_core.hookspecs import hookimpl

        @hookimpl
        def mlops_project_registered(self, project):
            seen.append(project.name)

    plugins = PluginManager(settings, plugins=[Listener()], entrypoints=False)
    ProjectRegistry(settings, plugins).sync()
    ProjectRegistry(settings, plugins).sync()
    assert seen.count("toy-project") == 1


def test_uninstalled_project_becomes_inactive(settings, site: Path, monkeypatch) -> None:
    ProjectRegistry(settings).sync()
    (site / "toy_project-0.0.1.dist-info" / "entry_points.txt").write_text("")
    infos = {i.name: i for i in ProjectRegistry(settings).sync()}
    assert infos["toy-project"].active is False
