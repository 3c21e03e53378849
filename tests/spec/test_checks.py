"""Cross-field rules of a workload (tunegym.spec.checks), through ``load``.

Every error must name the file, the field path and what was expected.
"""

from __future__ import annotations

import json
import re
import sqlite3

import pytest

from tunegym.agents.registry import available_agents
from tunegym.spec import load
from tunegym.spec.checks import placeholder_names


# -- placeholders ----------------------------------------------------------------------------
def test_placeholder_naming_unknown_param(write, spec_error, expect_problem):
    text = (
        'name = "bench"\ncommand = ["prog", "--level={level}", "--x={nope}"]\n'
        "[params]\nlevel = [1, 2]\n"
    )
    path = write("w.toml", text)
    expect_problem(spec_error(path), path, "command[2]", "{nope}", "names no param", "level")


def test_literal_braces_and_builtin_placeholders_are_fine(write):
    text = (
        'name = "bench"\n'
        'command = ["{python}", "{workload_dir}/run.py", "--out={trial_dir}", "--step={step}",'
        ' "--json={{\\"a\\": {level}}}", "{{literal}}", "{level:>4}"]\n'
        "[params]\nlevel = [1, 2]\n"
    )
    workload = load(write("w.toml", text)).jobs[0].workload
    assert workload.command[5] == "{{literal}}"


def test_placeholder_naming_env_variable_is_fine(write):
    text = 'name = "bench"\ncommand = ["prog", "--t={THREADS}"]\n[env]\nTHREADS = [1, 2]\n'
    assert load(write("w.toml", text)).jobs[0].workload.env["THREADS"] == [1, 2]


@pytest.mark.parametrize("arg", ["--x={level", "--x=level}", "--x={}"])
def test_malformed_placeholder(write, spec_error, expect_problem, arg):
    text = f'name = "bench"\ncommand = ["prog", "{arg}"]\n[params]\nlevel = [1, 2]\n'
    path = write("w.toml", text)
    expect_problem(spec_error(path), path, "command[1]", arg)


def test_placeholder_names_skip_literal_braces():
    assert placeholder_names("{{a}}-{b}-{{c}}") == ["b"]
    assert placeholder_names("--x={level}{rows}") == ["level", "rows"]
    assert placeholder_names("no placeholders") == []


def test_param_named_like_a_builtin_is_rejected(make_workload, spec_error, expect_problem):
    path = make_workload(params="step = [1, 2]")
    expect_problem(spec_error(path), path, "params.step", "reserved")


# -- env params ------------------------------------------------------------------------------
def test_env_param_that_is_not_a_param(make_workload, spec_error, expect_problem):
    path = make_workload(tail="[env_params.ghost]")
    expect_problem(spec_error(path), path, "env_params.ghost", "not a param", "list-valued")


@pytest.mark.parametrize(
    "value", ["100", "{low = 1, high = 4}"], ids=["scalar", "continuous-table"]
)
def test_env_param_that_is_not_list_valued(make_workload, spec_error, expect_problem, value):
    path = make_workload(params=f"size = {value}", tail="[env_params.size]")
    expect_problem(spec_error(path), path, "env_params.size", "must be a list-valued param")


def test_env_param_may_name_a_list_in_env_table(make_workload):
    path = make_workload(tail="[env]\nOMP = [1, 2]\n[env_params.OMP]\nweights = [0.25, 0.75]")
    workload = load(path).jobs[0].workload
    assert workload.env_params["OMP"].weights == [0.25, 0.75]


@pytest.mark.parametrize(
    ("weights", "expected"),
    [
        ("[0.5, 0.5]", "2 weights for 3 values of 'level'"),
        ("[0.25, 0.25, 0.25, 0.25]", "4 weights for 3 values"),
        ("[1.5, -0.5, 0.0]", "non-negative"),
        ("[0.5, nan, 0.5]", "finite"),
        ("[0.5, 0.2, 0.2]", "must sum to 1"),
        ("[0.5, 0.25, 0.250002]", "must sum to 1"),
        ("[0.0, 0.0, 0.0]", "must sum to 1"),
    ],
    ids=["too-few", "too-many", "negative", "nan", "sum-0.9", "sum-1+2e-6", "all-zero"],
)
def test_bad_weights(make_workload, spec_error, expect_problem, weights, expected):
    path = make_workload(tail=f"[env_params.level]\nweights = {weights}")
    loc = "env_params.level.weights" + ("[1]" if "nan" in weights else "")
    expect_problem(spec_error(path), path, loc, expected)


