"""tunegym export: CSV, JSON lines and Parquet that round-trip through pandas."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pandas as pd
import pytest

import tunegym
from tunegym.cli.main import main


def _expected(run_dir: Path) -> pd.DataFrame:
    return tunegym.load_run(run_dir).to_pandas()


@pytest.mark.parametrize("fmt", ["csv", "jsonl", "parquet"])
def test_export_round_trips_through_pandas(run_dir: Path, tmp_path: Path, fmt: str) -> None:
    target = tmp_path / f"trials.{fmt}"
    assert main(["export", str(run_dir), "--format", fmt, "-o", str(target)]) == 0
    read = {"csv": pd.read_csv, "jsonl": lambda p: pd.read_json(p, lines=True)}
    frame = read.get(fmt, pd.read_parquet)(target)
    expected = _expected(run_dir)
    assert list(frame.columns) == list(expected.columns)
    assert list(frame["step"]) == list(expected["step"]) and len(frame) == 25
    for column in ("job", "status", "params.mode"):
        assert list(frame[column].astype(str)) == list(expected[column].astype(str))
    got = frame["reward"].astype(float).tolist()
    want = expected["reward"].astype(float).tolist()
    assert got == pytest.approx(want, nan_ok=True)


def test_export_to_stdout_and_one_job(run_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["export", str(run_dir), "--format", "jsonl", "--job", "tuned"]) == 0
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert len(lines) == 24 and {line["job"] for line in lines} == {"tuned"}


def test_bad_export_requests_exit_2(run_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["export", str(run_dir), "--job", "nope"]) == 2
    assert "no job 'nope' (jobs: plain, tuned)" in capsys.readouterr().err
    assert main(["export", str(run_dir), "--format", "parquet"]) == 2
    assert "--format parquet writes a file: give --output PATH" in capsys.readouterr().err


@pytest.mark.parametrize("fmt", ["csv", "parquet"])
def test_an_output_that_cannot_be_written_exits_2(
    run_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], fmt: str
) -> None:
    # were "internal error: IsADirectoryError" and "FileExistsError"
    assert main(["export", str(run_dir), "--format", fmt, "-o", str(tmp_path)]) == 2
    assert f"--output {tmp_path}: is a folder; give a file path" in capsys.readouterr().err
    (tmp_path / "a-file").write_text("in the way")
    target = tmp_path / "a-file" / f"x.{fmt}"
    assert main(["export", str(run_dir), "--format", fmt, "-o", str(target)]) == 2
    why = f"{target}: cannot write it: {tmp_path / 'a-file'} is a file, not a folder"
    assert why in capsys.readouterr().err


def test_without_a_path_the_newest_run_under_runs_is_taken(
    run_dir: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.chdir(tmp_path)
    assert main(["show"]) == 2
    assert "no run folder under runs/; give RUN_DIR" in capsys.readouterr().err
    (tmp_path / "runs").mkdir()
    older = tmp_path / "runs" / "x_20200101-000000"
    older.mkdir()
    (older / "trials.sqlite").write_bytes((run_dir / "trials.sqlite").read_bytes())
    newest = tmp_path / "runs" / "compare-me_20991231-235959"
    newest.symlink_to(run_dir)
    os.utime(older / "trials.sqlite")  # touched last, but started first
    assert main(["export", "--format", "jsonl", "--job", "plain"]) == 0
    (line,) = capsys.readouterr().out.splitlines()
    assert json.loads(line)["job"] == "plain"
    assert main(["show", "--job", "tuned"]) == 0
    assert "importance (PED-ANOVA, reward): " in capsys.readouterr().out


@pytest.mark.parametrize("name", ["trials.sqlite", "trials.sqlite-wal", "summary.json", ".lock"])
def test_an_export_onto_the_runs_own_files_is_refused_and_loses_nothing(
    run_dir: Path, capsys: pytest.CaptureFixture[str], name: str
) -> None:
    """``-o RUN/trials.sqlite`` overwrote the run's database with CSV (exit 0, every
    trial lost); ``--optuna sqlite:///RUN/trials.sqlite`` added Optuna's tables to it."""
    before = _expected(run_dir)
    relative = Path(os.path.relpath(run_dir / name))  # as a user in another folder types it
    for argv in (["-o", str(relative)], ["--optuna", f"sqlite:///{run_dir / name}"]):
        assert main(["export", str(run_dir), *argv]) == 2
        flag = argv[0] if argv[0] == "--optuna" else "--output"
        shown = relative if flag == "--output" else run_dir / name
        assert f"{flag} {shown}: is the run's own {name}; exporting there" in (
            capsys.readouterr().err
        )
    pd.testing.assert_frame_equal(_expected(run_dir), before)
    assert main(["export", str(run_dir), "-o", str(run_dir / "trials.csv")]) == 0  # beside it
    (run_dir / "trials.csv").unlink()


@pytest.mark.parametrize(
    "inside",
    [
        "tuned/0/1/stdout.txt",
        "tuned/0/1/trial.json",
        "tuned/0/trajectory.csv",
        "tuned/0/best_config.toml",
        "tuned/0/new.csv",
    ],
)
def test_an_export_onto_any_file_inside_the_run_folder_is_refused(
    run_dir: Path, capsys: pytest.CaptureFixture[str], inside: str
) -> None:
    """``-o RUN/<job>/0/1/stdout.txt`` (or a trajectory.csv, trial.json, best_config.toml)
    exited 0 and overwrote what the run recorded: only files directly in the run folder
    were refused. A new file in the job's folders is refused too (tunegym writes there)."""
    target = run_dir / inside
    before = target.read_bytes() if target.exists() else None
    assert main(["export", str(run_dir), "-o", str(target)]) == 2
    (line,) = capsys.readouterr().err.splitlines()
    assert line.startswith(f"tunegym: error: --output {target}: is ")
    assert "exporting there would overwrite what the run recorded" in line
    assert (target.read_bytes() if target.exists() else None) == before


def test_the_format_comes_from_the_output_extension_and_must_agree_with_it(
    run_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """``-o trials.parquet`` wrote CSV into it; ``--format parquet -o x.csv`` wrote
    Parquet into a file named .csv."""
    target = tmp_path / "trials.parquet"
    assert main(["export", str(run_dir), "-o", str(target)]) == 0
    assert len(pd.read_parquet(target)) == 25
    assert main(["export", str(run_dir), "-o", str(tmp_path / "t.JSONL")]) == 0
    assert len((tmp_path / "t.JSONL").read_text().splitlines()) == 25
    assert main(["export", str(run_dir), "--format", "parquet", "-o", str(tmp_path / "x.csv")]) == 2
    assert "--format parquet into" in capsys.readouterr().err
    assert not (tmp_path / "x.csv").exists()


def test_dash_is_standard_output_and_parquet_is_refused_a_pipe(
    run_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """``-o -`` wrote a file named '-'; Parquet into a FIFO was an internal error."""
    assert main(["export", str(run_dir), "--format", "jsonl", "-o", "-"]) == 0
    assert len(capsys.readouterr().out.splitlines()) == 25
    assert not Path("-").exists()
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    assert main(["export", str(run_dir), "--format", "parquet", "-o", str(fifo)]) == 2
    assert "Parquet is written to a regular file, not a pipe" in capsys.readouterr().err
