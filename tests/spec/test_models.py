"""Shape rules of workload.toml and scenario.toml (the pydantic models), through ``load``.

Every error must name the file, the field path and what was expected.
"""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from tunegym.spec import ContinuousParam, MetricSpec, WorkloadSpec, load

UNKNOWN_KEY = "unknown key"


# -- the base workload is valid ------------------------------------------------------------
def test_base_workload_loads_with_value_types_kept(make_workload):
    path = make_workload(params='mixed = [1, 2.5, true, "x"]\nspan = {low = 1, high = 8}')
    scenario = load(path)
    assert scenario.name == "bench"
    workload = scenario.jobs[0].workload
    assert workload.params["level"] == [1, 2, 3]
    mixed = workload.params["mixed"]
    assert mixed == [1, 2.5, True, "x"]
    assert [type(v) for v in mixed] == [int, float, bool, str]
    assert workload.params["rows"] == 100
    assert isinstance(workload.params["span"], ContinuousParam)
    assert workload.params["span"].dtype == "float"
    assert workload.params["span"].log is False


# -- unknown keys --------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("where", "loc"),
    [
        ({"top": "bogus = 1"}, "bogus"),
        ({"tail": "[agent]\nbogus = 1"}, "agent.bogus"),
        ({"tail": "[agent.penalties]\nbogus = 1"}, "agent.penalties.bogus"),
        ({"params": "span = {low = 1, high = 2, bogus = 3}"}, "params.span.bogus"),
        ({"tail": "[env_params.level]\nweight = [1, 0, 0]"}, "env_params.level.weight"),
    ],
    ids=["top-level", "agent", "agent.penalties", "continuous-table", "env_params"],
)
def test_unknown_key_is_named_with_its_path(make_workload, spec_error, expect_problem, where, loc):
    path = make_workload(**where)
    expect_problem(spec_error(path), path, loc, UNKNOWN_KEY)


def test_unknown_key_in_a_metrics_table(write, spec_error, expect_problem):
    text = """\
name = "bench"
command = ["true"]
[[metrics]]
name = "a"
regex = 'a=(\\d+)'
[[metrics]]
name = "b"
regex = 'b=(\\d+)'
bogus = "x"
"""
    path = write("w.toml", text)
    expect_problem(spec_error(path), path, "metrics[1].bogus", UNKNOWN_KEY)


def test_unknown_key_at_scenario_top_level(
    make_workload, make_scenario, spec_error, expect_problem
):
    make_workload()
    path = make_scenario('[[jobs]]\nworkload = "workload.toml"', top="bogus = 1")
    expect_problem(spec_error(path), path, "bogus", UNKNOWN_KEY)


# -- empty lists ---------------------------------------------------------------------------
def test_empty_candidate_list_names_params_field_path(
    make_workload, spec_error, expect_problem, empty_list_wording
):
    path = make_workload(params="empty = []")
    message = spec_error(path)
    expect_problem(message, path, "params.empty", empty_list_wording)
    assert "problems in the spec" not in message  # one mistake, one problem


def test_empty_candidate_list_in_env_names_field_path(
    make_workload, spec_error, expect_problem, empty_list_wording
):
    path = make_workload(tail="[env]\nOMP_THREADS = []")
    message = spec_error(path)
    expect_problem(message, path, "env.OMP_THREADS", empty_list_wording)
    assert "problems in the spec" not in message


def test_duplicate_candidates_name_field_path(make_workload, spec_error, expect_problem):
    path = make_workload(params="dup = [1, 1.0]")
    expect_problem(spec_error(path), path, "params.dup", "distinct")


def test_true_and_one_are_distinct_candidates(make_workload):
    path = make_workload(params="flag = [true, 1]")
    assert load(path).jobs[0].workload.params["flag"] == [True, 1]


@pytest.mark.parametrize(
    ("text", "loc"),
    [
        ('name = "bench"\ncommand = []\n', "command"),
        ('name = "bench"\ncommand = ["true"]\n[agent]\nmetrics = []\n', "agent.metrics"),
    ],
    ids=["command", "agent.metrics"],
)
def test_empty_lists_are_rejected(write, spec_error, expect_problem, empty_list_wording, text, loc):
    path = write("w.toml", text)
    expect_problem(spec_error(path), path, loc, (*empty_list_wording, "at least one"))


