"""SlurmRunner and ``tunegym run --runner slurm`` against a real Slurm 22.05.

The cluster is a single node on this machine (``tests/clusters/slurm_cluster.py``), once
without accounting (state from ``squeue -t all`` and the exit-code file) and once with
accounting (MariaDB and slurmdbd, so ``sacct`` answers too); the ``slurm`` fixture runs a
test on each. The runner contract (exit codes, timeouts, missing commands, cancel_all)
is in ``test_contract.py``.

Stub ``sbatch``/``squeue``/``sacct`` scripts (``slurm_stubs/``) remain only for final
states a single real node without cgroups cannot produce: OUT_OF_MEMORY (needs
``task/cgroup`` memory enforcement) and NODE_FAIL (needs a node that stops answering for
``SlurmdTimeout`` while the shared test cluster keeps serving other tests). Tests that
need no cluster at all (script text, spec validation, a missing sbatch) use none.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from cluster_procs import alive, wait_until
from run_helpers import Tunegym, only_run_dir, trial_rows

from tunegym.cli.main import main
from tunegym.errors import SpecError, TunegymError
from tunegym.runners.base import TrialSpec
from tunegym.runners.slurm import SlurmRunner, slurm_time, trial_script
from tunegym.spec import load
from tunegym.spec.models import SlurmSpec

STUBS = Path(__file__).with_name("slurm_stubs")
GOLDEN = Path(__file__).with_name("golden")
FAST = {"poll_interval_s": 0.2}


def _run(path: Path, output: Path, *extra: str) -> int:
    return main(["run", str(path), "--output", str(output), "--no-progress", *extra])


# -- against the real cluster ------------------------------------------------------------
def test_a_sweep_on_slurm_gives_the_rewards_of_a_local_run(
    tmp_path: Path,
    slurm: Any,
    write_toml: Callable[..., Path],
    objective_workload: Callable[..., dict],
) -> None:
    data = objective_workload(
        name="same-rewards",
        params={"x": [2, 3], "y": ["a", "b"]},
        runner="slurm",
        slurm=FAST,
        metrics=[{"name": "score", "json": "result.json:score"}],
    )
    path = write_toml("w.toml", data)
    assert _run(path, tmp_path / "slurm", "--parallel", "2") == 0
    assert _run(path, tmp_path / "local", "--runner", "local") == 0
    on_slurm = trial_rows(only_run_dir(tmp_path / "slurm"))
    local = trial_rows(only_run_dir(tmp_path / "local"))
    assert [r["status"] for r in on_slurm] == ["ok"] * 4
    rewards = {json.dumps(r["action"], sort_keys=True): r["reward"] for r in on_slurm}
    assert rewards == {json.dumps(r["action"], sort_keys=True): r["reward"] for r in local}
    summary = json.loads((only_run_dir(tmp_path / "slurm") / "summary.json").read_text())
    assert summary["jobs"][0]["best"]["action"] == {"x": 3, "y": "b"}
    for row in on_slurm:  # the trial's own run time, measured in the job, not its queue time
        assert 0 <= row["duration_s"] < 30


@pytest.mark.parametrize("batch", [False, True], ids=["trials", "array"])
def test_a_run_folder_with_a_space_and_a_percent_sign_works_on_slurm(
    tmp_path: Path,
    slurm_plain: Any,
    write_toml: Callable[..., Path],
    objective_workload: Callable[..., dict],
    batch: bool,
) -> None:
    # A space gave "sbatch refused ...: Invalid directive found in batch script"; a '%j'
    # was expanded by Slurm, so the job wrote its output to another folder (-53, FAILED).
    data = objective_workload(
        params={"x": [2, 3], "y": ["a"]}, runner="slurm", slurm={**FAST, "batch": batch}
    )
    path = write_toml("w.toml", data)
    output = tmp_path / "my runs %j"
    assert _run(path, output) == 0
    rows = trial_rows(only_run_dir(output))
    assert [r["status"] for r in rows] == ["ok", "ok"]


def test_a_failing_trial_is_recorded_with_exit_code_3(
    tmp_path: Path,
    slurm: Any,
    write_toml: Callable[..., Path],
    objective_workload: Callable[..., dict],
) -> None:
    data = objective_workload(
        name="exit3", params={"x": [3], "fail": ["no", "yes"]}, runner="slurm", slurm=FAST
    )
    data["command"].append("--fail={fail}")
    del data["params"]["y"]
    data["command"].remove("--y={y}")
    assert _run(write_toml("w.toml", data), tmp_path / "out") == 0
    run_dir = only_run_dir(tmp_path / "out")
    by_fail = {r["action"]["fail"]: r for r in trial_rows(run_dir)}
    assert (by_fail["no"]["status"], by_fail["no"]["returncode"]) == ("ok", 0)
    failed = by_fail["yes"]
    assert (failed["status"], failed["returncode"], failed["error"]) == (
        "failed",
        3,
        "exit code 3",
    )
    trial_dir = run_dir / "exit3" / "0" / str(failed["step"])
    assert (trial_dir / "stderr.txt").read_text() == "boom\n"


@pytest.mark.parametrize("batch", [False, True], ids=["job", "array"])
def test_a_trial_that_ended_is_seen_before_the_next_squeue_poll(
    tmp_path: Path, slurm: Any, batch: bool
) -> None:
    # poll_interval_s = 60 (kind to slurmctld): the runner still returns within a second
    # or two of the trial's end, because it watches the script's exit-code file between
    # polls; Slurm's final state is then read as before.
    runner = SlurmRunner(
        SlurmSpec(poll_interval_s=60, batch=batch), job_name="tunegym-ended", batch_window_s=0.2
    )
    specs = []
    for name, code in (("ok", 0), ("fails", 4)):
        (tmp_path / name).mkdir()
        argv = (sys.executable, "-c", f"import sys, time; time.sleep(0.5); sys.exit({code})")
        specs.append(TrialSpec(argv, tmp_path / name))
    t0 = time.monotonic()
    results: dict[str, Any] = {}
    workers = [
        threading.Thread(target=lambda s=s: results.__setitem__(s.cwd.name, runner.run(s)))
        for s in specs
    ]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(120)
    waited = time.monotonic() - t0
    assert (results["ok"].status, results["ok"].returncode) == ("ok", 0)
    assert (results["fails"].status, results["fails"].returncode) == ("failed", 4)
    assert waited < 30, f"the runner waited {waited:.1f} s: for the next poll, not the end"


def test_a_5s_timeout_stops_the_trial_within_15s(
    tmp_path: Path,
    slurm: Any,
    write_toml: Callable[..., Path],
    objective_workload: Callable[..., dict],
) -> None:
    data = objective_workload(
        name="timeout5",
        params={"x": [1], "y": ["a"]},
        timeout_s=5,
        runner="slurm",
        slurm=FAST,
    )
    data["command"].append("--sleep=120")
    assert _run(write_toml("w.toml", data), tmp_path / "out") == 1  # nothing succeeded
    run_dir = only_run_dir(tmp_path / "out")
    (row,) = trial_rows(run_dir)
    assert (row["status"], row["returncode"]) == ("timeout", None)
    assert row["error"] == "timed out after 5.0 s"
    assert 5 <= row["duration_s"] < 15
    assert "#SBATCH --time=00:01:00" in (run_dir / "timeout5/0/1/sbatch.sh").read_text()


def test_slurms_own_time_limit_is_a_timeout_without_a_return_code(
    tmp_path: Path, slurm_plain_cluster: Any, slurm_acct_cluster: Any, objective_script: Path
) -> None:
    """A job Slurm ends at ``--time`` (sacct reports it as 0:0) has no known exit code.

    Slurm enforces a limit of at least a minute, checked every 30 s: this waits 60-95 s,
    on both clusters at once.
    """
    runs = []
    for name, cluster in (("plain", slurm_plain_cluster), ("acct", slurm_acct_cluster)):
        workload = tmp_path / f"{name}.toml"
        workload.write_text(
            textwrap.dedent(
                f"""
                name = "slurm-time-{name}"
                command = [{json.dumps(sys.executable)}, {json.dumps(str(objective_script))},
                           "--sleep=600"]
                runner = "slurm"
                metrics = [{{ name = "score", regex = "score: (\\\\S+)" }}]
                [slurm]
                time = "1"
                poll_interval_s = 1.0
                """
            )
        )
        args = ["run", str(workload), "--output", str(tmp_path / name), "--no-progress"]
        runs.append(Tunegym(args, cluster.env(), tmp_path, tmp_path / f"{name}.log"))
    for run in runs:
        run.wait(timeout=240)  # a run-once job: its exit code is not the point here
    for name in ("plain", "acct"):
        (row,) = trial_rows(only_run_dir(tmp_path / name))
        assert (row["status"], row["returncode"]) == ("timeout", None), name
        assert row["error"] == "Slurm time limit reached (TIMEOUT)"


def _jobs_named(cluster: Any, part: str) -> dict[str, str]:
    """``{job id: state}`` of the jobs in ``cluster``'s squeue whose name has ``part``."""
    lines = cluster.run("squeue", "-h", "-o", "%i %j %T").stdout.splitlines()
    fields = [line.split() for line in lines]
    return {f[0]: f[2] for f in fields if len(f) == 3 and part in f[1]}


