"""``PruningStudy``: the curves of a job's trials and the pruner that judges them."""

from __future__ import annotations

import logging
import threading
import warnings
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import TYPE_CHECKING

from tunegym.errors import UsageError
from tunegym.spec.models import PrunerSpec
from tunegym.spec.pruning import OPTIONS_BY_TYPE
from tunegym.trial.status import TrialStatus

if TYPE_CHECKING:
    import optuna

__all__ = ["DENSE_STEPS", "PruningStudy", "build_pruner", "next_judged_step"]

DENSE_STEPS = 256
"""Up to this step every point is judged; past it, about half as many per doubling of the
step (see :func:`next_judged_step`)."""


def next_judged_step(step: int) -> int:
    """The step from which the next point is judged, after one at ``step``: the next
    multiple of ``2^k`` past it, ``2^k`` growing with the step so that up to
    :data:`DENSE_STEPS` every step is judged, then every second one up to twice that, and
    so on (a curve of 100,000 points is judged at about 1,400 of them). Optuna's pruners
    go over all of a trial's points on every report, so judging all of a long curve cost
    time in the square of its length (100,000 points: minutes); the same rule on every
    trial keeps their judged steps aligned, as the median and percentile pruners need."""
    stride = 1 << max(0, step.bit_length() - DENSE_STEPS.bit_length() + 1)
    return (step // stride + 1) * stride


def build_pruner(spec: PrunerSpec) -> optuna.pruners.BasePruner:
    """The Optuna pruner of ``spec`` (options left unset keep Optuna's defaults)."""
    from optuna import pruners

    given = {
        name: getattr(spec, name)
        for name in OPTIONS_BY_TYPE[spec.type]
        if getattr(spec, name) is not None
    }
    if spec.type == "median":
        return pruners.MedianPruner(**given)
    if spec.type == "percentile":
        assert spec.percentile is not None  # checked with the workload
        return pruners.PercentilePruner(**given)
    if spec.type == "successive_halving":
        return pruners.SuccessiveHalvingPruner(**given)
    if spec.type == "hyperband":
        return pruners.HyperbandPruner(**given)
    return pruners.NopPruner()


class PruningStudy:
    """One job iteration's trials as an Optuna study, judged by ``spec``'s pruner.

    Trials are keyed by their step. :meth:`report` records a point and says whether the
    trial should stop; :meth:`finish` tells how it ended (a completed trial's value is its
    last point); :meth:`restore` adds a finished trial of a resumed run, so its decisions
    and curve count as before. Thread-safe: watcher threads of parallel trials report at
    once. ``direction`` is ``"max"`` or ``"min"`` (which intermediate values are better).
    """

    def __init__(self, spec: PrunerSpec, direction: str, seed: int = 0) -> None:
        import optuna

        if direction not in ("min", "max"):
            raise UsageError(
                f'direction must be "min" or "max" (the direction of the metric reported), '
                f"got {direction!r}"
            )
        self.spec = spec
        self.direction = direction
        self.seed = seed
        self._lock = threading.Lock()
        self._trials: dict[int, optuna.Trial] = {}
        self._last: dict[int, int] = {}
        """The last step judged of each running trial."""
        self.pruned: list[int] = []
        with _quiet():
            self.study = optuna.create_study(
                # A fixed name: Hyperband draws a trial's bracket from the study name and
                # the trial number, so a resumed run puts each trial where it was.
                study_name="tunegym-pruning",
                direction="maximize" if direction == "max" else "minimize",
                sampler=optuna.samplers.RandomSampler(seed=seed),
                pruner=build_pruner(spec),
            )

    def fresh(self) -> PruningStudy:
        """A new study with this one's rule, direction and seed, and no trials."""
        return PruningStudy(self.spec, self.direction, self.seed)

    def start(self, key: int) -> None:
        """A trial begins (called before its first point; :meth:`report` also starts it)."""
        with self._lock:
            self._start(key)

    def _start(self, key: int) -> optuna.Trial:
        trial = self._trials.get(key)
        if trial is None:
            with _quiet():
                trial = self._trials[key] = self.study.ask()
        return trial

    def report(self, key: int, step: int, value: float) -> bool:
        """Record ``value`` at ``step`` of trial ``key``; whether the pruner stops it."""
        with self._lock:
            last = self._last.get(key)
            if last is not None and step < next_judged_step(last):
                return False  # a step is judged once; past DENSE_STEPS, some are skipped
            self._last[key] = step
            with _quiet():
                trial = self._start(key)
                trial.report(value, step)
                return bool(trial.should_prune())

    def finish(self, key: int, status: TrialStatus, curve: Sequence[tuple[int, float]]) -> None:
        """Tell how trial ``key`` ended: pruned, completed (its last point is its value),
        or failed (no usable curve, or not a measurement). The points of ``curve`` not
        reported while it ran (read after its end) are added first, so later trials are
        judged against the whole curve."""
        from optuna.trial import TrialState

        with self._lock, _quiet():
            trial = self._trials.pop(key, None)
            last = self._last.pop(key, None)
            if trial is None:
                trial = self.study.ask()
            for step, value in _judged(curve, last).items():
                trial.report(value, step)
            if status is TrialStatus.PRUNED:
                self.pruned.append(key)
                self.study.tell(trial, state=TrialState.PRUNED)
            elif curve and status.scored:
                self.study.tell(trial, curve[-1][1])
            else:
                self.study.tell(trial, state=TrialState.FAIL)

    def restore(self, status: TrialStatus, curve: Sequence[tuple[int, float]]) -> None:
        """Add a finished trial of an earlier run (a resume) with its curve."""
        from optuna.trial import TrialState

        if status is TrialStatus.PRUNED:
            state, value = TrialState.PRUNED, None
        elif curve and status.scored:
            state, value = TrialState.COMPLETE, curve[-1][1]
        else:
            state, value = TrialState.FAIL, None
        with self._lock, _quiet():
            # Replayed as it ran, not added frozen: successive halving and Hyperband keep
            # the rungs a trial reached on the trial (set as should_prune judges it), and
            # judge later trials against those, not against the curves.
            trial = self.study.ask()
            for step, value in _judged(curve).items():
                trial.report(value, step)
                trial.should_prune()
            if state is TrialState.COMPLETE:
                self.study.tell(trial, value)
            else:
                self.study.tell(trial, state=state)

    def __len__(self) -> int:
        return len(self.study.trials)


def _judged(curve: Sequence[tuple[int, float]], last: int | None = None) -> dict[int, float]:
    """The points of ``curve`` that :meth:`PruningStudy.report` would judge after it
    judged step ``last`` (see :func:`next_judged_step`)."""
    judged: dict[int, float] = {}
    for step, value in curve:
        if last is None or step >= next_judged_step(last):
            judged[step] = value
            last = step
    return judged


@contextmanager
def _quiet() -> Iterator[None]:
    """Silence Optuna's per-trial INFO lines and experimental warnings."""
    logger = logging.getLogger("optuna")
    level = logger.level
    if logger.getEffectiveLevel() < logging.WARNING:
        logger.setLevel(logging.WARNING)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            yield
        finally:
            logger.setLevel(level)
