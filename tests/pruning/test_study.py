"""PruningStudy: Optuna's pruners over the curves of a job's trials."""

from __future__ import annotations

import pytest

from tunegym.pruning import PruningStudy, build_pruner
from tunegym.spec.models import PrunerSpec
from tunegym.trial.status import TrialStatus


def _complete(study: PruningStudy, key: int, curve: list[tuple[int, float]]) -> None:
    for step, value in curve:
        study.report(key, step, value)
    study.finish(key, TrialStatus.OK, curve)


def test_median_prunes_a_trial_worse_than_the_median_at_the_same_step() -> None:
    study = PruningStudy(PrunerSpec(type="median", n_startup_trials=2), "min")
    _complete(study, 1, [(1, 1.0), (2, 0.5)])
    _complete(study, 2, [(1, 1.2), (2, 0.6)])
    assert study.report(3, 1, 1.1) is False  # between the two: not worse than the median
    assert study.report(4, 1, 5.0) is True
    study.finish(4, TrialStatus.PRUNED, [(1, 5.0)])
    assert study.pruned == [4]


def test_points_read_after_a_trial_ended_are_judged_against() -> None:
    # A fast trial's points are read only once it ended (no decision is made then): the
    # finished curve still counts, so the next trial is judged against it.
    study = PruningStudy(PrunerSpec(type="median", n_startup_trials=2), "min")
    for key, curve in ((1, [(1, 1.0), (2, 0.5)]), (2, [(1, 1.2), (2, 0.6)])):
        study.start(key)
        study.report(key, 1, curve[0][1])  # step 2 was read only after the end
        study.finish(key, TrialStatus.OK, curve)
    assert [t.intermediate_values for t in study.study.trials] == [
        {1: 1.0, 2: 0.5},
        {1: 1.2, 2: 0.6},
    ]
    assert study.report(3, 1, 1.1) is False
    assert study.report(3, 2, 5.0) is True


def test_direction_max_prunes_low_values() -> None:
    study = PruningStudy(PrunerSpec(type="median", n_startup_trials=1), "max")
    _complete(study, 1, [(1, 0.8)])
    assert study.report(2, 1, 0.1) is True
    assert study.report(3, 1, 0.9) is False


def test_startup_trials_are_never_pruned_and_restored_trials_count() -> None:
    spec = PrunerSpec(type="median", n_startup_trials=2)
    study = PruningStudy(spec, "min")
    _complete(study, 1, [(1, 1.0)])
    assert study.report(2, 1, 100.0) is False  # one completed trial: still starting up
    resumed = PruningStudy(spec, "min")
    resumed.restore(TrialStatus.OK, [(1, 1.0)])
    resumed.restore(TrialStatus.OK, [(1, 1.1)])
    resumed.restore(TrialStatus.PRUNED, [(1, 9.0)])
    assert len(resumed) == 3
    assert resumed.report(7, 1, 100.0) is True


def test_successive_halving_keeps_the_best_fraction_at_each_rung() -> None:
    spec = PrunerSpec(type="successive_halving", min_resource=1, reduction_factor=2)
    study = PruningStudy(spec, "min")
    verdicts = [study.report(k, 1, float(k)) for k in range(1, 9)]
    assert verdicts[0] is False and verdicts[-1] is True


@pytest.mark.parametrize(
    ("spec", "name"),
    [
        (PrunerSpec(type="median"), "MedianPruner"),
        (PrunerSpec(type="percentile", percentile=25.0), "PercentilePruner"),
        (PrunerSpec(type="successive_halving"), "SuccessiveHalvingPruner"),
        (PrunerSpec(type="hyperband", max_resource=9), "HyperbandPruner"),
        (PrunerSpec(type="none"), "NopPruner"),
    ],
)
def test_each_type_is_built_on_its_optuna_pruner(spec: PrunerSpec, name: str) -> None:
    assert type(build_pruner(spec)).__name__ == name


def test_hyperband_prunes_in_its_brackets() -> None:
    spec = PrunerSpec(type="hyperband", min_resource=1, max_resource=9, reduction_factor=3)
    study = PruningStudy(spec, "min")
    pruned = 0
    for key in range(1, 30):
        stopped = False
        for step in range(1, 10):
            if study.report(key, step, float(key) + 1.0 / step):
                stopped = True
                break
        curve = [(1, float(key))]
        study.finish(key, TrialStatus.PRUNED if stopped else TrialStatus.OK, curve)
        pruned += stopped
    assert 0 < pruned < 29


def _judged_steps(below: int) -> list[int]:
    from tunegym.pruning.study import next_judged_step

    judged = [0]
    while next_judged_step(judged[-1]) < below:
        judged.append(next_judged_step(judged[-1]))
    return judged


