"""``LiveEnv``: a workload whose steps go to an in-process ``GymServer`` (``mode = "live"``).

The flow is WorkloadEnv's, minus what only makes sense for independent trials:

1. the step comes from ``Sweep.increment_step()`` (the only writer of the counter);
2. env params are drawn for that step; 3. params = fixed | action | env params;
4. ``server.step(params)`` answers at once: no runner, no constraint check, no cache;
5. a ``None`` reward is computed from the observation with the workload's reward;
6. the row goes to the trial store (SQLite + CSV), exactly as an offline trial's.

``step`` reports ``done = terminated or truncated`` (both are also in ``info``); the run
loop then calls ``reset``, which starts a new server episode. The counter keeps counting.
"""

from __future__ import annotations

import math
import time
from collections.abc import Mapping, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np

from tunegym.env.base import Observation, PendingTrial, StepResult, TrialEnv
from tunegym.env.observers import StepObserver
from tunegym.env.recording import full_observation, record_row, resume_plan, score_row
from tunegym.env.server import (
    ServerError,
    load_server,
    read_action_space,
    read_observation_space,
)
from tunegym.env.workload import EnvSettings
from tunegym.env_params import EnvParamDim, EnvParams
from tunegym.metrics import build_reward
from tunegym.pruning.reporting import Reporter
from tunegym.pruning.reporting import enter as enter_reporting
from tunegym.pruning.reporting import leave as leave_reporting
from tunegym.space import Categorical, Continuous, SearchSpace
from tunegym.spec.loader import Job
from tunegym.spec.models import BUILTIN_METRICS, ContinuousParam, ParamValue, WorkloadSpec
from tunegym.trial.resume import ReplayItem
from tunegym.trial.rows import Episode, TrialRow
from tunegym.trial.status import TrialStatus
from tunegym.trial.store import TrialStore
from tunegym.trial.sweep import Sweep
from tunegym.values import is_finite_number

# Module constants: looking an enum member up costs ~0.3 us, and this is the live hot path.
_OK, _METRIC_MISSING = TrialStatus.OK, TrialStatus.METRIC_MISSING


