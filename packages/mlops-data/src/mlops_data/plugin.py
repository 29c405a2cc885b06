"""The ``data`` plugin: the DVC data store, its doctor checks and ``mlops data`` commands.

Imported when the CLI starts, so nothing heavy here: DVC is imported by the store on first use.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from mlops_core.hookspecs import hookimpl

if TYPE_CHECKING:
    import typer

    from mlops_core.doctor import Check
    from mlops_core.settings import Settings

    from mlops_data.store import DvcStore

# One store per repository and settings, so that a pipeline asking for the store at every step
# sets the repository up once per process.
_stores: dict[tuple[str, ...], DvcStore] = {}


@hookimpl
def mlops_data_store(settings: Settings) -> DvcStore:
    from mlops_data.store import DvcStore

    key = (str(settings.state_dir), str(settings.data_repo_dir), settings.data_remote_url,
           settings.data.cache_type, str(settings.data.autopush), str(settings.workspace_root))
    store = _stores.get(key)
    if store is None:
        store = _stores[key] = DvcStore(settings)
    return store


@hookimpl
def mlops_doctor_checks(settings: Settings) -> list[Check]:
    from mlops_data.doctor import checks

    return checks(settings)


@hookimpl
def mlops_cli(app: typer.Typer) -> None:
    from mlops_data.cli import register

    register(app)
