"""examples/sgd-pruning: a NumPy SGD model tuned with successive halving, run as its README
says.

The intermediate values predict the final one (validation loss per epoch), so the pruner
stops trials that are behind at its rungs (epochs 4, 8 and 16); each pruned trial was
worse than the best trial at the rung where it was stopped, and the best configuration is
a trial that ran to its end.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from tunegym.cli.main import main
from tunegym.trial.store import open_run_db

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "sgd-pruning"


def test_the_example_prunes_bad_runs_and_recommends_a_finished_one(tmp_path: Path) -> None:
    folder = tmp_path / "example"
    shutil.copytree(EXAMPLE, folder, ignore=shutil.ignore_patterns("__pycache__"))
    out = tmp_path / "runs"
    code = main(
        ["run", str(folder / "workload.toml"), "--output", str(out), "-q", "--max-steps", "14"]
    )
    assert code == 0
    (run_dir,) = out.iterdir()
    job = json.loads((run_dir / "summary.json").read_text())["jobs"][0]
    assert job["counts"]["ok"] >= 2 and job["counts"]["pruned"] >= 1
    assert job["pruning"]["metric"] == "val_loss" and job["pruning"]["direction"] == "min"
    db = open_run_db(run_dir)
    rows = db.rows("sgd-pruning", 0)
    db.close()
    assert all(r.curve for r in rows)
    best = next(r for r in rows if r.step == job["best"]["step"])
    assert best.status == "ok" and len(best.curve) == 20
    assert best.observation["val_loss"] == best.curve[-1][1]
    best_at = dict(best.curve)
    for row in rows:
        if row.status == "pruned":  # error: "pruned at step <n>: val_loss = <v>"
            assert row.error is not None
            stopped_at = int(row.error.split("step ", 1)[1].split(":", 1)[0])
            assert stopped_at in (4, 8, 16), row.error
            assert dict(row.curve)[stopped_at] > best_at[stopped_at]
    assert "Intermediate values" in (run_dir / "report.html").read_text()