class LiveEnv(TrialEnv):
    """Steps a live :class:`~tunegym.gym.GymServer` and records every step as a trial row.

    ``action_space`` is built from the server's ``action_space()``; the workload's
    ``[params]``/``[env]`` entries override it by name (a scalar pins a dimension to one
    of its values, a list or range narrows it) or add fixed values, and list-valued
    params named in ``[env_params]`` are sampled per step. ``observation_space`` is
    ``agent.metrics`` when given, else the server's ``observation_space()``.

    ``server`` may be passed in (an instance) instead of being loaded from the workload.
    """

    def __init__(
        self,
        job: Job,
        sweep: Sweep,
        store: TrialStore,
        settings: EnvSettings | None = None,
        observers: Sequence[StepObserver] = (),
        server: Any | None = None,
    ) -> None:
        self.job = job
        self.workload = workload = job.workload
        self.sweep = sweep
        self.store = store
        self.settings = settings or EnvSettings()
        self.observers = list(observers)
        self.seed = workload.agent.seed if self.settings.seed is None else self.settings.seed
        self._seeded = False  # whether a reset has passed a seed to the server yet
        self.server_path = workload.server or type(server).__name__
        where = f"{job.workload_path}: server {self.server_path!r}"
        try:
            if server is None:
                if workload.server is None:
                    raise ServerError("live mode needs server = 'package.module:Class'")
                server = load_server(workload.server, workload.server_args, job.workload_dir)
            declared = read_action_space(server, self.server_path)
            server_metrics = read_observation_space(server, self.server_path)
        except ServerError as exc:
            raise ServerError(f"{job.workload_path}: server: {exc}") from exc
        self.server = server
        self.action_space = live_space(workload, declared, where)
        self.env_params = EnvParams.from_workload(workload, self.seed)
        self.server_metrics = server_metrics
        known = [*server_metrics, *(m for m in BUILTIN_METRICS if m not in server_metrics)]
        for i, name in enumerate(workload.agent.metrics or []):
            if name not in known:
                raise ServerError(
                    f"{job.workload_path}: agent.metrics[{i}]: {name!r} is not a metric of "
                    f"server {self.server_path!r}; its observation_space(): {', '.join(known)}"
                )
        self.observation_space = list(workload.agent.metrics or server_metrics)
        try:
            self.reward_fn = build_reward(workload.agent.reward, self.observation_space)
        except ValueError as exc:
            raise ServerError(f"{job.workload_path}: agent.reward: {exc}") from None
        self.penalties = workload.agent.penalties
        self.last_observation: Observation = full_observation({}, self.observation_space)
        self._episode_open = False
        self._episode: _OpenEpisode | None = None
        self._episodes = 0
        self.replay_plan: list[ReplayItem] = []
        # what the server reports during a step (tunegym.pruning.report); one per env,
        # its points emptied before each step (steps run one at a time)
        self._reporter = Reporter()

    # -- gym interface -------------------------------------------------------------------
    def reset(
        self, seed: int | None = None, options: Mapping[str, Any] | None = None
    ) -> tuple[Observation, dict[str, Any]]:
        """Start a server episode. Never rewinds the step; tells the next step's env params.
        The first reset without a ``seed`` passes the job's (``agent.seed`` + iteration, or
        ``make_env``'s ``seed``), so an unseeded episode loop is reproducible.

        ``info`` holds ``step`` (the last step handed out), ``env_params`` (those of the next
        step) and ``server_info`` (what the server's ``reset`` returned). A dry run does
        not call the server.
        """
        self.check_open("reset")
        if seed is None and not self._seeded:
            seed = self.seed  # the first episode gets the job's seed; later ones go on from it
        self._seeded = True
        if self.settings.dry_run:
            result: Any = ({}, {})
        else:
            result = self.server.reset(seed=seed, options=dict(options) if options else None)
        found, server_info = _unpack(result, 2, "reset", self.server_path)
        found = _observation(found, "reset", self.server_path)
        found.setdefault("duration_s", 0.0)
        observation = full_observation(found, self.observation_space)
        self.last_observation = observation
        self._episode_open = True
        self._episode = _OpenEpisode(seed)
        return dict(observation), {
            "step": self.sweep.step,
            "env_params": self.next_env_params(),
            "server_info": server_info,
        }

    def next_env_params(self) -> dict[str, Any]:
        return self.env_params.sample(self.sweep.step + 1)

    @property
    def env_param_dims(self) -> tuple[EnvParamDim, ...]:
        return tuple(self.env_params.dims)

    @property
    def name(self) -> str:
        return self.job.name

    parallel_hint = "a live server is one environment, stepped one step after another"

    @property
    def max_parallel(self) -> int:
        return 1

    @property
    def folder(self) -> Path:
        return self.sweep.root

    def submit(self, action: Mapping[str, Any]) -> PendingTrial:
        """Step the server at once (it answers in process); :meth:`complete` returns it."""
        observation, reward, done, info = self.step(action)
        row = info["row"]
        return PendingTrial(
            row.step,
            dict(row.action),
            dict(row.env_params),
            info["params"],
            row=row,
            done=done,
            info={"result": (observation, reward, done, info)},
        )

    def complete(self, pending: PendingTrial) -> StepResult:
        pending.completed = True
        result: StepResult = pending.info["result"]
        return result

    def resubmit(self, item: ReplayItem) -> PendingTrial:
        raise ServerError(
            f"step {item.step} of a live job cannot run again: a live episode cannot be "
            "re-entered (a resume replays finished steps only)"
        )

    def step(self, action: Mapping[str, Any]) -> StepResult:
        """One server step under the next trial number; ``done`` = terminated or truncated.

        A step after an episode ended (or before any ``reset``) first resets the server
        (the first reset of the env with the job's seed, later ones without). A dry run
        (``tunegym run --dry-run``) records the step's row (action, env params; no
        observation, no reward) without calling the server.
        ``info`` adds ``terminated``, ``truncated`` and ``server_info`` to the keys every
        tunegym env reports (see :func:`tunegym.env.recording.record_row`).
        """
        self.check_open("step")
        action = self.action_space.canonicalize(action)  # a bad action is a bug: no step used
        if not self._episode_open:
            self.reset()
        step = self.sweep.increment_step()
        env_params = self.env_params.sample(step)
        for observer in self.observers:
            observer.before_step(self, step, action, env_params)
        params = self.action_space.params(action, env_params)
        if self.settings.dry_run:  # like an offline dry run: a row, nothing executed
            row = TrialRow(
                step, action, env_params, {}, None, TrialStatus.DRY_RUN, started_at=time.time()
            )
            observation, reward_value, info = record_row(self, row, params)
            return observation, reward_value, False, info
        started_at = time.time()
        reporter = self._reporter
        reporter.points = []
        token = enter_reporting(reporter)  # the server may call tunegym.pruning.report
        start = time.perf_counter()
        try:
            result = self.server.step(dict(params))
        finally:
            leave_reporting(token)
        duration = time.perf_counter() - start
        found, reward, terminated, truncated, server_info = _unpack(
            result, 5, "step", self.server_path
        )
        found = _observation(found, "step", self.server_path)
        found.setdefault("duration_s", duration)
        penalty = self.penalties.metric_failure
        if reward is None:  # the server leaves scoring to the workload's reward
            base = TrialRow(
                step,
                action,
                env_params,
                found,
                None,
                TrialStatus.OK,
                duration_s=duration,
                started_at=started_at,
            )
            row = score_row(base, found, self.observation_space, self.reward_fn, penalty)
        else:  # one constructor call, no dataclasses.replace: this is the live hot path
            ok = is_finite_number(reward)
            row = TrialRow(
                step,
                action,
                env_params,
                found,
                float(reward) if ok else penalty,
                _OK if ok else _METRIC_MISSING,
                duration_s=duration,
                started_at=started_at,
            )
        if reporter.points:  # intermediate values the server reported during its step
            self.store.add_points(step, reporter.points)
            row = replace(row, curve=tuple(reporter.points))
        observation, reward_value, info = record_row(self, row, params)
        terminated, truncated = bool(terminated), bool(truncated)
        done = terminated or truncated
        episode = self._episode
        if episode is not None:
            episode.add(step, row.reward)
            if done:
                self._end_episode(episode, step, terminated, truncated)
        if done:
            self._episode_open = False
        info["terminated"] = terminated
        info["truncated"] = truncated
        info["server_info"] = server_info
        return observation, reward_value, done, info

    def _end_episode(
        self, episode: _OpenEpisode, step: int, terminated: bool, truncated: bool
    ) -> None:
        self.store.record_episode(
            Episode(
                self._episodes,
                episode.first_step or step,
                step,
                episode.steps,
                episode.total_reward,
                terminated,
                truncated,
                episode.seed,
            )
        )
        self._episodes += 1
        self._episode = None

    # -- resume --------------------------------------------------------------------------
    def resume(self) -> list[ReplayItem]:
        """Prepare a resumed store: rebuild its CSVs and continue after the largest step.

        Recorded steps are handed to the agent as replay (feedback only: a live episode
        cannot be re-entered, so the server starts a new one and nothing runs again).
        """
        self.replay_plan = [
            item
            for item in resume_plan(self.store, self.sweep, self.action_space)
            if item.row is not None
        ]
        self._episodes = len(self.store.episodes())
        return self.replay_plan

    @property
    def last_step(self) -> int:
        return self.sweep.step

    def release(self) -> None:
        """Close the server (when it has ``close()``) and the trial store."""
        try:
            close = getattr(self.server, "close", None)
            if callable(close):
                close()
        finally:
            self.store.close()


