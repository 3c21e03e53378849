"""``report.html``: one self-contained page per run, plots as inline SVG.

The page loads nothing: no script, no stylesheet, no font, no image from anywhere (its
Content-Security-Policy forbids it), so it opens the same from a laptop, a CI artifact or
an air-gapped cluster. It is rendered from ``summary.json``'s content plus the trial rows
of each job, so ``tunegym report`` can rebuild it from ``trials.sqlite`` at any time.

Per job: reward per trial (coloured by status), best-so-far curve, the effect of each
parameter, the env-param breakdown with the robust best (when env params exist), the
Pareto front (when the job has several objectives), the top 10 trials and the failures
with the tail of their stderr.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from html import escape
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tunegym.analysis import rows as analysis
from tunegym.analysis.results import JobResults
from tunegym.budget import budget_phrase
from tunegym.metrics.trial_files import TrialFileError, read_trial_file
from tunegym.outputs.files import atomic_write_text
from tunegym.report import plots
from tunegym.report.svg import STATUS_COLORS, fmt
from tunegym.spec.models import WorkloadSpec
from tunegym.trial.store import TrialRow

if TYPE_CHECKING:
    from tunegym.session.records import JobRecord

TOP_N = 10
MAX_FAILURES = 40
OPEN_FAILURES = 8  # the first failures shown unfolded; the rest fold
TAIL_LINES = 15
TAIL_CHARS = 2000
CONTENT_POLICY = "default-src 'none'; style-src 'unsafe-inline'; img-src data:"
"""The page's Content-Security-Policy: no script, no request, inline styles and images."""


@dataclass(frozen=True)
class JobData:
    """What the report needs of one job iteration besides its ``summary.json`` entry.

    ``results`` are what the summary writer computed from the same rows (the robust
    ranking, the Pareto front); built from ``rows`` and ``workload`` when not given.
    """

    summary: Mapping[str, Any]
    rows: Sequence[TrialRow]
    workload: WorkloadSpec | None
    folder: Path
    results: JobResults = None  # type: ignore[assignment]

    def __post_init__(self) -> None:
        if self.results is None:
            object.__setattr__(self, "results", JobResults(self.rows, self.workload))


def write_report(
    path: Path,
    summary: Mapping[str, Any],
    records: Sequence[JobRecord],
    results: Sequence[JobResults],
) -> Path:
    """Write ``report.html`` atomically (the page of :func:`run_page`)."""
    return atomic_write_text(path, run_page(summary, records, results))


def run_page(
    summary: Mapping[str, Any], records: Sequence[JobRecord], results: Sequence[JobResults]
) -> str:
    """The report page of a run; ``records`` and ``results`` (the jobs' rows, as given to
    :func:`~tunegym.outputs.summary.write_summary`) are in the order of
    ``summary["jobs"]``."""
    jobs = [
        JobData(entry, res.rows, record.job.workload, record.folder, res)
        for entry, record, res in zip(summary["jobs"], records, results, strict=True)
    ]
    return render_report(summary, jobs)


def render_report(summary: Mapping[str, Any], jobs: Sequence[JobData]) -> str:
    """The whole page as a string (UTF-8 HTML5)."""
    title = f"tunegym report: {summary.get('scenario', 'run')}"
    body = [
        f"<header><h1>{escape(title)}</h1>{status_badge(str(summary.get('status', '?')))}</header>",
        _run_meta(summary, jobs),
    ]
    if len(jobs) > 1:
        links = "".join(
            f'<li><a href="#{_anchor(j.summary)}">{escape(_job_title(j.summary))}</a> '
            f"{status_badge(str(j.summary.get('status')))}</li>"
            for j in jobs
        )
        body.append(f'<nav><h2>Jobs</h2><ul class="jobs">{links}</ul></nav>')
    if not jobs:
        body.append('<p class="note">No job has started yet.</p>')
    body.extend(_job_section(job, summary) for job in jobs)
    body.append(
        f"<footer>Written by tunegym {escape(str(summary.get('tunegym_version', '')))}; "
        "summary.json in the same folder holds the same results for scripts.</footer>"
    )
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        f'<meta http-equiv="Content-Security-Policy" content="{CONTENT_POLICY}">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        '<link rel="icon" href="data:,">'
        f"<title>{escape(title)}</title><style>{CSS}</style></head>"
        f"<body>{''.join(body)}</body></html>\n"
    )


