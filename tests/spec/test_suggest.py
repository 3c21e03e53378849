"""``tunegym.spec.suggest``: an unknown key names the accepted key it is closest to."""

from __future__ import annotations

import pytest

from tunegym.spec.models import ScenarioSpec, WorkloadSpec
from tunegym.spec.suggest import LISTED_KEYS, known_keys, unknown_key_hint


@pytest.mark.parametrize(
    ("loc", "expected"),
    [
        ((), {"name", "command", "params", "agent", "slurm"}),
        (("agent",), {"max_steps", "pruner", "budget_s"}),
        (("agent", "pruner"), {"type", "n_warmup_steps", "reduction_factor"}),
        (("metrics", 0), {"name", "regex", "progress", "json"}),  # "json": the alias
        (("env_params", "load"), {"weights"}),
        (("params", "x", "ContinuousParam"), {"low", "high", "dtype", "log"}),  # a union tag
    ],
)
def test_known_keys_follows_tables_lists_maps_and_union_tags(
    loc: tuple[str | int, ...], expected: set[str]
) -> None:
    keys = known_keys(WorkloadSpec, loc)
    assert expected <= set(keys)
    assert "json_path" not in keys  # a field is named as the TOML file spells it


@pytest.mark.parametrize(
    "loc",
    [("agent", "config"), ("server_args",), ("name",), ("agent", "nowhere"), ("metrics", "a")],
)
def test_known_keys_is_empty_where_the_table_is_free_form_or_not_a_table(
    loc: tuple[str | int, ...],
) -> None:
    assert known_keys(WorkloadSpec, loc) == []


def test_known_keys_reaches_a_scenarios_jobs() -> None:
    assert {"workload", "iterations", "unset"} <= set(known_keys(ScenarioSpec, ("jobs", 0)))


def test_the_hint_names_the_close_key_else_lists_a_short_table_else_says_nothing() -> None:
    assert unknown_key_hint("max_step", ["max_steps", "seed"]) == "did you mean 'max_steps'?"
    assert unknown_key_hint("zzz", ["low", "high"]) == "expected one of: low, high"
    many = [f"key{i}" for i in range(LISTED_KEYS + 1)]
    assert unknown_key_hint("zzz", many) == ""
    assert unknown_key_hint("zzz", []) == ""


@pytest.mark.parametrize(
    ("top", "params", "tail", "loc", "hint"),
    [
        ("", "", "[agent]\nmax_step = 3\n", "agent.max_step", "did you mean 'max_steps'?"),
        ("", "", '[agnet]\ntype = "random"\n', "agnet", "did you mean 'agent'?"),
        ("", "x = { lo = 0, high = 1 }\n", "", "params.x.lo", "did you mean 'low'?"),
        ("", "", 'regx = "a"\n', "metrics[0].regx", "did you mean 'regex'?"),
        ("", "", '[slurm]\npartion = "debug"\n', "slurm.partion", "did you mean 'partition'?"),
        (
            "",
            "",
            '[agent]\ntype = "optuna"\n[agent.pruner]\ntype = "median"\nwarmup_steps = 2\n',
            "agent.pruner.warmup_steps",
            "did you mean 'n_warmup_steps'?",
        ),
        (
            "",
            "",
            '[agent]\ntype = "optuna"\n[agent.config]\nsampeler = "tpe"\n',
            "agent.config.sampeler",
            "unknown option for agent 'optuna'; did you mean 'sampler'?",
        ),
    ],
)
def test_a_misspelt_key_in_a_workload_file_names_the_key_meant(
    make_workload, spec_error, expect_problem, top, params, tail, loc, hint
) -> None:
    path = make_workload(top, params, tail)
    expect_problem(spec_error(path), path, loc, "unknown", hint)


def test_a_key_close_to_nothing_keeps_the_pointer_to_the_field_reference(
    make_workload, spec_error, expect_problem
) -> None:
    path = make_workload("bogus = 1")
    message = spec_error(path)
    expect_problem(message, path, "bogus", "unknown key", "field reference")
    assert "did you mean" not in message