def test_ctrl_c_with_jobs_queued_cancels_every_job_and_exits_130(
    tmp_path: Path, slurm: Any, write_toml: Callable[..., Path], objective_workload: Callable
) -> None:
    data = objective_workload(
        name="ctrlc", params={"x": [1, 2, 3, 4], "y": ["a"]}, runner="slurm", slurm=FAST
    )
    pids = tmp_path / "pids"
    pids.mkdir()
    data["command"] = [
        sys.executable,
        "-c",
        "import os, sys, time; open(os.path.join(sys.argv[1], str(os.getpid())), 'w');"
        "time.sleep(600)",
        str(pids),
    ]
    path = write_toml("w.toml", data)
    args = ["run", str(path), "--output", str(tmp_path / "out"), "--parallel", "4"]
    run = Tunegym(args, slurm.env(), tmp_path, tmp_path / "tunegym.log")

    def ours() -> dict[str, str]:
        return _jobs_named(slurm, "ctrlc")

    # The node has 2 CPUs: two trials run, two wait in the queue.
    wait_until(
        lambda: (
            sorted(ours().values()) == ["PENDING", "PENDING", "RUNNING", "RUNNING"]
            and len(list(pids.iterdir())) == 2
        ),
        120,
        "two running and two pending jobs",
    )
    jobs = list(ours())
    run.interrupt()
    assert run.wait(timeout=60) == 130, run.output()
    assert "interrupted" in run.output()
    assert ours() == {}, "a job of the run is still queued or running"
    trial_pids = [int(p.name) for p in pids.iterdir()]
    assert wait_until(lambda: not any(alive(p) for p in trial_pids), 30, None)
    if slurm.accounting:
        states = slurm.run("sacct", "-n", "-X", "-P", "-o", "JobID,State", "-j", ",".join(jobs))
        final = dict(line.split("|") for line in states.stdout.splitlines())
        assert {final[j].split()[0] for j in jobs} == {"CANCELLED"}, final
    rows = trial_rows(only_run_dir(tmp_path / "out"))
    assert all(r["status"] != "ok" for r in rows)