# -- run level -----------------------------------------------------------------------------
def _run_meta(summary: Mapping[str, Any], jobs: Sequence[JobData]) -> str:
    fingerprints = sorted(
        {str(j.summary["fingerprint"]) for j in jobs if j.summary.get("fingerprint")}
    )
    agents = sorted({str(j.summary["agent"]) for j in jobs if j.summary.get("agent")})
    items: list[tuple[str, str]] = [
        ("scenario", str(summary.get("scenario", ""))),
        ("status", str(summary.get("status", ""))),
        ("spec", str(summary.get("spec", ""))),
        ("run folder", str(summary.get("run_dir", ""))),
        ("workload fingerprint", ", ".join(fingerprints) or "-"),
        ("seed", "per job (agent.seed)" if summary.get("seed") is None else str(summary["seed"])),
        ("agent", ", ".join(agents) or "-"),
        ("started", cell_time(summary.get("started_at"))),
        ("finished", cell_time(summary.get("finished_at"))),
        ("duration", cell_duration(summary.get("duration_s"))),
        ("tunegym version", str(summary.get("tunegym_version", ""))),
    ]
    if summary.get("dry_run"):
        items.append(("dry run", "yes: nothing was executed"))
    if summary.get("regenerated_at"):
        items.append(("regenerated", cell_time(summary["regenerated_at"]) + " by tunegym report"))
    return f'<section class="meta"><h2>Run</h2>{kv_table(items)}</section>'


def kv_table(items: Sequence[tuple[str, str]], css_class: str = "kv") -> str:
    """A two-column table of ``(label, value)`` rows, both escaped."""
    rows = "".join(f"<tr><th>{escape(k)}</th><td>{escape(v)}</td></tr>" for k, v in items)
    return f'<table class="{css_class}">{rows}</table>'


# -- job level -----------------------------------------------------------------------------
def _job_section(job: JobData, run: Mapping[str, Any]) -> str:
    s = job.summary
    parts = [
        f'<section class="job" id="{_anchor(s)}"><h2>{escape(_job_title(s))} '
        f"{status_badge(str(s.get('status')))}</h2>",
        _job_meta(job, run),
    ]
    if s.get("message"):
        parts.append(f'<p class="message">{escape(str(s["message"]))}</p>')
    parts.append(_policy(s["rl"]) if s.get("rl") else _best(s.get("best")))
    parts.append(_baseline(s.get("baseline")))
    rows = job.rows
    if not rows:
        parts.append('<p class="note">No trial recorded yet.</p></section>')
        return "".join(parts)
    if s.get("agent") is None:  # a run-once job: its measurement, no plots of one point
        parts.append(_failures(job))
        parts.append("</section>")
        return "".join(parts)
    parts.append('<div class="plots">')
    parts.append(figure("reward", "Reward per trial", plots.reward_per_trial(rows)))
    parts.append(figure("best-so-far", "Best reward so far", plots.best_so_far_curve(rows)))
    parts.append("</div>")
    parts.append(_curves(job))
    parts.append(_budget(s.get("budget")))
    parts.append(_importance(s.get("importance")))
    parts.append(_effects(job))
    parts.append(_env_params(job))
    parts.append(_pareto(job))
    parts.append(_top_trials(job))
    parts.append(_failures(job))
    parts.append("</section>")
    return "".join(parts)


