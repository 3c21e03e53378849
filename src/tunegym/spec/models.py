"""Pydantic models of ``workload.toml`` and ``scenario.toml``.

These models check the shape of each field; rules that span fields (placeholders,
env params, agent and reward names, constraints) live in :mod:`tunegym.spec.checks`
so every error can name its exact field path.
"""

from __future__ import annotations

import math
import re
import sys
from collections.abc import Sequence
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, field_validator, model_validator

from tunegym.limits import (
    MAX_ITERATIONS,
    MAX_PARALLEL,
    MAX_SEED,
    MAX_STEPS,
    MAX_TIMEOUT_S,
    NAME_MAX_LEN,
)
from tunegym.metrics.rewards import REWARD_DIRECTIONS
from tunegym.spec.errors import show_value as _show

Scalar = str | int | float | bool

# Metric names the env provides without a [[metrics]] table.
BUILTIN_METRICS = ("duration_s",)

SERVER_PATH = re.compile(r"^[A-Za-z_]\w*(\.[A-Za-z_]\w*)*:[A-Za-z_]\w*(\.[A-Za-z_]\w*)*$")
"""A live server's ``package.module:Class``."""

_FOLDER_NAME = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]*")
_PARAM_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_-]*")
_ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
RESERVED_ENV_PREFIX = "TUNEGYM_"
"""``[env]`` names may not start with this: tunegym sets ``TUNEGYM_PARAM_*``,
``TUNEGYM_TRIAL_DIR``, ``TUNEGYM_STEP`` and ``TUNEGYM_TRIAL_TAG`` itself."""


def folder_name_problem(name: str) -> str | None:
    """Why ``name`` cannot be one folder inside the run folder, or ``None`` when it can."""
    if len(name) > NAME_MAX_LEN:
        return f"is {len(name)} characters long; a name has at most {NAME_MAX_LEN}"
    if not _FOLDER_NAME.fullmatch(name):
        return (
            f"must be a plain folder name: letters, digits, '_', '.' and '-', starting with a "
            f"letter, digit or '_' (so not '.', '..' or a path), got {name!r}"
        )
    return None


def _folder_name(value: str) -> str:
    problem = folder_name_problem(value)
    if problem is not None:
        raise ValueError(problem)
    return value


FolderName = Annotated[str, AfterValidator(_folder_name)]


def param_name_problem(name: str) -> str | None:
    """Why ``name`` cannot name a param (it must work as a ``{placeholder}``), or ``None``."""
    if _PARAM_NAME.fullmatch(name) and len(name) <= NAME_MAX_LEN:
        return None
    return (
        f"param name {_show(name)} must be usable as a {{placeholder}}: letters, digits, '_' "
        f"and '-', starting with a letter or '_', at most {NAME_MAX_LEN} characters (no '.', "
        "'[', ']', ':', '!' or a number, which str.format reads as field syntax)"
    )


def env_name_problem(name: str) -> str | None:
    """Why ``name`` cannot be an ``[env]`` variable name, or ``None`` when it can."""
    if not _ENV_NAME.fullmatch(name) or len(name) > NAME_MAX_LEN:
        return (
            f"environment variable name {_show(name)} must be letters, digits and '_', "
            f"starting with a letter or '_' (no '=', not empty), at most {NAME_MAX_LEN} "
            "characters"
        )
    if name.upper().startswith(RESERVED_ENV_PREFIX):
        return (
            f"environment variable name {name!r} starts with {RESERVED_ENV_PREFIX!r}, which "
            "tunegym reserves for the variables it sets (TUNEGYM_PARAM_<NAME> and others)"
        )
    return None


class _Strict(BaseModel):
    """Spec models: unknown keys are errors, values keep the TOML type they were given
    (``log = "yes"`` is not a boolean), and nan/inf are never a number."""

    model_config = ConfigDict(extra="forbid", frozen=True, strict=True, allow_inf_nan=False)


