"""``BaseGym``, the interface agents drive, and ``TrialEnv``, what the trial loop needs.

``BaseGym`` is a gym environment whose actions are parameter dicts and observations
named metrics: ``reset`` and ``step``. Any ``BaseGym`` can be driven one step at a time.

``TrialEnv`` adds what makes each step a recorded trial that the shared trial loop
(:mod:`tunegym.loop`) can dispatch ahead of its result and replay after a crash:

* ``submit(action)`` assigns the next step and starts the trial; ``wait_ready`` blocks
  until one of several submitted trials can complete; ``complete(pending)`` records the
  row and returns the step's result. ``step`` is ``complete(submit(action))``.
* ``max_parallel`` is how many trials the env can keep in flight (the loop refuses a
  larger ``parallel`` with a clear error instead of running fewer at a time).
* ``resume()`` prepares a resumed store and returns its replay plan (also kept as
  ``replay_plan``); ``resubmit(item)`` runs an unfinished trial again under its own
  step; ``feedback_of(row)`` is the agent's view of a recorded row.

``WorkloadEnv``, ``LiveEnv`` and ``FunctionEnv`` implement ``TrialEnv``.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, wait
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tunegym.trial.rows import Feedback, TrialRow

if TYPE_CHECKING:
    from tunegym.env_params import EnvParamDim
    from tunegym.runners.base import StopSignal
    from tunegym.space import SearchSpace
    from tunegym.trial.resume import ReplayItem

Observation = dict[str, float]
StepResult = tuple[Observation, float, bool, dict[str, Any]]
"""``(observation, reward, done, info)`` of one step."""


class BaseGym(ABC):
    """A gym environment whose actions are parameter dicts and observations named metrics.

    ``action_space`` is a :class:`~tunegym.space.SearchSpace`; ``observation_space`` the
    ordered metric names. ``step`` returns ``(observation, reward, done, info)``.
    """

    action_space: SearchSpace
    observation_space: list[str]
    remake: Callable[[], BaseGym] | None = None
    """A factory for a fresh env of the same definition (set by ``tunegym.make_env``),
    so ``gymnasium.make`` can rebuild it; ``None`` for an env built in Python."""

    @abstractmethod
    def reset(
        self, seed: int | None = None, options: Mapping[str, Any] | None = None
    ) -> tuple[Observation, dict[str, Any]]: ...

    @abstractmethod
    def step(self, action: Mapping[str, Any]) -> StepResult: ...

    def next_env_params(self) -> dict[str, Any]:
        """The env params the next ``step`` will run with (empty when there are none).

        Env params are drawn from the step number, so the env that owns the counter is
        the one place that can tell them in advance (``reset`` reports them too).
        """
        return {}

    @property
    def env_param_dims(self) -> tuple[EnvParamDim, ...]:
        """The env params drawn for every step (empty when there are none)."""
        return ()

    @property
    def name(self) -> str:
        """What the env is called (a job's name; the class name by default)."""
        return type(self).__name__

    @property
    def caches_results(self) -> bool:
        """Whether repeating an action with the same env params is answered from a cache
        (so an agent gains nothing by proposing it again)."""
        return False

    @property
    def has_constraints(self) -> bool:
        """Whether the env refuses some params by constraint (``constraint_failed`` rows)."""
        return False

    def infeasible(self, action: Mapping[str, Any]) -> str | None:
        """Why ``action`` is known to break a constraint before it runs, or ``None``.

        Only constraints over the action and fixed values are known in advance; one that
        reads an env param is decided per trial, and its failures arrive as
        ``constraint_failed`` rows. Built-in agents never propose an action this refuses.
        """
        return None

    def close(self) -> None:  # noqa: B027 - optional hook
        """Release resources (files, servers)."""


@dataclass(eq=False)
class PendingTrial:
    """A submitted trial: its step is fixed; its row arrives later.

    Exactly one of ``row`` (known at once: a cache hit, a constraint failure, a trial run
    in the caller's thread), ``future`` (running in the background) or ``waits_for`` (a
    twin with the same cache key is in flight; this one becomes its cache hit) says where
    the row comes from. ``info`` is what the env adds to the step's ``info``.
    """

    step: int
    action: dict[str, Any]
    env_params: dict[str, Any]
    params: dict[str, Any]
    key: str = ""
    row: TrialRow | None = None
    future: Future[Any] | None = None
    waits_for: PendingTrial | None = None
    completed: bool = False
    done: bool = False
    info: dict[str, Any] = field(default_factory=dict)

    @property
    def ready(self) -> bool:
        """Whether ``complete`` can return without waiting."""
        if self.row is not None:
            return True
        if self.future is not None:
            return self.future.done()
        return self.waits_for is not None and self.waits_for.completed


class TrialEnv(BaseGym):
    """A ``BaseGym`` whose steps are recorded trials (see the module docstring)."""

    replay_plan: Sequence[ReplayItem] = ()
    """The trials of an interrupted run to replay (set by :meth:`resume`)."""
    run_dir: Path | None = None
    """The run folder this env records into, when it owns one (``tunegym.make_env``)."""
    runs_in_flight_to_the_end: bool = False
    """Whether a trial in flight cannot be stopped (a thread of this process): when the
    loop stops on an error, it then waits for each one and records it, instead of
    recording only those already finished (a process it stops is recorded as is)."""
    _closed: bool = False

    @property
    @abstractmethod
    def max_parallel(self) -> int:
        """How many submitted trials may be in flight at once (1: ``submit`` finishes the
        trial before it returns)."""

    progress_direction: str | None = None
    """``"max"``/``"min"``: which intermediate values (a row's ``curve``) are better, when
    the env records curves (``None``: it records none)."""

    def stop_running(self, status: str, reason: str) -> Sequence[StopSignal]:
        """Stop every trial running now, recorded with ``status`` because of ``reason``
        (the loop calls it when the time budget and its grace are spent); the stops this
        call sent. Once those trials are over, a stop's ``landed`` says whether it ended
        its trial: one can still find it came too late (a Slurm job that completed between
        two polls keeps its result). An env that cannot stop a running trial sends none."""
        return ()

    parallel_hint: str = ""
    """Why ``max_parallel`` is what it is, or how to raise it (for the loop's error)."""

    @property
    def folder(self) -> Path | None:
        """The folder that receives this job iteration's files (``None``: no files)."""
        return None

    @abstractmethod
    def submit(self, action: Mapping[str, Any]) -> PendingTrial:
        """Assign the next step to ``action`` and start its trial."""

    @abstractmethod
    def complete(self, pending: PendingTrial) -> StepResult:
        """Record ``pending``'s row (waiting for it if needed); return the step's result."""

    @abstractmethod
    def resume(self) -> Sequence[ReplayItem]:
        """Prepare a resumed run's store and return its replay plan (in step order)."""

    @abstractmethod
    def resubmit(self, item: ReplayItem) -> PendingTrial:
        """Start a trial that was dispatched but never finished again, under its own step."""

    def step(self, action: Mapping[str, Any]) -> StepResult:
        return self.complete(self.submit(action))

    def wait_ready(self, pending: Sequence[PendingTrial]) -> list[PendingTrial]:
        """Block until at least one trial of ``pending`` can complete; return those, in
        step order.

        A trial waiting on a twin with the same key is returned only after that one, so
        it completes as a cache hit of the recorded row.
        """
        while True:
            ready = [p for p in pending if p.ready]
            if ready:
                first = [p for p in ready if p.waits_for is None]
                return sorted(first or ready, key=lambda p: p.step)
            futures = [p.future for p in pending if p.future is not None and not p.future.done()]
            if not futures:
                raise RuntimeError("no trial in flight can finish: a waiter has no running target")
            wait(futures, return_when=FIRST_COMPLETED)

    def feedback_of(self, row: TrialRow) -> Feedback:
        """The agent's view of a recorded row."""
        return Feedback.of(row, self.observation_space)

    @property
    @abstractmethod
    def last_step(self) -> int:
        """The last step handed out (0 before the first trial)."""

    @property
    def close_hooks(self) -> list[Callable[[BaseException | None], None]]:
        """Called once by :meth:`close` after :meth:`release`, with the exception that
        releasing raised (or ``None``); the owner of the run folder finishes it here."""
        hooks: list[Callable[[BaseException | None], None]] | None
        hooks = self.__dict__.get("_close_hooks")
        if hooks is None:
            hooks = self.__dict__["_close_hooks"] = []
        return hooks

    def release(self) -> None:
        """Release the env's resources (executors, servers, the trial store)."""

    def check_open(self, call: str) -> None:
        """Refuse ``call`` (``step``, ``reset``) on a closed env before anything runs, with
        Gymnasium's ``ClosedEnvironmentError`` (as :class:`~tunegym.gym.GymnasiumAdapter`
        does): after :meth:`close` its executor, server or trial store is gone."""
        if self._closed:
            from gymnasium.error import ClosedEnvironmentError

            raise ClosedEnvironmentError(
                f"{call}() after close(): {self.name} is closed; make a new env"
            )

    def close(self) -> None:
        """Release the env's resources, then run its close hooks; only the first call acts."""
        if self._closed:
            return
        self._closed = True
        error: BaseException | None = None
        try:
            self.release()
        except BaseException as exc:
            error = exc
            raise
        finally:
            for hook in self.close_hooks:
                hook(error)
