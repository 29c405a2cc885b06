"""The serving gateway: one FastAPI app answering predictions for every registered project.

Routes::

    GET  /                           a small index of the endpoints
    GET  /health                     liveness, plugins, whether a tracker is there
    GET  /models                     registered projects, their model and champion version
    GET  /models/{project}/{model}   the served model's features, in order
    POST /predict/{project}/{model}  {"inputs": [[...]]} or {"records": [{...}]} -> predictions

Models come from the tracker provider (``plugins.require_tracker().load_model``), projects from
:class:`~mlops_core.registry.ProjectRegistry`; the gateway imports no sibling package. After
answering, each batch is announced through ``mlops_predictions_served`` in a background task,
so the client never waits for monitoring.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from datetime import UTC, datetime
from importlib.metadata import PackageNotFoundError, version
from typing import Any

from fastapi import BackgroundTasks, FastAPI
from fastapi.responses import JSONResponse

from mlops_core.errors import MissingExtraError, ProjectError, ReferenceNotFoundError
from mlops_core.plugins import PluginManager
from mlops_core.project import Project, Schema
from mlops_core.providers import LoadedModel
from mlops_core.records import PredictionBatch
from mlops_core.registry import ProjectRegistry
from mlops_core.settings import Settings
from mlops_serve.cache import ALIAS_TTL_SECONDS, ModelCache
from mlops_serve.dashboard import dashboard_router
from mlops_serve.inputs import PredictRequest, rows_for
from mlops_serve.problems import install_error_handlers

__all__ = ["SERVICE", "Gateway", "create_app"]

log = logging.getLogger(__name__)

#: the ``service`` field of ``/health``: how the doctor and ``mlops serve`` recognise the gateway
SERVICE = "mlops-gateway"

_ERROR_SCHEMA = {
    "content": {
        "application/json": {
            "schema": {
                "type": "object",
                "properties": {"error": {"type": "string"}, "fix": {"type": "string"}},
            }
        }
    }
}


def _package_version() -> str:
    try:
        return version("mlops-serve")
    except PackageNotFoundError:
        return "unknown"


class Gateway:
    """What the routes share: settings, plugins, the project registry and the model cache."""

    def __init__(
        self, settings: Settings, plugins: PluginManager, registry: ProjectRegistry, alias_ttl: float
    ) -> None:
        self.settings = settings
        self.plugins = plugins
        self.registry = registry
        self.alias = settings.tracking.champion_alias
        self.cache = ModelCache(plugins.require_tracker, alias=self.alias, ttl=alias_ttl)

    def project(self, name: str, model: str) -> Project:
        """The registered project serving ``model``; 404s that name what exists."""
        project = self.registry.get(name)
        if model != project.registered_model:
            raise ReferenceNotFoundError(
                f"project {name!r} has no model {model!r}; it serves {project.registered_model!r}",
                fix=f"POST /predict/{name}/{project.registered_model}",
            )
        return project

    def listeners(self, hook: str) -> list[str]:
        """Plugins implementing ``hook`` (without calling it)."""
        return sorted({impl.plugin_name for impl in getattr(self.plugins.hook, hook).get_hookimpls()})

    def tracker_status(self) -> tuple[bool, str]:
        """(whether a tracker is there, why not). Builds the tracker once, as serving would."""
        try:
            self.cache.tracker()
        except MissingExtraError as exc:
            return False, exc.fix or exc.message
        except Exception as exc:  # a broken tracker plugin is reported, not raised
            return False, f"{type(exc).__name__}: {exc}"
        return True, ""

    def health(self) -> dict[str, Any]:
        tracker, why = self.tracker_status()
        return {
            "status": "ok",
            "service": SERVICE,
            "version": _package_version(),
            "alias": self.alias,
            "tracker": tracker,
            **({"tracker_problem": why} if why else {}),
            # who hears about served batches (the monitor, when installed)
            "predictions_served_to": self.listeners("mlops_predictions_served"),
            "plugins": self.plugins.plugin_names(),
            "plugin_failures": dict(self.plugins.failures),
        }

    def models(self) -> dict[str, Any]:
        projects = self.registry.discover()
        tracker_there, _ = self.tracker_status()
        rows = []
        for name, project in sorted(projects.items()):
            model = project.registered_model
            row: dict[str, Any] = {
                "project": name,
                "model": model,
                "description": project.description,
                "champion": None,
                "serving": None,
                "predict": f"/predict/{name}/{model}",
            }
            if tracker_there:
                try:
                    row["champion"] = self.cache.champion_version(name, model)
                except Exception as exc:  # one broken lookup must not hide the other projects
                    row["error"] = f"{type(exc).__name__}: {exc}"
            loaded = self.cache.peek(name, model)
            row["serving"] = loaded.version if loaded else None
            rows.append(row)
        return {
            "alias": self.alias,
            "tracker": tracker_there,
            "models": rows,
            "failures": dict(self.registry.failures),
        }

    def schema_of(self, name: str, model: str) -> dict[str, Any]:
        project = self.project(name, model)
        loaded: LoadedModel | None
        try:
            loaded = self.cache.get(name, model)
        except ReferenceNotFoundError:
            loaded = None  # no champion yet: the project's own schema is the best answer
        schema: Schema = loaded.schema if loaded else project.schema()
        return {
            "project": name,
            "model": model,
            "version": loaded.version if loaded else None,
            "features": [{"name": f.name, "dtype": f.dtype} for f in schema.inputs],
            "output": schema.output,
            "output_dtype": schema.output_dtype,
        }

    def predict(
        self, name: str, model: str, body: PredictRequest, background: BackgroundTasks
    ) -> dict[str, Any]:
        started = time.perf_counter()
        self.project(name, model)
        loaded = self.cache.get(name, model)
        rows = rows_for(
            body,
            loaded.schema,
            model=model,
            max_rows=self.settings.serve.max_batch_rows,
            schema_url=f"/models/{name}/{model}",
        )
        try:
            outputs = [_plain(o) for o in loaded.predict(rows)]
        except Exception as exc:
            log.exception("model %s/%s v%s failed to predict", name, model, loaded.version)
            raise ProjectError(
                f"model {model} v{loaded.version} of project {name!r} failed to predict "
                f"{len(rows)} row(s): {type(exc).__name__}: {exc}",
                fix=f"the input passed the schema check, so the model or project {name!r} is at fault; "
                "the gateway's log has the traceback",
            ) from exc
        if len(outputs) != len(rows):
            raise ProjectError(
                f"model {model} v{loaded.version} returned {len(outputs)} predictions for {len(rows)} rows",
                fix=f"make project {name!r}'s predictor return one prediction per row",
            )
        latency_ms = round((time.perf_counter() - started) * 1000, 3)
        if self.listeners("mlops_predictions_served"):
            background.add_task(
                self._announce, name, model, loaded.version, loaded.schema.feature_names, rows, outputs, latency_ms
            )
        return {
            "project": name,
            "model": model,
            "version": loaded.version,
            "predictions": outputs,
            "latency_ms": latency_ms,
        }

    def _announce(
        self,
        name: str,
        model: str,
        model_version: str,
        feature_names: Sequence[str],
        rows: list[list[float]],
        outputs: list[Any],
        latency_ms: float,
    ) -> None:
        # Runs after the response is sent; building the record here keeps it off the client's clock.
        batch = PredictionBatch(
            project=name,
            model=model,
            version=model_version,
            feature_names=tuple(feature_names),
            inputs=tuple(tuple(row) for row in rows),
            outputs=tuple(outputs),
            served_at=datetime.now(UTC).isoformat(timespec="milliseconds"),
            latency_ms=latency_ms,
        )
        self.plugins.emit("mlops_predictions_served", batch=batch)


def _plain(value: Any) -> Any:
    """A JSON-friendly prediction (numpy scalars and arrays become Python values)."""
    if value is None or isinstance(value, str | int | float | bool):
        return value
    if hasattr(value, "tolist"):
        return value.tolist()
    if hasattr(value, "item"):
        return value.item()
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    return value


def create_app(
    settings: Settings,
    plugins: PluginManager | None = None,
    *,
    registry: ProjectRegistry | None = None,
    alias_ttl: float | None = None,
) -> FastAPI:
    """The gateway as a FastAPI app.

    ``plugins`` default to every installed plugin, ``registry`` to the installed projects;
    ``alias_ttl`` (seconds) is how stale the champion alias may be before it is looked up again.
    """
    plugins = plugins or PluginManager(settings)
    registry = registry or ProjectRegistry(settings, plugins)
    if alias_ttl is None:
        # Picks up a `serve.alias_ttl_seconds` setting once the core defines one.
        alias_ttl = float(getattr(settings.serve, "alias_ttl_seconds", ALIAS_TTL_SECONDS))
    gateway = Gateway(settings, plugins, registry, alias_ttl)

    app = FastAPI(
        title="mlops gateway",
        version=_package_version(),
        description="Predictions from the champion model of every registered project.",
    )
    app.state.gateway = gateway
    install_error_handlers(app)
    max_body = settings.serve.max_body_bytes

    @app.middleware("http")
    async def limit_body(request: Any, call_next: Any) -> Any:
        # Refuse before reading: a huge body would be parsed whole and stall every other request.
        length = request.headers.get("content-length")
        if length is not None and length.isdigit() and int(length) > max_body:
            from mlops_serve.problems import problem

            return problem(413, f"request body of {int(length)} bytes is larger than {max_body} bytes",
                           "send fewer rows per request, or raise serve.max_body_bytes (MLOPS_SERVE__MAX_BODY_BYTES)")
        return await call_next(request)

    app.include_router(dashboard_router(gateway))  # GET /dashboard, /dashboard.json, report files
    errors = {code: {"description": text, **_ERROR_SCHEMA} for code, text in (
        (404, "unknown project or model, or no champion yet"),
        (413, "more rows than serve.max_batch_rows"),
        (422, "the body does not match the model's schema"),
        (501, "no tracker plugin installed"),
    )}

    @app.get("/", summary="Index of the endpoints")
    def index() -> dict[str, Any]:
        return {
            "service": SERVICE,
            "endpoints": {
                "GET /health": "liveness, plugins and providers",
                "GET /models": "registered projects, their model and champion version",
                "GET /models/{project}/{model}": "the served model's features, in order",
                "POST /predict/{project}/{model}": 'predict: {"inputs": [[...]]} or {"records": [{...}]}',
                "GET /dashboard": "every project's runs, models, deployment and drift (HTML; .json for data)",
                "GET /docs": "OpenAPI documentation",
            },
        }

    @app.get("/health", summary="Liveness, plugins and providers")
    def health() -> dict[str, Any]:
        return gateway.health()

    @app.get("/models", summary="Registered projects and their champion versions")
    def models() -> dict[str, Any]:
        return gateway.models()

    @app.get("/models/{project}/{model}", summary="The served model's features", responses={404: errors[404]})
    def model_schema(project: str, model: str) -> dict[str, Any]:
        return gateway.schema_of(project, model)

    @app.post("/predict/{project}/{model}", summary="Predict with the champion model", responses=errors)
    def predict(project: str, model: str, body: PredictRequest, background: BackgroundTasks) -> JSONResponse:
        # A plain `def`: FastAPI runs it in a worker thread, so loading a model or a slow
        # predict never blocks the event loop (and /health keeps answering).
        answer = gateway.predict(project, model, body, background)
        try:
            return JSONResponse(answer, background=background)
        except ValueError as exc:  # NaN or Infinity among the predictions: JSON cannot carry them
            raise ProjectError(
                f"model {model} v{answer['version']} of project {project!r} returned predictions JSON "
                f"cannot carry ({exc})",
                fix=f"make project {project!r}'s predictor return finite numbers (or null) only",
            ) from exc

    return app