@pytest.mark.parametrize(
    "weights",
    ["[0.5, 0.25, 0.2500005]", "[0.5, 0.25, 0.2499995]", "[1.0, 0.0, 0.0]", "[0.1, 0.2, 0.7]"],
    ids=["sum-1+5e-7", "sum-1-5e-7", "one-hot", "plain"],
)
def test_weights_within_tolerance_are_accepted(make_workload, weights):
    path = make_workload(tail=f"[env_params.level]\nweights = {weights}")
    spec = load(path).jobs[0].workload.env_params["level"]
    assert spec.weights is not None and len(spec.weights) == 3


# -- agent, reward, metrics ------------------------------------------------------------------
def test_unknown_agent_type_lists_known_agents(make_workload, spec_error, expect_problem):
    path = make_workload(tail='[agent]\ntype = "annealing"')
    message = spec_error(path)
    expect_problem(message, path, "agent.type", "'annealing'", "known agents:", "grid", "random")
    known = message.split("known agents:")[1]
    assert all(name in known for name in available_agents())


def test_unknown_reward_lists_known_rewards(make_workload, spec_error, expect_problem):
    path = make_workload(tail='[agent]\nreward = "maximise"')
    expect_problem(
        spec_error(path),
        path,
        "agent.reward",
        "'maximise'",
        "identity",
        "negative",
        "inverse",
        "expr",
    )


def test_reward_expression_with_undeclared_metric(make_workload, spec_error, expect_problem):
    path = make_workload(tail='[agent]\nreward = "expr: speed / latency"')
    expect_problem(spec_error(path), path, "agent.reward", "latency")


@pytest.mark.parametrize("reward", ["identity", "negative", "inverse", "expr: speed * 2"])
def test_known_rewards_load(make_workload, reward):
    path = make_workload(tail=f'[agent]\nreward = "{reward}"')
    assert load(path).jobs[0].workload.agent.reward == reward


def test_agent_metrics_naming_undeclared_metric(make_workload, spec_error, expect_problem):
    path = make_workload(tail='[agent]\nmetrics = ["speed", "latency"]')
    expect_problem(spec_error(path), path, "agent.metrics[1]", "'latency'", "declared", "speed")


def test_agent_metrics_may_name_builtin_duration(make_workload):
    path = make_workload(tail='[agent]\nmetrics = ["duration_s"]\nreward = "negative"')
    assert load(path).jobs[0].workload.agent_metrics == ["duration_s"]


def test_a_reward_expression_may_read_the_builtin_duration(
    tmp_path, write_toml, objective_workload, capsys
):
    # "reward 'expr: score - duration_s' uses undeclared metric(s) 'duration_s'", though
    # every trial measures it (the README: always available).
    from tunegym.cli.main import main

    data = objective_workload(
        agent={"type": "grid", "metrics": ["score"], "reward": "expr: score - 1000 * duration_s"}
    )
    path = write_toml("w.toml", data)
    assert main(["verify", str(path)]) == 0
    assert main(["run", str(path), "--output", str(tmp_path / "runs"), "--quiet"]) == 0
    (run_dir,) = (tmp_path / "runs").iterdir()
    rows = sqlite3.connect(run_dir / "trials.sqlite").execute(
        "SELECT reward, observation FROM trials WHERE status = 'ok'"
    )
    for reward, observation in rows:
        seen = json.loads(observation)
        assert reward == pytest.approx(seen["score"] - 1000 * seen["duration_s"])


def test_metric_declared_twice(make_workload, spec_error, expect_problem):
    path = make_workload(tail="[[metrics]]\nname = \"speed\"\njson = 'out.json:speed'")
    expect_problem(spec_error(path), path, "metrics[1].name", "declared twice")


def test_metric_with_invalid_extractor_source(make_workload, spec_error, expect_problem):
    path = make_workload(tail="[[metrics]]\nname = \"lat\"\njson = 'no-colon'")
    expect_problem(spec_error(path), path, "metrics[1].json", "file.json:dotted.path")


def test_unknown_agent_config_option(make_workload, spec_error, expect_problem):
    path = make_workload(tail='[agent]\ntype = "grid"\n[agent.config]\nbogus = 1')
    expect_problem(spec_error(path), path, "agent.config.bogus", "unknown option", "'grid'")


def test_bad_agent_config_value(make_workload, spec_error, expect_problem):
    path = make_workload(tail='[agent]\ntype = "grid"\n[agent.config]\nstart = "middle"')
    expect_problem(spec_error(path), path, "agent.config.start", "'first'", "'random'")


