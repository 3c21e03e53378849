"""``tunegym.spec.load``: files, scenarios, override attribution, and ``tunegym verify``."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from tunegym.cli.main import main
from tunegym.errors import SpecError
from tunegym.spec import load

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "examples" / "sqlite-insert" / "scenario.toml"
TUNEGYM = ROOT / ".venv" / "bin" / "tunegym"
ONE_JOB = '[[jobs]]\nworkload = "workload.toml"\n'


# -- files -----------------------------------------------------------------------------------
def test_missing_file_is_named(tmp_path, spec_error, expect_problem):
    path = (tmp_path / "nowhere.toml").resolve()
    expect_problem(spec_error(path), path, "", "no such file")


def test_directory_is_not_a_spec(tmp_path, spec_error):
    assert "expected a .toml file" in spec_error(tmp_path)


def test_a_utf8_byte_order_mark_is_read_past(tmp_path):
    """Windows editors save one; it was 'invalid TOML: Invalid statement (at line 1,
    column 1)', which points nowhere a user can see."""
    path = tmp_path / "bom.toml"
    path.write_bytes(b'\xef\xbb\xbfname = "bench"\ncommand = ["true"]\n')
    assert load(path).jobs[0].workload.name == "bench"


def test_invalid_toml_names_the_file_and_line(write, spec_error, expect_problem):
    path = write("broken.toml", 'name = "bench"\ncommand = ["true"]\ntimeout_s = = 3\n')
    expect_problem(spec_error(path), path, "", "invalid TOML", "line 3")


def test_invalid_toml_in_a_job_workload_names_the_job_and_the_workload(
    write, make_scenario, spec_error, expect_problem
):
    workload = write("workload.toml", "name = = 1\n")
    path = make_scenario(ONE_JOB)
    expect_problem(
        spec_error(path), path, "jobs[0].workload", f"cannot load {workload}: invalid TOML"
    )


def test_spec_error_is_a_value_error_with_exit_code_2(tmp_path):
    with pytest.raises(ValueError) as info:
        load(tmp_path / "nowhere.toml")
    assert isinstance(info.value, SpecError)
    assert info.value.exit_code == 2


def test_relative_path_is_resolved(make_workload, monkeypatch):
    path = make_workload()
    monkeypatch.chdir(path.parent)
    scenario = load("workload.toml")
    assert scenario.path == path
    assert scenario.jobs[0].workload_path == path


# -- a single workload and the example ------------------------------------------------------
def test_workload_file_becomes_one_job_scenario(make_workload):
    path = make_workload(top='description = "d"', name="solo")
    scenario = load(path)
    assert (scenario.name, scenario.path, scenario.description) == ("solo", path, "d")
    [job] = scenario.jobs
    assert (job.name, job.iterations, job.index) == ("solo", 1, 0)
    assert job.workload_path == path and job.workload_dir == path.parent


def test_example_scenario_is_valid():
    scenario = load(EXAMPLE)
    assert scenario.name == "sqlite-insert"
    [job] = scenario.jobs
    assert job.workload.agent.type is None  # the default agent (optuna here)
    assert "row_bytes" in job.workload.env_params
    assert job.workload_path == EXAMPLE.parent / "workload.toml"


# -- scenarios -------------------------------------------------------------------------------
def test_scenario_jobs_apply_overrides_and_resolve_paths(make_workload, make_scenario):
    make_workload(file="sub/workload.toml")
    path = make_scenario(
        '[[jobs]]\nworkload = "sub/workload.toml"\niterations = 3\n'
        '[[jobs]]\nworkload = "sub/workload.toml"\nname = "other"\ntimeout_s = 5\n'
        "[jobs.params]\nlevel = [7, 8]\n"
    )
    scenario = load(path)
    assert scenario.name == "scen"
    first, second = scenario.jobs
    assert (first.name, first.iterations, first.index) == ("bench", 3, 0)
    assert (second.name, second.iterations, second.index) == ("other", 1, 1)
    assert first.workload_path == path.parent / "sub" / "workload.toml"
    assert first.workload.params["level"] == [1, 2, 3]
    # tables merge key by key; lists replace
    assert second.workload.params["level"] == [7, 8]
    assert second.workload.params["mode"] == ["fast", "safe"]
    assert second.workload.params["rows"] == 100
    assert second.workload.timeout_s == 5
    assert first.workload.timeout_s is None


def test_unknown_key_in_job_override_blames_scenario(
    make_workload, make_scenario, spec_error, expect_problem
):
    make_workload()
    path = make_scenario(ONE_JOB + ONE_JOB + 'name = "b"\nbogus = 1\n')
    expect_problem(spec_error(path), path, "jobs[1].bogus", "unknown key")


