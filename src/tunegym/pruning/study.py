"""``PruningStudy``: the curves of a job's trials and the pruner that judges them."""

from __future__ import annotations

import logging
import threading
import warnings
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from tunegym.spec.models import PrunerSpec
from tunegym.trial.status import TrialStatus

if TYPE_CHECKING:
    import optuna

__all__ = ["PruningStudy", "build_pruner"]


def build_pruner(spec: PrunerSpec) -> optuna.pruners.BasePruner:
    """The Optuna pruner of ``spec`` (options left unset keep Optuna's defaults)."""
    from optuna import pruners

    def given(*names: str) -> dict[str, Any]:
        return {n: getattr(spec, n) for n in names if getattr(spec, n) is not None}

    if spec.type == "median":
        return pruners.MedianPruner(**given("n_startup_trials", "n_warmup_steps", "interval_steps"))
    if spec.type == "percentile":
        assert spec.percentile is not None  # checked with the workload
        return pruners.PercentilePruner(
            spec.percentile, **given("n_startup_trials", "n_warmup_steps", "interval_steps")
        )
    if spec.type == "successive_halving":
        return pruners.SuccessiveHalvingPruner(
            **given("min_resource", "reduction_factor", "min_early_stopping_rate")
        )
    if spec.type == "hyperband":
        return pruners.HyperbandPruner(**given("min_resource", "max_resource", "reduction_factor"))
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

        self.spec = spec
        self.direction = direction
        self._lock = threading.Lock()
        self._trials: dict[int, optuna.Trial] = {}
        self._last: dict[int, int] = {}
        self.pruned: list[int] = []
        with _quiet():
            self.study = optuna.create_study(
                direction="maximize" if direction == "max" else "minimize",
                sampler=optuna.samplers.RandomSampler(seed=seed),
                pruner=build_pruner(spec),
            )

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
        with self._lock, _quiet():
            trial = self._start(key)
            if step <= self._last.get(key, -1):
                return False  # a step is reported once
            self._last[key] = step
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
            last = self._last.pop(key, -1)
            if trial is None:
                trial = self.study.ask()
            for step, value in curve:
                if step > last:
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
        import optuna
        from optuna.trial import TrialState

        if status is TrialStatus.PRUNED:
            state, value = TrialState.PRUNED, None
        elif curve and status.scored:
            state, value = TrialState.COMPLETE, curve[-1][1]
        else:
            state, value = TrialState.FAIL, None
        with self._lock, _quiet():
            frozen = optuna.trial.create_trial(
                state=state,
                value=value,
                params={},
                distributions={},
                intermediate_values=dict(curve),
            )
            self.study.add_trial(frozen)

    def __len__(self) -> int:
        return len(self.study.trials)


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
