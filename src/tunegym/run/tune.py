"""``tunegym.tune``: ``tunegym run`` from Python, giving back the run as data.

Like Ray Tune's ``Tuner.fit()`` (a ``ResultGrid``) and Optuna's ``study.optimize`` (then
``study.best_params``), one call runs every job of a scenario or workload file into a new
run folder and returns what it found, read back from that folder
(:class:`~tunegym.results.runs.RunTrials`): ``run.best``, ``run.job(NAME).best``,
``run.to_pandas()``, ``run.status``. The run folder is the same as the command's, so
``tunegym show``, ``report`` and ``run --resume`` work on it.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

from tunegym.errors import UsageError
from tunegym.results.runs import RunTrials, load_run
from tunegym.run.scenario import RunOptions, check_log_file, run_scenario, spec_to_run
from tunegym.trial.rows import TrialRow


def tune(
    path: str | Path | None = None,
    *,
    output: str | Path = "runs",
    max_steps: int | None = None,
    seed: int | None = None,
    parallel: int | None = None,
    budget_s: float | None = None,
    budget_grace_s: float | None = None,
    runner: str | None = None,
    ray_address: str | None = None,
    resume: str | Path | None = None,
    dry_run: bool = False,
    verbosity: int = 1,
    log_file: str | Path | None = None,
    on_trial: Callable[[str, TrialRow], object] | None = None,
) -> RunTrials:
    """Run the scenario or workload at ``path`` and return the run it wrote.

    The keywords are ``tunegym run``'s options (``max_steps`` is ``--max-steps``, and so
    on) and override every job's setting as they do there; ``verbosity`` is 0 (quiet), 1
    (progress lines on stdout, the default) or 2 (every trial). ``resume=RUN_DIR`` continues
    an interrupted run (``path`` then defaults to the run's own spec file), and with a
    larger ``max_steps`` extends a finished one. ``on_trial(job, row)`` is called as each
    trial is recorded (the job's label and its :class:`~tunegym.trial.rows.TrialRow`), for
    logging to a tracker such as MLflow or Weights & Biases; an exception it raises stops
    the run, as a bug does, keeping every recorded row (in a parallel run, every trial that
    had finished by then is recorded too).

    A trial that fails is a row, not an exception; a job whose agent failed leaves
    ``run.status == "agent_failed"``. Raises :class:`~tunegym.errors.SpecError` for a bad
    file, :class:`~tunegym.errors.UsageError` for a bad option (naming it), and
    :class:`~tunegym.run.scenario.RunInterrupted` on Ctrl-C, after every recorded trial
    and the reports are written.
    """
    from tunegym.spec import load

    options = RunOptions(  # checks every option first, naming a bad one
        output=_path_option(output, "output"),
        dry_run=dry_run,
        seed=seed,
        max_steps=max_steps,
        parallel=parallel,
        progress=True,
        verbosity=verbosity,
        log_file=None if log_file is None else _path_option(log_file, "log_file"),
        resume=None if resume is None else _path_option(resume, "resume"),
        runner=runner,
        ray_address=ray_address,
        budget_s=budget_s,
        budget_grace_s=budget_grace_s,
        on_trial=on_trial,
    )
    kept = {"seed": seed is not None, "dry_run": dry_run}
    spec = spec_to_run(path, resume, kept, "resume=RUN_DIR")
    scenario = load(spec)
    if options.log_file is not None:
        check_log_file(options.log_file, scenario, options.resume, "log_file")
    result = run_scenario(scenario, options)
    return load_run(result.run_dir)


def _path_option(value: object, name: str) -> Path:
    """``value`` as a path; a :class:`~tunegym.errors.UsageError` naming ``name`` when it
    is not one (``Path()`` raised a bare ``TypeError``)."""
    if isinstance(value, str | os.PathLike) and not isinstance(os.fspath(value), bytes):
        return Path(value)
    raise UsageError(f"{name} must be a path (a str or os.PathLike), got {value!r}")