def _curves(job: JobData) -> str:
    """Intermediate values per trial (a metric with progress), pruned trials marked."""
    pruning = job.summary.get("pruning") or {}
    if not any(row.curve for row in job.rows):
        return ""
    metric = str(pruning.get("metric") or "value")
    note = ""
    if pruning:
        note = (
            f'<p class="note">Pruner {escape(str(pruning.get("pruner")))} watched '
            f"{escape(metric)}: {int(pruning.get('pruned', 0))} trial(s) pruned, "
            f"{cell_duration(pruning.get('pruned_seconds', 0))} of "
            f"{cell_duration(pruning.get('trial_seconds', 0))} trial time spent in them"
        )
        saved = pruning.get("saved_seconds")
        if saved is not None:
            note += (
                f"; about {cell_duration(saved)} saved against running them to the end "
                "(as long as the completed trials on average)"
            )
        note += ".</p>"
    svg = plots.learning_curves(job.rows, metric)
    return (
        f'<h3>Intermediate values</h3>{note}<div class="plots">'
        f"{figure('curves', f'{metric} per step, per trial', svg)}</div>"
    )


def _budget(budget: Mapping[str, Any] | None) -> str:
    if not budget or not budget.get("ended_job"):
        return ""
    stopped = int(budget.get("stopped_trials", 0))
    tail = f"; {stopped} running trial(s) were stopped after the grace period" if stopped else ""
    phrase = budget_phrase(budget)
    return (
        f'<p class="message">{escape(phrase[0].upper() + phrase[1:])} ended this job: no '
        f"trial started after it{escape(tail)}.</p>"
    )


def _job_meta(job: JobData, run: Mapping[str, Any]) -> str:
    s = job.summary
    counts = s.get("counts") or {}
    pills = "".join(
        f'<span class="pill" style="border-color:{STATUS_COLORS.get(k, "#999")}">'
        f"{escape(k)} {int(v)}</span>"
        for k, v in counts.items()
        if v
    )
    seed = run.get("seed")
    if seed is None and job.workload is not None:
        seed = job.workload.agent.seed
    seed_text = "-" if seed is None else str(int(seed) + int(s.get("iteration", 0)))
    items = [
        ("agent", str(s.get("agent") or "none (runs once)")),
        ("trials", f"{s.get('trials', len(job.rows))} of at most {s.get('max_steps', '?')}"),
        ("seed", seed_text),
        ("workload fingerprint", str(s.get("fingerprint") or "-")),
        ("folder", str(s.get("folder", ""))),
    ]
    if s.get("best_config"):
        items.append(("best config", str(s["best_config"])))
    return f'{kv_table(items)}<p class="pills">{pills}</p>'


def _best(best: Mapping[str, Any] | None) -> str:
    if not best:
        return '<p class="note">No successful trial: no best configuration.</p>'
    cells = [("reward", fmt(float(best["reward"]))), ("step", str(best["step"]))]
    cells += [(k, _value(v)) for k, v in (best.get("action") or {}).items()]
    cells += [(f"env: {k}", _value(v)) for k, v in (best.get("env_params") or {}).items()]
    cells += [(f"metric: {k}", _value(v)) for k, v in (best.get("observation") or {}).items()]
    head = "".join(f"<th>{escape(k)}</th>" for k, _ in cells)
    data = "".join(f"<td>{escape(v)}</td>" for _, v in cells)
    return (
        f'<h3>Best trial</h3><div class="scroll"><table class="best"><tr>{head}</tr>'
        f"<tr>{data}</tr></table></div>"
    )


def _policy(rl: Mapping[str, Any]) -> str:
    """A policy's reward statistics (RL jobs have no meaningful single best step)."""

    def stats(entry: Mapping[str, Any] | None) -> str:
        if not entry:
            return "-"
        return f"{fmt(float(entry['mean']))} ± {fmt(float(entry['std']))} (n = {int(entry['n'])})"

    items = [
        ("seed", str(rl.get("seed"))),
        ("reward per step", stats(rl.get("reward"))),
        ("reward per step, last 10%", stats(rl.get("last"))),
        ("episodes", str(rl.get("episodes", 0))),
        ("return per episode", stats(rl.get("episode_return"))),
        ("steps per episode", stats(rl.get("episode_length"))),
    ]
    return f"<h3>Policy</h3>{kv_table(items, 'kv policy')}"


