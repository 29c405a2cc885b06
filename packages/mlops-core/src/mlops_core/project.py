"""What a project provides to the platform.

A project is a small package that subclasses :class:`Project` and exposes an instance under the
entry-point group ``mlops.projects``::

    [project.entry-points."mlops.projects"]
    my-project = "my_project:project"

It supplies its data, its training, its evaluation and how to predict; the platform does the
rest (versioning, tracking, registry, scheduling, serving, monitoring). Paths handed to a project
are folders the platform owns; a project writes only inside them.
"""

from __future__ import annotations

import abc
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar, Protocol

__all__ = ["Feature", "MetricLogger", "Predictor", "Project", "Schema"]

#: ``log(step, {"loss": 0.1, ...})``: the platform batches these; call it as often as you like.
MetricLogger = Callable[[int, Mapping[str, float]], None]


@dataclass(frozen=True)
class Feature:
    """One input column of a model."""

    name: str
    dtype: str = "double"  # "double" | "float" | "long" | "integer" | "boolean" | "string"


@dataclass(frozen=True)
class Schema:
    """A model's input columns and the name of what it outputs."""

    inputs: tuple[Feature, ...]
    output: str = "prediction"
    output_dtype: str = "long"

    @property
    def feature_names(self) -> tuple[str, ...]:
        return tuple(f.name for f in self.inputs)


class Predictor(Protocol):
    """A loaded model: rows in, one prediction per row out."""

    def predict(self, rows: Sequence[Sequence[float]]) -> list[Any]: ...


class Project(abc.ABC):
    """Base class for a project that plugs into the platform."""

    #: unique name, also the entry-point name and the experiment namespace
    name: ClassVar[str]
    description: ClassVar[str] = ""
    #: registered model name (defaults to the project name)
    model_name: ClassVar[str] = ""
    #: platform concerns this project uses (the extras it depends on)
    extras: ClassVar[tuple[str, ...]] = ()
    #: default training parameters, overridable per run
    default_params: ClassVar[Mapping[str, Any]] = {}
    #: the metric that says which run is best, and whether higher is better
    primary_metric: ClassVar[str] = "accuracy"
    higher_is_better: ClassVar[bool] = True

    @property
    def registered_model(self) -> str:
        return self.model_name or self.name

    def validate_params(self, params: Mapping[str, Any]) -> dict[str, Any]:
        """The training parameters to use: defaults overridden by ``params``, checked.

        Called before any step runs, so bad parameters fail before anything is stored. Raise an
        :class:`~mlops_core.errors.InputValidationError` naming the fix. The default accepts
        only keys of ``default_params``.
        """
        from mlops_core.errors import InputValidationError

        unknown = sorted(set(params) - set(self.default_params))
        if unknown and self.default_params:
            raise InputValidationError(
                f"unknown training parameter(s) for {self.name}: {', '.join(unknown)}",
                fix=f"use only: {', '.join(self.default_params)}",
            )
        return {**self.default_params, **params}

    @abc.abstractmethod
    def schema(self) -> Schema:
        """The model's input columns."""

    @abc.abstractmethod
    def prepare(self, data_dir: Path) -> list[Path]:
        """Write the dataset into ``data_dir``; return the files to version."""

    @abc.abstractmethod
    def train(
        self, data_dir: Path, model_dir: Path, params: Mapping[str, Any], log: MetricLogger
    ) -> Mapping[str, float]:
        """Train on ``data_dir``, save the model files into ``model_dir``, return final metrics."""

    @abc.abstractmethod
    def evaluate(self, data_dir: Path, model_dir: Path) -> Mapping[str, float]:
        """Metrics of the saved model on the held-out split."""

    @abc.abstractmethod
    def load(self, model_dir: Path) -> Predictor:
        """Load the saved model for serving."""

    @abc.abstractmethod
    def reference(self, data_dir: Path) -> list[list[float]]:
        """The rows the model was trained on, the reference for drift monitoring."""

    @abc.abstractmethod
    def samples(self, data_dir: Path, kind: str, n: int) -> list[list[float]]:
        """Request rows for demos and smoke tests.

        ``kind`` is ``"held_out"`` (real unseen rows) or ``"shifted"`` (the same rows, visibly
        shifted, as production drift would look).
        """

