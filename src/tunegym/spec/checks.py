"""Rules that span several fields of a workload; each problem carries its field path."""

from __future__ import annotations

import math
import re
import string
from collections.abc import Iterator

from pydantic import ValidationError

from tunegym import plugins
from tunegym.command import format_field, param_env_name, placeholder_names
from tunegym.errors import SpecError
from tunegym.spec.errors import Loc, format_loc, show_value, unknown_key_message
from tunegym.spec.models import (
    BUILTIN_METRICS,
    SERVER_PATH,
    ContinuousParam,
    WorkloadSpec,
    env_name_problem,
    param_name_problem,
)
from tunegym.spec.pruning import pruner_problems

# Placeholders every command may use besides its params.
_BUILTIN_EXAMPLES: dict[str, list[object]] = {
    "python": ["/usr/bin/python3"],
    "workload_dir": ["/work"],
    "trial_dir": ["/work/runs/w_20260101-000000/w/0/1"],
    "step": [1],
}
"""What each built-in placeholder is (a path, the step), to check its format spec with."""
BUILTIN_PLACEHOLDERS = tuple(_BUILTIN_EXAMPLES)
MAX_FORMAT_WIDTH = 4096
"""The widest field a placeholder's format spec may ask for (``{x:=^99999999999}`` would
take gigabytes)."""
_FORMAT_WIDTH = re.compile(r"(?:.?[<>=^])?[-+ ]?z?#?0?(\d+)")
WEIGHT_TOLERANCE = 1e-6


def check_workload(workload: WorkloadSpec) -> list[tuple[Loc, str]]:
    """Every cross-field problem of ``workload`` as ``(field path, message)``."""
    return [
        *_check_names(workload),
        *_check_placeholders(workload),
        *_check_env_params(workload),
        *_check_constraints(workload),
        *_check_when(workload),
        *_check_metrics(workload),
        *_check_agent(workload),
        *_check_search(workload),
        *_check_live(workload),
        *_check_runner(workload),
        *pruner_problems(workload),
    ]


def _check_names(w: WorkloadSpec) -> Iterator[tuple[Loc, str]]:
    for name in w.params:
        problem = param_name_problem(name)
        if problem is not None:
            yield ("params", name), problem
    for name in w.env:
        problem = env_name_problem(name)
        if problem is not None:
            yield ("env", name), problem
    for name in sorted(set(w.params) & set(w.env)):
        yield ("env", name), f"{name!r} is also declared in [params]; names must be unique"
    for name in w.params:
        if name in BUILTIN_PLACEHOLDERS:
            yield ("params", name), f"{name!r} is reserved (built-in placeholder); rename it"
    # Every param (env entries included) is also exported as TUNEGYM_PARAM_<NAME>.
    exported: dict[str, tuple[str, str]] = {}
    for table, names in (("params", w.params), ("env", w.env)):
        for name in names:
            variable = param_env_name(name)
            if variable in exported:
                other_table, other = exported[variable]
                yield (
                    (table, name),
                    f"{name!r} and {other_table}.{other} both become the variable {variable}; "
                    "rename one of them",
                )
            else:
                exported[variable] = (table, name)


def _check_placeholders(w: WorkloadSpec) -> Iterator[tuple[Loc, str]]:
    known = set(w.params) | set(w.env) | set(BUILTIN_PLACEHOLDERS)
    for i, arg in enumerate(w.command or []):
        shown = show_value(arg)
        try:
            names = placeholder_names(arg)
        except ValueError as exc:
            yield (
                ("command", i),
                f"bad placeholder in {shown}: {exc} (write {{{{ and }}}} for braces)",
            )
            continue
        for name in names:
            if name == "":
                yield ("command", i), f"empty placeholder {{}} in {shown}; name a param"
            elif name not in known:
                syntax = name.isdigit() or "." in name or "[" in name
                hint = (
                    " ({0} is positional, {x.y} and {x[0]} attribute and index access: "
                    "a placeholder is a param name only)"
                    if syntax
                    else ""
                )
                yield (
                    ("command", i),
                    f"placeholder {{{_listing([name])}}} in {shown} names no param; "
                    f"known: {_listing(known)}{hint}",
                )
        if all(name in known for name in names):
            yield from _check_format_specs(w, i, arg)


