"""``Sweep``: the trial counter and the output folder of one job iteration.

``increment_step()`` is the only writer of the step: steps start at 1, strictly
increase, and nothing (``reset()`` included) rewinds them.
"""

from __future__ import annotations

import shutil
import stat
from pathlib import Path


class Sweep:
    def __init__(self, root: Path, start_step: int = 0) -> None:
        self.root = root
        self._step = start_step

    @property
    def step(self) -> int:
        """The last step handed out (0 before the first trial)."""
        return self._step

    def increment_step(self) -> int:
        self._step += 1
        return self._step

    def advance_to(self, step: int) -> None:
        """Continue after ``step`` (a resumed run); the counter never moves back."""
        if step < self._step:
            raise ValueError(f"the step counter never moves back ({self._step} -> {step})")
        self._step = step

    def trial_dir(self, step: int) -> Path:
        """The folder of an executed trial, created here, or made fit again for a trial
        run again (a resume): see :func:`fit_for_a_trial`."""
        path = self.root / str(step)
        self.root.mkdir(parents=True, exist_ok=True)
        fit_for_a_trial(path)
        return path


RUNNER_FILES = ("stdout.txt", "stderr.txt", "trial.json")
"""The files of a trial folder that tunegym writes before the command runs."""


def fit_for_a_trial(path: Path) -> None:
    """Make ``path`` a real folder tunegym may write its files in. The command of an
    earlier attempt at this trial (killed with the run) owned it and may have left it
    anything: a link elsewhere (a resume would write there) or a file, both replaced by a
    new folder; a folder made read-only, made writable to its owner again; and whatever
    is where tunegym writes ``stdout.txt``, ``stderr.txt`` and ``trial.json`` (a FIFO
    would block the open for ever, a read-only file refuse it), removed."""
    if path.is_symlink() or (path.exists() and not path.is_dir()):
        path.unlink()
    path.mkdir(exist_ok=True)
    mode = path.stat().st_mode
    if mode & stat.S_IRWXU != stat.S_IRWXU:
        path.chmod(mode | stat.S_IRWXU)
    for name in RUNNER_FILES:  # written anew for this attempt: the old ones go, whatever
        entry = path / name
        if entry.is_dir() and not entry.is_symlink():
            shutil.rmtree(entry)
        else:
            entry.unlink(missing_ok=True)