class ContinuousParam(_Strict):
    """A continuous dimension: ``{low, high, dtype = "float"|"int", log = false}``."""

    low: float
    high: float
    dtype: Literal["float", "int"] = "float"
    log: bool = False

    @model_validator(mode="before")
    @classmethod
    def _int_bounds_as_written(cls, data: Any) -> Any:
        """An int range's bounds as the TOML wrote them: ``2**62 + 1`` is past the limit,
        though as a float (what ``low`` and ``high`` hold) it rounds to ``2**62``."""
        if isinstance(data, dict) and data.get("dtype") == "int":
            low, high = data.get("low"), data.get("high")
            exact = [v for v in (low, high) if isinstance(v, int) and not isinstance(v, bool)]
            if any(abs(v) > INT_BOUND for v in exact):
                raise ValueError(
                    f'dtype = "int" bounds must be within +-2^62 (what samplers draw), got '
                    f"low = {low}, high = {high}"
                )
        return data

    @model_validator(mode="after")
    def _bounds(self) -> ContinuousParam:
        problem = range_problem(self.low, self.high, self.dtype, self.log)
        if problem is not None:
            raise ValueError(problem)
        return self


INT_BOUND = 2**62
"""The largest magnitude of an int range's bounds."""


def range_problem(low: float, high: float, dtype: str, log: bool) -> str | None:
    """What is wrong with the range ``[low, high]`` (a param's table, or a
    :class:`~tunegym.space.Continuous` built in Python); ``None`` when it is sound."""
    if not (math.isfinite(low) and math.isfinite(high)):
        return "low and high must be finite numbers"
    if low >= high:
        return f"low ({low:g}) must be less than high ({high:g})"
    if dtype == "int" and not (float(low).is_integer() and float(high).is_integer()):
        return f'dtype = "int" needs integer bounds, got low = {low:g}, high = {high:g}'
    if dtype == "int" and not (low >= -INT_BOUND and high <= INT_BOUND):
        return (
            f'dtype = "int" bounds must be within +-2^62 (what samplers draw), got low = '
            f"{int(low)}, high = {int(high)}"
        )
    if not math.isfinite(high - low):
        return f"high - low must be a finite number (got {low:g} to {high:g}): narrow the range"
    if log and low <= 0:
        return f"log = true needs low > 0, got low = {low:g}"
    if log and low < sys.float_info.min:
        return f"log = true needs low >= {sys.float_info.min:g} (a normal float), got {low:g}"
    return None


def candidates_problem(values: Sequence[Scalar]) -> str | None:
    """What is wrong with a list of candidate values; ``None`` when they are distinct."""
    if len({_candidate_key(v) for v in values}) != len(values):
        return f"candidate values must be distinct, got {list(values)!r}"
    return None


def _distinct(values: list[Scalar]) -> list[Scalar]:
    problem = candidates_problem(values)
    if problem is not None:
        raise ValueError(problem)
    return values


CandidateList = Annotated[list[Scalar], Field(min_length=1), AfterValidator(_distinct)]
ParamValue = ContinuousParam | CandidateList | Scalar


def _candidate_key(value: Scalar) -> tuple[str, Any]:
    if isinstance(value, bool):
        return ("bool", value)
    if isinstance(value, int | float):
        return ("num", float(value))
    return ("str", value)