def test_unknown_nested_key_in_job_override_blames_scenario(
    make_workload, make_scenario, spec_error, expect_problem
):
    make_workload()
    path = make_scenario(ONE_JOB + "[jobs.agent]\nbogus = 1\n")
    expect_problem(spec_error(path), path, "jobs[0].agent.bogus", "unknown key")


def test_bad_value_from_override_blames_scenario(
    make_workload, make_scenario, spec_error, expect_problem
):
    workload = make_workload()
    path = make_scenario(
        ONE_JOB + ONE_JOB + 'name = "b"\n[jobs.params]\nlevel = {low = 3, high = 1}\n'
    )
    message = spec_error(path)
    expect_problem(message, path, "jobs[1].params.level", "must be less than high")
    assert str(workload) not in message


def test_bad_check_from_override_blames_scenario(
    make_workload, make_scenario, spec_error, expect_problem
):
    make_workload()
    path = make_scenario(ONE_JOB + '[jobs.agent]\nmetrics = ["latency"]\n')
    expect_problem(spec_error(path), path, "jobs[0].agent.metrics[0]", "'latency'")


def test_bad_value_in_workload_blames_workload_despite_overrides(
    make_workload, make_scenario, spec_error, expect_problem
):
    workload = make_workload(params="span = {low = 3, high = 1}")
    path = make_scenario(ONE_JOB + "[jobs.params]\nrows = 5\n")
    message = spec_error(path)
    expect_problem(message, workload, "params.span", "must be less than high")
    assert not message.startswith(str(path))  # the value is the workload's own
    assert f"(in jobs[0] of {path.name}, with its overrides of params)" in message


def test_bad_check_in_workload_blames_workload(
    make_workload, make_scenario, spec_error, expect_problem
):
    workload = make_workload(tail='[agent]\nreward = "maximise"')
    path = make_scenario(ONE_JOB + "[jobs.params]\nrows = 5\n")
    expect_problem(spec_error(path), workload, "agent.reward", "'maximise'")


def test_empty_list_in_workload_blames_workload_despite_sibling_override(
    make_workload, make_scenario, spec_error, expect_problem, empty_list_wording
):
    workload = make_workload(params="empty = []")
    path = make_scenario(ONE_JOB + "[jobs.params]\nrows = 5\n")
    expect_problem(spec_error(path), workload, "params.empty", empty_list_wording)


def test_duplicate_candidates_in_workload_blame_workload_despite_sibling_override(
    make_workload, make_scenario, spec_error, expect_problem
):
    workload = make_workload(params="dup = [2, 2.0]")
    path = make_scenario(ONE_JOB + "[jobs.params]\nrows = 5\n")
    expect_problem(spec_error(path), workload, "params.dup", "distinct")


def test_empty_list_from_override_blames_scenario(
    make_workload, make_scenario, spec_error, expect_problem, empty_list_wording
):
    make_workload()
    path = make_scenario(ONE_JOB + "[jobs.params]\nlevel = []\n")
    expect_problem(spec_error(path), path, "jobs[0].params.level", empty_list_wording)


def test_bad_job_iterations(make_workload, make_scenario, spec_error, expect_problem):
    make_workload()
    path = make_scenario('[[jobs]]\nworkload = "workload.toml"\niterations = 0\n')
    expect_problem(spec_error(path), path, "jobs[0].iterations", "greater than or equal to 1")


def test_duplicate_job_names(make_workload, make_scenario, spec_error, expect_problem):
    make_workload()
    path = make_scenario(ONE_JOB + ONE_JOB)
    expect_problem(
        spec_error(path), path, "jobs[1].name", "'bench'", "already used by jobs[0]", "name ="
    )


def test_job_workload_that_does_not_exist(make_scenario, spec_error, expect_problem):
    path = make_scenario('[[jobs]]\nworkload = "missing/workload.toml"\n')
    expect_problem(
        spec_error(path),
        path,
        "jobs[0].workload",
        "no such file",
        str(path.parent / "missing" / "workload.toml"),
    )


@pytest.mark.parametrize(
    ("target", "kind"), [("scenario.toml", "this scenario itself"), ("other.toml", "a scenario")]
)
def test_a_job_whose_workload_is_a_scenario_is_named_as_such(
    make_scenario, spec_error, expect_problem, target, kind
):
    # It said "jobs: unknown key (in jobs[0] of scenario.toml)", blaming the wrong field.
    path = make_scenario(f'[[jobs]]\nworkload = "{target}"\n')
    (path.parent / "other.toml").write_text('name = "o"\n[[jobs]]\nworkload = "x.toml"\n')
    expect_problem(
        spec_error(path), path, "jobs[0].workload", f"is {kind} (it has jobs), not a workload"
    )