def _baseline(baseline: Mapping[str, Any] | None) -> str:
    """The tuned best against the plain job of the same workload, in words."""
    if not baseline:
        return ""
    kind = "better" if baseline.get("improved") else "worse"
    return (
        f'<p class="baseline {kind}"><strong>{escape(str(baseline["text"]))}</strong> '
        f"({escape(fmt(float(baseline['tuned'])))} against "
        f"{escape(fmt(float(baseline['baseline'])))})</p>"
    )


def _importance(importance: Mapping[str, Any] | None) -> str:
    """Each parameter's share of importance, per objective, as a bar table."""
    if not importance:
        return ""
    tables = []
    for objective, shares in (importance.get("objectives") or {}).items():
        rows = "".join(
            f"<tr><th>{escape(str(name))}</th><td>{float(share):.2f}</td>"
            f'<td class="bar"><span style="width:{max(0.0, min(1.0, float(share))) * 100:.0f}%">'
            "</span></td></tr>"
            for name, share in sorted(shares.items(), key=lambda kv: -float(kv[1]))
        )
        tables.append(
            f'<table class="importance"><caption>{escape(str(objective))}</caption>{rows}</table>'
        )
    note = (
        f"{escape(str(importance.get('evaluator')))} over "
        f"{int(importance.get('trials', 0))} completed trials (shares sum to 1)"
    )
    return f'<h3>Parameter importance</h3><p class="note">{note}</p>{"".join(tables)}'


def _effects(job: JobData) -> str:
    dims = analysis.dimensions(job.workload, job.rows)
    if not dims:
        return ""
    figures = []
    for dim in dims:
        if dim.kind == "continuous":
            svg = plots.continuous_effect(job.rows, dim)
            caption = f"Reward against {dim.name}" + (" (log scale)" if dim.log else "")
        else:
            groups = analysis.group_by_value(job.rows, dim.name, "action", dim.values)
            svg = plots.group_effect(groups, dim.name, f"effect of {dim.name}")
            caption = f"Mean reward per value of {dim.name} (± std; scored/all trials in brackets)"
        figures.append(figure(f"param-{dim.name}", caption, svg))
    return f'<h3>Parameter effects</h3><div class="plots">{"".join(figures)}</div>'


def _env_params(job: JobData) -> str:
    names = analysis.env_param_values(job.workload, job.rows)
    if not names:
        return ""
    figures = []
    for name, values in names.items():
        groups = analysis.group_by_value(job.rows, name, "env_params", values)
        svg = plots.group_effect(groups, name, f"reward per env param {name}")
        caption = f"Reward per sampled value of env param {name} (over all actions)"
        figures.append(figure(f"env-{name}", caption, svg))
    stats = job.results.action_stats
    parts = [
        "<h3>Env params (domain randomization)</h3>",
        f'<div class="plots">{"".join(figures)}</div>',
    ]
    if not stats:
        return "".join(parts)
    choice = job.results.robust_choice
    best = choice.best or stats[0]
    sem = "" if best.sem is None else f" ± {escape(fmt(best.sem))} (standard error)"
    note = "" if choice.note is None else f" {escape(choice.note)}."
    parts.append(
        "<p>Robust best (highest mean reward over its env-param draws among actions with at "
        f"least {choice.required} draw(s); ties: more draws): "
        f"<code>{escape(_json(best.action))}</code>, mean {escape(fmt(best.mean_reward))}"
        f"{sem} over {best.count} draw(s).{note}</p>"
    )
    head = (
        "<tr><th>rank</th><th>action</th><th>mean reward</th><th>s.e.</th><th>std</th>"
        "<th>min</th><th>max</th><th>draws</th></tr>"
    )
    body = "".join(
        f"<tr><td>{i}</td><td><code>{escape(_json(st.action))}</code></td>"
        f"<td>{escape(fmt(st.mean_reward))}</td>"
        f"<td>{'-' if st.sem is None else escape(fmt(st.sem))}</td><td>{escape(fmt(st.std))}</td>"
        f"<td>{escape(fmt(st.min_reward))}</td><td>{escape(fmt(st.max_reward))}</td>"
        f"<td>{st.count}</td></tr>"
        for i, st in enumerate(stats[:TOP_N], 1)
    )
    parts.append(f'<div class="scroll"><table class="robust">{head}{body}</table></div>')
    head = (
        "<tr><th>context</th><th>best action</th><th>mean reward</th><th>draws</th>"
        "<th>actions measured</th></tr>"
    )
    body = "".join(
        f"<tr><td>{escape(_context(c.env_params))}</td><td><code>{escape(_json(c.best.action))}"
        f"</code></td><td>{escape(fmt(c.best.mean_reward))}</td><td>{c.best.count}</td>"
        f"<td>{c.actions}</td></tr>"
        for c in job.results.contexts
    )
    parts.append(
        '<h4>Best action per context</h4><div class="scroll"><table class="contexts">'
        f"{head}{body}</table></div>"
    )
    return "".join(parts)


