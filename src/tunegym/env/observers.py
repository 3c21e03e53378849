"""Observers watch an env's steps (progress display, logging) without changing them."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from tunegym.env.base import BaseGym
    from tunegym.trial.store import TrialRow


class StepObserver(Protocol):
    def before_step(
        self, env: BaseGym, step: int, action: Mapping[str, Any], env_params: Mapping[str, Any]
    ) -> None: ...

    def after_step(self, env: BaseGym, row: TrialRow) -> None: ...


class TrialCallback:
    """Calls ``on_trial(job, row)`` once each trial's row is recorded (``tunegym.tune``'s
    ``on_trial``): ``job`` is the job's label, ``row`` the :class:`TrialRow` just written
    (cache hits and refused actions too). An exception it raises stops the run as a bug
    does, with the row already kept."""

    def __init__(self, job: str, on_trial: Callable[[str, TrialRow], object]) -> None:
        self.job = job
        self.on_trial = on_trial

    def before_step(
        self, env: BaseGym, step: int, action: Mapping[str, Any], env_params: Mapping[str, Any]
    ) -> None:
        return None

    def after_step(self, env: BaseGym, row: TrialRow) -> None:
        self.on_trial(self.job, row)
