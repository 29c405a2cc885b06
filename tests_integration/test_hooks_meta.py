"""Meta-tests over the whole workspace's plugins (datasette style)."""

import pytest

from mlops_core import hookspecs
from mlops_core.plugins import PluginManager

pytestmark = pytest.mark.integration


def test_every_installed_plugin_loads(settings) -> None:
    plugins = PluginManager(settings)
    assert plugins.failures == {}
    assert {"hw", "data", "tracking", "orchestrate", "serve", "monitor"} <= set(plugins.plugin_names())


def test_every_hookspec_is_implemented_somewhere_in_the_workspace(settings) -> None:
    plugins = PluginManager(settings)
    unimplemented = [
        name for name in dir(hookspecs)
        if name.startswith("mlops_") and not getattr(plugins.hook, name).get_hookimpls()
    ]
    # Lifecycle hooks that only plugins of a later stage implement are listed here on purpose.
    assert set(unimplemented) <= {"mlops_before_run", "mlops_on_run_error", "mlops_services"}, unimplemented