def test_known_agent_config_option_loads(make_workload):
    path = make_workload(tail='[agent]\ntype = "grid"\n[agent.config]\nstart = "random"')
    assert load(path).jobs[0].workload.agent.config == {"start": "random"}


def test_grid_rejects_float_range(make_workload, spec_error, expect_problem):
    path = make_workload(params="ratio = {low = 0.0, high = 1.0}", tail='[agent]\ntype = "grid"')
    expect_problem(spec_error(path), path, "agent.type", "'grid'", "ratio", "float range")


def test_grid_accepts_int_range(make_workload):
    path = make_workload(
        params='threads = {low = 1, high = 8, dtype = "int"}', tail='[agent]\ntype = "grid"'
    )
    assert load(path).jobs[0].workload.agent.type == "grid"


def test_random_accepts_float_range(make_workload):
    path = make_workload(params="ratio = {low = 0.0, high = 1.0}", tail='[agent]\ntype = "random"')
    assert load(path).jobs[0].workload.agent.type == "random"


def test_agent_without_env_param_support_is_rejected(
    make_workload, spec_error, expect_problem, no_env_params_agent
):
    path = make_workload(tail=f'[env_params.level]\n[agent]\ntype = "{no_env_params_agent}"')
    expect_problem(
        spec_error(path),
        path,
        "agent.type",
        f"'{no_env_params_agent}'",
        "does not support env params",
        "env_params.level",
    )


def test_agent_without_env_param_support_is_fine_without_env_params(
    make_workload, no_env_params_agent
):
    path = make_workload(tail=f'[agent]\ntype = "{no_env_params_agent}"')
    assert load(path).jobs[0].workload.agent.type == no_env_params_agent


def test_test_agent_is_unregistered_after_use(make_workload, spec_error):
    path = make_workload(tail='[agent]\ntype = "no_env_params"')
    assert "no_env_params" not in available_agents()
    assert "unknown agent type" in spec_error(path)


# -- constraints -----------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("constraint", "expected"),
    [
        ("__import__('os').system('true')", "not allowed"),
        ("level.real > 1", "attribute"),
        ("[x for x in (1, 2)]", "not allowed"),
        ("lambda: 1", "not allowed"),
        ("level >", "level >"),
    ],
    ids=["call", "attribute", "comprehension", "lambda", "syntax"],
)
def test_constraint_with_forbidden_construct(
    make_workload, spec_error, expect_problem, constraint, expected
):
    constraints = f'constraints = ["level <= 3", "{constraint}"]'
    path = make_workload(top=constraints)
    expect_problem(spec_error(path), path, "constraints[1]", expected)


def test_constraint_with_unknown_name(make_workload, spec_error, expect_problem):
    path = make_workload(top='constraints = ["level <= 2 * cores"]')
    expect_problem(
        spec_error(path), path, "constraints[0]", "cores", "not a param", "level", "mode", "rows"
    )


def test_good_constraints_load(make_workload):
    path = make_workload(
        top="constraints = [\"level <= max(rows, 2) and mode in ('fast', 'safe')\"]"
    )
    assert len(load(path).jobs[0].workload.constraints) == 1


# -- several problems at once ----------------------------------------------------------------
def test_several_cross_field_problems_are_reported_together(write, spec_error, expect_problem):
    text = (
        'name = "bench"\ncommand = ["prog", "{nope}"]\n'
        'constraints = ["ghost > 1"]\n'
        "[params]\nlevel = [1, 2]\n"
        "[env_params.level]\nweights = [1.0]\n"
        '[agent]\ntype = "annealing"\nreward = "maximise"\nmetrics = ["speed"]\n'
    )
    path = write("w.toml", text)
    message = spec_error(path)
    assert message.startswith("6 problems in the spec:")
    expect_problem(message, path, "command[1]", "{nope}")
    expect_problem(message, path, "constraints[0]", "ghost")
    expect_problem(message, path, "env_params.level.weights", "1 weights for 2 values")
    expect_problem(message, path, "agent.metrics[0]", "'speed'")
    expect_problem(message, path, "agent.reward", "'maximise'")
    expect_problem(message, path, "agent.type", "'annealing'")


