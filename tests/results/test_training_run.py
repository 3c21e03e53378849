"""An async-RL run folder through ``tunegym show``, ``report`` and ``export``.

The folder is written by the real example (``examples/async-rl/train.py``, a subprocess,
as a user runs it); the CLI reads it through ``tunegym.cli.main``.
"""

from __future__ import annotations

import csv
import io
import json
import subprocess
import sys
from pathlib import Path

import pytest

from tunegym.cli.main import main
from tunegym.errors import UsageError
from tunegym.results.training import UPDATE_COLUMNS, training_run

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "async-rl" / "train.py"
FAST = ["--token-latency", "0", "--train-latency", "0"]


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> Path:
    output = tmp_path_factory.mktemp("rl")
    done = subprocess.run(
        [sys.executable, str(EXAMPLE), "--updates", "5", "--quiet", "--output", str(output), *FAST],
        capture_output=True,
        text=True,
        timeout=240,
    )
    assert done.returncode == 0, done.stderr
    (run_dir,) = [p for p in output.iterdir() if p.is_dir()]
    return run_dir


def test_show_prints_what_it_trained_and_its_last_updates(
    trained: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["show", str(trained), "--top", "3"]) == 0
    out = capsys.readouterr().out
    assert "async RL (async, max_staleness 1), 5 update(s)" in out
    assert "last 3 of 5 update(s)" in out
    assert "stale_dropped" in out


def test_report_rebuilds_the_training_report(
    trained: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (trained / "report.html").unlink()
    assert main(["report", str(trained)]) == 0
    assert f"report: {trained / 'report.html'}" in capsys.readouterr().out
    assert 'data-plot="reward-per-version"' in (trained / "report.html").read_text()


def test_export_writes_one_row_per_update(trained: Path, tmp_path: Path) -> None:
    target = tmp_path / "updates.csv"
    assert main(["export", str(trained), "--output", str(target)]) == 0
    rows = list(csv.DictReader(io.StringIO(target.read_text())))
    assert [int(r["version"]) for r in rows] == [1, 2, 3, 4, 5]
    assert list(rows[0]) == list(UPDATE_COLUMNS)
    lines = (trained / "updates.jsonl").read_text().splitlines()
    assert float(rows[-1]["reward"]) == json.loads(lines[-1])["reward"]


@pytest.mark.parametrize(
    ("argv", "says"),
    [
        (["show", "--job", "x"], "--job: "),
        (["export", "--optuna", "sqlite:///s.db"], "--optuna: "),
        (["report", "--watch"], "--watch follows a run's trials.sqlite"),
    ],
)
def test_options_for_trial_runs_are_refused_with_a_clear_error(
    trained: Path, argv: list[str], says: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main([argv[0], str(trained), *argv[1:]]) == 2
    assert says in capsys.readouterr().err


def test_a_partial_last_line_is_left_out_and_a_bad_one_before_it_is_an_error(
    tmp_path: Path,
) -> None:
    (tmp_path / "summary.json").write_text(json.dumps({"kind": "async_rl", "status": "ok"}))
    good = json.dumps({"update": 0, "version": 1, "reward": 0.5})
    (tmp_path / "updates.jsonl").write_text(good + '\n{"update": 1, "vers')
    run = training_run(tmp_path)
    assert run is not None and [u["version"] for u in run.updates] == [1]
    (tmp_path / "updates.jsonl").write_text("not json\n" + good + "\n")
    with pytest.raises(UsageError, match=r"updates.jsonl: line 1: not a JSON object"):
        training_run(tmp_path)


def test_a_folder_that_is_not_a_training_run_is_none(tmp_path: Path) -> None:
    assert training_run(tmp_path) is None
    (tmp_path / "summary.json").write_text(json.dumps({"scenario": "s", "jobs": []}))
    assert training_run(tmp_path) is None