def _check_format_specs(w: WorkloadSpec, index: int, arg: str) -> Iterator[tuple[Loc, str]]:
    """Every value a placeholder can take must fit its format spec (``{x:.2f}``)."""
    for _, name, spec, conversion in string.Formatter().parse(arg):
        if conversion not in (None, "r", "s", "a"):
            yield (
                ("command", index),
                f"placeholder {{{name}!{conversion}}} in {show_value(arg)}: unknown conversion "
                f"!{conversion} (use !r, !s or !a)",
            )
            continue
        if name is None or not (spec or conversion):
            continue
        if _too_wide(spec or ""):
            yield (
                ("command", index),
                f"placeholder {{{name}:{show_value(spec, 40)[1:-1]}}} in {show_value(arg)}: "
                f"a width over {MAX_FORMAT_WIDTH} characters",
            )
            continue
        examples = (
            _BUILTIN_EXAMPLES[name]
            if name in BUILTIN_PLACEHOLDERS
            else _example_values({**w.env, **w.params}[name])
        )
        for value in examples:
            try:
                format_field(value, conversion, spec or "")
            except (ValueError, TypeError, OverflowError) as exc:
                yield (
                    ("command", index),
                    f"placeholder {{{name}:{show_value(spec, 40)[1:-1]}}} in {show_value(arg)} "
                    f"cannot format {name} = {show_value(value)}: {exc}",
                )
                break


def _too_wide(spec: str) -> bool:
    width = _FORMAT_WIDTH.match(spec)
    digits = width.group(1) if width is not None else ""
    return len(digits) > len(str(MAX_FORMAT_WIDTH)) or int(digits or 0) > MAX_FORMAT_WIDTH


def _example_values(value: object) -> list[object]:
    """The values a param can take, or its bounds for a range."""
    if isinstance(value, ContinuousParam):
        bounds = (value.low, value.high)
        return [int(b) for b in bounds] if value.dtype == "int" else list(bounds)
    return list(value) if isinstance(value, list) else [value]


def _check_env_params(w: WorkloadSpec) -> Iterator[tuple[Loc, str]]:
    tables = {**w.env, **w.params}
    for name, spec in w.env_params.items():
        loc: Loc = ("env_params", name)
        if name not in tables:
            yield loc, f"{name!r} is not a param; env_params must name a list-valued param"
            continue
        values = tables[name]
        if not isinstance(values, list):
            yield (
                loc,
                f"{name!r} must be a list-valued param to be sampled, got {show_value(values)}",
            )
            continue
        if spec.weights is None:
            continue
        wloc: Loc = (*loc, "weights")
        if len(spec.weights) != len(values):
            yield wloc, f"{len(spec.weights)} weights for {len(values)} values of {name!r}"
        elif any(x < 0 or not math.isfinite(x) for x in spec.weights):
            yield wloc, f"weights must be finite and non-negative, got {spec.weights}"
        elif abs(sum(spec.weights) - 1.0) > WEIGHT_TOLERANCE:
            yield wloc, f"weights must sum to 1 (tolerance 1e-6), they sum to {sum(spec.weights):g}"


def _check_constraints(w: WorkloadSpec) -> Iterator[tuple[Loc, str]]:
    from tunegym.expr import ExprError, compile_expr

    known = set(w.params) | set(w.env)
    for i, source in enumerate(w.constraints):
        try:
            expr = compile_expr(source)
        except ExprError as exc:
            yield ("constraints", i), str(exc)
            continue
        unknown = sorted(expr.names - known)
        if unknown:
            yield (
                ("constraints", i),
                f"{show_value(source)} uses {_listing(unknown)}, which is not a param; "
                f"known: {_listing(known)}",
            )


def _check_when(w: WorkloadSpec) -> Iterator[tuple[Loc, str]]:
    """``[when]``: each key a search dimension (a list or range, not an env param), each
    expression valid and reading only dimensions declared before it and fixed values."""
    from tunegym.expr import ExprError, compile_expr
    from tunegym.spec.models import ContinuousParam

    order: list[str] = []
    fixed: set[str] = set()
    for table in (w.params, w.env):
        for name, value in table.items():
            if name in w.env_params:
                continue
            if isinstance(value, ContinuousParam | list):
                order.append(name)
            else:
                fixed.add(name)
    if w.when and w.mode == "live":
        yield ("when",), "live mode does not support conditional params (the server's space)"
        return
    for name, source in w.when.items():
        loc: Loc = ("when", name)
        if name in w.env_params:
            yield loc, f"{name!r} is an env param (drawn per trial); it cannot be conditional"
            continue
        if name not in order and name not in fixed:
            known = _listing([*order, *sorted(fixed)]) if order or fixed else "none"
            yield loc, f"{name!r} is not a param; known: {known}"
            continue
        try:
            expr = compile_expr(source)
        except ExprError as exc:
            yield loc, str(exc)
            continue
        # A searched param reads the ones before it; a fixed value may read any.
        before = set(order[: order.index(name)]) if name in order else set(order)
        fixed_here = fixed - {name}
        bad = sorted(expr.names - before - fixed_here)
        if name in expr.names:
            yield loc, f"{show_value(source)} reads {name!r} itself"
        elif bad:
            later = [n for n in bad if n in order]
            why = (
                f"reads {_listing(later)}, declared after {name!r}: declare it first"
                if later
                else f"reads {_listing(bad)}, which is not a param declared before {name!r}"
            )
            yield loc, f"{show_value(source)} {why}"