def _pareto(job: JobData) -> str:
    goals = job.results.objectives
    if not goals:
        return ""
    metrics = [m for m, _ in goals]
    front = job.results.pareto_front
    svg = plots.pareto_scatter(job.rows, front, goals)
    caption = (
        f"{goals[0][0]} against {goals[1][0]} per trial; the front holds the actions no other "
        "action beats on every objective (their mean over repeats)"
    )
    # summary.json's front (when the summary writer lists one) names each member's config.
    configs = {
        entry.get("step"): entry.get("best_config")
        for entry in job.summary.get("pareto_front") or []
        if isinstance(entry, Mapping)
    }
    head = (
        "<tr><th>first step</th>"
        + "".join(f"<th>{escape(m)} ({escape(d)})</th>" for m, d in goals)
        + "<th>measurements</th><th>action</th><th>config</th></tr>"
    )
    body = "".join(
        f"<tr><td>{member.first_step}</td>"
        + "".join(f"<td>{escape(_value(member.objectives.get(m)))}</td>" for m in metrics)
        + f"<td>{member.count}</td><td><code>{escape(_json(member.action))}</code></td>"
        + f"<td>{escape(str(configs.get(member.first_step) or '-'))}</td></tr>"
        for member in front
    )
    return (
        f"<h3>Pareto front ({len(front)} action(s))</h3>"
        f'<div class="plots">{figure("pareto", caption, svg)}</div>'
        f'<div class="scroll"><table class="pareto">{head}{body}</table></div>'
    )


def _top_trials(job: JobData) -> str:
    top = analysis.top_rows(job.rows, TOP_N)
    if not top:
        return ""
    actions = _keys(r.action for r in job.rows)
    envs = _keys(r.env_params for r in job.rows)
    metrics = analysis.metric_columns(job.workload, top)
    head = (
        "<tr><th>#</th><th>step</th><th>reward</th><th>status</th>"
        + "".join(f"<th>{escape(k)}</th>" for k in actions)
        + "".join(f"<th>env: {escape(k)}</th>" for k in envs)
        + "".join(f"<th>{escape(k)}</th>" for k in metrics)
        + "<th>duration</th></tr>"
    )
    body = "".join(
        f"<tr><td>{i}</td><td>{row.step}</td><td>{escape(fmt(float(row.reward or 0)))}</td>"
        f"<td>{escape(row.status)}</td>"
        + "".join(f"<td>{escape(_value(row.action.get(k)))}</td>" for k in actions)
        + "".join(f"<td>{escape(_value(row.env_params.get(k)))}</td>" for k in envs)
        + "".join(f"<td>{escape(_value(row.observation.get(k)))}</td>" for k in metrics)
        + f"<td>{row.duration_s:.2f}s</td></tr>"
        for i, row in enumerate(top, 1)
    )
    return (
        f'<h3>Top {len(top)} trials</h3><div class="scroll"><table class="top">'
        f"{head}{body}</table></div>"
    )


