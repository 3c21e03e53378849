"""``WorkloadEnv``: one trial of a workload per ``step``, exactly as DESIGN.md's flow says.

1. the step comes from ``Sweep.increment_step()`` (the only writer of the counter);
2. env params are drawn for that step; 3. params = fixed | action | env params;
4. a cache hit on ``(action, env_params)`` records a row and returns;
5. a failing constraint records a penalty row and returns;
6. otherwise the runner runs the trial; 7. metrics become the observation and reward;
8. the row goes to the trial store (SQLite + CSV).

A trial that fails is data (a row with its status and the penalty reward); only bugs raise.
"""

from __future__ import annotations

import json
import sys
import threading
import time
from collections.abc import Collection, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from tunegym.command import CommandTemplate, trial_environment
from tunegym.env.base import Observation, PendingTrial, StepResult, TrialEnv
from tunegym.env.observers import StepObserver
from tunegym.env.recording import full_observation, record_row, resume_plan, score_row
from tunegym.env.watch import TrialWatcher
from tunegym.env_params import EnvParamDim, EnvParams
from tunegym.expr import ExprError, SafeExpr, compile_expr
from tunegym.metrics import MetricSource, build_extractor, build_reward, extract_metrics
from tunegym.metrics.progress import ProgressReader, ProgressSource
from tunegym.metrics.trial_files import MAX_FILE_BYTES, TrialFileError, read_trial_file
from tunegym.pruning import PruningStudy, pruned_message
from tunegym.runners.base import Runner, StopSignal, TrialSpec
from tunegym.space import SearchSpace, cache_key
from tunegym.spec.loader import Job
from tunegym.spec.pruning import progress_metric, pruner_direction
from tunegym.trial.resume import ReplayItem
from tunegym.trial.rows import TrialRow
from tunegym.trial.status import TrialStatus
from tunegym.trial.store import TrialStore
from tunegym.trial.sweep import Sweep

__all__ = ["EnvSettings", "PendingTrial", "WorkloadEnv"]


@dataclass(frozen=True)
class EnvSettings:
    """How an env runs its trials (from the CLI or Python API, not from the spec)."""

    dry_run: bool = False
    cache: bool = True
    seed: int | None = None
    parallel: int = 1


