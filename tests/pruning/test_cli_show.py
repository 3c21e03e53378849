"""``tunegym show --status``: the pruned (or failed) trials of a run, with the step each
stopped at and why; a status that does not exist is a usage error."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from run_helpers import table_cells, table_header

from tunegym.cli.main import main


def test_show_status_lists_pruned_trials_with_where_and_why_they_stopped(
    tmp_path: Path,
    write_toml: Callable[[str, dict[str, Any]], Path],
    trainer_workload: Callable[..., dict[str, Any]],
    capsys: pytest.CaptureFixture[str],
) -> None:
    # lr 0.3 and 0.35 complete (the start-up), 0.4, 2.0 and 2.5 are worse at epoch 1.
    # Two at a time, so rows are written as trials finish, not in step order.
    workload = write_toml("trainer.toml", trainer_workload())
    out_dir = str(tmp_path / "out")
    assert main(["run", str(workload), "--output", out_dir, "--quiet", "--parallel", "2"]) == 0
    (run_dir,) = (tmp_path / "out").iterdir()
    capsys.readouterr()

    assert main(["show", str(run_dir), "--status", "pruned"]) == 0
    out = capsys.readouterr().out
    (title,) = [line for line in out.splitlines() if line.startswith("trainer: ok, 5 trial(s)")]
    pruned = int(title.split("pruned ")[1].split(")")[0])
    assert pruned >= 2, out
    assert f"showing {pruned} of {pruned} (pruned)" in title
    header, rows = table_header(out), table_cells(out)
    assert header[-3:] == ["reached", "time", "why"], header
    assert len(rows) == pruned and {row[header.index("status")] for row in rows} == {"pruned"}
    steps = [int(row[header.index("step")]) for row in rows]
    assert steps == sorted(steps)  # unscored trials in the order they ran
    for row in rows:
        assert row[header.index("reward")] == "-"  # the penalty reward is not a measurement
        lr = float(row[header.index("lr")])
        assert lr >= 0.4
        reached_step, value = row[header.index("reached")].removeprefix("step ").split(": ")
        assert float(value) == pytest.approx(abs(lr - 0.3) + 1 / int(reached_step), abs=1e-4)
        assert row[-1].startswith("pruned at step "), row

    # Several statuses: measured trials first (best reward first), then the others.
    assert main(["show", str(run_dir), "--status", "ok,pruned", "-n", "3"]) == 0
    out = capsys.readouterr().out
    rows = table_cells(out)
    status = table_header(out).index("status")
    assert [row[status] for row in rows] == ["ok", "ok", "pruned"], out
    assert [row[table_header(out).index("lr")] for row in rows[:2]] == ["0.3", "0.35"]

    # A status no trial has: an empty table that says so.
    assert main(["show", str(run_dir), "--status", "timeout"]) == 0
    out = capsys.readouterr().out
    assert "showing 0 of 0 (timeout)" in out and "no timeout trial" in out


@pytest.mark.parametrize("given", ["prunned", "pruned,running"])
def test_show_status_refuses_an_unknown_status(
    tmp_path: Path, given: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exited:
        main(["show", str(tmp_path), "--status", given])
    assert exited.value.code == 2
    err = capsys.readouterr().err
    assert "argument --status: unknown trial status" in err
    assert "known: ok, cached, failed, timeout" in err and "pruned" in err
    assert repr(given.split(",")[-1]) in err


@pytest.mark.parametrize(("given", "said"), [("", "is empty"), (" , ", "names no status: ' , '")])
def test_show_status_refuses_an_empty_value_saying_so(
    tmp_path: Path, given: str, said: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """``--status ''`` said "unknown trial status nothing"."""
    with pytest.raises(SystemExit) as exited:
        main(["show", str(tmp_path), "--status", given])
    assert exited.value.code == 2
    (line,) = [x for x in capsys.readouterr().err.splitlines() if "error:" in x]
    assert line == (
        f"tunegym show: error: argument --status: {said}; give one or more of ok, cached, "
        "failed, timeout, metric_missing, constraint_failed, dry_run, pruned (comma-separated)"
    )