def _check_metrics(w: WorkloadSpec) -> Iterator[tuple[Loc, str]]:
    from tunegym.metrics import MetricSource, build_extractor

    seen: set[str] = set()
    for i, metric in enumerate(w.metrics):
        if metric.name in seen:
            yield ("metrics", i, "name"), f"metric {metric.name!r} is declared twice"
        seen.add(metric.name)
        if not metric.has_extractor:
            continue  # progress only: its form is checked with the pruner
        try:
            build_extractor(MetricSource.of(metric))
        except ValueError as exc:
            yield ("metrics", i, metric.kind), str(exc)


def _check_agent(w: WorkloadSpec) -> Iterator[tuple[Loc, str]]:
    from tunegym.metrics import build_reward

    declared = set(w.metric_names) | set(BUILTIN_METRICS)
    # Live: the server declares its metrics; LiveEnv checks agent.metrics when it starts.
    for i, name in enumerate((w.agent.metrics or []) if w.mode == "offline" else []):
        if name not in declared:
            yield (
                ("agent", "metrics", i),
                f"{name!r} is not a declared metric; declared: {', '.join(sorted(declared))}",
            )
    try:
        build_reward(w.agent.reward, _reward_metrics(w))
    except ValueError as exc:
        yield ("agent", "reward"), str(exc)
    if w.agent.type is None:
        if w.agent.config:
            yield (
                ("agent", "config"),
                f"options {', '.join(map(repr, w.agent.config))} without agent.type: the "
                "default agent depends on the space and the budget, so name the one they "
                'are for (for example type = "auto")',
            )
        return
    try:
        agent_cls = plugins.load(plugins.AGENTS, w.agent.type)
    except SpecError as exc:
        yield ("agent", "type"), str(exc)
        return
    if w.env_params and not agent_cls.supports_env_params:
        yield (
            ("agent", "type"),
            f"agent {w.agent.type!r} does not support env params, but the workload declares "
            f"[env_params.{next(iter(w.env_params))}]; choose an agent that does or drop them",
        )
    try:
        # strict: an option keeps the TOML type it was given ("yes" is not a boolean)
        agent_cls.Config.model_validate(w.agent.config, strict=True)
    except ValidationError as exc:
        for err in exc.errors(include_url=False):
            of_agent = f"for agent {w.agent.type!r}"
            if err["type"] == "extra_forbidden":
                message = unknown_key_message(agent_cls.Config, err["loc"], f"option {of_agent}")
            else:
                message = f"{err['msg'].removeprefix('Value error, ')} {of_agent}"
                if err["type"] != "value_error" and "input" in err:
                    message += f" (got {show_value(err['input'])})"
            yield ("agent", "config", *err["loc"]), message
    floats = [
        n
        for n, v in {**w.params, **w.env}.items()
        if isinstance(v, ContinuousParam) and v.dtype == "float" and n not in w.env_params
    ]
    if agent_cls.requires_finite_space and floats:
        yield (
            ("agent", "type"),
            f"agent {w.agent.type!r} needs finite dimensions, but {', '.join(floats)} "
            f"is a float range (use a list, dtype = \"int\", or agent type 'random')",
        )
    elif agent_cls.max_space_size is not None:
        size = _finite_size(w)
        if size > agent_cls.max_space_size:
            yield (
                ("agent", "type"),
                f"the space has {size} actions; agent {w.agent.type!r} handles at most "
                f"{agent_cls.max_space_size} (use agent type 'optuna')",
            )


def _finite_size(w: WorkloadSpec) -> int:
    """How many actions the search dimensions (lists, int ranges) make, before ``when``
    conditions drop any."""
    size = 1
    for name, value in {**w.params, **w.env}.items():
        if name in w.env_params:
            continue
        if isinstance(value, list):
            size *= len(value)
        elif isinstance(value, ContinuousParam):
            size *= int(value.high) - int(value.low) + 1
    return size