class MetricSpec(_Strict):
    """One ``[[metrics]]`` table: a name and exactly one extractor."""

    name: str = Field(min_length=1, max_length=NAME_MAX_LEN, pattern=r"^[A-Za-z_][A-Za-z0-9_]*$")
    regex: str | None = None
    json_path: str | None = Field(default=None, alias="json")
    csv: str | None = None
    regex_timeout_s: float | None = Field(default=None, gt=0, le=3600)
    """``regex`` only: the longest its search of stdout may take (unset: 10 s); past it the
    trial is ``metric_missing`` with that reason (a pattern that backtracks never hangs)."""
    progress: str | None = None
    """Intermediate values read while the trial runs: a regex over stdout lines whose two
    groups are the step and the value (``'epoch (\\d+) loss=(\\S+)'``), or named groups
    ``step`` and ``value``. Without regex/json/csv the final value is the last point."""
    progress_file: str | None = None
    """Intermediate values from a JSON-lines file in the trial folder, one object per
    point: ``{"step": 3, "<name>": 0.41}`` (or ``"value"``)."""

    model_config = ConfigDict(
        extra="forbid", frozen=True, populate_by_name=True, strict=True, allow_inf_nan=False
    )

    @model_validator(mode="after")
    def _one_extractor(self) -> MetricSpec:
        given = [k for k in ("regex", "json_path", "csv") if getattr(self, k) is not None]
        if self.progress is not None and self.progress_file is not None:
            raise ValueError("give progress (a regex over stdout) or progress_file, not both")
        if len(given) > 1 or (not given and not self.has_progress):
            raise ValueError(
                "give exactly one extractor: regex = '...', json = 'file.json:path' "
                f"or csv = 'file.csv:column' (got {len(given)}); or only progress = '...' "
                "or progress_file = '...' (the final value is then the last point)"
            )
        if self.regex is None and self.regex_timeout_s is not None:
            raise ValueError("regex_timeout_s bounds a regex search; this metric has no regex")
        return self

    @property
    def has_progress(self) -> bool:
        """Whether the metric's intermediate values are read while the trial runs."""
        return self.progress is not None or self.progress_file is not None

    @property
    def has_extractor(self) -> bool:
        """Whether the final value has an extractor of its own (else: the last point)."""
        return any(v is not None for v in (self.regex, self.json_path, self.csv))

    @property
    def kind(self) -> Literal["regex", "json", "csv", "progress"]:
        if self.regex is not None:
            return "regex"
        if self.json_path is not None:
            return "json"
        return "csv" if self.csv is not None else "progress"

    @property
    def source(self) -> str:
        return self.regex or self.json_path or self.csv or ""


class EnvParamSpec(_Strict):
    """``[env_params.<param>]``: the list-valued param is sampled per trial."""

    weights: list[float] | None = None


class PenaltySpec(_Strict):
    """Rewards recorded for trials that produce no usable metrics."""

    constraint_failure: float = -1.0e9
    metric_failure: float = -1.0e9


PRUNER_TYPES = ("median", "percentile", "successive_halving", "hyperband", "none")


class PrunerSpec(_Strict):
    """``[agent.pruner]``: stop trials whose intermediate values are clearly worse.

    Built on Optuna's pruners. Which options apply depends on ``type`` (checked with the
    workload, so each misplaced option is named): median and percentile take
    ``n_startup_trials``, ``n_warmup_steps``, ``interval_steps``, ``n_min_trials``
    (percentile also ``percentile``); successive_halving takes ``min_resource``,
    ``reduction_factor``, ``min_early_stopping_rate``, ``bootstrap_count``; hyperband takes
    ``min_resource``, ``max_resource``, ``reduction_factor``, ``bootstrap_count``.
    """

    type: Literal["median", "percentile", "successive_halving", "hyperband", "none"] = "median"
    """Which Optuna pruner judges the trials (``none``: record curves, prune nothing)."""
    metric: str | None = None
    """The metric whose progress is watched; default: the one metric with progress."""
    direction: Literal["max", "min"] | None = None
    """Whether a higher or a lower intermediate value is better; default: from the reward
    (``identity`` of that metric: max, ``negative``/``inverse``: min)."""
    n_startup_trials: int | None = Field(default=None, ge=0)
    """median, percentile: no trial is pruned before this many completed (Optuna: 5)."""
    n_warmup_steps: int | None = Field(default=None, ge=0)
    """median, percentile: no trial is pruned before it passed this step (Optuna: 0)."""
    interval_steps: int | None = Field(default=None, ge=1)
    """median, percentile: judge every this many steps (Optuna: 1)."""
    percentile: float | None = Field(default=None, ge=0, le=100)
    """percentile (required): a trial worse than this percentile at its step is pruned."""
    n_min_trials: int | None = Field(default=None, ge=1)
    """median, percentile: judge a step only once this many completed trials reached it
    (Optuna: 1)."""
    min_resource: int | Literal["auto"] | None = None
    """successive_halving, hyperband: the step of the first rung (Optuna: auto / 1)."""
    max_resource: int | Literal["auto"] | None = None
    """hyperband: the last step a trial reaches (Optuna: auto, from the first trial)."""
    reduction_factor: int | None = Field(default=None, ge=2)
    """successive_halving, hyperband: keep 1 in this many at each rung (Optuna: 4 / 3)."""
    min_early_stopping_rate: int | None = Field(default=None, ge=0)
    """successive_halving: how many rungs to skip before pruning (Optuna: 0)."""
    bootstrap_count: int | None = Field(default=None, ge=0)
    """successive_halving, hyperband: no trial passes a rung before more than this many
    reached it, so the first ones stop there (Optuna: 0); hyperband then needs
    ``max_resource``."""
    poll_interval_s: float = Field(default=0.2, gt=0, le=60)
    """The longest wait between two reads of a running trial's progress (reads come
    every 10 ms while points arrive, backing off to this while none do)."""

    @field_validator("min_resource", "max_resource")
    @classmethod
    def _positive(cls, value: int | str | None) -> int | str | None:
        if isinstance(value, int) and value < 1:
            raise ValueError(f'must be at least 1 (or "auto"), got {value}')
        return value