def live_space(
    workload: WorkloadSpec, declared: Mapping[str, ParamValue], where: str
) -> SearchSpace:
    """The search space of a live job: the server's declaration with the workload's overrides.

    A workload entry that names a server dimension must stay inside it (a scalar must be
    one of its values, a list a subset, a range inside its range); env params must not
    name server dimensions. Raises :class:`ServerError` naming the field.
    """
    server_space = _space_of(workload, declared)
    table: dict[str, ParamValue] = dict(declared)
    for source in ("params", "env"):
        for name, value in getattr(workload, source).items():
            loc = f"{where}: {source}.{name}"
            if name in workload.env_params:
                if name in declared:
                    raise ServerError(
                        f"{loc}: {name!r} is a dimension of the server's action space and "
                        "cannot also be an env param"
                    )
                continue
            dim = server_space.dimensions.get(name)
            if dim is not None:
                _check_narrows(dim, value, loc)
            elif name in server_space.fixed and server_space.fixed[name] != value:
                raise ServerError(
                    f"{loc}: the server fixes {name} = {server_space.fixed[name]!r}; got {value!r}"
                )
            table[name] = value
    return _space_of(workload, table)


def _space_of(workload: WorkloadSpec, table: Mapping[str, ParamValue]) -> SearchSpace:
    spec = workload.model_copy(update={"params": dict(table), "env": {}})
    return SearchSpace.from_workload(spec)


def _check_narrows(dim: Categorical | Continuous, value: ParamValue, loc: str) -> None:
    try:
        if isinstance(value, ContinuousParam):
            if not isinstance(dim, Continuous):
                raise ValueError(
                    f"a range cannot narrow the categorical dimension {dim.name} "
                    f"(values {list(dim.values)}); give a list of its values"
                )
            if value.dtype != dim.dtype:
                raise ValueError(f"dtype {value.dtype!r} differs from the server's {dim.dtype!r}")
            dim.canonical(value.low)
            dim.canonical(value.high)
        elif isinstance(value, list):
            for item in value:
                dim.canonical(item)
        else:
            dim.canonical(value)
    except ValueError as exc:
        raise ServerError(f"{loc}: outside the server's action space: {exc}") from None


def _unpack(result: Any, size: int, method: str, path: str) -> tuple[Any, ...]:
    if not isinstance(result, tuple | list) or len(result) != size:
        shape = (
            "(observation, info)"
            if size == 2
            else "(observation, reward, terminated, truncated, info)"
        )
        raise ServerError(f"server {path!r}: {method}() must return {shape}, got {result!r}")
    return tuple(result)


def _observation(found: Any, method: str, path: str) -> dict[str, float]:
    if not isinstance(found, Mapping):
        raise ServerError(
            f"server {path!r}: {method}() must return the observation as a dict "
            f"{{metric: value}}, got {type(found).__name__}"
        )
    for name, value in found.items():
        if not isinstance(value, int | float | np.number):
            raise ServerError(
                f"server {path!r}: {method}() observation[{name!r}] must be a number, got {value!r}"
            )
    return dict(found)


class _OpenEpisode:
    """The episode in progress: its first step, steps and summed reward so far."""

    __slots__ = ("first_step", "seed", "steps", "total_reward")

    def __init__(self, seed: int | None) -> None:
        self.seed = seed
        self.first_step: int | None = None
        self.steps = 0
        self.total_reward = 0.0

    def add(self, step: int, reward: float | None) -> None:
        if self.first_step is None:
            self.first_step = step
        self.steps += 1
        self.total_reward += math.nan if reward is None else reward