def _check_search(w: WorkloadSpec) -> Iterator[tuple[Loc, str]]:
    """repeats, objectives, warm_start and agent-specific option rules."""
    agent = w.agent
    if agent.repeats > 1 and w.cache and not w.env_params:
        yield (
            ("agent", "repeats"),
            f"repeats = {agent.repeats} would answer every repeat after the first from the "
            "cache (same action, no env params); set cache = false in the workload",
        )
    n_objectives = len(agent.objectives or ())
    if n_objectives == 1:
        yield (
            ("agent", "objectives"),
            "a single objective is the reward: drop objectives and use reward = 'identity' "
            "(maximise) or 'negative' (minimise); objectives need two or more metrics",
        )
    if agent.type is None:
        return
    try:
        agent_cls = plugins.load(plugins.AGENTS, agent.type)
        options = agent_cls.Config.model_validate(agent.config)
    except (SpecError, ValidationError):
        return  # reported by _check_agent
    if n_objectives > 1 and agent_cls.learns() and not agent_cls.supports_multi_objective:
        yield (
            ("agent", "objectives"),
            f"agent {agent.type!r} optimises a single reward; several objectives need an "
            "agent that supports them (optuna) or one that ignores rewards (grid, random)",
        )
    if agent.warm_start is not None and not agent_cls.supports_warm_start:
        yield (
            ("agent", "warm_start"),
            f"agent {agent.type!r} does not learn from earlier runs; use optuna or bandit",
        )
    for loc, message in agent_cls.config_problems(options, n_objectives):
        yield ("agent", *loc), message
    if w.mode == "offline":
        for loc, message in agent_cls.space_problems(options, w):
            yield ("agent", *loc), message


def _listing(names: object, limit: int = 20) -> str:
    """Sorted names joined with commas, at most ``limit`` of them (then how many more)."""
    shown = sorted(str(n) for n in names)  # type: ignore[attr-defined]
    text = ", ".join(n if len(n) <= 40 else f"{n[:39]}…" for n in shown[:limit])
    return text + (f" and {len(shown) - limit} more" if len(shown) > limit else "")


def _reward_metrics(w: WorkloadSpec) -> list[str]:
    """The metric names a reward may use; for live mode without ``agent.metrics``, any
    name the reward uses (the server's ``observation_space()`` is checked at start)."""
    if w.mode == "offline" or w.agent.metrics:
        return w.reward_metrics
    from tunegym.expr import ExprError, compile_expr

    text = w.agent.reward.strip()
    if not text.startswith("expr:"):
        return ["first_server_metric"]
    try:
        return sorted(compile_expr(text[len("expr:") :].strip()).names)
    except ExprError:
        return []  # build_reward reports the syntax error


def _check_live(w: WorkloadSpec) -> Iterator[tuple[Loc, str]]:
    """Live mode: a well-formed server path, and no fields that only offline trials use."""
    if w.mode != "live":
        return
    if w.server is not None and not SERVER_PATH.match(w.server):
        yield (
            ("server",),
            f"expected 'package.module:Class' (a dotted module path, a colon and a class "
            f"name), got {w.server!r}",
        )
    if w.metrics:
        yield (
            ("metrics",),
            "live mode takes its metrics from the server's observation; drop [[metrics]]",
        )
    if w.constraints:
        yield (
            ("constraints",),
            "live mode does not check constraints (the server decides what a step may do); "
            "drop them",
        )


__all__ = ["BUILTIN_PLACEHOLDERS", "check_workload", "format_loc", "placeholder_names"]


def _check_runner(w: WorkloadSpec) -> Iterator[tuple[Loc, str]]:
    if w.mode == "live" and w.runner != "local":
        yield ("runner",), f"a live job steps its server in process; runner {w.runner!r} is unused"
    try:
        runner_cls = plugins.load(plugins.RUNNERS, w.runner)
    except SpecError as exc:
        yield ("runner",), str(exc)
        return
    own_table = w.runner_table(w.runner) is not w.runner_options
    if w.runner_options and own_table:
        yield (
            ("runner_options",),
            f"runner {w.runner!r} takes its settings from its own [{w.runner}] table",
        )
    elif runner_cls.Settings is not None and not own_table:
        try:
            runner_cls.Settings.model_validate(w.runner_options)
        except ValidationError as exc:
            for err in exc.errors(include_url=False):
                message = "unknown option" if err["type"] == "extra_forbidden" else err["msg"]
                yield ("runner_options", *err["loc"]), f"{message} for runner {w.runner!r}"
    elif runner_cls.Settings is None and w.runner_options:
        yield ("runner_options",), f"runner {w.runner!r} takes no options"
    yield from runner_cls.settings_problems(w)
    if w.slurm.batch:
        if w.mode == "live":
            yield ("slurm", "batch"), "batch mode unrolls a grid; a live job cannot be batched"
        elif (w.agent.type or "grid") != "grid":
            yield (
                ("slurm", "batch"),
                f"batch mode submits the whole grid at once; agent {w.agent.type!r} adapts "
                "to results, so it needs one job per trial (use agent type 'grid')",
            )