class WorkloadEnv(TrialEnv):
    """Runs a workload's command once per step and scores its metrics."""

    def __init__(
        self,
        job: Job,
        sweep: Sweep,
        store: TrialStore,
        runner: Runner,
        settings: EnvSettings | None = None,
        observers: Sequence[StepObserver] = (),
    ) -> None:
        self.job = job
        self.workload = job.workload
        self.sweep = sweep
        self.store = store
        self.runner = runner
        self.settings = settings or EnvSettings()
        self.observers = list(observers)
        seed = self.workload.agent.seed if self.settings.seed is None else self.settings.seed
        self.seed = seed
        self.action_space = SearchSpace.from_workload(self.workload)
        self.env_params = EnvParams.from_workload(self.workload, seed)
        self.observation_space = self.workload.agent_metrics
        self.reward_fn = build_reward(self.workload.agent.reward, self.workload.reward_metrics)
        self.penalties = self.workload.agent.penalties
        self.constraints = [compile_expr(c) for c in self.workload.constraints]
        self.action_constraints = action_constraints(self.constraints, self.action_space)
        """Constraints over the action and fixed values only: known before a trial runs."""
        self.extractors = [
            build_extractor(MetricSource.of(m)) for m in self.workload.metrics if m.has_extractor
        ]
        self._init_progress()
        self.command = CommandTemplate(self.workload.command or [])
        self.cache: dict[str, TrialRow] = {}
        self._in_flight: dict[str, PendingTrial] = {}
        self.replay_plan: list[ReplayItem] = []
        self.executor: ThreadPoolExecutor | None = None
        if self.settings.parallel > 1:
            self.executor = ThreadPoolExecutor(self.settings.parallel, "tunegym-trial")
        self.last_observation: Observation = full_observation({}, self.observation_space)

    def _init_progress(self) -> None:
        """The progress source of the watched metric, and the pruning study (when
        ``[agent.pruner]`` names a pruner other than ``none``)."""
        self._stops: dict[int, StopSignal] = {}
        self._stops_lock = threading.Lock()
        self.progress: ProgressSource | None = None
        self.pruning: PruningStudy | None = None
        self.progress_direction: str | None = None
        self.poll_interval_s = 0.2
        metric = progress_metric(self.workload)
        if metric is None:
            return
        self.progress = ProgressSource(metric.name, metric.progress, metric.progress_file)
        self.progress_direction = pruner_direction(self.workload, metric.name)
        pruner = self.workload.agent.pruner
        if pruner is not None:
            self.poll_interval_s = pruner.poll_interval_s
        if pruner is not None and pruner.type != "none" and not self.settings.dry_run:
            assert self.progress_direction is not None  # checked with the workload
            self.pruning = PruningStudy(pruner, self.progress_direction, self.seed)

    # -- gym interface -------------------------------------------------------------------
    def reset(
        self, seed: int | None = None, options: Mapping[str, Any] | None = None
    ) -> tuple[Observation, dict[str, Any]]:
        """Start an episode. Never rewinds the step; tells the next trial's env params."""
        self.check_open("reset")
        return dict(self.last_observation), {
            "step": self.sweep.step,
            "env_params": self.next_env_params(),
        }

    def next_env_params(self) -> dict[str, Any]:
        return self.env_params.sample(self.sweep.step + 1)

    @property
    def env_param_dims(self) -> tuple[EnvParamDim, ...]:
        return tuple(self.env_params.dims)

    @property
    def name(self) -> str:
        return self.job.name

    @property
    def caches_results(self) -> bool:
        return self.settings.cache and not self.settings.dry_run

    parallel_hint = "its EnvSettings(parallel=N) sets how many"

    @property
    def max_parallel(self) -> int:
        return self.settings.parallel

    @property
    def folder(self) -> Path:
        return self.sweep.root

    # -- dispatch and completion (the trial loop's parallel dispatch uses these) --------
    def submit(self, action: Mapping[str, Any]) -> PendingTrial:
        """Assign the next step to ``action`` and start its trial (in the background when
        the env has an executor). Cache hits and constraint failures are known at once; a
        trial whose key is already in flight waits for that trial and becomes a cache hit.
        """
        self.check_open("step")
        action = self.action_space.canonicalize(action)  # a bad action is a bug: no step used
        step = self.sweep.increment_step()
        env_params = self.env_params.sample(step)
        return self._submit_at(step, action, env_params)

    def _submit_at(
        self, step: int, action: dict[str, Any], env_params: dict[str, Any]
    ) -> PendingTrial:
        for observer in self.observers:
            observer.before_step(self, step, action, env_params)
        params = self.action_space.params(action, env_params)
        key = cache_key(action, env_params)
        pending = PendingTrial(step, action, env_params, params, key)
        if self.settings.cache and key in self.cache:
            pending.row = self._cached_row(self.cache[key], step)
        elif self.settings.cache and key in self._in_flight:
            self.store.mark_dispatched(step, action, env_params)  # a resume must see it
            pending.waits_for = self._in_flight[key]
        elif (broken := self._broken_constraint(action, params)) is not None:
            pending.row = TrialRow(
                step,
                action,
                env_params,
                {},
                self.penalties.constraint_failure,
                TrialStatus.CONSTRAINT_FAILED,
                started_at=time.time(),
                error=broken,
            )
        else:
            self.store.mark_dispatched(step, action, env_params)
            self._in_flight[key] = pending
            if self.executor is None:
                pending.row = self._execute(step, action, env_params, params)
            else:
                pending.future = self.executor.submit(
                    self._execute, step, action, env_params, params
                )
        return pending

    def complete(self, pending: PendingTrial) -> StepResult:
        """Record the trial's row (waiting for it if needed) and return the step result."""
        if pending.row is None:
            if pending.future is not None:
                pending.row = pending.future.result()
            else:
                assert pending.waits_for is not None and pending.waits_for.completed
                pending.row = self._cached_row(pending.waits_for.row, pending.step)  # type: ignore[arg-type]
        row = pending.row
        if pending.future is not None or self._in_flight.get(pending.key) is pending:
            self._in_flight.pop(pending.key, None)
            if not self.settings.dry_run:
                self.cache[pending.key] = row
        observation, reward, info = record_row(self, row, pending.params)
        pending.completed = True
        return observation, reward, False, info

    # -- resume --------------------------------------------------------------------------
    def resume(self) -> list[ReplayItem]:
        """Prepare a resumed store: rebuild its CSVs, prime the cache with finished rows,
        move the counter past the largest step, and keep the replay plan for the loop."""
        plan = resume_plan(self.store, self.sweep, self.action_space)
        for item in plan:
            if item.row is not None and not item.row.cached and item.row.status.cacheable:
                self.cache[cache_key(item.action, item.env_params)] = item.row
            if item.row is not None and not item.row.cached and self.pruning is not None:
                self.pruning.restore(item.row.status, item.row.curve)
        self.replay_plan = plan
        return plan

    def resubmit(self, item: ReplayItem) -> PendingTrial:
        """Run a started-but-unfinished trial again under its own step (its curve so far
        is dropped: it starts over)."""
        self.check_open("step")
        self.store.clear_curve(item.step)
        return self._submit_at(item.step, dict(item.action), dict(item.env_params))

    def stop_running(self, status: str, reason: str) -> list[StopSignal]:
        """Stop every trial running now, recorded as ``status`` (the time budget is
        spent); the stops this call sent (see :meth:`BaseGym.stop_running`)."""
        with self._stops_lock:
            stops = list(self._stops.values())
        return [stop for stop in stops if stop.stop(TrialStatus(status), reason)]

    @staticmethod
    def _cached_row(source: TrialRow, step: int) -> TrialRow:
        status = TrialStatus.CACHED if source.status is TrialStatus.OK else source.status
        return replace(
            source, step=step, status=status, cached=True, duration_s=0.0, started_at=time.time()
        )

    # -- constraints ---------------------------------------------------------------------
    @property
    def has_constraints(self) -> bool:
        return bool(self.constraints)

    def infeasible(self, action: Mapping[str, Any]) -> str | None:
        """Why ``action`` breaks a constraint over the action and fixed values (``None``:
        none does); constraints that read env params are checked per trial only."""
        if not self.action_constraints:
            return None
        space = self.action_space
        return broken_constraint(
            self.action_constraints, {**space.fixed, **action}, space.inactive(action)
        )

    # -- steps ---------------------------------------------------------------------------
    def _broken_constraint(
        self, action: Mapping[str, Any], params: Mapping[str, Any]
    ) -> str | None:
        """Why the first constraint that does not hold fails (``None`` when all hold); one
        that cannot be evaluated (e.g. 1/0) counts as failed."""
        return broken_constraint(self.constraints, params, self.action_space.inactive(action))

    def _execute(
        self, step: int, action: dict[str, Any], env_params: dict[str, Any], params: dict[str, Any]
    ) -> TrialRow:
        trial_dir = self.sweep.trial_dir(step)
        values = {
            **params,
            "python": sys.executable,
            "workload_dir": str(self.job.workload_dir),
            "trial_dir": str(trial_dir),
            "step": step,
        }
        argv = self.command.render(values, self.action_space.inactive(action))
        env = trial_environment(
            params,
            list(self.workload.env),
            {"TUNEGYM_TRIAL_DIR": str(trial_dir), "TUNEGYM_STEP": str(step)},
        )
        _write_trial_json(trial_dir, step, self.job.name, action, env_params, params, argv)
        stop = StopSignal()
        with self._stops_lock:
            self._stops[step] = stop
        watcher = self._watcher(step, trial_dir, stop)
        ended = False
        try:
            result = self.runner.run(
                TrialSpec(argv, trial_dir, env, self.workload.timeout_s, stop=stop)
            )
            ended = True
        finally:  # an interrupt does not wait for the rest of the progress to be read
            curve = watcher.finish(read_rest=ended) if watcher is not None else ()
            with self._stops_lock:
                self._stops.pop(step, None)
        reader = watcher.reader if watcher is not None else None
        row = self._row_of(step, action, env_params, result, trial_dir, curve, stop, reader)
        if self.pruning is not None:
            self.pruning.finish(step, row.status, curve)
        return row

    def _watcher(self, step: int, trial_dir: Path, stop: StopSignal) -> TrialWatcher | None:
        """The watcher of a trial's progress (``None`` without a metric with progress)."""
        source = self.progress
        if source is None or self.settings.dry_run:
            return None
        pruning = self.pruning
        if pruning is not None:
            pruning.start(step)

        def record(points: list[tuple[int, float]]) -> None:
            self.store.add_points(step, points)

        def decide(progress_step: int, value: float) -> bool:
            assert pruning is not None
            return pruning.report(step, progress_step, value)

        def describe(progress_step: int, value: float) -> str:
            return pruned_message(progress_step, value, source.metric)

        return TrialWatcher(
            ProgressReader(source, trial_dir),
            stop,
            record,
            decide if pruning is not None else None,
            self.poll_interval_s,
            describe,
        ).start()

    def _row_of(
        self,
        step: int,
        action: dict[str, Any],
        env_params: dict[str, Any],
        result: Any,
        trial_dir: Path,
        curve: tuple[tuple[int, float], ...],
        stop: StopSignal,
        reader: ProgressReader | None = None,
    ) -> TrialRow:
        base = TrialRow(
            step,
            action,
            env_params,
            {},
            None,
            TrialStatus.OK,
            returncode=result.returncode,
            duration_s=result.duration_s,
            started_at=result.started_at,
            curve=curve,
        )
        if stop.landed and stop.status is not None:  # the env asked: pruned, budget spent
            return replace(
                base,
                status=stop.status,
                reward=self.penalties.metric_failure,
                error=stop.reason,
            )
        if result.status != TrialStatus.OK:
            return replace(
                base,
                status=result.status,
                reward=self.penalties.metric_failure,
                error=result.error,
            )
        if self.settings.dry_run:
            return replace(base, status=TrialStatus.DRY_RUN)
        stdout, stdout_cut = _read_stdout(result.stdout_path)
        readout = extract_metrics(self.extractors, trial_dir, stdout)
        found = readout.found
        found.setdefault("duration_s", result.duration_s)
        if self.progress is not None and self.progress.metric not in found:
            # progress only: the last point, unless the reader gave up part way
            why = reader.why_missing(curve_empty=not curve) if reader is not None else None
            if why is not None:
                readout.reasons[self.progress.metric] = why
            elif curve:
                found[self.progress.metric] = curve[-1][1]
        row = score_row(
            base, found, self.observation_space, self.reward_fn, self.penalties.metric_failure
        )
        if row.status == "metric_missing" and (readout.reasons or stdout_cut):
            why = "; ".join(filter(None, [readout.why_missing(), stdout_cut]))
            row = replace(row, error=f"{row.error}: {why}")
        return row

    @property
    def last_step(self) -> int:
        return self.sweep.step

    def release(self) -> None:
        if self.executor is not None:
            self.runner.cancel_all()  # an interrupted parallel run: kill what is still running
            self.executor.shutdown(wait=True, cancel_futures=True)
        self.store.close()


