"""``make_env``: the env of a workload or scenario file, for Python users and RL libraries;
``make_adapter`` and ``register`` give it to gymnasium."""

from __future__ import annotations

import contextlib
import functools
import inspect
from collections.abc import Callable
from pathlib import Path
from typing import Any

import gymnasium as gym

from tunegym.agents.registry import default_max_steps
from tunegym.env.base import TrialEnv
from tunegym.env.workload import EnvSettings
from tunegym.errors import UsageError
from tunegym.gym.adapter import GymnasiumAdapter
from tunegym.limits import MAX_SEED, check_whole
from tunegym.run.job import open_env
from tunegym.run.scenario import finish_run
from tunegym.runners.local import LocalRunner
from tunegym.session.folder import RunSession
from tunegym.session.records import JobRecord
from tunegym.space import SearchSpace
from tunegym.spec.loader import Job, load

EXTERNAL_AGENT = "external"
"""The agent a make_env job records: whoever calls ``step`` (an RL library, a script)."""


def make_env(
    path: str | Path, output: str | Path | None = None, seed: int | None = None
) -> TrialEnv:
    """Build the env of the first agent-driven job of ``path`` (a workload or scenario).

    Trials land in a new run folder under ``output`` (default ``./runs``) exactly as with
    ``tunegym run``: ``trials.sqlite`` (with the run, job fingerprints and the job's
    record, agent ``"external"``), ``<job>/0/trajectory.csv``, ``env.csv`` and one folder
    per executed trial. While the env is open ``tunegym report`` sees the run as
    ``running`` (and the run folder is locked); ``close()`` records it ``ok`` (``error``
    if closing raised) and writes ``summary.json``, the best config and ``report.html``.
    ``seed`` overrides ``agent.seed`` (env param draws, live server resets). An offline
    job gives a :class:`~tunegym.env.workload.WorkloadEnv`, a live job a
    :class:`~tunegym.env.live.LiveEnv`. The env has ``run_dir`` and ``remake()`` (a fresh
    env from the same arguments, in a new run folder).

    Raises :class:`~tunegym.errors.SpecError` for a bad file and
    :class:`~tunegym.errors.UsageError` when no job has anything to choose.
    """
    return _open(path, output, seed)[0]


def _open(
    path: str | Path, output: str | Path | None, seed: int | None
) -> tuple[TrialEnv, Callable[[BaseException], None]]:
    """:func:`make_env`'s env, and how to give it up: close it, recording the error."""
    check_whole("seed", seed, 0, MAX_SEED)
    source = Path(path).resolve()
    scenario = load(source)
    job = _first_agent_driven(scenario.jobs, source)
    session = RunSession.create(
        Path(output) if output is not None else Path("runs"), scenario, seed=seed
    )
    try:
        store = session.open_store(job, 0)
        env = open_env(job, store, LocalRunner(), EnvSettings(cache=job.workload.cache, seed=seed))
    except BaseException as exc:
        session.fail(exc)
        finish_run(session, "error")
        raise
    agent = job.workload.agent
    budget = agent.max_steps or default_max_steps(env.action_space, agent.repeats)
    record = JobRecord(job, 0, store.folder, EXTERNAL_AGENT, budget)
    session.start_job(record)
    given_up: list[BaseException] = []

    def finish(error: BaseException | None) -> None:
        """Record the run's end and write its reports (after the env released all)."""
        error = error or (given_up[0] if given_up else None)
        if error is None:
            record.status = "ok"
        else:
            record.status = "error"
            record.message = f"{type(error).__name__}: {error}"
            session.fail(error)
        # The caller, not a budget, decided how many steps ran.
        record.max_steps = max(record.max_steps, env.last_step)
        finish_run(session, record.status)

    def abort(error: BaseException) -> None:
        """Close the env, recording the run as failed with ``error`` (its user could not
        use it); an error of the closing itself does not hide ``error``."""
        given_up.append(error)
        with contextlib.suppress(Exception):
            env.close()

    env.close_hooks.append(finish)
    env.run_dir = session.run_dir
    env.remake = functools.partial(make_env, source, output, seed)
    return env, abort


def make_adapter(
    path: str | Path,
    output: str | Path | None = None,
    seed: int | None = None,
    **adapter_kwargs: Any,
) -> GymnasiumAdapter:
    """``GymnasiumAdapter(tunegym.make_env(path, output, seed), **adapter_kwargs)``.

    Arguments the adapter does not take are refused before the run folder is made; when
    the adapter cannot wrap the env (``flatten=True`` on a space mixing lists and ranges),
    the env is closed (its server stopped, the run recorded ``error``) and the error
    raised.
    """
    check_adapter_arguments(adapter_kwargs)
    env, abort = _open(path, output, seed)
    try:
        return GymnasiumAdapter(env, **adapter_kwargs)
    except BaseException as exc:
        abort(exc)
        raise


def check_adapter_arguments(adapter_kwargs: dict[str, Any]) -> None:
    """A ``TypeError`` for a keyword :class:`GymnasiumAdapter` does not take, a
    ``ValueError`` for a ``flatten`` it refuses: what can be told before an env exists."""
    try:
        inspect.signature(GymnasiumAdapter).bind(None, **adapter_kwargs)
    except TypeError as exc:
        raise TypeError(f"GymnasiumAdapter: {exc}") from None
    flatten = adapter_kwargs.get("flatten", False)
    if flatten not in (False, True, "discrete"):
        raise ValueError(f"flatten must be False, True or 'discrete', got {flatten!r}")


def register(
    env_id: str,
    path: str | Path,
    *,
    output: str | Path | None = None,
    seed: int | None = None,
    **adapter_kwargs: Any,
) -> None:
    """Register the workload or scenario at ``path`` as ``gymnasium.make(env_id)``.

    Each ``make`` builds a fresh env (a new run folder under ``output``) wrapped in a
    :class:`GymnasiumAdapter`; the id is registered as nondeterministic.
    """
    check_whole("seed", seed, 0, MAX_SEED)
    check_adapter_arguments(adapter_kwargs)
    gym.register(
        id=env_id,
        entry_point="tunegym.gym.make:make_adapter",
        nondeterministic=adapter_kwargs.get("nondeterministic", True),
        kwargs={
            "path": str(Path(path).resolve()),
            "output": None if output is None else str(output),
            "seed": seed,
            **adapter_kwargs,
        },
    )


def _first_agent_driven(jobs: tuple[Job, ...], path: Path) -> Job:
    for job in jobs:
        if job.workload.mode == "live" or not SearchSpace.from_workload(job.workload).is_empty:
            return job
    raise UsageError(
        f"{path}: no job has anything to choose (each has no list or range in [params]/[env] "
        'and is not mode = "live"); make_env needs an agent-driven job'
    )