class AgentSpec(_Strict):
    """``[agent]``: who chooses the trials and how they are scored."""

    type: str | None = None
    max_steps: int | None = Field(default=None, ge=1, le=MAX_STEPS)
    metrics: list[str] | None = None
    reward: str = "identity"
    seed: int = Field(default=0, ge=0, le=MAX_SEED)
    config: dict[str, Any] = Field(default_factory=dict)
    penalties: PenaltySpec = Field(default_factory=PenaltySpec)
    repeats: int = Field(default=1, ge=1, le=10_000)
    """Measure each proposed action this many times and feed the agent the mean."""
    objectives: list[Literal["max", "min"]] | None = None
    """One direction per entry of ``metrics`` (unset: per declared metric): several make
    the job multi-objective."""
    warm_start: str | None = None
    """An earlier run folder whose trials (same workload) the agent learns first."""
    parallel: int = Field(default=1, ge=1, le=MAX_PARALLEL)
    """Trials in flight at once."""
    min_draws: int = Field(default=3, ge=1, le=10_000)
    """With env params: the robust best is chosen among actions measured under at least
    this many draws (or every env-param combination, when there are fewer); agents spend
    part of the budget re-measuring promising actions to get there."""
    pruner: PrunerSpec | None = None
    """``[agent.pruner]``: stop trials whose progress is clearly worse (needs a metric
    with ``progress`` or ``progress_file``)."""
    budget_s: float | None = Field(default=None, gt=0, le=MAX_TIMEOUT_S)
    """Wall-clock budget of a job iteration: once spent, no new trial starts."""
    budget_grace_s: float | None = Field(default=None, ge=0, le=MAX_TIMEOUT_S)
    """When the budget is spent, running trials get this long, then are stopped
    (``timeout``); unset: they run to their end."""

    @model_validator(mode="before")
    @classmethod
    def _reward_follows_the_first_objective(cls, data: Any) -> Any:
        """With ``objectives`` and no ``reward``, the reward minimises the first objective
        metric when its direction is ``min`` (``negative``), so the best trial is its best."""
        if isinstance(data, dict) and "reward" not in data:
            objectives = data.get("objectives")
            if isinstance(objectives, list) and objectives and objectives[0] == "min":
                return {**data, "reward": "negative"}
        return data

    @model_validator(mode="after")
    def _reward_agrees_with_the_first_objective(self) -> AgentSpec:
        if not self.objectives or not self.metrics:
            return self
        direction = REWARD_DIRECTIONS.get(self.reward.strip())
        first = self.objectives[0]
        if direction is not None and direction != first:
            verb = {"max": "maximises", "min": "minimises"}
            raise ValueError(
                f"reward {self.reward.strip()!r} {verb[direction]} {self.metrics[0]!r}, "
                f"but objectives[0] is {first!r}: the best trial would be the worst of "
                f"that objective; leave reward unset (it follows the first objective) or "
                f"set reward = {'identity' if first == 'max' else 'negative'!r}"
            )
        return self

    @model_validator(mode="after")
    def _objectives_match_metrics(self) -> AgentSpec:
        n = len(self.objectives or ())
        if self.objectives is None or (self.metrics is not None and len(self.metrics) == n):
            return self
        if self.metrics is None:  # declared metrics of another number, or a live server's
            raise ValueError(
                f"{n} objectives need as many metrics: set agent.metrics to the metrics they "
                f"are for, in order (unset, it is every declared metric, which pairs with "
                f"the objectives only when exactly {n} are declared)"
            )
        raise ValueError(
            f"{n} objectives for {len(self.metrics)} entries of agent.metrics "
            f"({', '.join(self.metrics)}): give one direction per metric"
        )

    @field_validator("metrics")
    @classmethod
    def _non_empty(cls, value: list[str] | None) -> list[str] | None:
        if value is not None and not value:
            raise ValueError("agent.metrics must name at least one metric")
        names = value or []
        twice = sorted({name for name in names if names.count(name) > 1})
        if twice:
            raise ValueError(
                f"{', '.join(map(repr, twice))} listed more than once; name each metric once"
            )
        return value