def test_array_mode_records_each_trials_own_duration(
    tmp_path: Path, slurm: Any, write_toml: Callable[..., Path], objective_workload: Callable
) -> None:
    data = objective_workload(name="array", runner="slurm", slurm={**FAST, "batch": True})
    data["params"] = {"sleep": [0.1, 3.0], "y": ["a", "b"]}
    data["command"] = [
        sys.executable,
        "-c",
        "import os, sys, time; time.sleep(float(sys.argv[1]));"
        "print('score:', sys.argv[1]); print(os.environ['SLURM_ARRAY_JOB_ID'], file=sys.stderr)",
        "{sleep}",
    ]
    del data["agent"]["type"]
    assert _run(write_toml("w.toml", data), tmp_path / "out") == 0
    run_dir = only_run_dir(tmp_path / "out")
    rows = trial_rows(run_dir)
    assert [r["status"] for r in rows] == ["ok"] * 4
    for row in rows:
        assert row["action"]["sleep"] <= row["duration_s"] < row["action"]["sleep"] + 2, row
    arrays = {(run_dir / "array" / "0" / str(r["step"]) / "stderr.txt").read_text() for r in rows}
    assert len(arrays) == 1  # one job array ran them all
    assert len(list((run_dir / "array" / "0").glob("array-*.sbatch.sh"))) == 1


