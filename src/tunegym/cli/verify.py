"""``tunegym verify PATH...``: validate spec files and describe each job's search."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "verify",
        help="validate scenario/workload files without running anything",
        description="Validate each file; print each job's agent, budget and search-space size.",
    )
    parser.add_argument("paths", type=Path, nargs="+", help="scenario.toml or workload.toml")
    parser.set_defaults(handler=handle)


def handle(args: argparse.Namespace) -> int:
    from tunegym.env.feasible import constraint_errors, workload_problem
    from tunegym.errors import SpecError
    from tunegym.run import agent_choice, auto_choice
    from tunegym.space import SearchSpace
    from tunegym.spec import load

    failed = 0
    for path in args.paths:
        try:
            scenario = load(path)
        except SpecError as exc:
            print(f"tunegym: error: {exc}", file=sys.stderr)
            failed += 1
            continue
        lines: list[str] = []
        for job in scenario.jobs:
            space = SearchSpace.from_workload(job.workload)
            size = space.size
            notes: list[str] = []
            if (problem := workload_problem(job.workload)) is not None:
                print(f"tunegym: error: {job.workload_path}: {': '.join(problem)}", file=sys.stderr)
                failed += 1
                break
            if job.workload.mode == "live":
                what = _describe_live(job)
                if what.startswith("tunegym: error:"):
                    print(what, file=sys.stderr)
                    failed += 1
                    break
            elif space.is_empty:
                what = "no search dimensions: runs once"
            else:
                agent, steps, why = agent_choice(job, space, None)
                default = f" (default: {why})" if why else ""
                shown = "infinite (float ranges)" if size is None else f"{size} action(s)"
                what = (
                    f"{len(space.dimensions)} dimension(s), {shown}; "
                    f"agent {agent}{default}, max_steps {steps}"
                )
                if agent == "auto":
                    choice = auto_choice(job, space, steps)
                    what += f"; auto runs {choice}"
                    notes.extend(_planning_note(job, choice.method, steps))
                notes.extend(_pruner_note(job))
                notes.extend(_budget_notes(job))
                skipped = constraint_errors(job.workload)
                if skipped is not None:
                    notes.append(skipped)
            env_params = job.workload.env_params
            extra = f"; env params: {', '.join(env_params)}" if env_params else ""
            extra += _search_notes(job)
            lines.append(f"  job {job.name} x{job.iterations}: {what}{extra}")
            lines.extend(f"    note: {note}" for note in notes)
            warm = job.workload.agent.warm_start
            if warm is not None and not space.is_empty:
                from tunegym.agents.warm_start import check_warm_start

                try:
                    lines.append(f"    warm start from {check_warm_start(job)}")
                except SpecError as exc:  # it names the workload file and the field
                    print(f"tunegym: error: {exc}", file=sys.stderr)
                    failed += 1
                    break
        else:
            print(f"{path}: ok, scenario {scenario.name!r}, {len(scenario.jobs)} job(s)")
            print("\n".join(lines))
    return 2 if failed else 0


def _describe_live(job: Any) -> str:
    """A live job: its server must import and implement the protocol; the action space
    is the server's own, known once it is built (at run time)."""
    from tunegym.env.server import ServerError, import_server_class

    try:
        import_server_class(job.workload.server, job.workload_dir)
    except ServerError as exc:
        return f"tunegym: error: {job.workload_path}: server: {exc}"
    agent = job.workload.agent.type or "the default for the server's space"
    steps = job.workload.agent.max_steps or "default"
    return (
        f"live, server {job.workload.server} (its action space is read when it starts); "
        f"agent {agent}, max_steps {steps}"
    )


def _planning_note(job: Any, method: str, steps: int) -> list[str]:
    """NGOpt picks its algorithm for ``steps`` evaluations; a time budget may end the job
    long before (``benchmarks/bench_ngopt_budget.py``: 3-5x the regret on two ranges)."""
    from tunegym.agents.auto_rule import overplanned

    budget_s = job.workload.agent.budget_s
    if budget_s is None or not overplanned(method, steps):
        return []
    return [
        f"NGOpt picks its algorithm for max_steps = {steps} evaluations, but budget_s = "
        f"{budget_s:g} may end the job long before; set max_steps near the number of "
        "trials that fit in the budget"
    ]


def _pruner_note(job: Any) -> list[str]:
    """A pruner that may judge a trial from its first step stops the slow starters that
    end best (``benchmarks/RESULTS.md``, issue 16: rungs from epoch 1 or 3 stopped the
    eventual best; a first decision at a fifth of the run was the steadiest). A pruner that
    can stop nothing on the job's runner says so first."""
    from tunegym.spec.pruning import unprunable_reason

    pruner = job.workload.agent.pruner
    if pruner is None:
        return []
    if (blind := unprunable_reason(job.workload)) is not None:
        return [blind]
    if pruner.type in ("median", "percentile"):
        if pruner.n_warmup_steps:
            return []
        option, when = "n_warmup_steps", "from a trial's first step (n_warmup_steps = 0)"
    elif pruner.type in ("successive_halving", "hyperband"):
        if isinstance(pruner.min_resource, int) and pruner.min_resource > 1:
            return []
        option = "min_resource"
        # Optuna's defaults: successive halving 'auto' (1% of the first trial's steps),
        # Hyperband 1
        if pruner.min_resource == 1 or (pruner.min_resource is None and pruner.type == "hyperband"):
            when = "with its first rung at step 1"
        else:
            when = "with its first rung at 1% of the first trial's steps (min_resource = 'auto')"
    else:
        return []
    return [
        f"the {pruner.type} pruner judges trials {when}: configurations that start slowly "
        f"and end best (a low learning rate) get stopped; set {option} to about a fifth of "
        "a trial's steps (docs/pruning.md, 'Choosing a pruner')"
    ]


def _budget_notes(job: Any) -> list[str]:
    """Budget settings that do nothing: a grace period without a budget, a budget for
    an agent that runs its own loop."""
    agent = job.workload.agent
    notes = []
    if agent.budget_grace_s is not None and agent.budget_s is None:
        notes.append(
            "budget_grace_s has no effect without budget_s (or tunegym run --budget): no "
            "budget ends this job"
        )
    if agent.budget_s is not None and agent.type == "sb3":
        notes.append("the sb3 agent runs its own training loop and does not honour budget_s")
    return notes


def _search_notes(job: Any) -> str:
    """``; repeats 3; objectives throughput max, latency_ms min`` (empty when unset)."""
    agent = job.workload.agent
    notes = ""
    if agent.repeats > 1:
        notes += f"; repeats {agent.repeats}"
    if not job.workload.cache:
        notes += "; cache off"
    pool = job.workload.local
    if job.workload.runner == "local" and (pool.gpus or pool.cpus_per_trial):
        from tunegym.runners.local_resources import LocalResources

        resources = LocalResources.from_spec(pool)
        if resources is not None:
            shares = []
            if resources.gpus_per_trial:
                shares.append(f"{resources.gpus_per_trial} of {len(resources.gpus)} GPU(s)")
            if resources.cpus_per_trial:
                shares.append(f"{resources.cpus_per_trial} of {len(resources.cpus)} CPU(s)")
            notes += f"; local pool: {' and '.join(shares)} per trial, "
            notes += f"{resources.slots} trial(s) at once"
    if agent.objectives and len(agent.objectives) > 1:
        metrics = agent.metrics or []
        pairs = ", ".join(f"{m} {d}" for m, d in zip(metrics, agent.objectives, strict=False))
        notes += f"; objectives {pairs}"
    return notes
