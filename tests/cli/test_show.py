"""``tunegym show`` and ``compare`` of a run that measured each action several times:
the best mean over an action's measurements, beside the table of single trials."""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tunegym.cli.main import main

# x = 1 scores 10 on its first measurement and 0 after (a mean of 2.5); x = 2 and 3 score
# themselves. The luckiest single trial is x = 1, the best mean x = 3.
NOISY = """
import pathlib, sys
x = int(sys.argv[1])
count = pathlib.Path(sys.argv[2]) / f"count-{x}.txt"
n = int(count.read_text()) if count.exists() else 0
count.write_text(str(n + 1))
print("score", (10 if n == 0 else 0) if x == 1 else x)
"""


@pytest.fixture
def repeated_run(tmp_path: Path, write_toml: Callable[[str, dict[str, Any]], Path]) -> Path:
    (tmp_path / "noisy.py").write_text(NOISY)
    workload = {
        "name": "rep",
        "command": [sys.executable, str(tmp_path / "noisy.py"), "{x}", str(tmp_path)],
        "cache": False,
        "params": {"x": [1, 2, 3]},
        "metrics": [{"name": "score", "regex": r"score (\S+)"}],
        "agent": {"type": "grid", "repeats": 4},
    }
    path = write_toml("w.toml", workload)
    assert main(["run", str(path), "--output", str(tmp_path / "runs"), "--quiet"]) == 0
    (run_dir,) = (tmp_path / "runs").iterdir()
    return run_dir


def test_show_says_the_best_mean_over_repeats(
    repeated_run: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # The table ranks single trials (x = 1's lucky 10 first); nothing said which action
    # was best on average, as summary.json and best_config.toml do.
    capsys.readouterr()
    assert main(["show", str(repeated_run), "--top", "3"]) == 0
    out = capsys.readouterr().out
    assert '  robust best (mean over repeats) 3 ± 0 (s.e.) over 4 measurement(s): {"x": 3}' in out


def test_compare_gives_the_robust_best_under_repeats(
    repeated_run: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # The robust column was filled under env params only ("-" with repeats).
    capsys.readouterr()
    assert main(["compare", str(repeated_run)]) == 0
    row = next(line for line in capsys.readouterr().out.splitlines() if "│ rep " in line)
    cells = [cell.strip() for cell in row.strip("│ ").split("│")]
    assert cells[4:6] == ["10", "3 (4)"]  # best single trial, best mean (measurements)
