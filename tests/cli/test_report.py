"""``tunegym report`` and ``tunegym show`` on finished, running and crashed runs."""

from __future__ import annotations

import json
import signal
import sqlite3
import subprocess
import sys
import time
import tomllib
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from run_helpers import table_cells

from tunegym.cli.main import main

TUNEGYM = [sys.executable, "-m", "tunegym.cli.main"]


def _rows(run_dir: Path) -> int:
    try:
        db = sqlite3.connect(f"file:{run_dir / 'trials.sqlite'}?mode=ro", uri=True, timeout=5)
        try:
            return db.execute("SELECT count(*) FROM trials").fetchone()[0]
        finally:
            db.close()
    except sqlite3.OperationalError:
        return 0  # not created yet


def _wait(predicate: Callable[[], bool], proc: subprocess.Popen[str], what: str) -> None:
    deadline = time.monotonic() + 60
    while not predicate():
        assert proc.poll() is None, f"run ended before {what}: {proc.communicate()}"
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)


def test_report_regenerates_a_run_in_progress_and_after_sigkill(
    tmp_path: Path,
    write_toml: Callable[..., Path],
    objective_workload: Callable[..., dict[str, Any]],
    capsys: pytest.CaptureFixture[str],
) -> None:
    data = objective_workload(
        command=[*objective_workload()["command"], "--sleep=0.25"],
        params={"x": [1, 2, 3, 4, 5], "y": ["a", "b"]},
    )
    path = write_toml("w.toml", data)
    out = tmp_path / "out"
    proc = subprocess.Popen(
        [*TUNEGYM, "run", str(path), "--output", str(out)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        _wait(lambda: out.is_dir() and any(out.iterdir()), proc, "the run folder")
        (run_dir,) = out.iterdir()
        _wait(lambda: _rows(run_dir) >= 2, proc, "two trials")
        # While it runs: status "running", the job too, and what finished is reported.
        assert main(["report", str(run_dir)]) == 0
        running = json.loads((run_dir / "summary.json").read_text())
        assert running["status"] == "running" and running["finished_at"] is None
        assert running["jobs"][0]["status"] == "running" and running["jobs"][0]["trials"] >= 2
        assert (run_dir / "report.html").is_file()
        _wait(lambda: _rows(run_dir) >= 4, proc, "four trials")
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
    assert proc.returncode == -signal.SIGKILL
    assert not (run_dir / "summary.json").read_text().count('"status": "ok"')
    recorded = _rows(run_dir)
    assert 4 <= recorded < 10
    capsys.readouterr()
    assert main(["report", str(run_dir)]) == 0
    printed = capsys.readouterr().out
    summary = json.loads((run_dir / "summary.json").read_text())
    (job,) = summary["jobs"]
    assert summary["status"] == "crashed" and job["status"] == "crashed"
    assert "killed or crashed" in job["message"]
    assert job["trials"] == recorded == sum(job["counts"].values()) == job["counts"]["ok"]
    assert summary["finished_at"] >= summary["started_at"] and summary["regenerated_at"]
    assert f"{summary['scenario']}: crashed, 1 job(s), {recorded} trial(s)" in printed
    # The best trial so far and its runnable config.
    db = sqlite3.connect(run_dir / "trials.sqlite")
    best_reward = db.execute("SELECT max(reward) FROM trials WHERE status = 'ok'").fetchone()[0]
    db.close()
    assert job["best"]["reward"] == best_reward
    config = tomllib.loads((run_dir / job["best_config"]).read_text())
    assert config["params"]["x"] == job["best"]["action"]["x"]
    html = (run_dir / "report.html").read_text()
    assert ">crashed</span>" in html and 'data-plot="best-so-far"' in html
    assert _rows(run_dir) == recorded  # reporting never adds or removes rows

    # `tunegym show` reads the same rows: best first.
    assert main(["show", str(run_dir), "--top", "3"]) == 0
    shown = capsys.readouterr().out
    assert "crashed" in shown and f"{recorded} trial(s)" in shown
    ranks = table_cells(shown)
    assert [row[0] for row in ranks] == ["1", "2", "3"], shown
    assert ranks[0][2] == f"{best_reward:.6g}" and ranks[0][3] == "ok"
    rewards = [float(row[2]) for row in ranks]
    assert rewards == sorted(rewards, reverse=True)


def test_show_lists_top_trials_of_each_job(
    tmp_path: Path,
    write_toml: Callable[..., Path],
    objective_workload: Callable[..., dict[str, Any]],
    capsys: pytest.CaptureFixture[str],
) -> None:
    write_toml("search.toml", objective_workload())
    write_toml("once.toml", objective_workload(name="once", params={"x": 3, "y": "b"}))
    scenario = write_toml(
        "scenario.toml",
        {"name": "two", "jobs": [{"workload": "search.toml"}, {"workload": "once.toml"}]},
    )
    assert main(["run", str(scenario), "--output", str(tmp_path / "out"), "--quiet"]) == 0
    (run_dir,) = (tmp_path / "out").iterdir()
    capsys.readouterr()
    assert main(["show", str(run_dir), "-n", "2"]) == 0
    out = capsys.readouterr().out
    assert "two: ok, 2 job(s)" in out
    assert "objective: ok, 8 trial(s) (ok 8)" in out and "once: ok, 1 trial(s) (ok 1)" in out
    rows = table_cells(out)
    assert [row[0] for row in rows] == ["1", "2", "1"]  # top 2 of objective, then once's row
    # columns: #, step, reward, status, x, y, score, time; x=3, y=b is the optimum
    assert rows[0][2:6] == ["1", "ok", "3", "b"]
    assert main(["show", str(run_dir), "--job", "once"]) == 0
    only = capsys.readouterr().out
    assert "once: ok" in only and "objective: ok" not in only
    assert main(["show", str(run_dir), "--job", "nope"]) == 2
    assert "no job 'nope'" in capsys.readouterr().err


def test_report_and_show_refuse_a_folder_that_is_not_a_run(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    for command in ("report", "show"):
        assert main([command, str(tmp_path)]) == 2
        assert "no trials.sqlite" in capsys.readouterr().err
        assert main([command, str(tmp_path / "missing")]) == 2
        assert "no such folder" in capsys.readouterr().err
    assert not (tmp_path / "trials.sqlite").exists()


def test_someone_elses_sqlite_named_trials_sqlite_is_refused_and_left_as_it_is(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # Opening it to write (as readers did) added tunegym's empty tables to that file.
    path = tmp_path / "trials.sqlite"
    conn = sqlite3.connect(path)
    conn.execute("CREATE TABLE inventory (item TEXT)")
    conn.commit()
    conn.close()
    before = path.read_bytes()
    for command in (["show"], ["report"], ["export"], ["run", "--resume"]):
        assert main([*command, str(tmp_path)]) == 2, command
        last = capsys.readouterr().err.strip().splitlines()[-1]
        assert last.endswith(
            f"{path}: not a tunegym run's database (it has no trials and meta "
            "tables); left as it is"
        ), last
    assert path.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["trials.sqlite"]


def test_every_reading_command_names_a_damaged_trial_database(
    tmp_path: Path,
    write_toml: Callable[..., Path],
    objective_workload: Callable[..., dict[str, Any]],
    capsys: pytest.CaptureFixture[str],
) -> None:
    # A damaged row, then a file cut short: each was "internal error: JSONDecodeError"
    # or "DatabaseError" from show, report, export, compare and run --resume; then exit 1,
    # now 2 (the user's file is bad input, as someone else's database was).
    path = write_toml("w.toml", objective_workload())
    assert main(["run", str(path), "--output", str(tmp_path / "out"), "--quiet"]) == 0
    (run_dir,) = (tmp_path / "out").iterdir()
    db_path = run_dir / "trials.sqlite"
    conn = sqlite3.connect(db_path)
    conn.execute("UPDATE trials SET action = '{cut' WHERE step = 3")
    conn.commit()
    conn.close()
    commands = [["show"], ["report"], ["export"], ["compare", str(run_dir)], ["run", "--resume"]]
    damaged_row = f"{db_path}: trial 3 of job 'objective' is damaged: its action is not JSON"
    for command in commands:
        capsys.readouterr()
        assert main([*command, str(run_dir)]) == 2, command
        resuming = "cannot resume: " if command[0] == "run" else ""
        last = capsys.readouterr().err.strip().splitlines()[-1]
        assert last == f"tunegym: error: {resuming}{damaged_row}"
    db_path.write_bytes(db_path.read_bytes()[:3000])
    for command in commands:
        capsys.readouterr()
        assert main([*command, str(run_dir)]) == 2, command
        resuming = "cannot resume: " if command[0] == "run" else ""
        last = capsys.readouterr().err.strip().splitlines()[-1]
        assert last.startswith(
            f"tunegym: error: {resuming}{db_path}: a damaged SQLite database: cut short ("
        ), last


def test_a_resume_with_its_spec_refuses_a_damaged_database_before_saying_it_resumes(
    tmp_path: Path,
    write_toml: Callable[..., Path],
    objective_workload: Callable[..., dict[str, Any]],
    capsys: pytest.CaptureFixture[str],
) -> None:
    # It printed "tunegym: resuming ... (1 job(s)) from ..." and then refused the file.
    path = write_toml("w.toml", objective_workload())
    assert main(["run", str(path), "--output", str(tmp_path / "out"), "--quiet"]) == 0
    (run_dir,) = (tmp_path / "out").iterdir()
    db_path = run_dir / "trials.sqlite"
    db_path.write_bytes(db_path.read_bytes()[:3000])
    before = db_path.read_bytes()
    capsys.readouterr()
    assert main(["run", str(path), "--resume", str(run_dir)]) == 2
    captured = capsys.readouterr()
    assert "resuming" not in captured.out + captured.err
    (line,) = captured.err.strip().splitlines()
    assert line.startswith(f"tunegym: error: cannot resume: {db_path}: a damaged SQLite database")
    assert db_path.read_bytes() == before


def test_report_of_a_finished_run_keeps_its_results(
    tmp_path: Path,
    write_toml: Callable[..., Path],
    objective_workload: Callable[..., dict[str, Any]],
) -> None:
    path = write_toml("w.toml", objective_workload())
    assert main(["run", str(path), "--output", str(tmp_path / "out"), "--quiet"]) == 0
    (run_dir,) = (tmp_path / "out").iterdir()
    before = json.loads((run_dir / "summary.json").read_text())
    (run_dir / "report.html").unlink()
    (run_dir / before["jobs"][0]["best_config"]).unlink()
    assert main(["report", str(run_dir)]) == 0
    after = json.loads((run_dir / "summary.json").read_text())
    assert after.pop("regenerated_at") >= before["finished_at"]
    assert after == before
    assert (run_dir / "report.html").is_file()
    assert (run_dir / before["jobs"][0]["best_config"]).is_file()
    # What a job recorded besides its rows (e.g. a warm start) survives regeneration.
    db = sqlite3.connect(run_dir / "trials.sqlite")
    (key, value) = db.execute("SELECT key, value FROM meta WHERE key LIKE 'job:%'").fetchone()
    entry = json.loads(value)
    assert entry["extra"] == {}
    entry["extra"] = {"warm_start": {"source": "a/trials.sqlite", "job": "objective", "trials": 2}}
    db.execute("UPDATE meta SET value = ? WHERE key = ?", (json.dumps(entry), key))
    db.commit()
    db.close()
    assert main(["report", str(run_dir)]) == 0
    again = json.loads((run_dir / "summary.json").read_text())
    assert again["jobs"][0]["warm_start"] == entry["extra"]["warm_start"]


def _watching(command: list[str]) -> subprocess.Popen[str]:
    """``tunegym report --watch`` started as a user would, in a session of its own."""
    return subprocess.Popen(
        command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True
    )


def test_report_watch_serves_the_page_and_its_state_until_ctrl_c(
    tmp_path: Path, write_toml: Any, objective_workload: Any
) -> None:
    import signal
    import sys
    import urllib.request

    path = write_toml("w.toml", objective_workload())
    assert main(["run", str(path), "--output", str(tmp_path / "runs"), "-q"]) == 0
    (run_dir,) = (tmp_path / "runs").iterdir()
    proc = _watching([sys.executable, "-m", "tunegym.cli.main", "report", str(run_dir), "--watch"])
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        assert line.startswith(f"watching {run_dir}: http://127.0.0.1:")
        url = line.split(": ", 1)[1].split()[0]
        page = urllib.request.urlopen(url, timeout=30).read().decode()
        assert 'data-state="' in page and '<script src="/watch.js"></script>' in page
        assert "script-src 'self'" in page
        state = json.loads(urllib.request.urlopen(url + "state", timeout=30).read())
        assert state["state"] in page
        assert (
            "location.reload"
            in urllib.request.urlopen(url + "watch.js", timeout=30).read().decode()
        )
    finally:
        proc.send_signal(signal.SIGINT)
        assert proc.wait(timeout=30) == 130


def test_report_watch_refuses_a_bad_port(tmp_path: Path, capsys: Any) -> None:
    assert main(["report", str(tmp_path), "--watch", "--port", "70000"]) == 2
    assert "--port: 70000 is not a TCP port" in capsys.readouterr().err


def test_show_status_failed_gives_each_failure_its_last_line_of_stderr(
    tmp_path: Path,
    write_toml: Callable[..., Path],
    capsys: pytest.CaptureFixture[str],
) -> None:
    script = tmp_path / "even_fails.py"
    script.write_text(
        "import sys\nx = int(sys.argv[1])\nif x % 2 == 0:\n"
        "    print('loading', file=sys.stderr)\n    sys.exit(f'boom: x={x} is even')\n"
        "print('score:', x)\n"
    )
    workload = write_toml(
        "flaky.toml",
        {
            "name": "flaky",
            "command": [sys.executable, str(script), "{x}"],
            "params": {"x": [1, 2, 3, 4]},
            "metrics": [{"name": "score", "regex": r"score: (\S+)"}],
            "agent": {"type": "grid", "metrics": ["score"]},
        },
    )
    assert main(["run", str(workload), "--output", str(tmp_path / "out"), "--quiet"]) == 0
    (run_dir,) = (tmp_path / "out").iterdir()
    capsys.readouterr()
    assert main(["show", str(run_dir), "--status", "failed"]) == 0
    out = capsys.readouterr().out
    assert "flaky: ok, 4 trial(s) (ok 2, failed 2); showing 2 of 2 (failed)" in out
    rows = table_cells(out)
    # columns: #, step, reward, status, x, score, time, why
    assert [row[1:4] for row in rows] == [["2", "-", "failed"], ["4", "-", "failed"]]
    assert [row[-1] for row in rows] == [f"exit code 1: boom: x={x} is even" for x in (2, 4)]
    # Without --status, only the measured trials, best first, and no 'why' column.
    assert main(["show", str(run_dir)]) == 0
    rows = table_cells(capsys.readouterr().out)
    assert [row[1] for row in rows] == ["3", "1"] and len(rows[0]) == 7


def test_report_watch_serves_a_read_only_run_folder_from_memory(
    finished_run: Path, read_only: Any, binding_modes: Any
) -> None:
    """A run folder this user may only read (a colleague's run, an archive) is watched
    all the same: the page is built in memory and nothing in the folder changes."""
    import urllib.request

    summary = json.loads((finished_run / "summary.json").read_text())
    (finished_run / "report.html").unlink()  # so the page served cannot be the file's
    read_only(finished_run)
    before = sorted((p.name, p.stat().st_mtime_ns) for p in finished_run.rglob("*"))
    command = [sys.executable, "-m", "tunegym.cli.main", "report", str(finished_run), "--watch"]
    proc = _watching(binding_modes(command))
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        assert line.startswith(f"watching {finished_run}: http://127.0.0.1:"), line
        assert proc.stdout.readline().startswith("the run folder is read-only to this user")
        url = line.split(": ", 1)[1].split()[0]
        page = urllib.request.urlopen(url, timeout=30).read().decode()
        assert '<script src="/watch.js"></script>' in page
        job = summary["jobs"][0]
        assert f"<title>tunegym report: {summary['scenario']}</title>" in page
        assert f"{job['trials']} trial" in page
        for name, value in job["best"]["action"].items():
            assert f"{name}={value}" in page, name
    finally:
        proc.send_signal(signal.SIGINT)
        assert proc.wait(timeout=30) == 130
    assert sorted((p.name, p.stat().st_mtime_ns) for p in finished_run.rglob("*")) == before