def test_a_relative_output_folder_works(
    tmp_path: Path,
    slurm: Any,
    write_toml: Callable[..., Path],
    objective_workload: Callable[..., dict],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    data = objective_workload(
        name="relative", params={"x": [3], "fail": ["no", "yes"]}, runner="slurm", slurm=FAST
    )
    data["command"] = [
        sys.executable,
        "-c",
        "import os, sys; open(os.path.join(sys.argv[1], 'mark'), 'w').write(os.environ["
        "'TUNEGYM_TRIAL_DIR']); print('score: 1'); sys.exit(3 if sys.argv[2] == 'yes' else 0)",
        "{trial_dir}",
        "{fail}",
    ]
    path = write_toml("w.toml", data)
    monkeypatch.chdir(tmp_path)
    assert main(["run", str(path), "--output", "runs", "--no-progress"]) == 0
    run_dir = only_run_dir(tmp_path / "runs")
    by_fail = {r["action"]["fail"]: r for r in trial_rows(run_dir)}
    assert (by_fail["no"]["status"], by_fail["no"]["returncode"]) == ("ok", 0)
    assert (by_fail["yes"]["status"], by_fail["yes"]["returncode"]) == ("failed", 3)
    for row in by_fail.values():
        trial_dir = run_dir / "relative" / "0" / str(row["step"])
        assert (trial_dir / "stdout.txt").read_text() == "score: 1\n"
        assert Path((trial_dir / "mark").read_text()) == trial_dir.resolve()


def test_sbatch_refusing_the_script_stops_the_run_with_one_line(
    tmp_path: Path, slurm: Any, write_toml: Callable[..., Path], objective_workload: Callable
) -> None:
    data = objective_workload(
        name="refused", runner="slurm", slurm={**FAST, "partition": "no-such-partition"}
    )
    args = ["run", str(write_toml("w.toml", data)), "--output", str(tmp_path / "out")]
    run = Tunegym([*args, "--parallel", "2"], slurm.env(), tmp_path, tmp_path / "log")
    assert run.wait(timeout=120) == 1
    errors = [line for line in run.output().splitlines() if "error" in line]
    assert len(errors) == 1, run.output()
    assert errors[0].startswith(f"tunegym: error: sbatch refused {tmp_path}/out/")
    assert "/sbatch.sh: " in errors[0]
    assert errors[0].endswith("Batch job submission failed: Invalid partition name specified")
    run_dir = only_run_dir(tmp_path / "out")
    assert len(list(run_dir.glob("refused/0/*/sbatch.sh"))) <= 2  # no trial after the first two
    assert (run_dir / "failure.txt").is_file()


def test_cancel_all_cancels_jobs_that_are_still_queued(tmp_path: Path, slurm: Any) -> None:
    runner = SlurmRunner(SlurmSpec(poll_interval_s=0.2, extra_sbatch=["--hold"]))
    results: list[Any] = []
    cwd = tmp_path / "held"
    cwd.mkdir()
    spec = TrialSpec((sys.executable, "-c", "print(1)"), cwd)
    worker = threading.Thread(target=lambda: results.append(runner.run(spec)), daemon=True)
    worker.start()
    wait_until(lambda: (cwd / "sbatch.sh").exists() and runner._active, 60, "the submission")
    (job,) = runner._active
    runner.cancel_all()
    worker.join(30)
    assert not worker.is_alive()
    (result,) = results
    assert result.status == "failed" and "cancelled" in (result.error or "")
    state = slurm.run("squeue", "-h", "-t", "all", "-j", job, "-o", "%T").stdout.strip()
    assert state == "CANCELLED"  # a held job has no processes: no COMPLETING in between


# -- no cluster needed -------------------------------------------------------------------
def test_the_time_limit_is_the_timeout_plus_grace_and_margin_in_minutes() -> None:
    assert slurm_time(SlurmSpec(), None) is None
    assert slurm_time(SlurmSpec(), 5) == "00:01:00"
    assert slurm_time(SlurmSpec(), 90) == "00:03:00"
    assert slurm_time(SlurmSpec(), 2 * 86400) == "2-00:01:00"
    assert slurm_time(SlurmSpec(time="30:00"), 5) == "30:00"


def test_dry_run_script_matches_the_golden_file(tmp_path: Path) -> None:
    spec = SlurmSpec(
        partition="gpu",
        account="proj",
        nodes=2,
        gpus=8,
        extra_sbatch=["--exclusive"],
        srun_prefix=["srun", "--mpi=pmix"],
        container_image="nvcr.io/nvidia/pytorch:24.01",
        container_mounts=["/data:/data"],
    )
    cwd = tmp_path / "trials" / "1"
    cwd.mkdir(parents=True)
    trial = TrialSpec(
        ("python3", "train.py", "--lr=0.1", "name with space; rm -rf /"),
        cwd,
        {"TUNEGYM_PARAM_LR": "0.1", "B": "$(danger)"},
        timeout_s=90,
    )
    result = SlurmRunner(spec, dry_run=True, job_name="tunegym-train").run(trial)
    assert result.status == "ok"
    script = (cwd / "sbatch.sh").read_text()
    golden = (GOLDEN / "sbatch_trial.sh").read_text().replace("{TRIAL_DIR}", str(cwd))
    assert script == golden
    assert script == trial_script(spec, trial, "tunegym-train-1")
    assert (cwd / "command.txt").read_text() == (
        "TUNEGYM_PARAM_LR=0.1\nB='$(danger)'\n"
        "python3 train.py --lr=0.1 'name with space; rm -rf /'\n"
    )


def test_a_script_signalled_after_its_command_still_records_the_stop(tmp_path: Path) -> None:
    # scancel (and Slurm's --time) signals every process of the job in no set order. When
    # the command is killed first and dies at once, the script's wait returns 143 before
    # its own SIGTERM is handled; it must still record the stop ("143 cancelled"), not a
    # command that exited 143 on its own. Plain bash, no cluster: this fixes the order.
    cwd = tmp_path / "trial"
    cwd.mkdir()
    pid_file = tmp_path / "pid"
    command = (
        f"import os, time; open({str(pid_file)!r}, 'w').write(str(os.getpid())); time.sleep(60)"
    )
    trial = TrialSpec((sys.executable, "-c", command), cwd)
    script = cwd / "sbatch.sh"
    script.write_text(trial_script(SlurmSpec(), trial, "tunegym-order"))
    proc = subprocess.Popen(["bash", str(script)], start_new_session=True)
    try:
        wait_until(lambda: pid_file.exists() and pid_file.read_text() != "", 30, "the command")
        os.kill(int(pid_file.read_text()), signal.SIGTERM)  # the command first
        time.sleep(0.05)
        proc.send_signal(signal.SIGTERM)  # then the script, as Slurm's loop may
        assert proc.wait(30) == 143
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
    assert (cwd / "exitcode").read_text().split()[:2] == ["143", "cancelled"]


def test_missing_sbatch_is_a_clear_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    cwd = tmp_path / "t"
    cwd.mkdir()
    with pytest.raises(TunegymError, match=r"sbatch not found on PATH.*--dry-run"):
        SlurmRunner(SlurmSpec()).run(TrialSpec(("true",), cwd))


@pytest.mark.parametrize("batch", [False, True])
def test_dry_run_writes_the_scripts_and_command_txt_and_submits_nothing(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    write_toml: Callable[..., Path],
    objective_workload: Callable[..., dict],
    batch: bool,
) -> None:
    data = objective_workload(slurm={"batch": batch})
    if batch:
        del data["agent"]["type"]
    path = write_toml("w.toml", data)
    bin_dir = tmp_path / "bin"  # python only: a submission would fail on a missing sbatch
    bin_dir.mkdir()
    (bin_dir / "python3").symlink_to(sys.executable)
    monkeypatch.setenv("PATH", str(bin_dir))
    assert _run(path, tmp_path / "o", "--dry-run", "--runner", "slurm") == 0
    run_dir = only_run_dir(tmp_path / "o")
    trials = sorted(run_dir.glob("objective/0/*/"), key=lambda p: p.name)
    trials = [t for t in trials if t.is_dir()]
    assert len(trials) == 8
    for trial in trials:
        assert (trial / "sbatch.sh").is_file()
        assert (trial / "command.txt").read_text().splitlines()[-1].startswith(sys.executable)
    arrays = list(run_dir.glob("objective/0/array-*.sbatch.sh"))
    assert len(arrays) == (1 if batch else 0)
    if batch:
        assert "#SBATCH --array=0-7" in arrays[0].read_text()


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"agent": {"type": "random"}}, "batch mode submits the whole grid at once"),
        (
            {"mode": "live", "server": "x.y:Z", "command": None, "metrics": None},
            "a live job cannot be batched",
        ),
    ],
)
def test_batch_mode_needs_a_grid_of_an_offline_job(
    write_toml: Callable[..., Path],
    objective_workload: Callable[..., dict],
    overrides: dict,
    message: str,
) -> None:
    data = objective_workload(runner="slurm", slurm={"batch": True}, **overrides)
    data = {k: v for k, v in data.items() if v is not None}
    with pytest.raises(SpecError, match=message):
        load(write_toml("w.toml", data))