def test_every_step_is_judged_up_to_dense_steps_then_fewer_per_doubling() -> None:
    from tunegym.pruning.study import DENSE_STEPS

    judged = _judged_steps(1_000_000)
    assert judged[: DENSE_STEPS + 1] == list(range(DENSE_STEPS + 1))
    for low in (DENSE_STEPS, 2 * DENSE_STEPS, 64 * DENSE_STEPS):
        in_doubling = [s for s in judged if low < s <= 2 * low]
        assert len(in_doubling) == DENSE_STEPS // 2  # half as many per doubling
    assert len(judged) < 2_000  # of a million steps


def test_a_long_curve_is_judged_at_aligned_steps_and_still_pruned() -> None:
    """100,000 points per trial (a loss logged every batch): Optuna keeps about 1,400 of
    each, the same steps of every trial, so the median pruner still compares them."""
    spec = PrunerSpec(type="median", n_startup_trials=2, n_warmup_steps=75_000)
    study = PruningStudy(spec, "min")
    n = 100_000
    for key, offset in ((1, 0.0), (2, 0.1)):
        _complete(study, key, [(s, offset + 1.0 / (s + 1)) for s in range(n)])
    kept = [t.intermediate_values for t in study.study.trials]
    assert list(kept[0]) == list(kept[1]) == _judged_steps(n)
    pruned_at = next((s for s in range(n) if study.report(3, s, 5.0)), None)
    # judged from its warm-up on: at the first judged step past it
    assert pruned_at == min(s for s in _judged_steps(n) if s >= 75_000)
    study.finish(3, TrialStatus.PRUNED, [])
    assert study.pruned == [3]


def test_a_restored_long_curve_keeps_the_judged_steps() -> None:
    study = PruningStudy(PrunerSpec(type="median", n_startup_trials=1), "min")
    curve = [(s, 1.0) for s in range(10_000)]
    study.restore(TrialStatus.OK, curve)
    _complete(study, 2, curve)
    restored, reported = (t.intermediate_values for t in study.study.trials)
    assert restored == reported and len(restored) < 10_000


def test_n_min_trials_and_bootstrap_count_reach_optuna() -> None:
    """A step is judged only once n_min_trials completed trials reached it; no trial
    passes a rung before more than bootstrap_count trials reached it."""
    study = PruningStudy(PrunerSpec(type="median", n_startup_trials=1, n_min_trials=2), "min")
    _complete(study, 1, [(1, 1.0)])
    assert study.report(2, 1, 9.0) is False  # one completed trial at step 1: not enough
    study.finish(2, TrialStatus.OK, [(1, 9.0)])
    assert study.report(3, 1, 99.0) is True
    spec = PrunerSpec(
        type="successive_halving", min_resource=1, reduction_factor=2, bootstrap_count=3
    )
    study = PruningStudy(spec, "min")
    verdicts = [study.report(k, 1, float(10 - k)) for k in range(1, 5)]  # each better
    assert verdicts == [True, True, True, False]  # the first three only fill the rung


@pytest.mark.parametrize("direction", ["down", "minimize", None])
def test_a_direction_other_than_min_or_max_is_refused(direction) -> None:
    from tunegym.errors import UsageError

    with pytest.raises(UsageError, match=r'^direction must be "min" or "max" .* got '):
        PruningStudy(PrunerSpec(type="median"), direction=direction)


def _feed(study: PruningStudy, key: int, curve: list[tuple[int, float]]) -> int | None:
    """Report ``curve`` as a running trial; the step it was pruned at, or None."""
    for step, value in curve:
        if study.report(key, step, value):
            study.finish(key, TrialStatus.PRUNED, curve[: curve.index((step, value)) + 1])
            return step
    study.finish(key, TrialStatus.OK, curve)
    return None


@pytest.mark.parametrize(
    "spec",
    [
        PrunerSpec(type="successive_halving", min_resource=1, reduction_factor=2),
        PrunerSpec(type="hyperband", min_resource=1, max_resource=8, reduction_factor=2),
    ],
    ids=["successive_halving", "hyperband"],
)
def test_restored_trials_count_in_the_rungs_as_live_ones_did(spec: PrunerSpec) -> None:
    """Successive halving and Hyperband judge against the rungs other trials reached (kept
    on the trials, not read from their curves): a resumed run's restored trials must set
    them, or a bad trial after a resume runs to its end."""
    good = [[(s, 1.0 + 0.1 * k + 0.01 * s) for s in range(1, 9)] for k in range(8)]
    bad = [(s, 100.0) for s in range(1, 9)]
    live = PruningStudy(spec, "min")
    recorded = []  # (status, curve) of each finished trial, as a run's rows keep them
    for key, curve in enumerate(good):
        at = _feed(live, key, curve)
        kept = curve if at is None else curve[:at]
        recorded.append((TrialStatus.OK if at is None else TrialStatus.PRUNED, kept))
    live_pruned = _feed(live, 99, bad)
    assert live_pruned is not None  # the bad trial is pruned in an uninterrupted run
    resumed = PruningStudy(spec, "min")
    for status, curve in recorded:
        resumed.restore(status, curve)
    assert _feed(resumed, 99, bad) == live_pruned
