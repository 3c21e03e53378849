"""tunegym: turn anything that runs into a gym environment and find its best configuration."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from tunegym.env.base import TrialEnv
    from tunegym.results.runs import RunTrials
    from tunegym.run.tune import tune

from tunegym.version import __version__

__all__ = ["__version__", "load_run", "make_env", "tune"]


def make_env(
    path: str | Path, output: str | Path | None = None, seed: int | None = None
) -> TrialEnv:
    """The env of the first agent-driven job of a workload or scenario file.

    Trials land in a new run folder under ``output`` (default ``./runs``), exactly as
    with ``tunegym run``. Hand it to any RL library through the adapter::

        from tunegym.gym import GymnasiumAdapter
        env = GymnasiumAdapter(tunegym.make_env("workload.toml"), flatten=True)

    See :func:`tunegym.gym.make.make_env` for the full contract.
    """
    from tunegym.gym.make import make_env as _make_env

    return _make_env(path, output, seed)


def load_run(run_dir: str | Path) -> RunTrials:
    """The jobs and trials of a run folder (finished, running or crashed), as data::

        run = tunegym.load_run("runs/sqlite-insert_20261201-120000")
        frame = run.to_pandas()              # one row per trial (pip install 'tunegym[results]')
        best = run.job("sqlite-insert").results.best_row

    See :mod:`tunegym.results.runs` for the columns.
    """
    from tunegym.results.runs import load_run as _load_run

    return _load_run(run_dir)


def __getattr__(name: str) -> Any:
    """``tunegym.tune`` (:func:`tunegym.run.tune.tune`), imported on first use so that
    ``import tunegym`` stays light::

        run = tunegym.tune("workload.toml", max_steps=30, seed=0, verbosity=0)
        print(run.status, run.best.action, run.best.reward)
    """
    if name == "tune":
        from tunegym.run.tune import tune

        return tune
    raise AttributeError(f"module 'tunegym' has no attribute {name!r}")