def test_scenario_without_jobs_is_rejected(write, spec_error, expect_problem, empty_list_wording):
    path = write("s.toml", 'name = "scen"\njobs = []\n')
    expect_problem(spec_error(path), path, "jobs", empty_list_wording)


# -- continuous dimensions -----------------------------------------------------------------
@pytest.mark.parametrize(
    ("table", "loc", "expected"),
    [
        ("{low = 2, high = 2}", "params.span", "low (2) must be less than high (2)"),
        ("{low = 5, high = 1}", "params.span", "low (5) must be less than high (1)"),
        ('{low = 1.5, high = 4, dtype = "int"}', "params.span", 'dtype = "int" needs integer'),
        ('{low = 1, high = 4.25, dtype = "int"}', "params.span", 'dtype = "int" needs integer'),
        ("{low = 0, high = 4, log = true}", "params.span", "log = true needs low > 0"),
        ("{low = -1, high = 4, log = true}", "params.span", "log = true needs low > 0"),
        ('{low = 1, high = 2, dtype = "integer"}', "params.span.dtype", "'float' or 'int'"),
        ('{low = "a", high = 2}', "params.span.low", "valid number"),
        ("{low = 1}", "params.span.high", "required field is missing"),
    ],
    ids=[
        "low-eq-high",
        "low-gt-high",
        "int-fractional-low",
        "int-fractional-high",
        "log-low-zero",
        "log-low-negative",
        "bad-dtype",
        "non-numeric-bound",
        "missing-high",
    ],
)
def test_bad_continuous_table(make_workload, spec_error, expect_problem, table, loc, expected):
    path = make_workload(params=f"span = {table}")
    message = spec_error(path)
    expect_problem(message, path, loc, expected)
    assert "problems in the spec" not in message  # one problem, not one per union branch


@pytest.mark.parametrize(
    "table",
    [
        '{low = 1, high = 1000, dtype = "int", log = true}',
        "{low = 1e-6, high = 1.0, log = true}",
        '{low = -3, high = 3, dtype = "int"}',
        "{low = -1.5, high = 1.5}",
    ],
)
def test_good_continuous_tables_load(make_workload, table):
    path = make_workload(params=f"span = {table}")
    span = load(path).jobs[0].workload.params["span"]
    assert isinstance(span, ContinuousParam)
    assert span.low < span.high


def test_continuous_param_model_rejects_bad_bounds_directly():
    with pytest.raises(ValidationError, match="must be less than high"):
        ContinuousParam(low=3, high=3)
    with pytest.raises(ValidationError, match="needs low > 0"):
        ContinuousParam(low=0, high=3, log=True)
    with pytest.raises(ValidationError, match="integer bounds"):
        ContinuousParam(low=0.5, high=3, dtype="int")


# -- metrics ------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("extractors", "count"),
    [("", "(got 0)"), ("regex = 'x=(\\d+)'\njson = 'out.json:x'", "(got 2)")],
    ids=["zero", "two"],
)
def test_metric_needs_exactly_one_extractor(write, spec_error, expect_problem, extractors, count):
    text = f'name = "bench"\ncommand = ["true"]\n[[metrics]]\nname = "m"\n{extractors}\n'
    path = write("w.toml", text)
    expect_problem(spec_error(path), path, "metrics[0]", "exactly one extractor", count)


def test_metric_spec_model_rejects_two_extractors_directly():
    with pytest.raises(ValidationError, match="exactly one extractor"):
        MetricSpec.model_validate({"name": "m", "regex": "x", "csv": "a.csv:b"})
    assert MetricSpec.model_validate({"name": "m", "json": "a.json:b"}).kind == "json"