def test_poll_interval_must_be_positive(
    write_toml: Callable[..., Path], objective_workload: Callable[..., dict]
) -> None:
    with pytest.raises(SpecError, match=r"slurm\.poll_interval_s"):
        load(write_toml("w.toml", objective_workload(slurm={"poll_interval_s": 0})))


# -- stubs: states a single real node cannot produce --------------------------------------
@pytest.fixture
def stub_slurm(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Stub Slurm commands on PATH; returns their state folder."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for name in ("sbatch", "sacct", "squeue", "scancel", "stub_worker.py"):
        shutil.copy(STUBS / name, bin_dir / name)
    state = tmp_path / "slurm-state"
    state.mkdir()
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    monkeypatch.setenv("STUB_SLURM_DIR", str(state))
    return state


@pytest.mark.parametrize(
    ("state", "reason"),
    [
        ("OUT_OF_MEMORY", "the job ran out of memory (OUT_OF_MEMORY)"),
        ("NODE_FAIL", "a node of the job failed (NODE_FAIL)"),
    ],
)
def test_states_a_single_node_cannot_produce_are_failed_with_the_reason(
    tmp_path: Path,
    stub_slurm: Path,
    monkeypatch: pytest.MonkeyPatch,
    state: str,
    reason: str,
) -> None:
    monkeypatch.setenv("STUB_FINAL_STATE", state)
    cwd = tmp_path / "trial"
    cwd.mkdir()
    spec = TrialSpec((sys.executable, "-c", "print('hi')"), cwd)
    result = SlurmRunner(SlurmSpec(poll_interval_s=0.05)).run(spec)
    assert (result.status, result.error) == ("failed", reason)
    assert result.returncode == 0  # the script still wrote the command's own code
    assert "RUNNING" in (stub_slurm / "squeue.log").read_text()


def test_why_a_slurm_job_failed_reaches_the_store_and_the_report(
    tmp_path: Path,
    stub_slurm: Path,
    monkeypatch: pytest.MonkeyPatch,
    write_toml: Callable[..., Path],
    objective_workload: Callable[..., dict],
) -> None:
    monkeypatch.setenv("STUB_FINAL_STATE", "OUT_OF_MEMORY")
    data = objective_workload(
        params={"x": [1], "y": ["a"]}, runner="slurm", slurm={"poll_interval_s": 0.05}
    )
    path = write_toml("w.toml", data)
    assert _run(path, tmp_path / "out") == 1  # nothing succeeded
    run_dir = only_run_dir(tmp_path / "out")
    (row,) = trial_rows(run_dir)
    assert (row["status"], row["error"]) == ("failed", "the job ran out of memory (OUT_OF_MEMORY)")
    assert "the job ran out of memory (OUT_OF_MEMORY)" in (run_dir / "report.html").read_text()


def test_an_interrupt_cancels_the_job(tmp_path: Path, slurm_plain: Any) -> None:
    """Ctrl-C in the thread that waits (a sequential run): scancel, then re-raise."""
    import signal

    cwd = tmp_path / "trial"
    cwd.mkdir()
    spec = TrialSpec((sys.executable, "-c", "import time; time.sleep(300)"), cwd)
    runner = SlurmRunner(SlurmSpec(poll_interval_s=0.2))
    job: list[str] = []

    def interrupt_once_submitted() -> None:
        wait_until(lambda: runner._active, 60, "the submission")
        job.extend(runner._active)
        time.sleep(0.5)
        os.kill(os.getpid(), signal.SIGINT)

    interrupter = threading.Thread(target=interrupt_once_submitted, daemon=True)
    interrupter.start()
    with pytest.raises(KeyboardInterrupt):
        runner.run(spec)
    interrupter.join()
    wait_until(
        lambda: (
            slurm_plain.run("squeue", "-h", "-t", "all", "-j", job[0], "-o", "%T").stdout.strip()
            == "CANCELLED"
        ),
        30,
        "the job to be cancelled",
    )


def test_a_controller_that_stops_answering_does_not_lose_a_running_job(
    tmp_path: Path, slurm_plain: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """squeue failing (slurmctld unreachable) read as "the job left squeue": after three
    polls the running trial was recorded failed (state UNKNOWN) and the job ran on. Now
    only a job Slurm says it does not know is lost; the trial here ends ``ok``."""
    cwd = tmp_path / "trial"
    cwd.mkdir()
    # Long enough for three failed polls however long squeue waits for a stopped
    # controller (its MessageTimeout, 10 s, and retries): three were the old limit.
    spec = TrialSpec((sys.executable, "-c", "import time; time.sleep(80); print('done')"), cwd)
    runner = SlurmRunner(SlurmSpec(poll_interval_s=0.2))
    ctld = slurm_plain.pids["slurmctld"]
    polls: list[str] = []

    def stop_the_controller_for_a_while() -> None:
        wait_until(lambda: runner._active, 60, "the submission")
        time.sleep(2)
        os.kill(ctld, signal.SIGSTOP)
        try:
            wait_until(lambda: len(polls) >= 3, 150, "three squeue polls while stopped")
        finally:
            os.kill(ctld, signal.SIGCONT)

    import tunegym.runners.slurm as slurm_module

    squeue = slurm_module.squeue_states

    def counted(job_id: str) -> Any:
        answer = squeue(job_id)
        if answer is None:
            polls.append(job_id)
        return answer

    monkeypatch.setattr(slurm_module, "squeue_states", counted)  # counts, changes nothing
    stopper = threading.Thread(target=stop_the_controller_for_a_while, daemon=True)
    stopper.start()
    try:
        result = runner.run(spec)
    finally:
        stopper.join(timeout=180)
    assert len(polls) >= 3  # squeue did fail while the controller was stopped
    assert (result.status, result.error) == ("ok", None)
    assert (cwd / "stdout.txt").read_text().strip() == "done"


def test_an_array_task_returns_when_it_ends_not_when_the_array_ends(
    tmp_path: Path, slurm_plain: Any
) -> None:
    # Each trial of a batch used to wait for the whole array: a pruner then saw no
    # completed trial until the end (so pruned nothing), and a kill -9 lost the finished.
    runner = SlurmRunner(SlurmSpec(**FAST, batch=True), job_name="tunegym-each", batch_window_s=0.2)
    specs = {}
    for name, sleep_s in (("quick", 0.2), ("slow", 120.0)):
        (tmp_path / name).mkdir()
        code = f"import time; time.sleep({sleep_s}); print('{name} done')"
        specs[name] = TrialSpec((sys.executable, "-c", code), tmp_path / name)
    results: dict[str, Any] = {}
    workers = {
        name: threading.Thread(target=lambda n=name: results.__setitem__(n, runner.run(specs[n])))
        for name in specs
    }
    for worker in workers.values():
        worker.start()
    try:
        workers["quick"].join(60)
        assert "quick" in results, "the quick task's trial did not return within 60 s"
        assert results["quick"].status == "ok"
        assert workers["slow"].is_alive(), "the slow task ended before the quick one returned"
        assert "quick done" in results["quick"].stdout_path.read_text()
    finally:
        runner.cancel_all()
        workers["slow"].join(60)
    assert results["slow"].status != "ok"
    assert len(list(tmp_path.glob("array-*.sbatch.sh"))) == 1  # one array ran both


def test_kill_9_of_tunegym_cancels_its_jobs(
    tmp_path: Path, slurm_plain: Any, write_toml: Callable[..., Path], objective_workload: Callable
) -> None:
    # A batch job outlives the process that submitted it: after kill -9 the jobs used to
    # run on, unrecorded, and a resume ran the same steps again beside them.
    data = objective_workload(
        name="kill9", params={"x": [1, 2, 3], "y": ["a"]}, runner="slurm", slurm=FAST
    )
    data["command"] = [sys.executable, "-c", "import time; time.sleep(600)"]
    path = write_toml("w.toml", data)
    args = ["run", str(path), "--output", str(tmp_path / "out"), "--parallel", "3"]
    run = Tunegym(args, slurm_plain.env(), tmp_path, tmp_path / "tunegym.log")

    def ours() -> dict[str, str]:
        return _jobs_named(slurm_plain, "kill9")

    try:
        # tunegym knows its jobs once it wrote their ids (a job killed tunegym in the
        # moment between the controller taking it and sbatch's answer is not cancelled)
        known = lambda: len(list((tmp_path / "out").glob("*/kill9/0/*/slurm_job")))  # noqa: E731
        wait_until(lambda: len(ours()) == 3 and known() == 3, 120, "three jobs in squeue")
        os.kill(run.proc.pid, signal.SIGKILL)
        assert run.wait(timeout=30) == -signal.SIGKILL
        assert wait_until(lambda: ours() == {}, 60, None), f"jobs left running: {ours()}"
    finally:
        for job in ours():
            slurm_plain.run("scancel", job, check=False)


def test_a_resumed_trial_cancels_the_job_an_earlier_run_left_in_its_folder(
    tmp_path: Path, slurm_plain: Any
) -> None:
    # What the watchdog cannot cover (it was killed too, or the login node rebooted): the
    # folder names the job that ran it, and the trial run again into it cancels that job
    # first, so two jobs never run one trial at once.
    folder = tmp_path / "trial"
    folder.mkdir()
    left = tmp_path / "left.sh"
    left.write_text("#!/bin/sh\nsleep 600\n")
    job = slurm_plain.run("sbatch", "--parsable", "-o", "/dev/null", str(left)).stdout.strip()
    (folder / "slurm_job").write_text(job + "\n")

    def state() -> str:
        return slurm_plain.run("squeue", "-h", "-t", "all", "-j", job, "-o", "%T").stdout.strip()

    try:
        assert wait_until(lambda: state() in ("PENDING", "RUNNING"), 30, None)
        runner = SlurmRunner(SlurmSpec(**FAST), job_name="tunegym-left")
        spec = TrialSpec((sys.executable, "-c", "print('again')"), folder)
        with pytest.warns(UserWarning, match=f"cancelled Slurm job {job}, left running in"):
            result = runner.run(spec)
        assert result.status == "ok" and "again" in (folder / "stdout.txt").read_text()
        assert state() == "CANCELLED"
        assert (folder / "slurm_job").read_text().strip() != job  # the new job's id
    finally:
        slurm_plain.run("scancel", job, check=False)


SLOW_SBATCH = """#!/bin/sh
# The real sbatch, then a pause before its answer: the window in which the controller has
# taken the job and the answer is still on its way (seconds under a loaded controller).
trap '' INT
out=$({real} "$@")
code=$?
echo "$out" > {submitted}
sleep 3
echo "$out"
exit $code
"""


def test_ctrl_c_while_sbatch_answers_cancels_the_job_it_submitted(
    tmp_path: Path, slurm_plain: Any, write_toml: Callable[..., Path], objective_workload: Callable
) -> None:
    # The job id was lost: the interrupted sbatch was killed before it printed it, and the
    # job ran on. sbatch now runs in its own session and is let finish, then cancelled.
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    submitted = tmp_path / "submitted"
    wrapper = bin_dir / "sbatch"
    wrapper.write_text(SLOW_SBATCH.format(real=shutil.which("sbatch"), submitted=submitted))
    wrapper.chmod(0o755)
    data = objective_workload(name="ctrlc-sbatch", params={"x": [1], "y": ["a"]}, runner="slurm")
    data["slurm"] = FAST
    data["command"] = [sys.executable, "-c", "import time; time.sleep(600)"]
    path = write_toml("w.toml", data)
    env = {**slurm_plain.env(), "PATH": f"{bin_dir}:{os.environ['PATH']}"}
    run = Tunegym(
        ["run", str(path), "--output", str(tmp_path / "out")], env, tmp_path, tmp_path / "log"
    )
    job = ""
    try:
        wait_until(lambda: submitted.exists() and submitted.read_text().strip(), 120, "sbatch")
        job = submitted.read_text().strip().split(";")[0]
        run.interrupt()
        assert run.wait(timeout=60) == 130, run.output()

        def state() -> str:
            answer = slurm_plain.run(
                "squeue", "-h", "-t", "all", "-j", job, "-o", "%T", check=False
            )
            return answer.stdout.strip()

        assert wait_until(lambda: state() in ("CANCELLED", ""), 30, None), state()
    finally:
        if job:
            slurm_plain.run("scancel", job, check=False)


@pytest.mark.parametrize("size", [131071, 131072])
def test_an_argument_linux_cannot_pass_is_named_in_the_row(
    size: int, tmp_path: Path, slurm_plain: Any
) -> None:
    # Linux execs no argument of 128 KiB or more; the job's shell exited 126 and the row
    # said only "exit code 126". One byte less still runs.
    (tmp_path / "trial").mkdir()
    code = "import sys; print(len(sys.argv[1]))"
    spec = TrialSpec((sys.executable, "-c", code, "a" * size), tmp_path / "trial")
    result = SlurmRunner(SlurmSpec(**FAST), job_name="tunegym-e2big").run(spec)
    if size < 131072:
        assert (
            result.status == "ok" and (tmp_path / "trial" / "stdout.txt").read_text() == "131071\n"
        )
    else:
        assert result.status == "failed" and result.returncode is None
        assert result.error == (
            "argument 3 of the command is 131072 bytes; Linux refuses to start a command with "
            "an argument over 131071 bytes (MAX_ARG_STRLEN): pass a value that large in a file"
        )


ESCAPE = """
import os, subprocess, sys
child = subprocess.Popen(
    [sys.executable, "-c", "import time; time.sleep(300)"], start_new_session=True
)
open(sys.argv[1], "w").write(str(child.pid))
print("left a process in a session of its own")
"""


def test_a_process_that_left_the_trials_group_is_swept_with_it(
    tmp_path: Path, slurm_plain: Any
) -> None:
    # The job script swept only the command's process group, and Slurm without cgroups
    # (proctrack/linuxproc) loses a process that is re-parented to init: a setsid child
    # outlived its trial. It carries the trial's tag, as a local trial's processes do.
    (tmp_path / "trial").mkdir()
    pid_file = tmp_path / "pid"
    spec = TrialSpec((sys.executable, "-c", ESCAPE, str(pid_file)), tmp_path / "trial")
    result = SlurmRunner(SlurmSpec(**FAST), job_name="tunegym-escape").run(spec)
    assert result.status == "ok", result
    pid = int(pid_file.read_text())
    try:
        assert wait_until(lambda: not alive(pid), 10, None), "the setsid child outlived its trial"
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