RAY_ADDRESS = re.compile(r"(local|auto|(ray://)?([^\s:/\[\]]+|\[[0-9A-Fa-f:.]+\]):\d{1,5})")
"""What ``ray.address`` may be: ``local``, ``auto``, ``HOST:PORT`` (the head's GCS) or
``ray://HOST:PORT`` (Ray Client); a bracketed IPv6 host is allowed."""


def check_ray_address(address: str) -> str:
    """``address`` when :data:`RAY_ADDRESS` takes it, else a ``ValueError`` saying what is."""
    if not RAY_ADDRESS.fullmatch(address):
        raise ValueError(
            f"expected local, auto, HOST:PORT or ray://HOST:PORT, got {address[:80]!r}"
        )
    return address


_RAY_BUILTIN_RESOURCES = {
    "CPU": "ray.num_cpus",
    "GPU": "ray.num_gpus",
    "memory": "Ray's own memory option (not supported here)",
    "object_store_memory": "Ray's own object store options (not supported here)",
}


def _ray_quantity(value: float, what: str = "") -> float:
    """``value`` when Ray can schedule it: Ray counts resources in steps of 0.0001."""
    if abs(value * 10_000 - round(value * 10_000)) > 1e-6:
        raise ValueError(f"{what}Ray counts resources in steps of 0.0001, got {value!r}")
    return value


class RaySpec(_Strict):
    """``[ray]``: run trials as Ray tasks (``runner = "ray"``)."""

    address: Annotated[str, AfterValidator(check_ray_address)] = "local"
    """``local`` (start Ray here), ``auto`` (the running cluster), ``HOST:PORT`` or
    ``ray://host:port``."""
    num_cpus: float = Field(default=1, ge=0)
    num_gpus: float = Field(default=0, ge=0)
    resources: dict[str, float] = Field(default_factory=dict)
    shared_fs: bool = False
    """``true``: the run folder is on a filesystem every node sees; trials write in place."""
    max_retries: int = Field(default=0, ge=0)
    """Times Ray runs a trial again when its worker or node is lost (not when it fails)."""

    @field_validator("num_cpus", "num_gpus")
    @classmethod
    def _ray_amount(cls, value: float) -> float:
        return _ray_quantity(value)

    @field_validator("resources")
    @classmethod
    def _ray_resources(cls, value: dict[str, float]) -> dict[str, float]:
        """What Ray's ``.options(resources=...)`` refuses, said here (it was an internal
        error when the first trial was submitted)."""
        for name, amount in value.items():
            if not name.strip():
                raise ValueError("a resource name must not be empty")
            if name in _RAY_BUILTIN_RESOURCES:
                raise ValueError(
                    f"{name!r} is set with {_RAY_BUILTIN_RESOURCES[name]}, not in resources"
                )
            if amount < 0:
                raise ValueError(f"resource {name!r}: an amount is >= 0, got {amount:g}")
            _ray_quantity(amount, f"resource {name!r}: ")
        return value