def action_constraints(constraints: Sequence[SafeExpr], space: SearchSpace) -> list[SafeExpr]:
    """Those of ``constraints`` that read only the action and fixed values of ``space``
    (decided before a trial runs; one that reads an env param is decided per trial)."""
    known = set(space.fixed) | set(space.dimensions)
    return [c for c in constraints if c.names <= known]


def broken_constraint(
    constraints: Sequence[SafeExpr], params: Mapping[str, Any], inactive: Collection[str] = ()
) -> str | None:
    """Why the first of ``constraints`` that does not hold for ``params`` fails, or
    ``None``; one that cannot be evaluated (``1 / 0``) counts as failed, with its error.
    A constraint that reads an ``inactive`` param (a ``[when]`` whose condition is false)
    does not apply: it constrains the param only where it exists."""
    for constraint in constraints:
        if inactive and not constraint.names.isdisjoint(inactive):
            continue
        try:
            if not constraint.evaluate(params):
                return f"constraint {constraint.source!r} is false"
        except ExprError as exc:
            return f"constraint {constraint.source!r} cannot be evaluated: {exc}"
    return None


def _write_trial_json(
    trial_dir: Path,
    step: int,
    job: str,
    action: Mapping[str, Any],
    env_params: Mapping[str, Any],
    params: Mapping[str, Any],
    argv: Sequence[str],
) -> None:
    payload = {
        "step": step,
        "job": job,
        "params": params,
        "action": action,
        "env_params": env_params,
        "argv": list(argv),
    }
    (trial_dir / "trial.json").write_text(json.dumps(payload, indent=2, default=str) + "\n")


def _read_stdout(path: Path) -> tuple[str, str | None]:
    """The trial's stdout (its last 64 MiB at most) and, when not all of it could be
    read, why (for a metric then missing)."""
    try:
        data = read_trial_file(path, tail=True)
    except TrialFileError as exc:
        return "", f"{exc} (the trial replaced it)"
    except OSError:
        return "", None
    text = data.decode("utf-8", errors="replace")
    if len(data) < MAX_FILE_BYTES:
        return text, None
    return text, f"only the last {MAX_FILE_BYTES // 2**20} MiB of stdout.txt were searched"
