"""A live server's ``step`` may report intermediate values: they become the row's curve."""

from __future__ import annotations

import textwrap
from pathlib import Path
from typing import Any

import pytest

from tunegym.outputs.toml import dumps
from tunegym.run import RunOptions, run_scenario
from tunegym.spec import load
from tunegym.trial.store import open_run_db

SERVER = textwrap.dedent(
    """
    from tunegym.pruning import report

    class Inner:
        def action_space(self):
            return {"x": [1.0, 2.0]}

        def observation_space(self):
            return ["value"]

        def reset(self, seed=None, options=None):
            return {"value": 0.0}, {}

        def step(self, params):
            value = 0.0
            for k in range(1, 4):
                value = params["x"] * k
                report(k, value)
            return {"value": value}, None, False, False, {}
    """
)


def test_live_step_reports_become_the_rows_curve(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "inner_server.py").write_text(SERVER)
    monkeypatch.syspath_prepend(str(tmp_path))
    data: dict[str, Any] = {
        "name": "live",
        "mode": "live",
        "server": "inner_server:Inner",
        "agent": {"type": "grid", "metrics": ["value"], "max_steps": 2},
    }
    path = tmp_path / "live.toml"
    path.write_text(dumps(data))
    result = run_scenario(load(path), RunOptions(output=tmp_path / "runs", progress=False))
    db = open_run_db(result.run_dir)
    rows = db.rows("live", 0)
    db.close()
    assert [r.curve for r in rows] == [
        ((1, 1.0), (2, 2.0), (3, 3.0)),
        ((1, 2.0), (2, 4.0), (3, 6.0)),
    ]


@pytest.mark.parametrize(
    ("reports", "says"),
    [
        ("report(1, 0.5); report(2, float('nan')); report(3, 0.4)", None),
        ("report(10**20, 0.5)", "step must be a whole number from 0 to 2^63-1"),
    ],
)
def test_a_live_server_reporting_nan_or_a_huge_step(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    reports: str,
    says: str | None,
) -> None:
    """NaN once failed a NOT NULL constraint of the curves table, and a step past 2^63
    overflowed SQLite: both ended the run with "internal error". A NaN point is now
    ignored, as in a command's output; a huge step is the server's mistake, said as such."""
    from tunegym.cli.main import main

    server = textwrap.dedent(
        f"""
        from tunegym.pruning import report

        class Inner:
            def action_space(self):
                return {{"x": [1.0, 2.0]}}

            def observation_space(self):
                return ["value"]

            def reset(self, seed=None, options=None):
                return {{"value": 0.0}}, {{}}

            def step(self, params):
                {reports}
                return {{"value": params["x"]}}, None, False, False, {{}}
        """
    )
    module = f"reporting_server_{abs(hash(reports))}"  # a module is imported once per name
    (tmp_path / f"{module}.py").write_text(server)
    monkeypatch.syspath_prepend(str(tmp_path))
    data: dict[str, Any] = {
        "name": "live",
        "mode": "live",
        "server": f"{module}:Inner",
        "agent": {"type": "grid", "metrics": ["value"], "max_steps": 2},
    }
    path = tmp_path / "live.toml"
    path.write_text(dumps(data))
    code = main(["run", str(path), "--output", str(tmp_path / "runs"), "--no-progress"])
    err = capsys.readouterr().err
    assert "internal error" not in err
    (run_dir,) = (tmp_path / "runs").iterdir()
    db = open_run_db(run_dir)
    rows = db.rows("live", 0)
    db.close()
    if says is None:
        assert code == 0
        assert [r.curve for r in rows] == [((1, 0.5), (3, 0.4))] * 2
    else:
        assert code == 2 and says in err and f"{module}.py:" in err
        assert rows == []  # the step never finished: nothing half-recorded
