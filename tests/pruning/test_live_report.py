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
