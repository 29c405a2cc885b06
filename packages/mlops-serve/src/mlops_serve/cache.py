"""The champion models the gateway serves, kept loaded and kept current.

Each ``(project, model)`` pair holds one loaded model. At most every ``ttl`` seconds the first
request that finds its entry stale asks the tracker which version the alias points at now; when
the alias has moved, that request loads the new version while every concurrent request keeps
being answered by the old one, so a promotion is picked up without restart or downtime.
A tracker that is down does not stop serving: the loaded model keeps answering, and the next
request after ``ttl`` tries again.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import NoReturn

from mlops_core.errors import MlopsError, ReferenceNotFoundError, ServiceError
from mlops_core.providers import LoadedModel, Tracker

__all__ = ["ALIAS_TTL_SECONDS", "ModelCache", "NoChampionError"]

log = logging.getLogger(__name__)

#: how long a resolved alias is trusted before the tracker is asked again
ALIAS_TTL_SECONDS = 2.0


class NoChampionError(ReferenceNotFoundError):
    """The model has no version behind the serving alias yet."""

    def __init__(self, project: str, model: str, alias: str) -> None:
        super().__init__(
            f"model {model} of project {project!r} has no {alias!r} version yet",
            fix=f"run `mlops run {project}` to train, register and promote one",
        )


@dataclass(frozen=True)
class _Entry:
    model: LoadedModel
    #: time.monotonic() of the last successful look at the alias
    checked_at: float


class ModelCache:
    """Loaded champion models by ``(project, model)``; thread-safe."""

    def __init__(
        self,
        tracker: Callable[[], Tracker],
        *,
        alias: str = "champion",
        ttl: float = ALIAS_TTL_SECONDS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._tracker_factory = tracker
        self._tracker: Tracker | None = None
        self.alias = alias
        self.ttl = ttl
        self._clock = clock
        # Entries are replaced whole (never mutated), so readers need no lock.
        self._entries: dict[tuple[str, str], _Entry] = {}
        self._locks: dict[tuple[str, str], threading.Lock] = {}
        self._locks_guard = threading.Lock()

    def tracker(self) -> Tracker:
        """The tracker, asked for once (MissingExtraError while there is none)."""
        if self._tracker is None:
            self._tracker = self._tracker_factory()
        return self._tracker

    def peek(self, project: str, model: str) -> LoadedModel | None:
        """The loaded model, without asking the tracker anything."""
        entry = self._entries.get((project, model))
        return entry.model if entry else None

    def get(self, project: str, model: str) -> LoadedModel:
        """The model behind the alias, (re)loaded when the alias has moved."""
        key = (project, model)
        entry = self._entries.get(key)
        if entry is not None and self._clock() - entry.checked_at < self.ttl:
            return entry.model
        lock = self._lock(key)
        if entry is not None:
            # Someone is already looking: the current model answers meanwhile.
            if not lock.acquire(blocking=False):
                return entry.model
        else:
            lock.acquire()  # nothing to answer with yet: wait for the first load
        try:
            entry = self._entries.get(key)
            if entry is not None and self._clock() - entry.checked_at < self.ttl:
                return entry.model  # refreshed while we waited
            return self._refresh(project, model, entry)
        finally:
            lock.release()

    def champion_version(self, project: str, model: str) -> str | None:
        """The version the alias points at in the tracker now (``None`` if none)."""
        try:
            versions = self.tracker().model_versions(project, model)
        except ReferenceNotFoundError:
            return None
        for version in versions:
            if self.alias in version.aliases:
                return version.version
        return None

    # -- internals --------------------------------------------------------------------------

    def _lock(self, key: tuple[str, str]) -> threading.Lock:
        with self._locks_guard:
            return self._locks.setdefault(key, threading.Lock())

    def _refresh(self, project: str, model: str, entry: _Entry | None) -> LoadedModel:
        key = (project, model)
        try:
            version = self.champion_version(project, model)
        except Exception as exc:
            if entry is None:
                _raise_tracker_failure(f"look up {model}@{self.alias}", exc)
            log.warning("tracker failed to resolve %s@%s (%s); serving v%s meanwhile",
                        model, self.alias, exc, entry.model.version)
            self._entries[key] = _Entry(entry.model, self._clock())
            return entry.model
        if version is None:
            # The alias was removed (or never set): stop serving what is no longer promoted.
            self._entries.pop(key, None)
            raise NoChampionError(project, model, self.alias)
        if entry is not None and entry.model.version == version:
            self._entries[key] = _Entry(entry.model, self._clock())
            return entry.model
        try:
            loaded = self.tracker().load_model(project, model, self.alias)
        except ReferenceNotFoundError as exc:
            self._entries.pop(key, None)
            raise NoChampionError(project, model, self.alias) from exc
        except Exception as exc:
            if entry is None:
                _raise_tracker_failure(f"load {model}@{self.alias} (v{version})", exc)
            log.warning("loading %s v%s failed (%s); v%s keeps answering",
                        model, version, exc, entry.model.version)
            self._entries[key] = _Entry(entry.model, self._clock())
            return entry.model
        log.info("serving %s/%s v%s (%s)", project, model, loaded.version, self.alias)
        self._entries[key] = _Entry(loaded, self._clock())
        return loaded


def _raise_tracker_failure(what: str, exc: Exception) -> NoReturn:
    # Our own errors already say what to do; anything else is the tracker misbehaving.
    if isinstance(exc, MlopsError):
        raise exc
    raise ServiceError(
        f"the tracker failed to {what}: {type(exc).__name__}: {exc}",
        fix="check the tracking service with `mlops doctor`",
    ) from exc
