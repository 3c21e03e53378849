"""What ``[agent.pruner]`` means for one workload: the metric it watches, the direction
of that metric, and the problems of the table (each with its field path)."""

from __future__ import annotations

from collections.abc import Iterator

from tunegym.metrics.progress import progress_regex_problem
from tunegym.metrics.rewards import REWARD_DIRECTIONS
from tunegym.spec.errors import Loc
from tunegym.spec.models import MetricSpec, PrunerSpec, WorkloadSpec

__all__ = [
    "OPTIONS_BY_TYPE",
    "progress_metric",
    "pruner_direction",
    "pruner_problems",
    "unprunable_reason",
]

_SHARED = {"type", "metric", "direction", "poll_interval_s"}
OPTIONS_BY_TYPE: dict[str, set[str]] = {
    "median": {"n_startup_trials", "n_warmup_steps", "interval_steps", "n_min_trials"},
    "percentile": {
        "n_startup_trials",
        "n_warmup_steps",
        "interval_steps",
        "n_min_trials",
        "percentile",
    },
    "successive_halving": {
        "min_resource",
        "reduction_factor",
        "min_early_stopping_rate",
        "bootstrap_count",
    },
    "hyperband": {"min_resource", "max_resource", "reduction_factor", "bootstrap_count"},
    "none": set(),
}


def progress_metric(w: WorkloadSpec) -> MetricSpec | None:
    """The metric the pruner watches: ``agent.pruner.metric``, else the one metric with
    progress (``None`` when that is not one metric)."""
    pruner = w.agent.pruner
    with_progress = [m for m in w.metrics if m.has_progress]
    if pruner is not None and pruner.metric is not None:
        return next((m for m in with_progress if m.name == pruner.metric), None)
    return with_progress[0] if len(with_progress) == 1 else None


def pruner_direction(w: WorkloadSpec, metric: str) -> str | None:
    """``agent.pruner.direction``, else what the reward says of ``metric``: ``identity``
    maximises it, ``negative`` and ``inverse`` minimise it (when it is the first observed
    metric); ``None`` when the reward does not tell."""
    pruner = w.agent.pruner
    if pruner is not None and pruner.direction is not None:
        return pruner.direction
    if not w.agent_metrics or w.agent_metrics[0] != metric:
        return None
    return REWARD_DIRECTIONS.get(w.agent.reward.strip())


def unprunable_reason(w: WorkloadSpec, runner: str | None = None) -> str | None:
    """Why the pruner can stop no trial of ``w`` on ``runner`` (the workload's own by
    default), or ``None``: a Ray trial without a shared filesystem runs in a scratch
    folder on its node, and its progress comes back only when it ends."""
    pruner = w.agent.pruner
    if pruner is None or pruner.type == "none" or w.mode != "offline":
        return None
    if (runner or w.runner) == "ray" and not w.ray.shared_fs:
        return (
            f"the {pruner.type} pruner stops no trial on Ray with shared_fs = false: a "
            "trial's progress comes back only when it ends (its curve is still recorded); "
            "set [ray] shared_fs = true with the run folder on a filesystem every node shares"
        )
    return None


def pruner_problems(w: WorkloadSpec) -> Iterator[tuple[Loc, str]]:
    """Problems of the metrics' progress forms and of ``[agent.pruner]``."""
    for i, metric in enumerate(w.metrics):
        if metric.progress is not None:
            problem = progress_regex_problem(metric.progress)
            if problem is not None:
                yield ("metrics", i, "progress"), problem
        if metric.progress_file is not None:
            problem = _relative_file_problem(metric.progress_file)
            if problem is not None:
                yield ("metrics", i, "progress_file"), problem
    pruner = w.agent.pruner
    if pruner is None:
        return
    yield from _option_problems(pruner)
    if pruner.type == "none":
        return
    if w.mode != "offline":
        yield (
            ("agent", "pruner"),
            'pruning reads a running command\'s progress: it needs mode = "offline" (in '
            "Python, FunctionEnv takes a pruner and the objective calls tunegym.pruning.report)",
        )
        return
    with_progress = [m.name for m in w.metrics if m.has_progress]
    if not with_progress:
        yield (
            ("agent", "pruner"),
            "the pruner needs a metric whose progress is read while the trial runs: add "
            "progress = 'epoch (\\d+) loss=(\\S+)' or progress_file = 'progress.jsonl' to a "
            "[[metrics]] table",
        )
        return
    if pruner.metric is not None and pruner.metric not in with_progress:
        yield (
            ("agent", "pruner", "metric"),
            f"{pruner.metric!r} is not a metric with progress; those with progress: "
            f"{', '.join(with_progress)}",
        )
        return
    if pruner.metric is None and len(with_progress) > 1:
        yield (
            ("agent", "pruner", "metric"),
            f"several metrics have progress ({', '.join(with_progress)}); name the one the "
            "pruner watches",
        )
        return
    name = pruner.metric or with_progress[0]
    if pruner_direction(w, name) is None:
        yield (
            ("agent", "pruner", "direction"),
            f"cannot tell from agent.reward whether a higher or lower {name!r} is better; "
            'set direction = "max" or "min"',
        )


def _option_problems(pruner: PrunerSpec) -> Iterator[tuple[Loc, str]]:
    allowed = OPTIONS_BY_TYPE[pruner.type] | _SHARED
    for option in type(pruner).model_fields:
        if option not in allowed and getattr(pruner, option) is not None:
            users = sorted(t for t, names in OPTIONS_BY_TYPE.items() if option in names)
            yield (
                ("agent", "pruner", option),
                f"{option} is an option of the {' and '.join(users)} pruner(s), not of "
                f"type = {pruner.type!r}",
            )
    if pruner.type == "percentile" and pruner.percentile is None:
        yield (
            ("agent", "pruner", "percentile"),
            "type = 'percentile' needs percentile = <0..100> (e.g. 25.0 keeps the best quarter)",
        )
    if (
        isinstance(pruner.min_resource, int)
        and isinstance(pruner.max_resource, int)
        and pruner.min_resource > pruner.max_resource
    ):
        yield (
            ("agent", "pruner", "max_resource"),
            f"max_resource ({pruner.max_resource}) must be at least min_resource "
            f"({pruner.min_resource})",
        )
    if (
        pruner.type == "hyperband"
        and pruner.bootstrap_count
        and not isinstance(pruner.max_resource, int)
    ):
        yield (
            ("agent", "pruner", "max_resource"),
            "hyperband with bootstrap_count > 0 needs max_resource = <the last step> "
            "(Optuna cannot estimate it from the first trial then)",
        )


def _relative_file_problem(name: str) -> str | None:
    from pathlib import PurePosixPath

    path = PurePosixPath(name)
    if not name.strip() or path.is_absolute() or ".." in path.parts:
        return f"must be a file name inside the trial folder (relative, no '..'), got {name!r}"
    if name.rstrip().endswith(("/", "/.")) or path.name in ("", "."):
        return f"must name a file, not a folder, got {name!r}"
    return None
