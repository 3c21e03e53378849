"""``tunegym run PATH``: run a scenario or a single workload."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from tunegym.budget import budget_phrase
from tunegym.cli.common import int_in, say, terminate_like_ctrl_c
from tunegym.limits import MAX_PARALLEL, MAX_SEED, MAX_STEPS, MAX_TIMEOUT_S
from tunegym.plugins import RUNNERS, available


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "run",
        help="run a scenario or workload and find its best configuration",
        description="Run every job of a scenario (or a single workload) into a new run folder.",
    )
    parser.add_argument(
        "path",
        type=Path,
        nargs="?",
        help="scenario.toml or workload.toml (with --resume: defaults to the run's own spec)",
    )
    parser.add_argument(
        "--resume",
        type=Path,
        default=None,
        metavar="RUN_DIR",
        help="continue an interrupted run from its trials.sqlite (no finished trial reruns); "
        "with a larger --max-steps, continue a finished run's search",
    )
    parser.add_argument(
        "--output",
        type=Path,
        default=None,
        help="folder that receives the run folder (default: ./runs)",
    )
    parser.add_argument(
        "--dry-run",
        action="store_true",
        help="write command.txt into each trial folder and execute nothing",
    )
    parser.add_argument(
        "--seed", type=int_in(0, MAX_SEED), default=None, help="override every job's agent.seed"
    )
    parser.add_argument(
        "--max-steps",
        type=int_in(1, MAX_STEPS),
        default=None,
        help="override every job's agent.max_steps",
    )
    parser.add_argument(
        "--parallel",
        type=int_in(1, MAX_PARALLEL),
        default=None,
        help="trials in flight at once (overrides every job's agent.parallel)",
    )
    parser.add_argument(
        "--budget",
        type=budget_arg,
        default=None,
        metavar="SECONDS",
        help="wall-clock budget of the whole run: once spent, no new trial starts",
    )
    parser.add_argument(
        "--budget-grace",
        type=seconds_arg,
        default=None,
        metavar="SECONDS",
        help="once the budget is spent, stop running trials after this long "
        "(default: agent.budget_grace_s, else let them finish)",
    )
    parser.add_argument(
        "--runner",
        choices=list(available(RUNNERS)),
        default=None,
        help="where trials run (overrides every job's runner)",
    )
    parser.add_argument(
        "--ray-address",
        type=ray_address_arg,
        default=None,
        help="Ray cluster for runner = 'ray': local (default), auto, or ray://host:port",
    )
    parser.add_argument(
        "--no-progress", action="store_true", help="plain progress lines even on a terminal"
    )
    chatter = parser.add_mutually_exclusive_group()
    chatter.add_argument(
        "-q", "--quiet", action="store_true", help="no progress output; print only the summary path"
    )
    chatter.add_argument(
        "-v", "--verbose", action="store_true", help="also show each trial's action and env params"
    )
    parser.add_argument(
        "--log-file",
        type=Path,
        default=None,
        metavar="PATH",
        help="append timestamped progress lines (every trial, verbose) to PATH",
    )
    parser.set_defaults(handler=handle)


def seconds_arg(text: str) -> float:
    """A number of seconds from 0 (``--budget-grace``)."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected seconds, got {text!r}") from None
    if not (0 <= value <= MAX_TIMEOUT_S) or value != value:
        raise argparse.ArgumentTypeError(f"expected 0 to {MAX_TIMEOUT_S:g} seconds, got {text}")
    return value