class SlurmSpec(_Strict):
    """``[slurm]``: submit each trial as an sbatch job (``runner = "slurm"``)."""

    partition: str | None = None
    account: str | None = None
    time: str | None = Field(
        default=None,
        pattern=r"^(UNLIMITED|INFINITE|\d+(:\d{2}){0,2}|\d+-\d{1,2}(:\d{2}){0,2})$",
    )
    """``--time`` in a form sbatch takes: minutes (``120``), ``MM:SS``, ``HH:MM:SS``,
    ``D-HH[:MM[:SS]]`` or ``UNLIMITED``."""
    nodes: int = Field(default=1, ge=1)
    gpus: int | None = Field(default=None, ge=0)
    """GPUs on each node of the job: ``--gpus-per-node``."""
    extra_sbatch: list[str] = Field(default_factory=list)
    """More ``#SBATCH`` lines, e.g. ``["--qos=high", "--exclusive"]``."""
    srun_prefix: list[str] = Field(default_factory=list)
    """Put before the command, e.g. ``["srun", "--mpi=pmix"]``."""
    container_image: str | None = None
    container_mounts: list[str] = Field(default_factory=list)
    poll_interval_s: float = Field(default=10.0, gt=0)
    batch: bool = False
    """Unroll a grid into one job array (grid agent, offline jobs only)."""

    @field_validator("partition", "account")
    @classmethod
    def _one_word(cls, value: str | None) -> str | None:
        """A name on an ``#SBATCH`` line: one word (a newline ended the directives, and
        the rest of the line ran as shell; a space gave sbatch's 'Invalid directive')."""
        if value is not None and (not value or any(c.isspace() for c in value)):
            raise ValueError(f"expected one word with no spaces, got {_show(value)}")
        return value

    @field_validator("extra_sbatch")
    @classmethod
    def _directive_lines(cls, value: list[str]) -> list[str]:
        """Each entry is one ``#SBATCH`` line: no line break, no control character."""
        for i, line in enumerate(value):
            if not line.strip() or not line.isprintable():  # a line break is not printable
                raise ValueError(
                    f"entry {i} must be one non-empty line of printable text, got {_show(line)}"
                )
        return value


class LocalSpec(_Strict):
    """``[local]``: devices the local runner hands out to trials running at once."""

    gpus: list[int | str] = Field(default_factory=list)
    """GPU ids to share out (``CUDA_VISIBLE_DEVICES`` of each trial), e.g. ``[0, 1, 2, 3]``."""
    gpus_per_trial: int = Field(default=1, ge=1)
    """GPUs each trial gets from ``gpus``; a trial waits until that many are free."""
    cpus: list[int] | None = None
    """CPU ids to share out with ``cpus_per_trial``; unset: the CPUs tunegym may use."""
    cpus_per_trial: int | None = Field(default=None, ge=1)
    """Pin each trial to this many CPUs of its own (``sched_setaffinity``); unset: no pinning."""

    @field_validator("gpus")
    @classmethod
    def _gpu_ids(cls, value: list[int | str]) -> list[int | str]:
        for gpu in value:
            if isinstance(gpu, int) and gpu < 0:
                raise ValueError(f"GPU ids are >= 0, got {gpu}")
            if isinstance(gpu, str) and not re.fullmatch(r"[A-Za-z0-9_:.-]{1,100}", gpu):
                raise ValueError(
                    f"GPU id {_show(gpu)} must be an index or a UUID such as 'GPU-…' / 'MIG-…'"
                )
        if len({str(g) for g in value}) != len(value):
            raise ValueError(f"GPU ids must be distinct, got {value}")
        return value

    @field_validator("cpus")
    @classmethod
    def _cpu_ids(cls, value: list[int] | None) -> list[int] | None:
        if value is None:
            return value
        if not value:
            raise ValueError("must not be empty (leave cpus unset for every CPU tunegym may use)")
        if any(c < 0 for c in value) or len(set(value)) != len(value):
            raise ValueError(f"CPU ids must be distinct and >= 0, got {value}")
        return value

    @model_validator(mode="after")
    def _fits(self) -> LocalSpec:
        if self.gpus and self.gpus_per_trial > len(self.gpus):
            raise ValueError(
                f"gpus_per_trial = {self.gpus_per_trial} but the pool has {len(self.gpus)} GPU(s)"
            )
        if (
            self.cpus is not None
            and self.cpus_per_trial is not None
            and self.cpus_per_trial > len(self.cpus)
        ):
            raise ValueError(
                f"cpus_per_trial = {self.cpus_per_trial} but the pool has {len(self.cpus)} CPU(s)"
            )
        return self


