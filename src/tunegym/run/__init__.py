"""Orchestration: run a scenario's jobs into a run folder (``tunegym run``)."""

from tunegym.run.choice import agent_choice, auto_choice, resolve_agent
from tunegym.run.job import JobOptions, open_env, run_job
from tunegym.run.scenario import (
    RunInterrupted,
    RunOptions,
    RunResult,
    check_log_file,
    finish_run,
    run_scenario,
    spec_to_run,
)

__all__ = [
    "JobOptions",
    "RunInterrupted",
    "RunOptions",
    "RunResult",
    "agent_choice",
    "auto_choice",
    "check_log_file",
    "finish_run",
    "open_env",
    "resolve_agent",
    "run_job",
    "run_scenario",
    "spec_to_run",
]
