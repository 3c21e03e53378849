"""The shape of ``summary.json`` as pydantic models; its JSON Schema is generated from them.

The models document the file (the README's table is generated from the schema, and the
tests validate real summaries against it); the writer builds plain dicts. Keys may be
added without changing ``schema_version`` (readers ignore keys they do not know); removing
or changing the meaning of a key increments it.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, create_model

from tunegym.trial.status import STATUSES

RunStatus = Literal["ok", "agent_failed", "error", "interrupted", "running", "crashed"]
SCHEMA_ID = "tunegym/summary.schema.json"


class _Doc(BaseModel):
    model_config = ConfigDict(extra="allow")


def _field(description: str, default: Any = ..., **kwargs: Any) -> Any:
    return Field(default, description=description, **kwargs)


Counts = create_model(  # one required count per row status, from the one status enum
    "Counts",
    __config__=ConfigDict(extra="allow"),
    __doc__="Rows per trial status.",
    **{  # type: ignore[call-overload]
        status: (int, Field(ge=0, description=f"rows with status `{status}`"))
        for status in STATUSES
    },
)


class Best(_Doc):
    step: int = _field("its step", ge=1)
    reward: float = _field("its reward")
    action: dict[str, Any] = _field("the chosen value of each search dimension")
    env_params: dict[str, Any] = _field("the env params sampled for it (`{}` without env params)")
    observation: dict[str, float] = _field("its metrics, by name")


class ActionStats(_Doc):
    action: dict[str, Any] = _field("the action")
    mean_reward: float = _field("mean reward over its measurements")
    count: int = _field("how many measurements (env-param draws)", ge=1)
    sem: float | None = _field(
        "standard error of the mean reward (sample std / sqrt(count)); null for one draw", None
    )
    std: float = _field("standard deviation of those rewards", None, ge=0)
    min_reward: float = _field("lowest of them", None)
    max_reward: float = _field("highest of them", None)
    first_step: int = _field("step of its first measurement", None, ge=1)


class ContextBest(_Doc):
    env_params: dict[str, Any] = _field("the context: one value per env param")
    best_action: dict[str, Any] = _field("the best action measured in it")
    mean_reward: float = _field("that action's mean reward in this context")
    count: int = _field("that action's measurements in this context", ge=1)
    actions_measured: int = _field("distinct actions measured in this context", None, ge=1)
    measurements: int = _field("measurements in this context (all actions)", None, ge=1)


class Robust(_Doc):
    rule: str = _field("how the robust best is chosen, in words", None)
    over: Literal["env-param draws", "repeats"] = _field(
        "what an action's measurements are: env-param draws, or the repeats of `agent.repeats`",
        None,
    )
    best: ActionStats | None = _field(
        "the action with the highest mean reward over its env-param draws (ties: more "
        "draws) among those with `required_draws` draws (when none has that many: among "
        "those with the most); null without a scored trial"
    )
    min_draws: int = _field("`agent.min_draws`: the draws the robust best should rest on", None)
    required_draws: int = _field(
        "the draws required: `min_draws`, or every env-param combination when there are fewer",
        None,
        ge=1,
    )
    min_draws_met: bool = _field(
        "whether the robust best has `required_draws` draws (`false`: the budget did not allow)",
        None,
    )
    evidence_note: str = _field(
        "why the evidence is less than `min_draws`, in words (absent when it is not)", None
    )
    actions: list[ActionStats] = _field("every measured action, best first")
    contexts: list[ContextBest] = _field(
        "per env-param combination, its best action (most measured contexts first)"
    )


class FrontMember(_Doc):
    action: dict[str, Any] = _field("the action")
    objectives: dict[str, float] = _field("its mean value of each objective metric")
    count: int = _field("how many measurements", ge=1)
    step: int = _field("its first step", ge=1)
    best_config: str = _field("`best_config_<i>.toml` with this action fixed", None)


class EarlierBest(_Doc):
    step: int = _field("its step in the earlier run", ge=1)
    reward: float = _field("its reward there")
    action: dict[str, Any] = _field("its action")
    env_params: dict[str, Any] = _field("the env params sampled for it (`{}` without env params)")
    earlier_run: Literal[True] = _field("`true`: measured in the earlier run, not in this one")


class WarmStart(_Doc):
    source: str = _field("its trials.sqlite")
    job: str = _field("the job read from it")
    trials: int = _field("trials the agent learned", ge=0)
    skipped: int = _field("trials left out (outside this job's space)", None, ge=0)
    earlier_best: EarlierBest = _field(
        "the earlier run's best trial, marked `earlier_run` (it was not measured in this run)",
        None,
    )


class StatsSummary(_Doc):
    mean: float = _field("mean")
    std: float = _field("standard deviation", ge=0)
    n: int = _field("how many values", ge=1)


class PolicySummary(_Doc):
    seed: int = _field("the seed of this iteration (agent.seed, or --seed, + iteration)")
    reward: StatsSummary | None = _field("reward per step, over every scored step")
    last: StatsSummary | None = _field("reward per step over the last 10% of scored steps")
    episodes: int = _field("finished episodes (live jobs; 0 otherwise)", ge=0)
    episode_return: StatsSummary | None = _field("summed reward per finished episode")
    episode_length: StatsSummary | None = _field("steps per finished episode")


class BaselineSummary(_Doc):
    job: str = _field("the plain (run-once) job of the same workload file")
    metric: str = _field("what is compared: the first observed metric, or `reward`")
    lower_is_better: bool = _field("`true` when the reward minimises the metric")
    baseline: float = _field("the plain job's value")
    tuned: float = _field("this job's best trial's value")
    change_pct: float = _field("(tuned - baseline) / |baseline|, in percent")
    improved: bool = _field("whether the tuned value is better")
    text: str = _field("the comparison in words, e.g. `+38% rows_per_s over the baseline`")


class SearchChoice(_Doc):
    agent: str = _field("the agent that chose (`auto`)")
    method: str = _field("the search method it starts with: `ngopt` (Nevergrad) or `gp` (Optuna)")
    reason: str = _field("why, in words (space, budget, objectives, noise)")
    then: str = _field("the method that takes over on the same study (`tpe`)", None)
    switch_after: int = _field("after this many proposals", None, ge=1)


class ImportanceSummary(_Doc):
    evaluator: str = _field("the importance evaluator (Optuna's PED-ANOVA)")
    trials: int = _field("completed trials it was computed from", ge=1)
    objectives: dict[str, dict[str, float]] = _field(
        "per objective (`reward`, or each objective metric): each search dimension's share "
        "of importance (the shares sum to 1)"
    )


class BudgetSummary(_Doc):
    budget_s: float = _field("the job's wall-clock budget (`agent.budget_s`, `--budget`)")
    grace_s: float | None = _field(
        "how long running trials got once it was spent before being stopped; null: they ran "
        "to their end"
    )
    ended_job: bool = _field(
        "`true` when the budget ended the job (kept a trial from starting, or stopped one)"
    )
    stopped_trials: int = _field("running trials stopped after the grace period", ge=0)
    source: Literal["agent.budget_s", "--budget"] = _field(
        "what set the budget: the job's `agent.budget_s`, or the run's `--budget` when less "
        "of it was left when the job began"
    )
    given_s: float = _field(
        "the budget as its source gave it (under `--budget`, `budget_s` is what was left)"
    )


class PruningSummary(_Doc):
    pruner: str = _field("`agent.pruner.type`: median, percentile, successive_halving, ...")
    metric: str = _field("the metric whose progress the pruner watched")
    direction: Literal["max", "min"] | None = _field("which intermediate values are better")
    pruned: int = _field("trials the pruner stopped (status `pruned`)", ge=0)
    curves: int = _field("rows with intermediate values recorded (`curves` in trials.sqlite)")
    trial_seconds: float = _field("seconds spent in trials that ran (cache hits excluded)")
    pruned_seconds: float = _field("of those, seconds spent in trials later pruned")
    saved_seconds: float | None = _field(
        "estimated seconds pruning saved: per pruned trial, the completed trials' mean "
        "duration less its own (null before a trial completed)"
    )


class JobSummary(_Doc):
    name: str = _field("the job name")
    iteration: int = _field("0-based iteration of the job", ge=0)
    status: RunStatus = _field("as the run's `status`, for this job iteration")
    agent: str | None = _field("the agent type; null for a run-once job (no search dimensions)")
    max_steps: int = _field("the step budget (1 for a run-once job)", ge=1)
    trials: int = _field("rows recorded (every status)", ge=0)
    counts: Counts = _field("rows per trial status: " + ", ".join(f"`{s}`" for s in STATUSES))
    folder: str = _field("the job iteration's folder")
    trajectory: str = _field("its `trajectory.csv`")
    best: Best | None = _field(
        "the best successful trial (highest reward, earliest on ties), or null when none succeeded"
    )
    best_config: str | None = _field(
        "`best_config.toml`: the workload with the best action fixed; null without a best"
    )
    fingerprint: str = _field(
        "12 hex digits identifying the validated workload (equal specs, equal fingerprints)",
        pattern=r"^[0-9a-f]{12}$",
    )
    message: str = _field(
        "why the job did not end `ok`, or why its agent stopped before its budget (absent "
        "when neither)",
        None,
    )
    robust: Robust = _field(
        "with env params or `agent.repeats` > 1: the robust best (the best mean over an "
        "action's measurements, not its luckiest one); `best_config` then holds its action",
        None,
    )
    objectives: dict[str, Literal["max", "min"]] = _field(
        "with several objectives: each objective metric and its direction", None
    )
    pareto_front: list[FrontMember] = _field(
        "with several objectives: the actions no other action beats on every objective", None
    )
    warm_start: WarmStart = _field(
        "with `agent.warm_start`: the earlier run the agent learned first", None
    )
    rl: PolicySummary = _field(
        "for a job that trains or evaluates a policy (sb3) or steps a live env: the reward "
        "the policy earns (instead of a single best step)",
        None,
    )
    baseline: BaselineSummary = _field(
        "when the scenario also runs the same workload once, untuned: this job's best against it",
        None,
    )
    importance: ImportanceSummary = _field(
        "with enough scored trials: which parameters mattered", None
    )
    budget: BudgetSummary = _field(
        "with a time budget (`agent.budget_s`, `--budget`): whether it ended the job", None
    )
    pruning: PruningSummary = _field(
        "with `[agent.pruner]`: what the pruner watched and how many trials it stopped", None
    )
    search: SearchChoice = _field(
        "with the `auto` agent: the search method it chose for this job and why", None
    )


class Extension(_Doc):
    from_max_steps: int | None = _field(
        "the `--max-steps` override before (null: each job's `agent.max_steps`)"
    )
    max_steps: int = _field("the new `--max-steps` for every job", ge=1)
    at: float = _field("Unix time of the extension")


class Summary(_Doc):
    """The machine-readable result of a run. Keys may be added without changing
    schema_version (readers ignore keys they do not know); removing or changing the meaning
    of a key increments it."""

    schema_version: Literal[1] = _field("`1`; incremented when a key is removed or changes meaning")
    tunegym_version: str = _field("the tunegym that wrote the file")
    scenario: str = _field("the scenario name (the workload name for a single workload file)")
    spec: str = _field("absolute path of the scenario or workload file that was run")
    run_dir: str = _field("the run folder; every other path in the file is relative to it")
    dry_run: bool = _field("`true` when nothing was executed (`--dry-run`)")
    seed: int | None = _field("the `--seed` override, or null (each job uses its `agent.seed`)")
    max_steps: int | None = _field("the `--max-steps` override, or null", None)
    budget_s: float | None = _field(
        "the run's `--budget` in seconds, or null (a resume applies it again, or its own)", None
    )
    budget_grace_s: float | None = _field(
        "the run's `--budget-grace` in seconds, or null (a resume applies it again, or its own)",
        None,
    )
    status: RunStatus = _field(
        "`ok`; `agent_failed` (a job's agent returned non-zero); `error` (an error or a bug "
        "stopped the run, see `failure.txt`); `interrupted` (Ctrl-C); from `tunegym report` only: "
        "`running` (its process is alive) or `crashed` (it died without finishing)"
    )
    started_at: float = _field("Unix time the run started")
    finished_at: float | None = _field(
        "Unix time it ended (for `crashed`: the end of its last trial); null while `running`"
    )
    duration_s: float = _field(
        "wall time from start to `finished_at` (to now while `running`)", ge=0
    )
    resumed_at: list[float] = _field(
        "Unix times of each `tunegym run --resume` of this run folder", None
    )
    extended: list[Extension] = _field(
        "each `tunegym run --resume RUN_DIR --max-steps N` that gave the run a larger budget",
        None,
    )
    regenerated_at: float = _field(
        "Unix time `tunegym report` rewrote the file (absent when the run wrote it)", None
    )
    jobs: list[JobSummary] = _field("one entry per job iteration that started, in run order")


def summary_schema() -> dict[str, Any]:
    """The JSON Schema (draft 2020-12) of ``summary.json``, generated from :class:`Summary`.

    Nullable values are ``oneOf`` (null, or the value): the branches never overlap.
    Optional keys (absent unless they apply) carry no default in the schema.
    """
    schema = _tidy(Summary.model_json_schema(ref_template="#/$defs/{model}"))
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": SCHEMA_ID,
        "title": "tunegym summary.json",
        **schema,
    }


def _tidy(node: Any) -> Any:
    if isinstance(node, list):
        return [_tidy(item) for item in node]
    if not isinstance(node, dict):
        return node
    out: dict[str, Any] = {}
    for key, value in node.items():
        if key == "default" or (key == "title" and isinstance(value, str)):
            continue  # optional keys are absent, not defaulted; titles repeat the key
        if key == "anyOf":
            out["oneOf"] = _tidy(value)
        else:
            out[key] = _tidy(value)
    return out