def test_format_specs_must_fit_every_value_a_param_can_take(tmp_path):
    from tunegym.errors import SpecError
    from tunegym.outputs.toml import dumps
    from tunegym.spec import load

    def workload(arg, params):
        path = tmp_path / "w.toml"
        path.write_text(dumps({"name": "w", "command": ["echo", arg], "params": params}))
        return path

    with pytest.raises(SpecError) as err:
        load(workload("--x={x:.2f}", {"x": ["a", "b"]}))
    assert "command[1]: placeholder {x:.2f} in '--x={x:.2f}' cannot format x = 'a'" in str(
        err.value
    )
    with pytest.raises(SpecError, match=r"cannot format n = 1\.5"):
        load(workload("{n:03d}", {"n": {"low": 1.5, "high": 4.0}}))
    # Specs that fit every value (and conversions) are fine.
    assert load(
        workload(
            "{n:03d}-{f:.1f}-{s!r}",
            {"n": {"low": 1, "high": 9, "dtype": "int"}, "f": [0.5, 2], "s": ["a"]},
        )
    )


@pytest.mark.parametrize(
    ("arg", "said"),
    [
        ("{step:s}", "placeholder {step:s} in '{step:s}' cannot format step = 1: Unknown format"),
        ("{trial_dir:d}", "placeholder {trial_dir:d} in '{trial_dir:d}' cannot format trial_dir"),
        ("{n:c}", "placeholder {n:c} in '{n:c}' cannot format n = -5: %c arg not in range"),
        ("{n:=^99999999999}", "in '{n:=^99999999999}': a width over 4096 characters"),
        ("{n:>" + "9" * 5000 + "}", "a width over 4096 characters"),
    ],
    ids=["step", "trial-dir", "overflow", "huge-width", "5000-digit-width"],
)
def test_format_specs_that_would_fail_at_the_first_trial_are_refused_at_load(tmp_path, arg, said):
    """Each passed ``verify`` and then stopped ``run`` with an internal error (or failed
    ``verify`` itself with one: OverflowError, MemoryError)."""
    from tunegym.errors import SpecError
    from tunegym.outputs.toml import dumps

    path = tmp_path / "w.toml"
    data = {
        "name": "w",
        "command": ["echo", arg],
        "params": {"n": {"low": -5, "high": 5, "dtype": "int"}},
    }
    path.write_text(dumps(data))
    with pytest.raises(SpecError) as err:
        load(path)
    assert "command[1]: placeholder {" in str(err.value) and said in str(err.value)


def test_format_specs_that_fit_the_built_in_placeholders_are_fine(tmp_path):
    from tunegym.outputs.toml import dumps

    path = tmp_path / "ok.toml"
    path.write_text(dumps({"name": "w", "command": ["echo", "{step:04d}-{trial_dir:>10}"]}))
    assert load(path).jobs[0].workload.command[1] == "{step:04d}-{trial_dir:>10}"


@pytest.mark.parametrize(
    ("param", "said"),
    [
        ({"low": -1e308, "high": 1e308}, "high - low must be a finite number"),
        (
            {"low": 0, "high": 9223372036854775807, "dtype": "int"},
            'dtype = "int" bounds must be within +-2^62 (what samplers draw), got low = 0, '
            "high = 92233720368547758",
        ),
        ({"low": 1e-320, "high": 2e-320, "log": True}, "log = true needs low >= 2.22507e-308"),
    ],
    ids=["float-width", "int64", "subnormal-log"],
)
def test_ranges_no_sampler_can_draw_from_are_refused_at_load(tmp_path, param, said):
    """Each passed ``verify`` and then stopped ``run`` with an internal error from the
    sampler (Optuna's OverflowError, NumPy's int64 bound, Nevergrad's bounds)."""
    from tunegym.errors import SpecError
    from tunegym.outputs.toml import dumps

    path = tmp_path / "w.toml"
    path.write_text(dumps({"name": "w", "command": ["echo", "{x}"], "params": {"x": param}}))
    with pytest.raises(SpecError, match="params.x: " + re.escape(said)):
        load(path)


def test_a_space_larger_than_the_bandit_handles_is_refused_at_load(tmp_path):
    from tunegym.errors import SpecError
    from tunegym.outputs.toml import dumps

    path = tmp_path / "w.toml"
    params = {"x": {"low": 1, "high": 200_000, "dtype": "int"}, "y": ["a", "b"]}
    data = {"name": "w", "command": ["echo", "{x}{y}"], "params": params}
    path.write_text(dumps({**data, "agent": {"type": "bandit"}}))
    with pytest.raises(SpecError, match=r"agent.type: the space has 400000 actions; agent "):
        load(path)
