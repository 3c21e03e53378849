"""Instructions per trial and per live step, this tree against a baseline commit, side by side.

Wall-clock figures on a shared 2-core machine swing by 2-4x with the load; instruction
counts do not. ``valgrind --tool=callgrind`` counts the instructions of the tunegym
process (not of the trial commands it starts) for two workloads, each at a small and a
large size, so start-up cancels out and the difference is the cost per unit:

* **trial**: ``run_scenario`` of a grid over ``/bin/true`` (trial folder, trial.json,
  stdout/stderr files, a committed SQLite row and flushed CSV rows per trial);
* **live step**: ``GymnasiumAdapter.step`` over ``tunegym.make_env`` of a trivial live
  server (a committed SQLite row and a flushed CSV row per step).

The baseline is a git revision checked out into a temporary worktree and imported ahead
of this tree (``PYTHONPATH``); both use the same interpreter and packages. Prints each
figure and the ratio this tree / baseline (lower is better; 1.00 = as fast).

    python benchmarks/bench_instructions.py [--baseline REV] [--quick]

``--quick`` (what the test runs) counts one tiny run of each workload in this tree only.
"""

from __future__ import annotations

import argparse
import re
import shutil
import subprocess
import sys
import tempfile
import textwrap
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

TRIALS = textwrap.dedent(
    """
    import sys, tempfile
    from pathlib import Path
    from tunegym.run import RunOptions, run_scenario
    from tunegym.spec import load
    n = int(sys.argv[1])
    with tempfile.TemporaryDirectory() as d:
        d = Path(d)
        (d / "w.toml").write_text(
            f'name = "o"\\ncommand = ["/bin/true", "{{x}}"]\\n[params]\\nx = {list(range(n))}\\n'
            f'[agent]\\ntype = "grid"\\nmax_steps = {n}\\n'
        )
        run_scenario(load(d / "w.toml"), RunOptions(output=d / "runs", progress=False, verbosity=0))
    """
)

LIVE = textwrap.dedent(
    """
    import sys, tempfile
    from pathlib import Path
    import numpy as np
    import tunegym
    from tunegym.gym import GymnasiumAdapter
    n = int(sys.argv[1])
    SERVER = '''
    class TrivialServer:
        def action_space(self): return {"x": [0, 1, 2, 3]}
        def observation_space(self): return ["value"]
        def reset(self, seed=None, options=None): return {"value": 0.0}, {}
        def step(self, params):
            return {"value": float(params["x"])}, float(params["x"]), False, False, {}
    '''
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        (folder / "bench_trivial_server.py").write_text(SERVER)
        (folder / "workload.toml").write_text(
            'name = "bench-live"\\nmode = "live"\\n'
            'server = "bench_trivial_server:TrivialServer"\\n[agent]\\ntype = "random"\\n'
        )
        sys.path.insert(0, str(folder))
        env = tunegym.make_env(folder / "workload.toml", output=folder / "runs")
        adapter = GymnasiumAdapter(env, flatten=True)
        adapter.reset(seed=0)
        encoded = [np.array([i], dtype=np.int64) for i in range(4)]
        for i in range(n):
            adapter.step(encoded[i & 3])
        adapter.close()
    """
)


def instructions(src: Path, program: str, n: int) -> int:
    """Instructions callgrind counts in the tunegym process for ``program`` of size ``n``."""
    with tempfile.TemporaryDirectory() as tmp:
        script = Path(tmp) / "program.py"
        script.write_text(program)
        done = subprocess.run(
            [
                "valgrind",
                "--tool=callgrind",
                "--trace-children=no",
                f"--callgrind-out-file={tmp}/callgrind.out",
                sys.executable,
                str(script),
                str(n),
            ],
            capture_output=True,
            text=True,
            env={"PYTHONPATH": str(src), "PATH": "/usr/bin:/bin", "HOME": tmp},
            check=False,
        )
    found = re.search(r"Collected : (\d+)", done.stderr)
    if done.returncode != 0 or found is None:
        raise SystemExit(f"callgrind run failed ({done.returncode}):\n{done.stderr[-2000:]}")
    return int(found.group(1))


def per_unit(src: Path, program: str, small: int, large: int) -> float:
    return (instructions(src, program, large) - instructions(src, program, small)) / (large - small)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--baseline", default="HEAD~1", help="git revision to compare against")
    parser.add_argument("--quick", action="store_true", help="one tiny run each, this tree")
    args = parser.parse_args(argv)
    if shutil.which("valgrind") is None:
        raise SystemExit("bench_instructions needs valgrind (apt-get install valgrind)")
    programs = {"trial": TRIALS, "live step": LIVE}
    if args.quick:
        print("bench_instructions --quick: instructions of one tiny run (callgrind)")
        for name, size in (("trial", 3), ("live step", 20)):
            print(f"  {name:10} {instructions(ROOT / 'src', programs[name], size):14,d} in all")
        return 0
    sizes = {"trial": (10, 60), "live step": (500, 3000)}
    worktree = Path(tempfile.mkdtemp(prefix="tunegym-baseline-"))
    git = ["git", "-C", str(ROOT), "worktree"]
    subprocess.run([*git, "add", "-q", "--detach", str(worktree), args.baseline], check=True)
    try:
        print("bench_instructions: instructions per unit in the tunegym process (callgrind)")
        print(f"baseline: {args.baseline}")
        for name, (small, large) in sizes.items():
            ours = per_unit(ROOT / "src", programs[name], small, large)
            theirs = per_unit(worktree / "src", programs[name], small, large)
            print(
                f"  {name:10} this tree {ours:12,.0f}   baseline {theirs:12,.0f}   "
                f"ratio {ours / theirs:.3f}"
            )
    finally:
        subprocess.run([*git, "remove", "--force", str(worktree)], check=False)
    return 0


if __name__ == "__main__":
    sys.exit(main())
