"""Runners by name (the ``tunegym.runners`` entry points), and building a job's runner.

A runner class declares what the registry needs (see :class:`RunnerClass`): its
``Settings`` (the pydantic model of its ``[<name>]`` table in a workload, or ``None``),
``from_settings`` to build it for a job, and ``dispatches_whole_grid``. Adding a runner
is its module plus one entry point; the spec, the CLI's ``--runner`` choices and
:func:`build_runner` find it by name.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, ClassVar, Protocol

from pydantic import BaseModel

from tunegym import plugins
from tunegym.runners.base import Runner, RunnerContext
from tunegym.spec.models import WorkloadSpec


class RunnerClass(Protocol):
    """What a registered runner class provides besides the :class:`Runner` methods."""

    Settings: ClassVar[type[BaseModel] | None]

    @classmethod
    def from_settings(cls, settings: Any, context: RunnerContext) -> Runner: ...

    @classmethod
    def dispatches_whole_grid(cls, settings: Any) -> bool: ...

    @classmethod
    def settings_problems(cls, workload: Any) -> Iterable[tuple[tuple[str | int, ...], str]]:
        """Problems of ``workload`` for this runner beyond its settings model (field paths
        from the workload's top), checked when the spec is loaded."""
        ...


def runner_names() -> list[str]:
    """Every registered runner, sorted."""
    return list(plugins.available(plugins.RUNNERS))


def load_runner(name: str) -> RunnerClass:
    """The class of runner ``name``; ``SpecError`` lists the known names."""
    cls: RunnerClass = plugins.load(plugins.RUNNERS, name)
    return cls


def runner_settings(
    workload: WorkloadSpec, name: str, overrides: dict[str, Any] | None = None
) -> Any:
    """The validated settings of runner ``name`` for ``workload`` (its ``[<name>]`` table),
    with ``overrides`` (from the command line) applied; ``None`` for a runner without."""
    cls = load_runner(name)
    if cls.Settings is None:
        return None
    settings = workload.runner_table(name)
    if not isinstance(settings, cls.Settings):
        settings = cls.Settings.model_validate(settings or {})
    if overrides:
        settings = settings.model_copy(update=overrides)
    return settings


def build_runner(
    workload: WorkloadSpec,
    context: RunnerContext,
    *,
    runner: str | None = None,
    overrides: dict[str, Any] | None = None,
) -> Runner:
    """The runner for ``workload`` (``runner`` overrides the spec's ``runner``)."""
    name = runner or workload.runner
    return load_runner(name).from_settings(runner_settings(workload, name, overrides), context)


def dispatches_whole_grid(workload: WorkloadSpec, runner: str | None = None) -> bool:
    """Whether the job's runner submits a whole grid at once (Slurm's batch mode)."""
    name = runner or workload.runner
    return load_runner(name).dispatches_whole_grid(runner_settings(workload, name))