def _failures(job: JobData) -> str:
    failed = analysis.failures(job.rows)
    pruned = sum(row.status == "pruned" for row in job.rows)
    if not failed:
        every = "every trial that was not pruned" if pruned else "every trial"
        none = f"{every} produced a reward"
        return f'<h3>Failures</h3><p class="note">None: {none}.</p>'
    shown = failed[-MAX_FAILURES:]
    items = []
    for i, row in enumerate(shown):
        unfold = " open" if i < OPEN_FAILURES else ""
        tail = stderr_tail(job.folder, row)
        color = STATUS_COLORS.get(row.status, "#999")
        rc = "" if row.returncode is None else f", exit code {row.returncode}"
        items.append(
            f'<details class="failure"{unfold}><summary>'
            f'<span class="pill" style="border-color:{color}">'
            f"{escape(row.status)}</span> step {row.step}{escape(rc)}, "
            f"{row.duration_s:.2f}s: <code>{escape(_json(row.action))}</code>"
            f"</summary><pre>{escape(tail)}</pre></details>"
        )
    more = (
        f'<p class="note">{len(failed) - len(shown)} earlier failure(s) not shown; '
        "see trajectory.csv.</p>"
        if len(failed) > len(shown)
        else ""
    )
    return f"<h3>Failures ({len(failed)})</h3>{more}{''.join(items)}"


def stderr_tail(folder: Path, row: TrialRow) -> str:
    """Why the trial failed (when recorded), then the last lines of its stderr (stdout when
    stderr is empty), or why there is no output."""
    reason = f"{row.error}\n\n" if row.error else ""
    if row.status == "constraint_failed":
        return reason + "A constraint did not hold for these params: the trial was not run."
    trial_dir = folder / str(row.step)
    for name in ("stderr.txt", "stdout.txt"):
        text = _tail(trial_dir / name)
        if text.strip():
            return f"{reason}{name} (last lines):\n{text}"
    if row.cached:
        return reason + "A cache hit of an earlier trial with the same action and env params."
    return reason + "No output was recorded."


def last_output_line(folder: Path, row: TrialRow) -> str:
    """The last non-blank line of a trial's stderr (stdout when stderr is empty), or ``""``:
    a one-line hint of why it failed, for tables."""
    trial_dir = folder / str(row.step)
    for name in ("stderr.txt", "stdout.txt"):
        lines = [line.strip() for line in _tail(trial_dir / name).splitlines() if line.strip()]
        if lines:
            return _printable(lines[-1])[:HINT_CHARS]
    return ""


HINT_CHARS = 200
"""The longest hint :func:`last_output_line` gives (a table cell, not a log)."""


def _printable(text: str) -> str:
    """``text`` with its control characters written out (``\x1b``), so a trial's output
    cannot recolour, retitle or clear the terminal it is shown in."""
    if text.isprintable():
        return text
    return "".join(c if c.isprintable() else repr(c)[1:-1] for c in text)


def _tail(path: Path) -> str:
    try:  # a regular file only: a trial may have left a FIFO or a link to /dev/zero
        data = read_trial_file(path, 4 * TAIL_CHARS, tail=True).decode("utf-8", "replace")
    except (OSError, TrialFileError):
        return ""
    lines = data.splitlines()[-TAIL_LINES:]
    return "\n".join(lines)[-TAIL_CHARS:]


# -- helpers (report/training.py draws its page with them too) ------------------------------
def figure(kind: str, caption: str, svg: str) -> str:
    """A plot with its caption, as the report's figures are written."""
    return (
        f'<figure class="plot" data-plot="{escape(kind)}">{svg}'
        f"<figcaption>{escape(caption)}</figcaption></figure>"
    )


def status_badge(status: str) -> str:
    """A run's, job's or trial's status as a coloured badge (green for ``ok``)."""
    good = status == "ok"
    return f'<span class="badge {"good" if good else "bad"}">{escape(status)}</span>'


def _job_title(s: Mapping[str, Any]) -> str:
    iteration = s.get("iteration", 0)
    return f"Job {s.get('name')}" + (f" #{iteration}" if iteration else "")