class WorkloadSpec(_Strict):
    """A benchmark command and its search space (``workload.toml``)."""

    name: FolderName = Field(min_length=1)
    """Names the job and its folder: letters, digits, `_`, `.`, `-` (not first), at most 100."""
    description: str = ""
    mode: Literal["offline", "live"] = "offline"
    """``offline``: run ``command`` per trial; ``live``: step an in-process GymServer."""
    command: list[str] | None = Field(default=None, min_length=1)
    server: str | None = None
    """Live mode: ``package.module:Class`` implementing ``tunegym.gym.GymServer``."""
    server_args: dict[str, Any] = Field(default_factory=dict)
    cache: bool = True
    """``false`` runs every trial, even a repeat (for results that are not deterministic)."""
    runner: str = Field(default="local", min_length=1)
    """Where trials run: ``local`` (subprocesses here), ``ray`` (Ray tasks), ``slurm``
    (Slurm jobs), or any runner registered under the ``tunegym.runners`` entry points."""
    local: LocalSpec = Field(default_factory=LocalSpec)
    """Local runner: GPUs and CPUs shared out among trials running at once."""
    ray: RaySpec = Field(default_factory=RaySpec)
    slurm: SlurmSpec = Field(default_factory=SlurmSpec)
    runner_options: dict[str, Any] = Field(default_factory=dict)
    """Settings of a runner that has no table of its own (a plugin), checked by its model."""
    params: dict[str, ParamValue] = Field(default_factory=dict)
    env: dict[str, ParamValue] = Field(default_factory=dict)
    timeout_s: float | None = Field(default=None, gt=0, le=MAX_TIMEOUT_S)
    metrics: list[MetricSpec] = Field(default_factory=list)
    constraints: list[str] = Field(default_factory=list)
    when: dict[str, str] = Field(default_factory=dict)
    """Conditional params: ``param = "expression"``; the param is chosen (and in the
    command, env and cache key) only when the expression over params declared before it
    holds, e.g. ``threads = "codec == 'zstd'"``."""
    env_params: dict[str, EnvParamSpec] = Field(default_factory=dict)
    agent: AgentSpec = Field(default_factory=AgentSpec)

    @model_validator(mode="before")
    @classmethod
    def _objectives_pair_with_the_declared_metrics(cls, data: Any) -> Any:
        """``objectives`` without ``agent.metrics``: the objectives are for every declared
        metric, in order (what unset ``agent.metrics`` means), when their numbers match;
        ``agent.metrics`` is filled in with them, so everything reading the objectives
        pairs them so."""
        if not isinstance(data, dict) or data.get("mode", "offline") != "offline":
            return data
        agent, metrics = data.get("agent"), data.get("metrics")
        if not (isinstance(agent, dict) and isinstance(metrics, list)):
            return data
        objectives = agent.get("objectives")
        if agent.get("metrics") is not None or not isinstance(objectives, list):
            return data
        names = [m.get("name") if isinstance(m, dict) else None for m in metrics]
        if not all(isinstance(n, str) for n in names) or len(set(names)) != len(names):
            return data  # the metrics' own errors are reported
        if len(names) != len(objectives):
            return data
        return {**data, "agent": {**agent, "metrics": names}}

    @field_validator("command")
    @classmethod
    def _command(cls, value: list[str] | None) -> list[str] | None:
        if value is not None and not value[0].strip():
            raise ValueError("command[0] (the program) must not be empty")
        return value

    @model_validator(mode="after")
    def _mode_fields(self) -> WorkloadSpec:
        if self.mode == "offline":
            if self.command is None:
                raise ValueError('command is required (an argv list), unless mode = "live"')
            if self.server is not None or self.server_args:
                raise ValueError('server and server_args need mode = "live"')
        else:
            if self.server is None:
                raise ValueError('mode = "live" needs server = "package.module:Class"')
            if self.command is not None:
                raise ValueError('mode = "live" steps the server in process; drop command')
        return self

    @model_validator(mode="after")
    def _wall_time_alone_is_minimised(self) -> WorkloadSpec:
        """An offline job whose agent observes only ``duration_s`` (no metric declared,
        or ``agent.metrics = ["duration_s"]``) and sets no reward minimises it (reward
        ``negative``): the default ``identity`` searched for the slowest configuration."""
        agent = self.agent
        if (
            self.mode == "offline"
            and "reward" not in agent.model_fields_set
            and not agent.objectives
            and self.agent_metrics == list(BUILTIN_METRICS)
        ):
            object.__setattr__(self, "agent", agent.model_copy(update={"reward": "negative"}))
        return self

    def runner_table(self, name: str) -> Any:
        """The settings of runner ``name``: its own table (``[ray]``, ``[slurm]``), else
        ``runner_options`` (unvalidated there; the runner's model checks it)."""
        if name in type(self).model_fields and name not in _NOT_RUNNER_TABLES:
            return getattr(self, name)
        return self.runner_options

    @property
    def metric_names(self) -> list[str]:
        return [m.name for m in self.metrics]

    @property
    def reward_metrics(self) -> list[str]:
        """The names a reward may read: :attr:`agent_metrics`, then the built-in metrics
        (``duration_s``) every offline trial measures."""
        metrics = self.agent_metrics
        if self.mode != "offline":
            return metrics
        return [*metrics, *(m for m in BUILTIN_METRICS if m not in metrics)]

    @property
    def agent_metrics(self) -> list[str]:
        """The metrics the agent observes: ``agent.metrics``, else every declared metric."""
        if self.agent.metrics:
            return list(self.agent.metrics)
        return self.metric_names or list(BUILTIN_METRICS)


_NOT_RUNNER_TABLES = frozenset(
    {"name", "description", "mode", "command", "server", "server_args", "cache", "runner"}
    | {"params", "env", "timeout_s", "metrics", "constraints", "when", "env_params", "agent"}
    | {"runner_options"}
)


class JobSpec(BaseModel):
    """One ``[[jobs]]`` entry of a scenario; any other key overrides the workload."""

    model_config = ConfigDict(extra="allow", frozen=True, strict=True, allow_inf_nan=False)

    workload: str = Field(min_length=1, max_length=4096)
    iterations: int = Field(default=1, ge=1, le=MAX_ITERATIONS)
    unset: list[str] = Field(default_factory=list, max_length=1000)
    """Dotted paths of workload fields to remove for this job before its overrides apply,
    e.g. ``["env_params.kind"]`` (``kind`` is chosen again, not drawn); each must exist."""


class ScenarioSpec(_Strict):
    """``scenario.toml``: a name and the jobs to run, in order."""

    name: FolderName = Field(min_length=1)
    """Names the run folder: letters, digits, `_`, `.`, `-` (not first), at most 100."""
    description: str = ""
    jobs: list[JobSpec] = Field(min_length=1)