# -- several problems at once ---------------------------------------------------------------
def test_several_shape_problems_are_reported_together(make_workload, spec_error, expect_problem):
    path = make_workload(
        top="bogus = 1",
        params="span = {low = 4, high = 1}",
        tail="[agent]\nwhat = 2",
    )
    message = spec_error(path)
    assert message.startswith("3 problems in the spec:")
    expect_problem(message, path, "bogus", UNKNOWN_KEY)
    expect_problem(message, path, "params.span", "must be less than high")
    expect_problem(message, path, "agent.what", UNKNOWN_KEY)


def test_workload_model_forbids_extra_keys():
    with pytest.raises(ValidationError):
        WorkloadSpec.model_validate({"name": "x", "command": ["true"], "bogus": 1})


# -- wall time alone -----------------------------------------------------------------------
BASE = {"name": "w", "command": ["true", "{t}"], "params": {"t": [1, 2]}}


@pytest.mark.parametrize(
    ("extra", "reward"),
    [
        ({}, "negative"),  # no metric declared: duration_s alone, minimised
        ({"agent": {"metrics": ["duration_s"]}}, "negative"),
        ({"agent": {"reward": "identity"}}, "identity"),  # asked for: kept
        ({"metrics": [{"name": "score", "regex": "s (\\S+)"}]}, "identity"),
        (
            {"metrics": [{"name": "score", "regex": "s (\\S+)"}], "agent": {"metrics": ["score"]}},
            "identity",
        ),
    ],
)
def test_an_unset_reward_over_wall_time_alone_minimises_it(extra, reward):
    # identity over duration_s searched for the slowest configuration and called it best.
    workload = WorkloadSpec.model_validate({**BASE, **extra})
    assert workload.agent.reward == reward
    assert WorkloadSpec.model_validate(workload.model_dump()).agent.reward == reward


@pytest.mark.parametrize(
    ("table", "field", "says"),
    [
        ({"ray": {"resources": {"CPU": 1}}}, "ray.resources", "'CPU' is set with ray.num_cpus"),
        ({"ray": {"resources": {"GPU": 1}}}, "ray.resources", "'GPU' is set with ray.num_gpus"),
        ({"ray": {"resources": {"memory": 1}}}, "ray.resources", "'memory' is set with"),
        ({"ray": {"resources": {"foo": -1}}}, "ray.resources", "an amount is >= 0, got -1"),
        ({"ray": {"resources": {"": 1}}}, "ray.resources", "must not be empty"),
        ({"ray": {"num_cpus": 0.00001}}, "ray.num_cpus", "in steps of 0.0001, got 1e-05"),
        ({"slurm": {"partition": "debug\ntouch x"}}, "slurm.partition", "one word with no"),
        ({"slurm": {"partition": "debug extra"}}, "slurm.partition", "one word with no"),
        ({"slurm": {"account": ""}}, "slurm.account", "one word with no"),
        ({"slurm": {"extra_sbatch": ["--qos=a\nrm -rf x"]}}, "slurm.extra_sbatch", "entry 0"),
    ],
)
def test_runner_tables_refuse_what_ray_and_sbatch_would(table, field, says):
    # Ray's refusals were internal errors at the first submission; a newline in a Slurm
    # name ran the rest of the line as shell in the job script.
    with pytest.raises(ValidationError) as info:
        WorkloadSpec.model_validate({**BASE, **table})
    (error,) = info.value.errors()
    assert ".".join(str(p) for p in error["loc"]).startswith(field)
    assert says in error["msg"]


@pytest.mark.parametrize("time", ["120", "30:00", "1:00:00", "2-12", "1-00:00:00", "UNLIMITED"])
def test_slurm_time_takes_every_form_sbatch_does(time):
    # Plain minutes and UNLIMITED were refused.
    workload = WorkloadSpec.model_validate({**BASE, "slurm": {"time": time}})
    assert workload.slurm.time == time


@pytest.mark.parametrize("time", ["abc", "1:2", "-5", "1-", "1h"])
def test_slurm_time_refuses_what_sbatch_does_not_take(time):
    with pytest.raises(ValidationError, match=r"slurm\.time"):
        WorkloadSpec.model_validate({**BASE, "slurm": {"time": time}})
