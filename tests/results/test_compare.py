"""tunegym compare across runs, and a tuned job against its scenario's plain baseline."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

import tunegym
from tunegym.cli.main import main
from tunegym.outputs.toml import dumps
from tunegym.results.compare import compare_runs, percent_change, trials_to_best


def test_compare_lines_up_each_job_across_runs(run_dir: Path, second_run_dir: Path) -> None:
    first, second = tunegym.load_run(run_dir), tunegym.load_run(second_run_dir)
    lines = compare_runs([first, second])
    assert [(line.job, line.run) for line in lines] == [
        ("plain", run_dir.name),
        ("plain", second_run_dir.name),
        ("tuned", run_dir.name),
        ("tuned", second_run_dir.name),
    ] or [(line.job, line.run) for line in lines] == [
        ("plain", str(run_dir)),
        ("plain", str(second_run_dir)),
        ("tuned", str(run_dir)),
        ("tuned", str(second_run_dir)),
    ]
    tuned_a, tuned_b = lines[2], lines[3]
    best_a = first.job("tuned").results.best_row
    assert tuned_a.best == best_a.reward and tuned_a.change_pct is None
    # env params: the change is of the robust best (mean over draws), not of a lucky draw
    assert tuned_b.change_pct == pytest.approx(percent_change(tuned_b.robust, tuned_a.robust))
    assert tuned_b.change_of == "robust" and tuned_a.change_of is None
    assert tuned_a.trials_to_best == trials_to_best(first.job("tuned").rows)
    assert tuned_a.robust is not None and tuned_a.robust_count >= 1  # env params: robust best
    assert lines[0].agent is None and lines[0].trials == 1


def test_compare_cli_prints_a_table_and_json(
    run_dir: Path, second_run_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["compare", str(run_dir), str(second_run_dir)]) == 0
    out = capsys.readouterr().out
    assert "tuned" in out and "run once" in out and "%" in out
    assert main(["compare", str(run_dir), str(second_run_dir), "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert len(data) == 4 and data[3]["change_pct"] is not None
    assert main(["compare", str(run_dir), str(run_dir.parent / "nope")]) == 2


def test_a_tuned_job_is_shown_against_its_plain_baseline(run_dir: Path) -> None:
    summary = json.loads((run_dir / "summary.json").read_text())
    plain, tuned = summary["jobs"]
    assert "baseline" not in plain
    baseline = tuned["baseline"]
    assert baseline["job"] == "plain" and baseline["metric"] == "score"
    measured = plain["best"]["observation"]["score"]
    assert baseline["baseline"] == measured
    assert baseline["tuned"] == tuned["best"]["observation"]["score"]
    expected = (baseline["tuned"] - measured) / abs(measured) * 100
    assert baseline["change_pct"] == pytest.approx(expected) and baseline["improved"]
    assert baseline["text"] == f"{expected:+.0f}% score over the baseline 'plain'"
    html = (run_dir / "report.html").read_text()
    assert baseline["text"].replace("'", "&#x27;") in html


def test_a_run_once_job_gets_a_compact_section_without_plots(run_dir: Path) -> None:
    html = (run_dir / "report.html").read_text()
    plain = html.split('id="job-plain')[1].split('<section class="job"')[0]
    assert "<figure" not in plain and "Best trial" in plain
    tuned = html.split('id="job-tuned')[1]
    assert "<figure" in tuned


def test_a_run_given_twice_is_refused(
    run_dir: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    # compare A A printed the run against itself (+0.0%) without a word.
    monkeypatch.chdir(run_dir.parent)
    assert main(["compare", str(run_dir), run_dir.name]) == 2
    err = capsys.readouterr().err.strip()
    assert err == (
        f"tunegym: error: {run_dir.name}: the same run folder as {run_dir}; compare different runs"
    )


# The k-th measurement of x prints the k-th of its scores: noise, but the same every run.
NOISY = """
import sys
from pathlib import Path
x, state, table = sys.argv[1], Path(sys.argv[2]), sys.argv[3]
scores = dict(item.split(":") for item in table.split(";"))
seen = state / f"x{x}"
n = int(seen.read_text()) if seen.exists() else 0
seen.write_text(str(n + 1))
print(f"score: {scores[x].split(',')[n]}")
"""


def _noisy_run(folder: Path, scores: str, repeats: int = 2) -> Path:
    """A real run of a grid over x in (1, 2), each measured ``repeats`` times
    (``agent.repeats``); ``scores`` gives each x's measurements (``"1:10,0;2:4,4"``)."""
    folder.mkdir()
    (folder / "noisy.py").write_text(NOISY)
    workload = {
        "name": "noisy",
        "cache": False,
        "command": [sys.executable, str(folder / "noisy.py"), "{x}", str(folder), scores],
        "params": {"x": [1, 2]},
        "metrics": [{"name": "score", "regex": r"score: (\S+)"}],
        "agent": {"type": "grid", "repeats": repeats},
    }
    (folder / "noisy.toml").write_text(dumps(workload))
    output = folder / "runs"
    assert main(["run", str(folder / "noisy.toml"), "--output", str(output), "--quiet"]) == 0
    (run_dir,) = output.iterdir()
    return run_dir


def test_vs_first_compares_the_robust_best_under_repeats(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # The first run's best single trial (10) was luck: its x=1 measured 10 then 0 (mean 5).
    # The second's x=1 measured 7 twice. "vs first" said -30% (7 against 10) next to
    # robust bests of 5 and 7; it is +40%.
    first = _noisy_run(tmp_path / "a", "1:10,0;2:4,4")
    second = _noisy_run(tmp_path / "b", "1:7,7;2:1,1")
    capsys.readouterr()
    assert main(["compare", str(first), str(second), "--json"]) == 0
    a, b = json.loads(capsys.readouterr().out)
    assert (a["best"], a["robust"], b["best"], b["robust"]) == (10, 5, 7, 7)
    assert a["change_pct"] is None
    assert b["change_pct"] == pytest.approx(40.0)
    assert a.get("change_of") is None and b.get("change_of") == "robust"
    assert main(["compare", str(first), str(second)]) == 0
    out = capsys.readouterr().out
    assert "+40.0%" in out and "-30.0%" not in out
    assert "vs first: the change of the robust best (mean over repeats" in out


def test_vs_first_compares_the_best_without_repeats(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # Each action measured once: no robust best, so the change is of the best trial.
    first = _noisy_run(tmp_path / "a", "1:10;2:4", repeats=1)
    second = _noisy_run(tmp_path / "b", "1:7;2:1", repeats=1)
    capsys.readouterr()
    assert main(["compare", str(first), str(second), "--json"]) == 0
    a, b = json.loads(capsys.readouterr().out)
    assert a["robust"] is None and b["robust"] is None
    assert b["change_pct"] == pytest.approx(-30.0) and b["change_of"] == "best"
    assert main(["compare", str(first), str(second)]) == 0
    out = capsys.readouterr().out
    assert "-30.0%" in out and "vs first:" not in out
