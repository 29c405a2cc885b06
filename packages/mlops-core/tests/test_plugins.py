import pytest

from mlops_core import hookspecs
from mlops_core.errors import MissingExtraError
from mlops_core.hookspecs import hookimpl
from mlops_core.plugins import PluginManager


class Boom:
    @hookimpl
    def mlops_project_registered(self, project):
        raise RuntimeError("boom")


class Quiet:
    calls = 0

    @hookimpl
    def mlops_project_registered(self, project):
        Quiet.calls += 1
        return "seen"


def test_a_failing_plugin_does_not_stop_the_event(settings) -> None:
    plugins = PluginManager(settings, plugins=[Boom(), Quiet()], entrypoints=False)
    assert plugins.emit("mlops_project_registered", project=None) == ["seen"]
    assert plugins.event_errors and plugins.event_errors[0][0] == "mlops_project_registered"


def test_missing_provider_names_the_extra(settings) -> None:
    plugins = PluginManager(settings, entrypoints=False)
    assert plugins.tracker() is None
    with pytest.raises(MissingExtraError, match=r"mlops-core\[tracking\]"):
        plugins.require_tracker()


def test_disabled_plugins_are_blocked(settings) -> None:
    settings.disabled_plugins = ["tracking"]
    plugins = PluginManager(settings)
    assert not plugins.has("tracking")
    assert "tracking" not in plugins.failures


def test_every_hookspec_is_documented_and_prefixed() -> None:
    specs = [n for n in dir(hookspecs) if n.startswith("mlops_")]
    assert len(specs) >= 15
    for name in specs:
        assert getattr(hookspecs, name).__doc__, name