def ray_address_arg(text: str) -> str:
    """``--ray-address``, checked as ``ray.address`` is."""
    from tunegym.spec.models import check_ray_address

    try:
        return check_ray_address(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def budget_arg(text: str) -> float:
    """A number of seconds above 0 (``--budget``, as ``agent.budget_s``)."""
    value = seconds_arg(text)
    if value == 0:
        raise argparse.ArgumentTypeError(
            "a budget of 0 s leaves no time for any trial; give more than 0 seconds"
        )
    return value


def handle(args: argparse.Namespace) -> int:
    """Run; SIGTERM and SIGHUP stop it as Ctrl-C does (exit 143 and 129)."""
    with terminate_like_ctrl_c():
        return _handle(args)


def _handle(args: argparse.Namespace) -> int:
    from tunegym.run import RunOptions, check_log_file, run_scenario, spec_to_run
    from tunegym.spec import load

    kept = {
        "--seed": args.seed is not None,
        "--dry-run": args.dry_run,
        "--output": args.output is not None,  # a resumed run stays in its folder
    }
    scenario = load(spec_to_run(args.path, args.resume, kept, "--resume RUN_DIR"))
    if args.log_file is not None:
        check_log_file(args.log_file, scenario, args.resume, "--log-file")
    options = RunOptions(
        output=Path("runs") if args.output is None else args.output,
        dry_run=args.dry_run,
        seed=args.seed,
        max_steps=args.max_steps,
        parallel=args.parallel,
        progress=not args.no_progress,
        resume=args.resume,
        runner=args.runner,
        ray_address=args.ray_address,
        verbosity=0 if args.quiet else 2 if args.verbose else 1,
        log_file=args.log_file,
        budget_s=args.budget,
        budget_grace_s=args.budget_grace,
    )
    doing = "running" if args.resume is None else f"resuming {args.resume}:"
    header = f"tunegym: {doing} {scenario.name} ({len(scenario.jobs)} job(s)) from {scenario.path}"
    _say(args, header)
    result = run_scenario(scenario, options)
    for job in result.summary["jobs"]:
        _say(args, _describe_job(job, result.run_dir))
    if (result.run_dir / "report.html").is_file():
        _say(args, f"report: {result.run_dir / 'report.html'}")
    say(f"summary: {result.run_dir / 'summary.json'}")
    _log(args.log_file, f"summary: {result.run_dir / 'summary.json'}")
    return result.exit_code


def _say(args: argparse.Namespace, text: str) -> None:
    """Print unless --quiet; always append to --log-file."""
    if not args.quiet:
        say(text)
    _log(args.log_file, text)


def _log(path: Path | None, text: str) -> None:
    if path is None:
        return
    import datetime as dt

    path.parent.mkdir(parents=True, exist_ok=True)
    stamp = dt.datetime.now().astimezone().isoformat(timespec="seconds")
    with path.open("a", encoding="utf-8") as fh:
        fh.writelines(f"{stamp} {line}\n" for line in text.splitlines())


def _describe_job(job: dict[str, Any], run_dir: Path) -> str:
    head = f"job {job['name']}" + (f" #{job['iteration']}" if job["iteration"] else "")
    counts = ", ".join(f"{k} {v}" for k, v in job["counts"].items() if v)
    lines = [f"{head}: {job['status']}, {job['trials']} trial(s) ({counts or 'none'})"]
    budget = job.get("budget")
    if budget and budget.get("ended_job") and job["trials"]:  # else the message says it
        stopped = budget.get("stopped_trials", 0)
        lines.append(
            f"  {budget_phrase(budget)} ended the job"
            + (f"; {stopped} running trial(s) stopped" if stopped else "")
        )
        lines.extend(_planning_note(job))
    if job.get("message"):
        lines.append(f"  {job['message']}")
    if job.get("rl"):
        lines.extend(_describe_policy(job["rl"]))
        return "\n".join(lines)
    if job.get("pareto_front"):
        lines.extend(_describe_front(job, run_dir))
        return "\n".join(lines)
    best = job["best"]
    earlier = (job.get("warm_start") or {}).get("earlier_best")
    if best is None and not job["trials"] and earlier:  # the warm start left nothing to try
        lines.append(
            f"  no trial left to run: the warm start's run measured every action; its best reward "
            f"{earlier['reward']:.6g} at step {earlier['step']}: {json.dumps(earlier['action'])} "
            f"(in {job['warm_start']['source']})"
        )
    elif best is None:
        said = (job.get("message") or "").startswith("no trial succeeded")
        lines.append(
            "  no best configuration" if said else "  no successful trial: no best configuration"
        )
    else:
        lines.append(
            f"  best reward {best['reward']:.6g} at step {best['step']}: "
            f"{json.dumps(best['action'])}"
        )
        if best["env_params"]:
            lines.append(f"  env params {json.dumps(best['env_params'])}")
        entry = job.get("robust") or {}
        robust = entry.get("best")
        if robust:
            sem = "" if robust.get("sem") is None else f" ± {robust['sem']:.3g} (s.e.)"
            over = entry.get("over", "env-param draws")
            unit = "draw" if over == "env-param draws" else "measurement"
            lines.append(
                f"  robust best (mean over {over}) {robust['mean_reward']:.6g}{sem} "
                f"over {robust['count']} {unit}(s): {json.dumps(robust['action'])}"
            )
            if entry.get("evidence_note"):
                lines.append(f"  {entry['evidence_note']}")
        earlier = (job.get("warm_start") or {}).get("earlier_best")
        if earlier:
            lines.append(
                f"  earlier run's best (warm start, not measured in this run) "
                f"{earlier['reward']:.6g}: {json.dumps(earlier['action'])}"
            )
        if job.get("baseline"):
            lines.append(f"  {job['baseline']['text']}")
        lines.append(f"  best config: {run_dir / job['best_config']}")
    return "\n".join(lines)


def _planning_note(job: dict[str, Any]) -> list[str]:
    """auto's NGOpt picked its algorithm for ``max_steps`` evaluations, and the time budget
    ended the job long before: say how many trials fitted (``docs/agents.md``)."""
    from tunegym.agents.auto_rule import overplanned

    method = (job.get("search") or {}).get("method")
    if method is None or not overplanned(method, job["max_steps"]):
        return []
    planned, ran = job["max_steps"], job["trials"]
    if not 0 < ran * 2 <= planned:
        return []
    return [
        f"  NGOpt planned for max_steps = {planned} evaluations and {ran} fitted in the "
        f"budget: set max_steps near {ran} (NGOpt picks its algorithm from it)"
    ]


def _describe_policy(rl: dict[str, Any]) -> list[str]:
    """An RL job: the reward its policy earns, not a best single step."""

    def stats(entry: dict[str, Any] | None) -> str:
        if not entry:
            return "-"
        return f"{entry['mean']:.6g} ± {entry['std']:.3g} over {entry['n']}"

    lines = [
        f"  policy (seed {rl['seed']}): reward per step {stats(rl.get('reward'))}; "
        f"last 10% {stats(rl.get('last'))}"
    ]
    if rl.get("episodes"):
        lines.append(
            f"  {rl['episodes']} episode(s): return {stats(rl.get('episode_return'))}, "
            f"length {stats(rl.get('episode_length'))}"
        )
    return lines


def _describe_front(job: dict[str, Any], run_dir: Path) -> list[str]:
    """A multi-objective job: its Pareto front, not a scalar best reward."""
    objectives = ", ".join(f"{m} {d}" for m, d in job.get("objectives", {}).items())
    lines = [f"  Pareto front ({objectives}): {len(job['pareto_front'])} action(s)"]
    for member in job["pareto_front"]:
        values = ", ".join(f"{m} {v:.6g}" for m, v in member["objectives"].items())
        lines.append(
            f"    {values} ({member['count']} trial(s)): {json.dumps(member['action'])} "
            f"-> {run_dir / member['best_config']}"
        )
    return lines
