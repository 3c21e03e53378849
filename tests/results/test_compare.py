"""tunegym compare across runs, and a tuned job against its scenario's plain baseline."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import tunegym
from tunegym.cli.main import main
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
    assert tuned_b.change_pct == pytest.approx(percent_change(tuned_b.best, tuned_a.best))
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
