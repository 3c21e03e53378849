"""Report files are written atomically, also by two writers at once (a run finishing while
``tunegym report`` regenerates the same folder)."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

from tunegym.cli.main import main
from tunegym.outputs.files import atomic_write_text
from tunegym.report.writing import regenerate


def _hammer(workers: list[Callable[[], None]]) -> list[BaseException]:
    """Run ``workers`` in threads that start together; return what they raised."""
    errors: list[BaseException] = []
    start = threading.Barrier(len(workers))

    def run(work: Callable[[], None]) -> None:
        start.wait()
        try:
            work()
        except BaseException as exc:  # collected for the assertion
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(w,)) for w in workers]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return errors


def test_two_concurrent_writers_never_fail_and_readers_see_whole_files(tmp_path: Path) -> None:
    path = tmp_path / "summary.json"
    texts = {name: json.dumps({"writer": name, "pad": name * 200_000}) for name in "ab"}
    done = threading.Event()
    seen: list[str] = []

    def writer(name: str) -> Callable[[], None]:
        def work() -> None:
            for _ in range(200):
                atomic_write_text(path, texts[name])

        return work

    def reader() -> None:
        while not done.is_set():
            if path.exists():
                seen.append(path.read_text(encoding="utf-8"))

    watcher = threading.Thread(target=reader)
    watcher.start()
    try:
        errors = _hammer([writer("a"), writer("b")])
    finally:
        done.set()
        watcher.join()
    assert errors == []
    assert path.read_text(encoding="utf-8") in texts.values()
    assert seen and all(text in texts.values() for text in seen)  # never half a file
    assert sorted(p.name for p in tmp_path.iterdir()) == ["summary.json"]  # no temp left


def test_concurrent_regenerations_of_one_run_do_not_fail(
    tmp_path: Path,
    write_toml: Callable[..., Path],
    objective_workload: Callable[..., dict[str, Any]],
) -> None:
    data = objective_workload(
        params={"x": [1, 2, 3], "y": ["a", "b"]},
        agent={"type": "grid", "metrics": ["score", "duration_s"], "objectives": ["max", "min"]},
    )
    out = tmp_path / "out"
    assert main(["run", str(write_toml("w.toml", data)), "--output", str(out), "--quiet"]) == 0
    (run_dir,) = out.iterdir()

    def work() -> None:
        for _ in range(15):
            regenerate(run_dir)

    assert _hammer([work, work]) == []
    summary = json.loads((run_dir / "summary.json").read_text())
    assert summary["jobs"][0]["pareto_front"]
    assert (run_dir / "report.html").read_text(encoding="utf-8").endswith("</html>\n")
    leftovers = [p.name for p in run_dir.rglob("*") if p.name.endswith(".tmp")]
    assert leftovers == []
