"""A corpus of hostile and mistaken spec files, each through the real CLI.

Every entry is an invalid workload or scenario (generated here from the table below). For
each, ``tunegym verify`` and ``tunegym run`` must exit 2 with one clear ``tunegym: error:``
naming the file and the field at fault, never "internal error", and ``run`` must create
nothing (a spec error is found before anything runs). One more test feeds the whole corpus
to the installed ``tunegym`` console script in a single ``verify`` call.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from tunegym.cli.main import main

ROOT = Path(__file__).resolve().parents[2]
TUNEGYM = Path(sys.executable).with_name("tunegym")

Content = str | bytes | Callable[[Path], None]


@dataclass(frozen=True)
class Case:
    """An invalid spec: its files, the one given to the CLI, and what the error names."""

    id: str
    files: dict[str, Content]
    where: str
    """``file: field`` the error line must start with (``file:`` alone for a whole file)."""
    says: tuple[str, ...] = ()
    """Fragments the same error line must contain."""
    entry: str = "workload.toml"
    not_said: tuple[str, ...] = field(default=())


def workload(top: str = "", params: str = "x = [1, 2]", tail: str = "", *, name: str = "w") -> str:
    """A valid workload with extra top-level keys, ``[params]`` entries and trailing tables."""
    return (
        f'name = "{name}"\ncommand = ["true", "{{x}}"]\n{top}\n'
        f"[params]\n{params}\n"
        f"[[metrics]]\nname = \"m\"\nregex = 'm=([0-9.]+)'\n{tail}\n"
    )


def scenario(jobs: str, *, extra_files: dict[str, Content] | None = None) -> dict[str, Content]:
    return {
        "scenario.toml": f'name = "s"\n{jobs}',
        "workload.toml": workload(),
        **(extra_files or {}),
    }


W = "workload.toml"
S = "scenario.toml"
ONE_JOB = '[[jobs]]\nworkload = "workload.toml"\n'


def _cases() -> list[Case]:
    cases: list[Case] = []

    def add(id: str, files: dict[str, Content] | str, where: str, *says: str, entry: str = W):
        if isinstance(files, str):
            files = {W: files}
        cases.append(Case(id, files, where, says, entry))

    # -- names that would escape or break the run folder (issue 13, item 2) --------------
    for label, name in [
        ("dotdot", ".."),
        ("dot", "."),
        ("slash", "a/b"),
        ("backslash", "a\\\\b"),
        ("leading-dot", ".hidden"),
        ("leading-dash", "-rf"),
        ("space", "a b"),
        ("too-long", "n" * 5000),
        ("101-chars", "n" * 101),
        ("unicode", "naïve"),
    ]:
        add(f"name-{label}", workload(name=name), f"{W}: name", "name")
    add("name-empty", workload(name=""), f"{W}: name")
    add(
        "scenario-name-dotdot",
        {S: f'name = ".."\n{ONE_JOB}', W: workload()},
        f"{S}: name",
        "plain folder name",
        entry=S,
    )
    add(
        "scenario-name-too-long",
        {S: f'name = "{"s" * 300}"\n{ONE_JOB}', W: workload()},
        f"{S}: name",
        "at most 100",
        entry=S,
    )
    for label, name in [("dotdot", ".."), ("dot", "."), ("long", "j" * 5000), ("path", "../x")]:
        add(
            f"override-name-{label}",
            scenario(f'{ONE_JOB}name = "{name}"\n'),
            f"{S}: jobs[0].name",
            entry=S,
        )

    # -- param and env names ------------------------------------------------------------
    for label, name in [
        ("dotted", "a.b"),
        ("indexed", "a[0]"),
        ("number", "0"),
        ("colon", "a:b"),
        ("bang", "a!r"),
        ("brace", "a}"),
        ("empty", ""),
        ("space", "a b"),
        ("leading-digit", "1a"),
    ]:
        add(
            f"param-name-{label}",
            workload(params=f'x = [1, 2]\n"{name}" = [1, 2]'),
            f"{W}: params",
            "placeholder",
        )
    for label, name in [
        ("equals", "A=B"),
        ("empty", ""),
        ("dash", "A-B"),
        ("leading-digit", "1A"),
        ("dot", "A.B"),
        ("reserved", "TUNEGYM_TRIAL_DIR"),
        ("reserved-param", "TUNEGYM_PARAM_X"),
    ]:
        add(f"env-name-{label}", workload(tail=f'[env]\n"{name}" = "1"'), f"{W}: env")
    add("env-name-nul", workload(tail='[env]\n"A\\u0000B" = "1"'), f"{W}: env", "NUL")
    add(
        "env-var-collision-dash",
        workload(params="x = [1, 2]\na-b = [1, 2]\na_b = [3, 4]"),
        f"{W}: params.a_b",
        "TUNEGYM_PARAM_A_B",
    )
    add(
        "env-var-collision-case",
        workload(params="x = [1, 2]\nX = [1, 2]"),
        f"{W}: params.X",
        "TUNEGYM_PARAM_X",
    )
    add(
        "env-var-collision-env-table",
        workload(tail='[env]\nx_ = "1"\nX_ = "2"'),
        f"{W}: env.X_",
        "TUNEGYM_PARAM_X_",
    )

    # -- NUL characters -----------------------------------------------------------------
    add("nul-param-value", workload(params='x = ["a\\u0000b", "c"]'), f"{W}: params.x[0]", "NUL")
    add("nul-fixed-value", workload(params='x = [1, 2]\ny = "a\\u0000"'), f"{W}: params.y", "NUL")
    add("nul-env-value", workload(tail='[env]\nA = "a\\u0000"'), f"{W}: env.A", "NUL")
    add(
        "nul-command-arg",
        workload().replace('"true", "{x}"', '"true", "{x}", "a\\u0000"'),
        f"{W}: command[2]",
        "NUL",
    )
    add("nul-description", workload(top='description = "\\u0000"'), f"{W}: description", "NUL")
    add("nul-key", workload(top='"a\\u0000" = 1'), f"{W}: ", "NUL")

    # -- numbers: nan, inf, ranges ------------------------------------------------------
    for label, text in [("inf", "inf"), ("nan", "nan"), ("minus-inf", "-inf")]:
        add(f"timeout-{label}", workload(top=f"timeout_s = {text}"), f"{W}: timeout_s", "finite")
    add("timeout-zero", workload(top="timeout_s = 0"), f"{W}: timeout_s", "greater than 0")
    add("timeout-negative", workload(top="timeout_s = -1"), f"{W}: timeout_s")
    add("timeout-huge", workload(top="timeout_s = 1e300"), f"{W}: timeout_s", "less than")
    add("timeout-string", workload(top='timeout_s = "10"'), f"{W}: timeout_s", "number")
    add("list-nan", workload(params="x = [nan, 1.0]"), f"{W}: params.x[0]", "finite")
    add("list-inf", workload(params="x = [1.0, inf]"), f"{W}: params.x[1]", "finite")
    add("fixed-nan", workload(params="x = [1, 2]\ny = nan"), f"{W}: params.y", "finite")
    add("range-low-inf", workload(params="x = {low = -inf, high = 1}"), f"{W}: params.x.low")
    add("range-high-nan", workload(params="x = {low = 0, high = nan}"), f"{W}: params.x.high")
    add(
        "penalty-nan",
        workload(tail="[agent.penalties]\nmetric_failure = nan"),
        f"{W}: agent.penalties.metric_failure",
        "finite",
    )
    add(
        "penalty-inf",
        workload(tail="[agent.penalties]\nconstraint_failure = -inf"),
        f"{W}: agent.penalties.constraint_failure",
        "finite",
    )
    add(
        "weights-inf",
        workload(params="x = [1, 2]", tail="[env_params.x]\nweights = [inf, 0.5]"),
        f"{W}: env_params.x.weights[0]",
    )
    add("ray-cpus-inf", workload(tail="[ray]\nnum_cpus = inf"), f"{W}: ray.num_cpus")
    add(
        "ray-address-no-port",
        workload(tail='[ray]\naddress = "ray://head"'),
        f"{W}: ray.address",
        "expected local, auto, HOST:PORT or ray://HOST:PORT, got 'ray://head'",
    )
    add(
        "slurm-poll-nan",
        workload(tail="[slurm]\npoll_interval_s = nan"),
        f"{W}: slurm.poll_interval_s",
    )
    add(
        "agent-config-without-type",
        workload(tail="[agent]\nmax_steps = 2\n[agent.config]\nbogus = 3"),
        f"{W}: agent.config",
        "'bogus' without agent.type",
        'type = "auto"',
    )
    add(
        "agent-config-nan",
        workload(tail='[agent]\ntype = "bandit"\n[agent.config]\nepsilon = nan'),
        f"{W}: agent.config.epsilon",
    )
    for label, seed in [
        ("negative", "-5"),
        ("huge", str(10**30)),
        ("too-big", str(2**32)),
        ("float", "1.5"),
        ("string", '"1"'),
    ]:
        add(f"seed-{label}", workload(tail=f"[agent]\nseed = {seed}"), f"{W}: agent.seed")
    add("max-steps-zero", workload(tail="[agent]\nmax_steps = 0"), f"{W}: agent.max_steps")
    add("max-steps-huge", workload(tail=f"[agent]\nmax_steps = {10**30}"), f"{W}: agent.max_steps")
    add("max-steps-float", workload(tail="[agent]\nmax_steps = 5.0"), f"{W}: agent.max_steps")
    add("parallel-huge", workload(tail="[agent]\nparallel = 1000000"), f"{W}: agent.parallel")
    add("repeats-bool", workload(tail="[agent]\nrepeats = true"), f"{W}: agent.repeats")
    add(
        "iterations-zero",
        scenario(f"{ONE_JOB}iterations = 0\n"),
        f"{S}: jobs[0].iterations",
        entry=S,
    )
    add(
        "iterations-huge",
        scenario(f"{ONE_JOB}iterations = {10**12}\n"),
        f"{S}: jobs[0].iterations",
        entry=S,
    )

    # -- types kept as written (no "yes" for true) --------------------------------------
    add(
        "log-yes",
        workload(params='x = {low = 1, high = 8, log = "yes"}'),
        f"{W}: params.x.log",
        "boolean",
    )
    add(
        "log-int",
        workload(params="x = {low = 1, high = 8, log = 1}"),
        f"{W}: params.x.log",
        "boolean",
    )
    add("cache-no", workload(top='cache = "no"'), f"{W}: cache", "boolean")
    add(
        "shared-fs-yes", workload(tail='[ray]\nshared_fs = "yes"'), f"{W}: ray.shared_fs", "boolean"
    )
    add(
        "dtype-unknown",
        workload(params='x = {low = 1, high = 8, dtype = "double"}'),
        f"{W}: params.x.dtype",
    )
    add(
        "agent-config-bool-string",
        workload(tail='[agent]\ntype = "optuna"\n[agent.config]\nconstant_liar = "yes"'),
        f"{W}: agent.config.constant_liar",
        "boolean",
    )
    add("command-string", workload().replace('["true", "{x}"]', '"true {x}"'), f"{W}: command")
    add("command-empty", workload().replace('["true", "{x}"]', "[]"), f"{W}: command")
    add("command-int", workload().replace('["true", "{x}"]', '["true", 5]'), f"{W}: command[1]")
    add("param-date", workload(params="x = 1979-05-27"), f"{W}: params.x")
    add("param-nested-list", workload(params="x = [[1], [2]]"), f"{W}: params.x")

    # -- placeholders -------------------------------------------------------------------
    for label, arg in [
        ("positional", "{0}"),
        ("attribute", "{x.real}"),
        ("index", "{x[0]}"),
        ("empty", "{}"),
        ("unbalanced", "{x"),
        ("bad-conversion", "{x!z}"),
        ("unknown", "{nope}"),
        ("bad-spec", "{x:.2f}"),
    ]:
        text = workload(params='x = ["a", "b"]').replace('"{x}"', f'"{arg}"')
        add(f"placeholder-{label}", text, f"{W}: command[1]")

    # -- files that are not spec files --------------------------------------------------
    add(
        "utf8-invalid-byte", {W: b'name = "w"\ncommand = ["true"]\n# \xff\xfe\n'}, f"{W}: ", "UTF-8"
    )
    add(
        "utf8-latin1",
        {W: 'name = "w"\ncommand = ["caf\xe9"]\n'.encode("latin-1")},
        f"{W}: ",
        "UTF-8",
    )
    add("utf8-surrogate", {W: b'name = "w"\ncommand = ["\xed\xa0\x80"]\n'}, f"{W}: ", "UTF-8")
    add("utf16-bom", {W: workload().encode("utf-16")}, f"{W}: ", "UTF-8")
    add(
        "deep-list-5000",
        {W: 'name = "w"\nx = ' + "[" * 5000 + "]" * 5000 + "\n"},
        f"{W}: ",
        "nested",
    )
    add(
        "deep-table-5000",
        {W: 'name = "w"\nx = ' + "{a = " * 5000 + "1" + "}" * 5000 + "\n"},
        f"{W}: ",
        "nested",
    )
    add(
        "deep-list-40",
        {W: workload(top="server_args = 1\ny = " + "[" * 40 + "]" * 40)},
        f"{W}: y",
        "nested",
    )
    add("big-file-50mb", {W: _big_file}, f"{W}: ", "MiB")
    add("invalid-toml", {W: "name = = 1\n"}, f"{W}: ", "invalid TOML")
    add("empty-file", {W: ""}, f"{W}: ", "required")
    add("binary-garbage", {W: bytes(range(256))}, f"{W}: ")
    add("directory", {"workload.toml/x": "1"}, f"{W}: ", "directory")
    add("missing-file", {}, f"{W}: ", "no such file")

    # -- metrics ------------------------------------------------------------------------
    def metric(regex: str) -> str:
        return workload().replace("regex = 'm=([0-9.]+)'", f"regex = '{regex}'")

    add("regex-no-group", metric(r"m=[0-9.]+"), f"{W}: metrics[0].regex", "no capture group")
    add(
        "regex-lookahead-no-group",
        metric(r"[0-9.]+(?= rows)"),
        f"{W}: metrics[0].regex",
        "capture group",
    )
    add("regex-invalid", metric(r"m=([0-9.]+"), f"{W}: metrics[0].regex", "invalid regex")
    add("regex-empty", metric(""), f"{W}: metrics[0].regex", "empty")
    add("regex-huge", metric("(a)" + "b" * 20000), f"{W}: metrics[0].regex", "longer than")
    add(
        "regex-timeout-on-json",
        workload(tail='[[metrics]]\nname = "j"\njson = "r.json:a"\nregex_timeout_s = 1'),
        f"{W}: metrics[1]",
        "no regex",
    )
    add(
        "regex-timeout-zero",
        workload(tail='[[metrics]]\nname = "j"\nregex = "j=(1)"\nregex_timeout_s = 0'),
        f"{W}: metrics[1].regex_timeout_s",
    )
    add(
        "metric-name-dup",
        workload(tail='[[metrics]]\nname = "m"\nregex = "m(1)"'),
        f"{W}: metrics[1].name",
        "twice",
    )
    add(
        "metric-two-sources",
        workload(tail='[[metrics]]\nname = "k"\nregex = "(1)"\ncsv = "a.csv:b"'),
        f"{W}: metrics[1]",
        "exactly one",
    )

    # -- sb3 on spaces it cannot take (flatten reachable from the spec) -----------------
    mixed = "x = [1, 2]\ny = {low = 0.0, high = 1.0}"
    add(
        "sb3-mixed-float",
        workload(params=mixed, tail='[agent]\ntype = "sb3"'),
        f"{W}: agent.config.flatten",
        "float ranges",
    )
    add(
        "sb3-flatten-true-mixed",
        workload(
            params='x = [1, 2]\ny = {low = 0, high = 3, dtype = "int"}',
            tail='[agent]\ntype = "sb3"\n[agent.config]\nflatten = true',
        ),
        f"{W}: agent.config.flatten",
        'flatten = "discrete"',
    )
    add(
        "sb3-dqn-float",
        workload(
            params="x = {low = 0.0, high = 1.0}",
            tail='[agent]\ntype = "sb3"\n[agent.config]\nalgorithm = "DQN"',
        ),
        f"{W}: agent.config.flatten",
        "float range",
    )
    add(
        "sb3-flatten-false",
        workload(tail='[agent]\ntype = "sb3"\n[agent.config]\nflatten = false'),
        f"{W}: agent.config",
        "Dict",
    )
    add(
        "sb3-flatten-unknown",
        workload(tail='[agent]\ntype = "sb3"\n[agent.config]\nflatten = "box"'),
        f"{W}: agent.config.flatten",
    )

    # -- scenarios: workload paths, overrides, warm starts ------------------------------
    add(
        "scenario-workload-etc-passwd",
        {S: 'name = "s"\n[[jobs]]\nworkload = "../../../../../../../../etc/passwd"\n'},
        f"{S}: jobs[0].workload",
        "/etc/passwd",
        entry=S,
    )
    add(
        "scenario-workload-dev-zero",
        {S: 'name = "s"\n[[jobs]]\nworkload = "/dev/zero"\n'},
        f"{S}: jobs[0].workload",
        "not a regular file",
        entry=S,
    )
    add(
        "scenario-workload-missing",
        {S: 'name = "s"\n[[jobs]]\nworkload = "nope.toml"\n'},
        f"{S}: jobs[0].workload",
        "no such file",
        entry=S,
    )
    add(
        "scenario-workload-directory",
        {S: 'name = "s"\n[[jobs]]\nworkload = "."\n'},
        f"{S}: jobs[0].workload",
        entry=S,
    )
    add(
        "scenario-workload-empty",
        {S: 'name = "s"\n[[jobs]]\nworkload = ""\n'},
        f"{S}: jobs[0].workload",
        entry=S,
    )
    add(
        "scenario-workload-invalid-utf8",
        {S: f'name = "s"\n{ONE_JOB}', W: b"name = '\xff'\n"},
        f"{S}: jobs[0].workload",
        "UTF-8",
        entry=S,
    )
    add(
        "scenario-workload-nul",
        {S: f'name = "s"\n{ONE_JOB}', W: workload(params='x = ["\\u0000"]')},
        f"{W}: params.x[0]",
        "jobs[0] of scenario.toml",
        entry=S,
    )
    add("scenario-jobs-empty", {S: 'name = "s"\njobs = []\n'}, f"{S}: jobs", entry=S)
    add("scenario-jobs-not-list", {S: 'name = "s"\njobs = 3\n'}, f"{S}: jobs", entry=S)
    add(
        "scenario-duplicate-jobs",
        scenario(ONE_JOB + ONE_JOB),
        f"{S}: jobs[1].name",
        "already used",
        entry=S,
    )
    add(
        "override-unknown-key",
        scenario(f"{ONE_JOB}bogus = 1\n"),
        f"{S}: jobs[0].bogus",
        "unknown key",
        entry=S,
    )
    add(
        "override-param-nan",
        scenario(f"{ONE_JOB}[jobs.params]\nx = [nan]\n"),
        f"{S}: jobs[0].params.x[0]",
        "finite",
        entry=S,
    )
    add(
        "override-param-name",
        scenario(f'{ONE_JOB}[jobs.params]\n"a.b" = [1]\n'),
        f"{S}: jobs[0].params",
        "placeholder",
        entry=S,
    )
    add(
        "override-log-yes",
        scenario(f'{ONE_JOB}[jobs.params]\nx = {{low = 1, high = 2, log = "yes"}}\n'),
        f"{S}: jobs[0].params.x.log",
        entry=S,
    )
    add(
        "override-seed",
        scenario(f"{ONE_JOB}[jobs.agent]\nseed = -1\n"),
        f"{S}: jobs[0].agent.seed",
        entry=S,
    )
    add(
        "override-breaks-workload-constraint",
        {
            S: f'name = "s"\n{ONE_JOB}[jobs.params]\ny = [1]\n',
            W: workload(top='constraints = ["z > 1"]'),
        },
        f"{W}: constraints[0]",
        "jobs[0] of scenario.toml",
        entry=S,
    )
    add(
        "warm-start-missing",
        workload(tail='[agent]\ntype = "optuna"\nwarm_start = "no/such/run"'),
        f"{W}: agent.warm_start",
        "no such file",
    )
    add(
        "warm-start-empty-dir",
        {W: workload(tail='[agent]\ntype = "optuna"\nwarm_start = "old"'), "old/readme": "x"},
        f"{W}: agent.warm_start",
        "trials.sqlite",
    )
    add(
        "override-warm-start-missing",
        scenario(f'{ONE_JOB}[jobs.agent]\ntype = "optuna"\nwarm_start = "gone"\n'),
        f"{S}: jobs[0].agent.warm_start",
        entry=S,
    )

    # -- huge inputs are not echoed whole -----------------------------------------------
    big = "a" * 100_000
    add("constraint-100kb", workload(top=f'constraints = ["{big} > 1"]'), f"{W}: constraints[0]")
    add(
        "constraint-100kb-syntax",
        workload(top=f'constraints = ["(({big}"]'),
        f"{W}: constraints[0]",
    )
    add("reward-100kb", workload(tail=f'[agent]\nreward = "expr: {big} +"'), f"{W}: agent.reward")
    add(
        "command-100kb-placeholder", workload().replace('"{x}"', f'"{{{big}}}"'), f"{W}: command[1]"
    )
    add("agent-type-100kb", workload(tail=f'[agent]\ntype = "{big}"'), f"{W}: agent.type")
    add(
        "param-value-100kb-bad",
        workload(params=f'x = {{low = 1, high = 2, dtype = "{big}"}}'),
        f"{W}: params.x.dtype",
    )

    # -- the local resource pool --------------------------------------------------------
    add(
        "local-gpus-per-trial-too-many",
        workload(tail="[local]\ngpus = [0, 1]\ngpus_per_trial = 3"),
        f"{W}: local",
        "pool has 2",
    )
    add("local-gpu-negative", workload(tail="[local]\ngpus = [-1]"), f"{W}: local.gpus")
    add(
        "local-gpu-duplicate",
        workload(tail="[local]\ngpus = [0, 0]"),
        f"{W}: local.gpus",
        "distinct",
    )
    add("local-gpu-id-spaces", workload(tail='[local]\ngpus = ["GPU 0"]'), f"{W}: local.gpus")
    add("local-cpus-empty", workload(tail="[local]\ncpus = []"), f"{W}: local.cpus")
    add(
        "local-cpus-per-trial-zero",
        workload(tail="[local]\ncpus_per_trial = 0"),
        f"{W}: local.cpus_per_trial",
    )
    add(
        "local-cpus-per-trial-too-many",
        workload(tail="[local]\ncpus = [0]\ncpus_per_trial = 2"),
        f"{W}: local",
        "pool has 1",
    )
    add("local-unknown-key", workload(tail="[local]\ngpu = [0]"), f"{W}: local.gpu", "unknown key")

    # -- other mistakes a new user makes ------------------------------------------------
    add("unknown-agent", workload(tail='[agent]\ntype = "nope"'), f"{W}: agent.type")
    add("unknown-reward", workload(tail='[agent]\nreward = "maximise"'), f"{W}: agent.reward")
    add("unknown-top-key", workload(top="bogus = 1"), f"{W}: bogus", "unknown key")
    add(
        "env-params-not-list",
        workload(params="x = [1, 2]\ny = 3", tail="[env_params.y]"),
        f"{W}: env_params.y",
    )
    add(
        "constraint-unknown-name",
        workload(top='constraints = ["nope > 1"]'),
        f"{W}: constraints[0]",
        "not a param",
    )
    add("live-without-server", workload(top='mode = "live"'), f"{W}: ")
    add(
        "objectives-mismatch",
        workload(tail='[agent]\nmetrics = ["m"]\nobjectives = ["max", "min"]'),
        f"{W}: agent",
    )
    add(
        "reward-against-first-objective",
        workload(
            tail="[[metrics]]\nname = \"n\"\nregex = 'n=([0-9.]+)'\n[agent]\n"
            'metrics = ["m", "n"]\nobjectives = ["min", "max"]\nreward = "identity"'
        ),
        f"{W}: agent",
        "reward 'identity' maximises 'm', but objectives[0] is 'min'",
    )
    add("runner-unknown", workload(top='runner = "k8s"'), f"{W}: runner")
    return cases


def _big_file(path: Path) -> None:
    """A 50 MB workload: a valid head and a huge comment (refused before parsing)."""
    with path.open("wb") as fh:
        fh.write(workload().encode())
        chunk = b"# " + b"x" * (1 << 20) + b"\n"
        for _ in range(50):
            fh.write(chunk)


CASES = _cases()


def _materialize(case: Case, root: Path) -> Path:
    for name, content in case.files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        if callable(content):
            content(path)
        elif isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_text(content, encoding="utf-8")
    return root / case.entry


def test_the_corpus_is_large_and_distinct() -> None:
    assert len(CASES) >= 100
    assert len({c.id for c in CASES}) == len(CASES)
    assert len({repr(sorted((k, repr(v)) for k, v in c.files.items())) for c in CASES}) == len(
        CASES
    )


def _check_error(case: Case, root: Path, err: str) -> None:
    assert "internal error" not in err and "Traceback" not in err, err[:2000]
    assert err.startswith("tunegym: error: "), err[:2000]
    where = case.where.replace(f"{S}:", f"{root / S}:").replace(f"{W}:", f"{root / W}:", 1)
    lines = [line.strip() for line in err.removeprefix("tunegym: error: ").splitlines()]
    matching = [line for line in lines if line.startswith(where)]
    assert matching, f"no error line starts with {where!r}:\n{err[:3000]}"
    assert any(all(s in line for s in case.says) for line in matching), (
        f"no error at {where!r} says {case.says}:\n{err[:3000]}"
    )
    assert len(err) < 5000, f"the error is {len(err)} characters long"


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_bad_spec_is_exit_2_with_file_and_field(
    case: Case, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    root = tmp_path / "spec"
    root.mkdir()
    entry = _materialize(case, root).resolve()
    root = root.resolve()

    assert main(["verify", str(entry)]) == 2
    captured = capsys.readouterr()
    assert ": ok" not in captured.out
    _check_error(case, root, captured.err)

    output = tmp_path / "runs"
    assert main(["run", str(entry), "--output", str(output), "--no-progress"]) == 2
    _check_error(case, root, capsys.readouterr().err)
    assert not output.exists() or not any(output.iterdir()), "a spec error must run nothing"


def test_the_console_script_rejects_the_whole_corpus(tmp_path: Path) -> None:
    """One ``tunegym verify`` over every file: one error per file, exit 2, no crash."""
    entries = []
    for i, case in enumerate(c for c in CASES if c.id != "big-file-50mb"):
        root = tmp_path / f"{i:03d}"
        root.mkdir()
        entries.append(str(_materialize(case, root)))
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
    done = subprocess.run(
        [str(TUNEGYM), "verify", *entries],
        capture_output=True,
        text=True,
        timeout=240,
        env=env,
    )
    assert done.returncode == 2
    assert "internal error" not in done.stderr and "Traceback" not in done.stderr
    assert done.stderr.count("tunegym: error: ") == len(entries)
    assert ": ok" not in done.stdout
