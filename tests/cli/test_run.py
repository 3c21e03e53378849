"""``tunegym run`` end to end: real subprocesses, a real SQLite file, real signals."""

from __future__ import annotations

import csv
import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
import tomllib
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from run_helpers import table_cells

from tunegym.agents.registry import register_agent, unregister_agent
from tunegym.cli.main import main

ROOT = Path(__file__).resolve().parents[2]
TUNEGYM = [sys.executable, "-m", "tunegym.cli.main"]


def _only_run_dir(output: Path) -> Path:
    (run_dir,) = [p for p in output.iterdir() if p.is_dir()]
    return run_dir


def test_example_scenario_runs_end_to_end(tmp_path: Path) -> None:
    out = tmp_path / "runs"
    proc = subprocess.run(
        [
            *TUNEGYM,
            "run",
            str(ROOT / "examples/sqlite-insert/scenario.toml"),
            "--output",
            str(out),
            "--max-steps",
            "12",
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr
    run_dir = _only_run_dir(out)
    summary = json.loads((run_dir / "summary.json").read_text())
    (job,) = summary["jobs"]
    assert summary["status"] == "ok" and job["trials"] == 12
    assert job["best"]["reward"] > 0
    # No trial on a known-infeasible action; the robust best rests on both row sizes.
    assert job["counts"]["constraint_failed"] == 0
    assert job["robust"]["required_draws"] == 2 and job["robust"]["min_draws_met"] is True
    assert job["robust"]["best"]["count"] >= 2 and "(s.e.) over" in proc.stdout
    assert "best reward" in proc.stdout and str(run_dir / "summary.json") in proc.stdout
    folder = run_dir / "sqlite-insert" / "0"
    traj = list(csv.DictReader((folder / "trajectory.csv").open()))
    env = list(csv.DictReader((folder / "env.csv").open()))
    assert [r["step"] for r in traj] == [r["step"] for r in env] == [str(i) for i in range(1, 13)]
    db = sqlite3.connect(run_dir / "trials.sqlite")
    assert db.execute("SELECT count(*) FROM trials").fetchone()[0] == 12
    # The best config is a workload with the robust best action fixed (the example draws
    # env params, so that is the recommendation, not the single best trial), and it runs.
    best_config = run_dir / job["best_config"]
    data = tomllib.loads(best_config.read_text())
    for name, value in job["robust"]["best"]["action"].items():
        assert data["params"][name] == value
    again = subprocess.run(
        [*TUNEGYM, "run", str(best_config), "--output", str(tmp_path / "b")],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert again.returncode == 0, again.stderr
    rerun = json.loads((_only_run_dir(tmp_path / "b") / "summary.json").read_text())
    assert rerun["jobs"][0]["trials"] == 1 and rerun["jobs"][0]["counts"]["ok"] == 1


def test_scenario_mixes_agent_driven_and_run_once_jobs(
    tmp_path: Path,
    write_toml: Callable[[str, dict[str, Any]], Path],
    objective_workload: Callable[..., dict],
) -> None:
    write_toml("search.toml", objective_workload())
    write_toml("once.toml", objective_workload(name="once", params={"x": 3, "y": "b"}))
    scenario = write_toml(
        "scenario.toml",
        {
            "name": "mixed",
            "jobs": [
                {"workload": "search.toml", "iterations": 2},
                {"workload": "once.toml"},
                {"workload": "search.toml", "name": "narrow", "params": {"x": [2, 3]}},
            ],
        },
    )
    assert main(["run", str(scenario), "--output", str(tmp_path / "out")]) == 0
    summary = json.loads((_only_run_dir(tmp_path / "out") / "summary.json").read_text())
    jobs = {(j["name"], j["iteration"]): j for j in summary["jobs"]}
    assert set(jobs) == {("objective", 0), ("objective", 1), ("once", 0), ("narrow", 0)}
    assert jobs[("objective", 0)]["trials"] == 8 and jobs[("objective", 0)]["agent"] == "grid"
    assert jobs[("objective", 0)]["best"]["action"] == {"x": 3, "y": "b"}
    assert jobs[("once", 0)]["trials"] == 1 and jobs[("once", 0)]["agent"] is None
    assert jobs[("once", 0)]["best"]["reward"] == 1.0
    assert jobs[("narrow", 0)]["trials"] == 4


def test_dry_run_executes_nothing(
    tmp_path: Path, write_toml: Callable[..., Path], objective_workload: Callable[..., dict]
) -> None:
    path = write_toml("w.toml", objective_workload())
    assert main(["run", str(path), "--output", str(tmp_path / "out"), "--dry-run"]) == 0
    folder = _only_run_dir(tmp_path / "out") / "objective" / "0"
    commands = sorted(folder.glob("*/command.txt"))
    assert len(commands) == 8
    assert not list(folder.glob("*/result.json"))


def test_bad_spec_exits_2_and_runs_nothing(
    tmp_path: Path,
    write_toml: Callable[..., Path],
    objective_workload: Callable[..., dict],
    capsys: pytest.CaptureFixture[str],
) -> None:
    path = write_toml("w.toml", objective_workload(params={"x": {"low": 5, "high": 1}}))
    assert main(["run", str(path), "--output", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err
    assert f"{path}: params.x: low (5) must be less than high (1)" in err
    assert not (tmp_path / "out").exists()


def test_agent_returning_nonzero_is_remembered_and_other_jobs_run(
    tmp_path: Path,
    write_toml: Callable[..., Path],
    objective_workload: Callable[..., dict],
) -> None:
    write_toml(
        "bad.toml",
        objective_workload(name="bad", metrics=[{"name": "score", "regex": "never: (\\d+)"}]),
    )
    write_toml("good.toml", objective_workload(name="good"))
    scenario = write_toml(
        "s.toml", {"name": "s", "jobs": [{"workload": "bad.toml"}, {"workload": "good.toml"}]}
    )
    assert main(["run", str(scenario), "--output", str(tmp_path / "out")]) == 1
    summary = json.loads((_only_run_dir(tmp_path / "out") / "summary.json").read_text())
    assert summary["status"] == "agent_failed"
    bad, good = summary["jobs"]
    assert bad["status"] == "agent_failed" and bad["counts"]["metric_missing"] == 8
    # what to fix, not "agent returned 1": every trial, and the reason they share
    assert bad["message"].startswith("no trial succeeded (metric_missing 8); all 8 trials: ")
    assert "score" in bad["message"]
    assert good["status"] == "ok" and good["trials"] == 8


def test_a_job_whose_command_is_not_found_says_so_once_per_place(
    tmp_path: Path,
    write_toml: Callable[..., Path],
    objective_workload: Callable[..., dict],
    capsys: pytest.CaptureFixture[str],
) -> None:
    data = objective_workload()
    data["command"] = ["tunegym-no-such-command-xyz", "{x}", "{y}"]
    path = write_toml("w.toml", data)
    assert main(["run", str(path), "--output", str(tmp_path / "out")]) == 1
    why = "command not found: tunegym-no-such-command-xyz"
    out = capsys.readouterr().out
    assert f"  no trial succeeded (failed 8); all 8 trials: {why}\n  no best configuration\n" in out
    run_dir = _only_run_dir(tmp_path / "out")
    assert main(["show", str(run_dir), "--status", "failed"]) == 0
    rows = table_cells(capsys.readouterr().out)
    assert [row[-1] for row in rows] == [why] * 8  # not followed by its stderr line, the same


def test_a_run_once_job_whose_trial_fails_fails_as_a_search_does(
    tmp_path: Path, write_toml: Callable[..., Path], capsys: pytest.CaptureFixture[str]
) -> None:
    """It said ``job once: ok ... (failed 1)`` and exited 0."""
    path = write_toml(
        "once.toml",
        {
            "name": "once",
            "command": ["tunegym-no-such-command-xyz"],
            "metrics": [{"name": "score", "regex": r"score: (\S+)"}],
        },
    )
    assert main(["run", str(path), "--output", str(tmp_path / "out")]) == 1
    out = capsys.readouterr().out
    assert "job once: agent_failed, 1 trial(s) (failed 1)" in out
    assert "no trial succeeded (failed 1); 1 of 1 trial(s): command not found" in out
    summary = json.loads((_only_run_dir(tmp_path / "out") / "summary.json").read_text())
    assert summary["status"] == "agent_failed" and summary["jobs"][0]["status"] == "agent_failed"


RAISING_AGENT = """
from tunegym.agents.grid import GridAgent

class RaisingAgent(GridAgent):
    name = "raising"

    def update_policy(self, feedback):
        if feedback.step == 2:
            raise RuntimeError("agent bug at step 2")
"""


def _run_with_plugin_agent(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, workload: Path, target: str, source: str
) -> int:
    """``tunegym run workload`` with the agent plugin ``target`` (``module:Class``)
    registered under its module's name, the module written from ``source``; the plugin
    is unregistered afterwards."""
    module = target.partition(":")[0]
    (tmp_path / f"{module}.py").write_text(source)
    monkeypatch.syspath_prepend(str(tmp_path))
    register_agent(module, target)
    try:
        return main(["run", str(workload), "--output", str(tmp_path / "out")])
    finally:
        unregister_agent(module)


def test_agent_exception_writes_failure_and_reports_then_exits_1(
    tmp_path: Path,
    write_toml: Callable[..., Path],
    objective_workload: Callable[..., dict],
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    path = write_toml("w.toml", objective_workload(agent={"type": "raising_agent"}))
    target = "raising_agent:RaisingAgent"
    assert _run_with_plugin_agent(tmp_path, monkeypatch, path, target, RAISING_AGENT) == 1
    err = capsys.readouterr().err.strip().splitlines()
    # the user's plugin raised, not tunegym: the line says where
    where = f"{tmp_path / 'raising_agent.py'}:9 (in update_policy)"
    assert err == [f"tunegym: error: {where} raised RuntimeError: agent bug at step 2"]
    run_dir = _only_run_dir(tmp_path / "out")
    failure = (run_dir / "failure.txt").read_text()
    assert "type: RuntimeError" in failure and "agent bug at step 2" in failure
    assert "Traceback" in failure and "update_policy" in failure
    summary = json.loads((run_dir / "summary.json").read_text())
    assert summary["status"] == "error"
    (job,) = summary["jobs"]
    assert job["status"] == "error" and job["trials"] == 2 and job["best"] is not None
    assert (run_dir / job["best_config"]).is_file()


def test_a_plugin_that_fails_to_import_is_a_spec_error_naming_the_field(
    tmp_path: Path,
    write_toml: Callable[..., Path],
    objective_workload: Callable[..., dict],
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    # An installed agent plugin whose package is broken (here: it lacks a dependency)
    # used to stop the run with "internal error"; it is the spec's agent.type that fails.
    path = write_toml("w.toml", objective_workload(agent={"type": "broken_agent"}))
    source = "import os\nimport no_such_dependency_xyz\n"
    assert _run_with_plugin_agent(tmp_path, monkeypatch, path, "broken_agent:Agent", source) == 2
    (line,) = capsys.readouterr().err.strip().splitlines()
    assert line == (
        f"tunegym: error: {path}: agent.type: agent 'broken_agent' (broken_agent:Agent): cannot "
        "import module 'broken_agent': No module named 'no_such_dependency_xyz' "
        f"(at {tmp_path / 'broken_agent.py'}:2)"
    )
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize(
    ("option", "where", "why"),
    [
        ("--output", "a-file", "a-file: cannot hold run folders: {tmp}/a-file is a file"),
        ("--output", "a-file/runs", "cannot hold run folders: {tmp}/a-file is a file, not a"),
        ("--log-file", ".", "--log-file {tmp}: is a folder; give a file path"),
        ("--log-file", "a-file/x.log", "x.log: cannot write it: {tmp}/a-file is a file, not a"),
    ],
)
def test_an_output_or_log_file_that_cannot_be_written_exits_2_before_running(
    tmp_path: Path,
    write_toml: Callable[..., Path],
    objective_workload: Callable[..., dict],
    capsys: pytest.CaptureFixture[str],
    option: str,
    where: str,
    why: str,
) -> None:
    # Each used to be "internal error: FileExistsError" (or NotADirectoryError, ...).
    (tmp_path / "a-file").write_text("not a folder")
    path = write_toml("w.toml", objective_workload())
    target = (tmp_path / where).resolve()
    argv = ["run", str(path), option, str(target)]
    if option != "--output":
        argv += ["--output", str(tmp_path / "out")]
    assert main(argv) == 2
    (line,) = capsys.readouterr().err.strip().splitlines()
    assert line.startswith("tunegym: error: ") and why.format(tmp=tmp_path) in line, line
    assert not (tmp_path / "out").exists()


def test_a_log_file_onto_the_spec_or_the_resumed_runs_files_exits_2_before_running(
    tmp_path: Path,
    write_toml: Callable[..., Path],
    objective_workload: Callable[..., dict],
    capsys: pytest.CaptureFixture[str],
) -> None:
    """``--log-file w.toml`` appended log lines to the spec being run (the next verify
    failed: invalid TOML), and ``--resume RUN --log-file RUN/trials.sqlite`` (or its
    journal, summary.json, a trial's file) appended text to the run's own files."""
    workload = write_toml("w.toml", objective_workload(params={"x": [1, 2], "y": ["a"]}))
    scenario = write_toml(
        "scenario.toml", {"name": "s", "jobs": [{"workload": "w.toml", "name": "j"}]}
    )
    spec = workload.read_bytes()

    def refused(argv: list[str], why: str) -> None:
        assert main([*argv, "--quiet"]) == 2
        (line,) = capsys.readouterr().err.strip().splitlines()
        assert line.startswith("tunegym: error: --log-file ") and why in line, line

    out = tmp_path / "out"
    refused(["run", str(workload), "--output", str(out), "--log-file", str(workload)], "spec file")
    refused(
        ["run", str(scenario), "--output", str(out), "--log-file", str(workload)],
        "the workload file of job 'j'",
    )
    assert not out.exists() and workload.read_bytes() == spec
    assert main(["run", str(workload), "--output", str(out), "--quiet"]) == 0
    run_dir = _only_run_dir(out)

    def recorded() -> dict[Path, bytes]:  # SQLite's own journal files aside
        files = [p for p in run_dir.rglob("*") if p.is_file() and "sqlite-" not in p.name]
        return {p: p.read_bytes() for p in files}

    before = recorded()
    for name in ["trials.sqlite", "trials.sqlite-wal", "summary.json", "objective/0/1/stdout.txt"]:
        refused(
            ["run", "--resume", str(run_dir), "--log-file", str(run_dir / name)],
            "appending log lines there would overwrite what the run recorded",
        )
    assert recorded() == before
    assert main(["run", str(workload), "--verbose", "--output", str(out)]) == 0  # spec intact
    capsys.readouterr()


def test_a_ray_address_that_is_no_address_exits_2(
    write_toml: Callable[..., Path],
    objective_workload: Callable[..., dict],
    capsys: pytest.CaptureFixture[str],
) -> None:
    # Ray's own "Invalid address format" came with advice about token authentication
    path = write_toml("w.toml", objective_workload())
    with pytest.raises(SystemExit) as exited:
        main(["run", str(path), "--runner", "ray", "--ray-address", "nope"])
    assert exited.value.code == 2
    err = capsys.readouterr().err
    assert "argument --ray-address: expected local, auto, HOST:PORT or ray://HOST:PORT" in err


COUNTER_SERVER = """
class Counter:
    def __init__(self, start=0):
        self.t = start

    def action_space(self):
        return {"x": [1, 2]}

    def observation_space(self):
        return ["t"]

    def reset(self, seed=None, options=None):
        return {"t": float(self.t)}, {}

    def step(self, params):
        self.t += params["x"]
        return {"t": float(self.t)}, float(params["x"]), self.t > 4, False, {}
"""


def test_a_warning_for_the_user_is_one_line_without_tunegyms_source(
    tmp_path: Path, write_toml: Callable[..., Path]
) -> None:
    # Python's default format added "src/tunegym/env/server.py:193: ServerArgsWarning:"
    # and then the line of tunegym's source that warned.
    (tmp_path / "counter_server.py").write_text(COUNTER_SERVER)
    workload = {
        "name": "live",
        "mode": "live",
        "server": "counter_server:Counter",
        "server_args": {"start": 0, "colour": "red"},
        "agent": {"type": "random", "metrics": ["t"], "max_steps": 3, "seed": 0},
    }
    write_toml("w.toml", workload)
    proc = subprocess.run(
        [sys.executable, "-m", "tunegym.cli.main", "run", "w.toml", "--quiet"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr.splitlines() == [
        "tunegym: warning: server 'counter_server:Counter': server_args colour ignored; "
        "Counter.__init__ accepts only start"
    ]


def _script_workload(
    tmp_path: Path, write_toml: Callable[..., Path], name: str, source: str, trials: int
) -> tuple[Path, Path]:
    """A workload running ``source`` as ``python <script> <folder> <i>`` for i in 1..trials
    (the script reports ``score: N``); returns the workload's path and the folder."""
    script = tmp_path / f"{name}.py"
    script.write_text(source)
    folder = tmp_path / "pids"
    folder.mkdir()
    path = write_toml(
        "w.toml",
        {
            "name": name,
            "command": [sys.executable, str(script), str(folder), "{i}"],
            "params": {"i": list(range(1, trials + 1))},
            "metrics": [{"name": "score", "regex": "score: (\\d+)"}],
        },
    )
    return path, folder


def _start_run(args: list[str], hangup: signal.Handlers = signal.SIG_DFL) -> subprocess.Popen[str]:
    """``tunegym run *args`` in a child whose SIGHUP disposition is ``hangup``: by default
    as started from a terminal, even when the suite itself runs under nohup (tunegym keeps
    an inherited SIG_IGN, as ``nohup tunegym run`` wants)."""
    return subprocess.Popen(
        [*TUNEGYM, "run", *args, "--no-progress"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        preexec_fn=lambda: signal.signal(signal.SIGHUP, hangup),
    )


SLOW = """
import os, sys, time
step = int(os.environ["TUNEGYM_STEP"])
open(os.path.join(sys.argv[1], f"pid-{step}"), "w").write(str(os.getpid()))
if step >= 3:
    time.sleep(60)
print("score: 1")
"""


@pytest.mark.parametrize(
    ("sig", "code", "parallel", "runner"),
    [
        (signal.SIGINT, 130, "1", "local"),
        (signal.SIGINT, 130, "2", "local"),
        (signal.SIGTERM, 143, "1", "local"),
        (signal.SIGTERM, 143, "2", "local"),
        (signal.SIGHUP, 129, "1", "local"),
        # ray.init put its own SIGTERM handler in place of tunegym's: "SystemExit: 15", a
        # Ray stack dump, no summary.json.
        (signal.SIGTERM, 143, "1", "ray"),
    ],
    ids=["sigint", "sigint-parallel", "sigterm", "sigterm-parallel", "sighup", "sigterm-ray"],
)
def test_a_stop_signal_kills_the_trial_keeps_rows_and_exits_128_plus_signum(
    tmp_path: Path,
    write_toml: Callable[..., Path],
    sig: int,
    code: int,
    parallel: str,
    runner: str,
) -> None:
    """Ctrl-C, SIGTERM (timeout, Slurm, Kubernetes) and SIGHUP (terminal closed) alike."""
    path, pids = _script_workload(tmp_path, write_toml, "slow", SLOW, 4)
    out = tmp_path / "out"
    argv = [str(path), "--output", str(out), "--parallel", parallel, "--runner", runner]
    proc = _start_run(argv)
    deadline = time.monotonic() + 60
    sleepers = [pids / "pid-3"] + ([pids / "pid-4"] if parallel == "2" else [])
    while not all(p.exists() for p in sleepers):
        assert proc.poll() is None and time.monotonic() < deadline, proc.communicate()
        time.sleep(0.05)
    time.sleep(0.2)
    proc.send_signal(sig)
    _, stderr = proc.communicate(timeout=30)
    assert proc.returncode == code, stderr
    name = "Ctrl-C" if sig == signal.SIGINT else signal.Signals(sig).name
    assert f"interrupted by {name}" in stderr
    for pid_file in sleepers:  # every running trial was killed
        with pytest.raises(ProcessLookupError):
            os.kill(int(pid_file.read_text()), 0)
    run_dir = _only_run_dir(out)
    steps = "3" if parallel == "1" else "3, 4"  # the ones a resume runs again
    dropped = (
        f"{len(sleepers)} running trial(s) were stopped and not recorded (slow step(s) {steps})"
    )
    assert dropped in stderr
    assert f"(go on with: tunegym run --resume {run_dir})" in stderr
    db = sqlite3.connect(run_dir / "trials.sqlite")
    assert db.execute("SELECT step, status FROM trials ORDER BY step").fetchall() == [
        (1, "ok"),
        (2, "ok"),
    ]
    traj = list(csv.DictReader((run_dir / "slow" / "0" / "trajectory.csv").open()))
    assert sorted(r["step"] for r in traj) == ["1", "2"]  # in completion order
    summary = json.loads((run_dir / "summary.json").read_text())
    assert summary["status"] == "interrupted"
    assert summary["jobs"][0]["status"] == "interrupted" and summary["jobs"][0]["trials"] == 2
    assert summary["jobs"][0]["message"] == f"interrupted by {name}"


@pytest.mark.parametrize(
    ("first", "then", "code"),
    [
        (signal.SIGTERM, signal.SIGINT, 143),
        (signal.SIGHUP, signal.SIGINT, 129),
        (signal.SIGINT, signal.SIGTERM, 130),
        (signal.SIGINT, signal.SIGINT, 130),  # a second Ctrl-C cuts the clean-up short
    ],
    ids=["sigterm-then-sigint", "sighup-then-sigint", "sigint-then-sigterm", "sigint-twice"],
)
def test_the_first_stop_signal_decides_the_exit_code(
    tmp_path: Path, write_toml: Callable[..., Path], first: int, then: int, code: int
) -> None:
    """A Ctrl-C during a SIGTERM's clean-up made it exit 130, "interrupted by Ctrl-C":
    schedulers that look for 143 (or 129) saw a Ctrl-C."""
    stubborn = "import signal\nsignal.signal(signal.SIGTERM, signal.SIG_IGN)\n" + SLOW
    path, pids = _script_workload(tmp_path, write_toml, "slow", stubborn, 3)
    proc = _start_run([str(path), "--output", str(tmp_path / "out")])
    deadline = time.monotonic() + 60
    while not (pids / "pid-3").exists():
        assert proc.poll() is None and time.monotonic() < deadline, proc.communicate()
        time.sleep(0.05)
    proc.send_signal(first)
    time.sleep(0.3)  # the clean-up waits for the trial that ignores SIGTERM
    proc.send_signal(then)
    _, stderr = proc.communicate(timeout=30)
    assert proc.returncode == code, stderr
    name = "Ctrl-C" if first == signal.SIGINT else signal.Signals(first).name
    assert f"interrupted by {name}" in stderr
    assert all(other not in stderr for other in ("Ctrl-C", "SIGTERM", "SIGHUP") if other != name)
    for pid_file in pids.glob("pid-*"):  # cut short or not, no trial process is left
        with pytest.raises(ProcessLookupError):
            os.kill(int(pid_file.read_text()), 0)


def test_under_nohup_a_hangup_does_not_stop_the_run(
    tmp_path: Path, write_toml: Callable[..., Path]
) -> None:
    """A SIGHUP ignored when tunegym started (``nohup tunegym run ...``) stays ignored."""
    nap = (
        "import os, sys, time\n"
        "open(os.path.join(sys.argv[1], f\"pid-{os.environ['TUNEGYM_STEP']}\"), 'w').close()\n"
        "time.sleep(1.0)\nprint('score: 1')\n"
    )
    path, started = _script_workload(tmp_path, write_toml, "nap", nap, 2)
    out = tmp_path / "out"
    proc = _start_run([str(path), "--output", str(out)], hangup=signal.SIG_IGN)  # as nohup
    deadline = time.monotonic() + 60
    while not (started / "pid-1").exists():
        assert proc.poll() is None and time.monotonic() < deadline, proc.communicate()
        time.sleep(0.05)
    proc.send_signal(signal.SIGHUP)
    _, stderr = proc.communicate(timeout=60)
    assert proc.returncode == 0, stderr
    assert "interrupted" not in stderr
    db = sqlite3.connect(_only_run_dir(out) / "trials.sqlite")
    assert db.execute("SELECT step, status FROM trials ORDER BY step").fetchall() == [
        (1, "ok"),
        (2, "ok"),
    ]


def test_a_catastrophic_metric_regex_ends_as_metric_missing_with_the_reason(
    tmp_path: Path, write_toml: Callable[..., Path]
) -> None:
    """Extraction is bounded in time: the run ends, the trial says why its metric is missing."""
    path = write_toml(
        "w.toml",
        {
            "name": "redos",
            "command": [sys.executable, "-c", "print('a' * 60 + '!')", "{i}"],
            "params": {"i": [1, 2]},
            "metrics": [{"name": "m", "regex": "^(a|aa)+$", "regex_timeout_s": 0.3}],
        },
    )
    out = tmp_path / "out"
    assert main(["run", str(path), "--output", str(out), "--no-progress", "-q"]) == 1
    db = sqlite3.connect(_only_run_dir(out) / "trials.sqlite")
    rows = db.execute("SELECT status, error FROM trials ORDER BY step").fetchall()
    assert [status for status, _ in rows] == ["metric_missing", "metric_missing"]
    for _, error in rows:
        assert "metric(s) not found in the trial's output: m" in error
        assert "regex search of stdout took longer than 0.3 s" in error


@pytest.mark.parametrize(
    ("flag", "value"),
    [("--seed", "-5"), ("--seed", str(10**30)), ("--max-steps", "0"), ("--parallel", "99999")],
)
def test_an_out_of_range_override_is_a_usage_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], flag: str, value: str
) -> None:
    with pytest.raises(SystemExit) as info:
        main(["run", str(tmp_path / "w.toml"), flag, value])
    assert info.value.code == 2
    assert f"argument {flag}: must be in [" in capsys.readouterr().err


def test_a_multi_objective_job_prints_its_pareto_front(
    tmp_path: Path,
    write_toml: Callable[..., Path],
    objective_workload: Callable[..., dict],
    capsys: pytest.CaptureFixture[str],
) -> None:
    data = objective_workload(
        agent={"type": "grid", "metrics": ["score", "duration_s"], "objectives": ["max", "min"]}
    )
    path = write_toml("w.toml", data)
    assert main(["run", str(path), "--output", str(tmp_path / "out")]) == 0
    out = capsys.readouterr().out
    summary = json.loads(next((tmp_path / "out").glob("*/summary.json")).read_text())
    front = summary["jobs"][0]["pareto_front"]
    assert f"Pareto front (score max, duration_s min): {len(front)} action(s)" in out
    assert "\n  best reward" not in out
    assert out.count("best_config_") == len(front)


def test_objectives_without_agent_metrics_pair_with_the_declared_metrics(
    tmp_path: Path,
    write_toml: Callable[..., Path],
    objective_workload: Callable[..., dict],
    capsys: pytest.CaptureFixture[str],
) -> None:
    """Unset agent.metrics means every declared metric (README), but ``objectives`` with
    two declared metrics was refused: "(2 objectives, metrics = None)"."""
    metrics = [
        {"name": "score", "regex": r"score: (\S+)"},
        {"name": "again", "regex": r"score: (\S+)"},
    ]
    data = objective_workload(metrics=metrics, agent={"type": "grid"})
    data["agent"] = {"type": "grid", "objectives": ["max", "min"]}
    path = write_toml("w.toml", data)
    assert main(["verify", str(path)]) == 0
    assert "objectives score max, again min" in capsys.readouterr().out
    assert main(["run", str(path), "--output", str(tmp_path / "out"), "--quiet"]) == 0
    summary = json.loads(next((tmp_path / "out").glob("*/summary.json")).read_text())
    assert summary["jobs"][0]["objectives"] == {"score": "max", "again": "min"}
    # Three objectives for two declared metrics: said so, with no Python None.
    data["agent"]["objectives"] = ["max", "min", "max"]
    path = write_toml("w.toml", data)
    assert main(["verify", str(path)]) == 2
    (line,) = capsys.readouterr().err.strip().splitlines()
    assert line == (
        f"tunegym: error: {path}: agent: 3 objectives need as many metrics: set agent.metrics "
        "to the metrics they are for, in order (unset, it is every declared metric, which "
        "pairs with the objectives only when exactly 3 are declared)"
    )


def test_a_bug_in_tunegym_is_still_called_internal(
    tmp_path: Path,
    write_toml: Callable[..., Path],
    objective_workload: Callable[..., dict],
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """An exception raised inside tunegym's own code is an internal error, even when
    user code called it (here a plugin's hook calls a tunegym class wrongly)."""
    from tunegym.agents.grid import GridAgent
    from tunegym.metrics.progress import ProgressSource

    monkeypatch.setattr(GridAgent, "update_policy", lambda self, feedback: ProgressSource("x"))
    path = write_toml("w.toml", objective_workload(agent={"type": "grid"}))
    assert main(["run", str(path), "--output", str(tmp_path / "out")]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert err[-1] == (
        "tunegym: internal error: ValueError: a progress source is a regex or a file, exactly one"
    )


def test_user_code_origin_names_the_users_line_only(tmp_path: Path) -> None:
    import json as stdlib_json

    from tunegym.cli.common import user_code_origin
    from tunegym.pruning.reporting import Reporter

    script = tmp_path / "user_mod.py"
    script.write_text("import json\ndef decide(step, value):\n    return json.loads('{')\n")
    namespace: dict[str, Any] = {}
    exec(compile(script.read_text(), str(script), "exec"), namespace)
    with pytest.raises(ValueError) as raised:
        Reporter(decide=namespace["decide"]).report(1, 0.5)  # tunegym calls the user's code
    # the library the user's code called raised: the user's line is named
    assert user_code_origin(raised.value) == f"{script}:3 (in decide)"
    with pytest.raises(ValueError) as raised:
        stdlib_json.loads("{")  # no tunegym frame at all
    assert user_code_origin(raised.value) is None
    import numpy as np

    with pytest.raises(ValueError) as raised:  # tunegym calling NumPy's compiled code
        Reporter(decide=np.random.default_rng(0).integers).report(0, 2.0**70)
    frames = [f.filename for f in traceback.extract_tb(raised.value.__traceback__)]
    assert any(name.endswith(".pyx") and not os.path.isabs(name) for name in frames)
    assert user_code_origin(raised.value) is None  # a library's, not the user's


@pytest.mark.parametrize(
    ("key", "value", "why"),
    [
        ("jobs", "[1]", "a JSON list, not a JSON object of job fingerprints"),
        ("jobs", '{"objective": 5}', "the fingerprint of job 'objective' is no workload"),
        ("run", '{"spec": 5}', "its spec is 5, not a path"),
        ("run", "[1]", "a JSON list, not a JSON object"),
        ("run", "RUN.resumed_at=5", "its resumed_at is 5, not a list of times"),
        ("run", 'RUN.budget_grace_s="x"', "its budget_grace_s is 'x', not a number or null"),
    ],
)
def test_a_resume_names_a_damaged_meta_key_and_leaves_the_folder_as_it_is(
    tmp_path: Path,
    write_toml: Callable[..., Path],
    objective_workload: Callable[..., dict],
    capsys: pytest.CaptureFixture[str],
    key: str,
    value: str,
    why: str,
) -> None:
    """A ``jobs`` meta key holding a JSON list was "internal error: TypeError: sequence
    item 0: expected str instance, int found"; so were a ``run`` key whose spec is no
    path and one whose resumed_at is no list."""
    path = write_toml("w.toml", objective_workload(params={"x": [1, 2], "y": ["a"]}))
    assert main(["run", str(path), "--output", str(tmp_path / "runs"), "--quiet"]) == 0
    run_dir = _only_run_dir(tmp_path / "runs")
    db = run_dir / "trials.sqlite"
    with sqlite3.connect(db) as conn:
        if value.startswith("RUN."):  # one field of the recorded run key
            field, _, text = value[len("RUN.") :].partition("=")
            (run,) = conn.execute("SELECT value FROM meta WHERE key = 'run'").fetchone()
            value = json.dumps({**json.loads(run), field: json.loads(text)})
        conn.execute("UPDATE meta SET value = ? WHERE key = ?", (value, key))
    conn.close()

    def recorded() -> list[Any]:
        with sqlite3.connect(db) as conn:
            rows = conn.execute("SELECT * FROM meta ORDER BY key").fetchall()
            rows += conn.execute("SELECT * FROM trials ORDER BY step").fetchall()
        conn.close()
        return rows

    before, files = recorded(), sorted(p.name for p in run_dir.iterdir())
    capsys.readouterr()
    assert main(["run", "--resume", str(run_dir), "--quiet"]) == 2  # the user's file is bad
    (line,) = capsys.readouterr().err.strip().splitlines()
    assert line == f"tunegym: error: cannot resume: {db}: meta {key!r} is damaged ({why})"
    assert recorded() == before
    assert sorted(p.name for p in run_dir.iterdir() if "sqlite-" not in p.name) == files


def test_a_ray_address_no_job_uses_is_said_to_be_ignored(
    tmp_path: Path,
    write_toml: Callable[..., Path],
    objective_workload: Callable[..., dict[str, Any]],
    capsys: pytest.CaptureFixture[str],
) -> None:
    # A Slurm or local run dropped --ray-address without a word.
    path = write_toml("w.toml", objective_workload())
    out = tmp_path / "out"
    assert main(["run", str(path), "--output", str(out), "--quiet", "--ray-address", "auto"]) == 0
    assert (
        "tunegym: warning: --ray-address auto: no job of this run uses the ray runner (local); "
        "it is ignored"
    ) in capsys.readouterr().err
