"""An async-RL run folder through ``tunegym show``, ``report`` and ``export``.

The folder is written by the real example (``examples/async-rl/train.py``, a subprocess,
as a user runs it); the CLI reads it through ``tunegym.cli.main``.
"""

from __future__ import annotations

import csv
import io
import json
import shutil
import subprocess
import sys
import time
from collections.abc import Callable
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


def _lines(path: Path) -> int:
    try:
        return len(path.read_text().splitlines())
    except FileNotFoundError:
        return 0


def test_a_run_still_training_then_killed_is_read_from_its_config_and_updates(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # Before, show, report and export said "no trials.sqlite here; is it a tunegym run
    # folder?" for both: only summary.json, written at the end, made a training run.
    child = subprocess.Popen(
        [sys.executable, str(EXAMPLE), "--updates", "5000", "--quiet", "--output", str(tmp_path)]
    )
    try:
        deadline = time.monotonic() + 180
        while time.monotonic() < deadline:
            found = [p for p in tmp_path.iterdir() if p.is_dir()]
            if found and _lines(found[0] / "updates.jsonl") >= 3:
                break
            assert child.poll() is None, "the example ended before three updates"
            time.sleep(0.2)
        (run_dir,) = found
        assert main(["show", str(run_dir)]) == 0
        out = capsys.readouterr().out
        assert out.startswith("async-rl: running, async RL (async, max_staleness 1), ")
        assert "still training (no summary.json until it ends)" in out
    finally:
        child.kill()
        child.wait(timeout=30)
    assert not (run_dir / "summary.json").exists()
    recorded = [json.loads(line) for line in (run_dir / "updates.jsonl").read_text().splitlines()]
    assert main(["show", str(run_dir)]) == 0
    out = capsys.readouterr().out
    assert out.startswith(
        f"async-rl: crashed, async RL (async, max_staleness 1), {recorded[-1]['version']} update(s)"
    )
    resume = f"continue it with python examples/async-rl/train.py --resume {run_dir}"
    assert "".join(resume.split()) in "".join(out.split())  # the line wraps at the width
    target = tmp_path / "updates.csv"
    assert main(["export", str(run_dir), "--output", str(target)]) == 0
    rows = list(csv.DictReader(io.StringIO(target.read_text())))
    assert [int(r["version"]) for r in rows] == [r["version"] for r in recorded]
    assert main(["report", str(run_dir)]) == 0
    assert capsys.readouterr().out.startswith("async-rl: crashed, async RL")
    assert "ended without a summary.json" in (run_dir / "report.html").read_text()


def test_a_resume_under_way_is_not_read_from_the_summary_its_first_start_wrote(
    tmp_path: Path,
) -> None:
    from tunegym.results.training import started_record
    from tunegym.rl.config import AsyncRLConfig

    config = AsyncRLConfig().to_dict()
    earlier = {"kind": "async_rl", "status": "interrupted", "resumed_at": [], "updates_done": 2}
    (tmp_path / "summary.json").write_text(json.dumps(earlier))
    update = {"update": 0, "version": 1, "reward": 0.25, "claimed": 8, "stale_dropped": 1}
    lines = [json.dumps({**update, "update": i, "version": i + 1}) for i in range(4)]
    (tmp_path / "updates.jsonl").write_text("\n".join(lines) + "\n")
    (tmp_path / "config.json").write_text(json.dumps(started_record(config, 1.0, [2.0])))
    run = training_run(tmp_path)
    assert run is not None
    # This very process wrote the record: the resume is alive.
    assert (run.summary["status"], run.summary["updates_done"]) == ("running", 4)
    assert (run.summary["samples_claimed"], run.summary["stale_dropped"]) == (32, 4)
    assert run.summary["last_updates_reward"] == 0.25
    (tmp_path / "summary.json").write_text(json.dumps({**earlier, "resumed_at": [2.0]}))
    run = training_run(tmp_path)
    assert run is not None and run.summary["status"] == "interrupted"


def _edit_summary(**changes: object) -> Callable[[Path], None]:
    def edit(run_dir: Path) -> None:
        path = run_dir / "summary.json"
        path.write_text(json.dumps({**json.loads(path.read_text()), **changes}))

    return edit


def _edit_last_update(**changes: object) -> Callable[[Path], None]:
    def edit(run_dir: Path) -> None:
        path = run_dir / "updates.jsonl"
        lines = path.read_text().splitlines()
        lines[-1] = json.dumps({**json.loads(lines[-1]), **changes})
        path.write_text("\n".join(lines) + "\n")

    return edit


@pytest.mark.parametrize(
    ("damage", "commands", "says"),
    [
        (
            _edit_last_update(version="x", reward="abc"),
            ["report", "show", "export"],
            "updates.jsonl: line 5: 'version' must be a number or null, got \"x\"",
        ),
        (
            _edit_summary(throughput=[1]),
            ["report", "show", "export"],
            "summary.json: 'throughput' must be a JSON object, got [1]",
        ),
        (
            _edit_summary(config=None),
            ["report", "show", "export"],
            "summary.json: 'config' must be a JSON object, got null",
        ),
        (
            _edit_summary(untrained_reward="abc"),
            ["report", "show", "export"],
            "summary.json: 'untrained_reward' must be a number or null, got \"abc\"",
        ),
        (
            _edit_summary(reward_per_version=[{"version": "1", "mean_reward": 0.5}]),
            ["report", "show", "export"],
            "summary.json: 'reward_per_version' entry 0 must be an object with a number",
        ),
    ],
    ids=["update-version-x", "throughput-list", "config-null", "reward-str", "curve-str"],
)
def test_a_value_no_run_writes_is_an_error_naming_the_file_and_field(
    trained: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    damage: Callable[[Path], None],
    commands: list[str],
    says: str,
) -> None:
    """They were internal errors: ValueError from float('x'), AttributeError from
    [1].get and None.get."""
    run_dir = Path(shutil.copytree(trained, tmp_path / trained.name))
    damage(run_dir)
    before = {p.name: p.read_bytes() for p in run_dir.iterdir() if p.is_file()}
    for command in commands:
        assert main([command, str(run_dir)]) == 2, command
        err = capsys.readouterr().err
        assert "internal error" not in err
        assert f"{run_dir}/{says}" in err, (command, err)
    assert {p.name: p.read_bytes() for p in run_dir.iterdir() if p.is_file()} == before


def test_a_missing_field_of_an_update_is_none_and_the_report_leaves_it_out(
    trained: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    run_dir = Path(shutil.copytree(trained, tmp_path / trained.name))
    path = run_dir / "updates.jsonl"
    lines = path.read_text().splitlines()
    lines[-1] = json.dumps({k: v for k, v in json.loads(lines[-1]).items() if k != "version"})
    path.write_text("\n".join(lines) + "\n")
    assert main(["report", str(run_dir)]) == 0
    assert 'data-plot="stale-per-update"' in (run_dir / "report.html").read_text()
    assert main(["show", str(run_dir)]) == 0