def test_problems_of_several_jobs_are_reported_together(
    make_workload, make_scenario, spec_error, expect_problem
):
    workload = make_workload(tail='[agent]\nreward = "maximise"')
    path = make_scenario(
        ONE_JOB
        + '[[jobs]]\nworkload = "nope.toml"\n'
        + ONE_JOB
        + 'name = "c"\n[jobs.agent]\ntype = "annealing"\n'
    )
    message = spec_error(path)
    assert message.startswith("4 problems in the spec:")
    expect_problem(message, workload, "agent.reward", "'maximise'")
    expect_problem(message, path, "jobs[1].workload", "no such file")
    expect_problem(message, path, "jobs[2].agent.type", "'annealing'")


# -- tunegym verify / run -------------------------------------------------------------------
def test_verify_bad_file_exits_2_with_error_on_stderr(make_workload, capsys):
    path = make_workload(tail='[agent]\ntype = "annealing"')
    assert main(["verify", str(path)]) == 2
    out, err = capsys.readouterr()
    assert err.startswith("tunegym: error: ")
    assert f"{path}: agent.type: unknown agent type 'annealing'" in err
    assert "Traceback" not in err
    assert out == ""


def test_verify_example_prints_space_size_and_agent(capsys):
    assert main(["verify", str(EXAMPLE)]) == 0
    out, err = capsys.readouterr()
    assert err == ""
    assert "675 action(s)" in out
    assert "agent auto (default" in out
    assert "max_steps 40" in out
    assert "env params: row_bytes" in out


def test_verify_several_files_reports_each_and_exits_2(make_workload, capsys):
    bad = make_workload(top="bogus = 1", file="bad.toml")
    assert main(["verify", str(EXAMPLE), str(bad)]) == 2
    out, err = capsys.readouterr()
    assert "675 action(s)" in out
    assert f"{bad}: bogus: unknown key" in err


def test_run_on_bad_file_exits_2_and_runs_nothing(write, tmp_path, capsys):
    marker = tmp_path / "ran"
    path = write(
        "w.toml",
        f'name = "bench"\ncommand = ["touch", "{marker}"]\nbogus = 1\n[params]\nx = [1, 2]\n',
    )
    output = tmp_path / "runs"
    assert main(["run", str(path), "--output", str(output)]) == 2
    _, err = capsys.readouterr()
    assert f"{path}: bogus: unknown key" in err
    assert not output.exists()
    assert not marker.exists()


def test_verify_subprocess_exit_codes(make_workload):
    bad = make_workload(params="span = {low = 2, high = 1}")
    proc = subprocess.run(
        [str(TUNEGYM), "verify", str(bad)], capture_output=True, text=True, timeout=60
    )
    assert proc.returncode == 2
    assert f"{bad}: params.span: low (2) must be less than high (1)" in proc.stderr
    assert "Traceback" not in proc.stderr
    assert proc.stdout == ""

    good = subprocess.run(
        [str(TUNEGYM), "verify", str(EXAMPLE)], capture_output=True, text=True, timeout=60
    )
    assert good.returncode == 0, good.stderr
    assert "675 action(s)" in good.stdout
    assert "agent auto (default" in good.stdout


def test_a_job_can_unset_an_inherited_table(make_workload, make_scenario):
    """``unset`` switches an inherited field off: one key, not three overrides (issue 15)."""
    make_workload(tail="[env_params.mode]\nweights = [0.5, 0.5]\n")
    path = make_scenario(
        ONE_JOB + '[[jobs]]\nworkload = "workload.toml"\nname = "chosen"\n'
        'unset = ["env_params.mode"]\n'
    )
    drawn, chosen = load(path).jobs
    assert list(drawn.workload.env_params) == ["mode"]
    assert chosen.workload.env_params == {}  # mode is a search dimension again
    assert chosen.workload.params["mode"] == ["fast", "safe"]
    assert "unset" not in chosen.workload.model_dump()


def test_unsetting_what_the_workload_does_not_have_blames_the_scenario(
    make_workload, make_scenario, spec_error, expect_problem
):
    make_workload()
    path = make_scenario(ONE_JOB + 'unset = ["env_params.mode"]\n')
    expect_problem(
        spec_error(path),
        path,
        "jobs[0].unset[0]",
        "'env_params.mode' is not a field of workload.toml: nothing to unset",
    )


def test_a_huge_unknown_key_is_cut_in_the_error(tmp_path, spec_error):
    """A pasted blob as a key was echoed whole (20,000 characters, twice)."""
    key = "k" * 20_000
    path = tmp_path / "w.toml"
    path.write_text(f'name = "w"\ncommand = ["true"]\n{key} = 1\n')
    message = spec_error(path)
    assert len(message) < 500 and "unknown key" in message
    assert "['kkkkkkkkkk" in message and "characters)]" in message
