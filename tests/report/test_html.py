"""report.html: what each section shows, and that the page is self-contained.

Most tests render hand-made trial rows (fast, exact); one runs a real workload and checks
``tunegym run`` writes the page next to ``summary.json``.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest

from tunegym.analysis import rows as analysis
from tunegym.cli.main import main
from tunegym.report.html import JobData, last_output_line, render_report, stderr_tail
from tunegym.report.svg import LinearScale, LogScale
from tunegym.spec.models import WorkloadSpec
from tunegym.trial.store import TrialRow


def _workload(**overrides: Any) -> WorkloadSpec:
    data: dict[str, Any] = {
        "name": "bench",
        "command": ["prog", "--x={x}", "--mode={mode}", "--load={load}"],
        "params": {"x": {"low": 0.1, "high": 100, "log": True}, "mode": ["a", "b", "c"]},
        "metrics": [{"name": "score", "regex": "s: (\\S+)"}],
        "agent": {"metrics": ["score"]},
        **overrides,
    }
    return WorkloadSpec.model_validate(data)


def _row(step: int, x: float, mode: str, reward: float | None, status: str = "ok", **kw: Any):
    observation = kw.pop("observation", {"score": reward} if reward is not None else {})
    return TrialRow(
        step,
        {"x": x, "mode": mode},
        kw.pop("env_params", {}),
        observation,
        reward if status in ("ok", "cached") else -1e9,
        status,
        duration_s=0.5,
        **kw,
    )


ROWS = [
    _row(1, 1.0, "a", 1.0),
    _row(2, 10.0, "b", 3.0),
    _row(3, 50.0, "c", None, "failed", returncode=3),
    _row(4, 10.0, "b", 3.0, "cached", cached=True),
    _row(5, 0.5, "a", 2.0),
    _row(6, 80.0, "c", None, "timeout"),
]


def _summary(jobs: list[dict[str, Any]], **run: Any) -> dict[str, Any]:
    return {
        "schema_version": 1,
        "tunegym_version": "0.1.0",
        "scenario": "demo",
        "spec": "/x/scenario.toml",
        "run_dir": "/x/runs/demo_1",
        "dry_run": False,
        "seed": None,
        "status": "ok",
        "started_at": 1_700_000_000.0,
        "finished_at": 1_700_000_075.5,
        "duration_s": 75.5,
        "jobs": jobs,
        **run,
    }


def _job_entry(name: str = "bench", **kw: Any) -> dict[str, Any]:
    return {
        "name": name,
        "iteration": 0,
        "status": "ok",
        "agent": "random",
        "max_steps": 6,
        "trials": 6,
        "counts": {"ok": 3, "cached": 1, "failed": 1, "timeout": 1},
        "best": {
            "step": 2,
            "reward": 3.0,
            "action": {"x": 10.0, "mode": "b"},
            "env_params": {},
            "observation": {"score": 3.0},
        },
        "best_config": f"{name}/0/best_config.toml",
        "fingerprint": "0123456789ab",
        "folder": f"{name}/0",
        **kw,
    }


class _Page(HTMLParser):
    """Collects figures (by data-plot) with the marks of their SVG, and every URL attribute."""

    def __init__(self) -> None:
        super().__init__()
        self.figures: dict[str, int] = {}
        self.urls: list[str] = []
        self.scripts = 0
        self._figure: str | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        if tag == "script":
            self.scripts += 1
        for key in ("src", "href", "xlink:href", "action", "data"):
            if a.get(key):
                self.urls.append(str(a[key]))
        if tag == "figure" and a.get("data-plot"):
            self._figure = str(a["data-plot"])
            self.figures[self._figure] = 0
        if self._figure and "mark" in (a.get("class") or "").split():
            self.figures[self._figure] += 1

    def handle_endtag(self, tag: str) -> None:
        if tag == "figure":
            self._figure = None


def _parse(html: str) -> _Page:
    page = _Page()
    page.feed(html)
    return page


def test_page_shows_each_plot_with_marks_and_loads_nothing(tmp_path: Path) -> None:
    html = render_report(
        _summary([_job_entry()]), [JobData(_job_entry(), ROWS, _workload(), tmp_path)]
    )
    page = _parse(html)
    assert set(page.figures) == {"reward", "best-so-far", "param-x", "param-mode"}
    assert all(marks > 0 for marks in page.figures.values()), page.figures
    # Self-contained: no script, and every URL is an in-page anchor or a data: URL.
    assert page.scripts == 0
    assert all(u.startswith(("#", "data:")) for u in page.urls), page.urls
    assert "Content-Security-Policy" in html and "default-src 'none'" in html
    assert "http://" not in html and "https://" not in html


def test_reward_plot_marks_every_trial_and_colours_by_status(tmp_path: Path) -> None:
    html = render_report(
        _summary([_job_entry()]), [JobData(_job_entry(), ROWS, _workload(), tmp_path)]
    )
    reward_svg = html.split('data-plot="reward"')[1].split("</figure>")[0]
    # 4 scored rows as circles, 2 unscored ones as crosses in the "no score" band.
    assert reward_svg.count("<circle") == 4
    assert reward_svg.count('<path class="mark"') == 2
    assert "no score" in reward_svg
    for status in ("ok", "cached", "failed", "timeout"):
        assert f">{status}</text>" in reward_svg  # legend entry


def test_top_trials_failures_and_metadata(tmp_path: Path) -> None:
    (tmp_path / "3").mkdir()
    (tmp_path / "3" / "stderr.txt").write_text(
        "".join(f"noise {i}\n" for i in range(40)) + "Traceback: <boom> & more\n"
    )
    html = render_report(
        _summary([_job_entry()]), [JobData(_job_entry(), ROWS, _workload(), tmp_path)]
    )
    top = html.split('<table class="top">')[1].split("</table>")[0]
    steps = re.findall(r"<tr><td>\d+</td><td>(\d+)</td>", top)
    assert steps == ["2", "4", "5", "1"]  # scored rows only, best first, ties by step
    failures = html.split("<h3>Failures (2)</h3>")[1]
    assert "Traceback: &lt;boom&gt; &amp; more" in failures  # tail of stderr, escaped
    assert "noise 39" in failures and "noise 0\n" not in failures  # only the tail
    assert "exit code 3" in failures and "timeout" in failures
    for text in ("0123456789ab", "random", "demo", "1m 15.5s", "0.1.0"):
        assert text in html


def test_pruned_trials_are_not_listed_as_failures(tmp_path: Path) -> None:
    """The pruner chose to stop them; they are in the curves, not among the failures."""
    pruned = _row(7, 5.0, "a", None, "pruned", curve=((1, 0.9), (2, 0.8)))
    html = render_report(
        _summary([_job_entry()]), [JobData(_job_entry(), [*ROWS, pruned], _workload(), tmp_path)]
    )
    failures = html.split("<h3>Failures (2)</h3>")[1].split("<h3>")[0]
    assert "step 7" not in failures and "pruned" not in failures
    html = render_report(
        _summary([_job_entry()]), [JobData(_job_entry(), [ROWS[0], pruned], _workload(), tmp_path)]
    )
    assert "None: every trial that was not pruned produced a reward." in html


def test_values_are_escaped(tmp_path: Path) -> None:
    rows = [_row(1, 1.0, "<script>alert(1)</script>", 1.0)]
    workload = _workload(params={"x": [1.0], "mode": ["<script>alert(1)</script>"]})
    html = render_report(
        _summary([_job_entry()]), [JobData(_job_entry(), rows, workload, tmp_path)]
    )
    assert "<script>" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html


def test_env_param_breakdown_and_robust_best_only_with_env_params(tmp_path: Path) -> None:
    workload = _workload(
        params={"x": [1.0, 2.0], "mode": ["a"], "load": [1, 2]}, env_params={"load": {}}
    )
    rows = [
        TrialRow(1, {"x": 1.0, "mode": "a"}, {"load": 1}, {"score": 5.0}, 5.0, "ok"),
        TrialRow(2, {"x": 2.0, "mode": "a"}, {"load": 1}, {"score": 4.0}, 4.0, "ok"),
        TrialRow(3, {"x": 2.0, "mode": "a"}, {"load": 2}, {"score": 4.0}, 4.0, "ok"),
        TrialRow(4, {"x": 1.0, "mode": "a"}, {"load": 2}, {"score": 1.0}, 1.0, "ok"),
    ]
    html = render_report(
        _summary([_job_entry()]), [JobData(_job_entry(), rows, workload, tmp_path)]
    )
    assert "Env params (domain randomization)" in html
    assert _parse(html).figures["env-load"] > 0
    # x=1 has the single best row (5.0) but x=2 has the better mean (4.0 vs 3.0).
    robust = html.split("Robust best")[1].split("</p>")[0]
    assert '{"x": 2.0, "mode": "a"}' in robust.replace("&quot;", '"')
    # Both loads exist, so 2 draws are the minimum (min_draws 3 capped); the standard
    # error is shown (0 here: both draws gave 4.0), and why 2 draws suffice.
    assert "at least 2 draw(s)" in robust and "± 0 (standard error)" in robust
    assert "2 draws cover every one" in robust
    assert "<th>s.e.</th>" in html
    contexts = html.split('<table class="contexts">')[1].split("</table>")[0]
    assert contexts.count("<tr>") == 3  # header + load=1 + load=2
    plain = render_report(
        _summary([_job_entry()]), [JobData(_job_entry(), ROWS, _workload(), tmp_path)]
    )
    assert "Env params" not in plain and "env-load" not in plain


def test_pareto_front_for_several_objectives(tmp_path: Path) -> None:
    workload = _workload(
        metrics=[{"name": "tput", "regex": "t: (\\S+)"}, {"name": "lat", "regex": "l: (\\S+)"}],
        agent={"metrics": ["tput", "lat"], "objectives": ["max", "min"]},
    )

    def row(step: int, tput: float, lat: float) -> TrialRow:
        return TrialRow(
            step, {"x": float(step), "mode": "a"}, {}, {"tput": tput, "lat": lat}, tput, "ok"
        )

    # Front: (10, 5) and (8, 2) and (3, 1); (7, 6) is dominated by (10, 5).
    rows = [row(1, 10, 5), row(2, 7, 6), row(3, 8, 2), row(4, 3, 1)]
    html = render_report(
        _summary([_job_entry()]), [JobData(_job_entry(), rows, workload, tmp_path)]
    )
    assert "Pareto front (3 action(s))" in html
    table = html.split('<table class="pareto">')[1].split("</table>")[0]
    assert re.findall(r"<tr><td>(\d+)</td>", table) == ["1", "3", "4"]
    svg = html.split('data-plot="pareto"')[1].split("</figure>")[0]
    assert svg.count("<polygon") == 3 and svg.count("<circle") == 4
    assert "Pareto" not in render_report(
        _summary([_job_entry()]), [JobData(_job_entry(), ROWS, _workload(), tmp_path)]
    )


def test_job_without_rows_and_without_best(tmp_path: Path) -> None:
    entry = _job_entry(status="crashed", best=None, best_config=None, trials=0, message="killed")
    html = render_report(
        _summary([entry], status="crashed"), [JobData(entry, [], _workload(), tmp_path)]
    )
    assert "No trial recorded yet." in html and "No successful trial" in html
    assert "killed" in html and ">crashed</span>" in html
    assert _parse(html).figures == {}


def test_only_failures_still_renders_every_plot(tmp_path: Path) -> None:
    rows = [_row(1, 1.0, "a", None, "failed"), _row(2, 2.0, "b", None, "metric_missing")]
    html = render_report(
        _summary([_job_entry()]), [JobData(_job_entry(), rows, _workload(), tmp_path)]
    )
    page = _parse(html)
    assert page.figures["reward"] == 2  # the two crosses
    assert "no trial produced a reward" in html
    assert "Top" not in html


def test_stderr_tail_explains_trials_without_output(tmp_path: Path) -> None:
    refused = _row(1, 1.0, "a", None, "constraint_failed")
    assert "constraint" in stderr_tail(tmp_path, refused)
    (tmp_path / "2").mkdir()
    (tmp_path / "2" / "stdout.txt").write_text("no metric here\n")
    missing = _row(2, 1.0, "a", None, "metric_missing")
    assert "stdout.txt" in stderr_tail(tmp_path, missing) and "no metric here" in stderr_tail(
        tmp_path, missing
    )


def test_analysis_helpers() -> None:
    assert analysis.best_so_far(ROWS) == [
        (1, 1.0),
        (2, 3.0),
        (3, 3.0),
        (4, 3.0),
        (5, 3.0),
        (6, 3.0),
    ]
    groups = analysis.group_by_value(ROWS, "mode", order=["a", "b", "c"])
    assert [(g.value, g.n, g.total, g.mean) for g in groups] == [
        ("a", 2, 2, 1.5),
        ("b", 2, 2, 3.0),
        ("c", 0, 2, None),
    ]
    dims = {d.name: d for d in analysis.dimensions(_workload(), ROWS)}
    assert dims["x"].kind == "continuous" and dims["x"].log
    assert dims["mode"].kind == "categorical" and dims["mode"].values == ("a", "b", "c")


def test_scales_cover_their_values() -> None:
    linear = LinearScale.fit([3.0, 17.0])
    ticks = [v for v, _ in linear.ticks()]
    assert ticks and all(linear.lo <= v <= linear.hi for v in ticks)
    assert 0 < linear.frac(3.0) < linear.frac(17.0) < 1
    log = LogScale.fit([0.1, 1000.0])
    assert [label for _, label in log.ticks()][:2] == ["0.1", "1"]
    assert LinearScale.fit([5.0, 5.0]).lo < 5.0 < LinearScale.fit([5.0, 5.0]).hi


def test_tunegym_run_writes_report_html(
    tmp_path: Path,
    write_toml: Callable[[str, dict[str, Any]], Path],
    objective_workload: Callable[..., dict[str, Any]],
    capsys: pytest.CaptureFixture[str],
) -> None:
    path = write_toml("w.toml", objective_workload())
    assert main(["run", str(path), "--output", str(tmp_path / "out")]) == 0
    (run_dir,) = (tmp_path / "out").iterdir()
    html = (run_dir / "report.html").read_text()
    summary = json.loads((run_dir / "summary.json").read_text())
    assert f"report: {run_dir / 'report.html'}" in capsys.readouterr().out
    page = _parse(html)
    assert {"reward", "best-so-far", "param-x", "param-y"} <= set(page.figures)
    assert summary["jobs"][0]["fingerprint"] in html


def test_several_jobs_get_a_section_each_and_a_nav(tmp_path: Path) -> None:
    first, second = _job_entry("alpha"), _job_entry("beta", iteration=1, status="agent_failed")
    html = render_report(
        _summary([first, second], status="agent_failed"),
        [
            JobData(first, ROWS, _workload(), tmp_path),
            JobData(second, ROWS[:2], _workload(), tmp_path),
        ],
    )
    links = re.findall(r'<a href="#([^"]+)">', html)
    assert links == ["job-alpha-0", "job-beta-1"]
    for anchor in links:
        assert f'<section class="job" id="{anchor}">' in html
    assert html.count('data-plot="reward"') == 2
    assert "Job beta #1" in html and ">agent_failed</span>" in html


def test_the_one_line_hint_cannot_drive_the_terminal_and_is_short(tmp_path: Path) -> None:
    """``tunegym show`` prints it in a terminal: a trial's escape sequences (colour, window
    title, clear screen) are written out, and a huge last line is cut."""
    (tmp_path / "1").mkdir()
    (tmp_path / "1" / "stderr.txt").write_bytes(b"\x1b[31mRED\x1b]0;TITLE\x07\x1b[2Jgone\x00\n")
    row = _row(1, 1.0, "a", None, status="failed")
    assert last_output_line(tmp_path, row) == "\\x1b[31mRED\\x1b]0;TITLE\\x07\\x1b[2Jgone\\x00"
    (tmp_path / "1" / "stderr.txt").write_text("why " * 10_000 + "\n")
    assert len(last_output_line(tmp_path, row)) == 200