def _anchor(s: Mapping[str, Any]) -> str:
    return f"job-{s.get('name')}-{s.get('iteration', 0)}"


def _json(value: Mapping[str, Any]) -> str:
    """Compact JSON of an action for people: floats to 6 significant digits."""
    return json.dumps(
        {k: float(f"{v:.6g}") if isinstance(v, float) else v for k, v in value.items()},
        default=str,
    )


def _context(env_params: Mapping[str, Any]) -> str:
    return ", ".join(f"{k}={v}" for k, v in sorted(env_params.items())) or "-"


def _keys(tables: Any) -> list[str]:
    out: list[str] = []
    for table in tables:
        for key in table:
            if key not in out:
                out.append(key)
    return out


def _value(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return fmt(value)
    return str(value)


def cell_time(ts: Any) -> str:
    if not isinstance(ts, int | float):
        return "-"
    return dt.datetime.fromtimestamp(ts).astimezone().isoformat(sep=" ", timespec="seconds")


def cell_duration(seconds: Any) -> str:
    if not isinstance(seconds, int | float):
        return "-"
    minutes, secs = divmod(float(seconds), 60)
    hours, minutes = divmod(int(minutes), 60)
    if hours:
        return f"{hours}h {minutes:02d}m {secs:04.1f}s"
    return f"{minutes}m {secs:04.1f}s" if minutes else f"{secs:.1f}s"


CSS = """
body{font:14px/1.45 system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:0 auto;
max-width:1400px;padding:16px 24px;color:#1b1f24;background:#fff}
header{display:flex;align-items:center;gap:12px;border-bottom:2px solid #e1e4e8}
h1{font-size:22px;margin:12px 0}h2{font-size:18px;margin:28px 0 8px}
h3{font-size:15px;margin:20px 0 6px}h4{font-size:14px;margin:14px 0 4px}
section.job{border-top:1px solid #e1e4e8;margin-top:24px}
table{border-collapse:collapse;margin:4px 0}
th,td{border:1px solid #e1e4e8;padding:3px 8px;text-align:left;vertical-align:top}
th{background:#f6f8fa;font-weight:600}
table.kv th{width:190px}
.scroll{overflow-x:auto}
.badge{border-radius:10px;padding:2px 10px;font-size:12px;font-weight:600;color:#fff}
.badge.good{background:#2ca02c}.badge.bad{background:#d62728}
.pill{display:inline-block;border:2px solid #999;border-radius:10px;padding:0 8px;
margin:0 4px 4px 0;font-size:12px}
.plots{display:flex;flex-wrap:wrap;gap:12px}
figure.plot{margin:0;border:1px solid #e1e4e8;border-radius:6px;padding:6px;background:#fff}
figcaption{font-size:12px;color:#57606a;max-width:620px}
svg.chart{display:block;max-width:100%;height:auto}
svg .area{fill:#fbfcfd;stroke:none}svg .band{fill:#fdf1f1;stroke:none}
svg .grid{stroke:#e8ebef;stroke-width:1}svg .axis{stroke:#57606a;stroke-width:1}
svg .tick{font-size:11px;fill:#57606a}svg .label{font-size:12px;fill:#1b1f24}
svg .note{font-size:13px;fill:#57606a}
.note{color:#57606a}.message{color:#b42318;font-weight:600}
details.failure{margin:4px 0}details.failure pre{background:#f6f8fa;padding:8px;
overflow-x:auto;max-height:260px;font-size:12px;margin:4px 0}
code{font-size:12px}footer{margin:32px 0 8px;color:#57606a;font-size:12px}
ul.jobs{columns:2;padding-left:20px}
.baseline{font-size:15px}.baseline.better strong{color:#1a7f37}.baseline.worse strong{color:#cf222e}
table.importance{display:inline-table;margin:0 24px 12px 0;border-collapse:collapse}
table.importance caption{text-align:left;font-weight:600}
table.importance th,table.importance td{padding:2px 8px;text-align:left}
td.bar{width:160px}td.bar span{display:block;height:10px;background:#0969da}
"""
