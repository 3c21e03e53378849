"""The local runner's resource pool: GPUs and CPUs handed to parallel trials (issue 12).

No GPU is needed: the pool hands out ids as ``CUDA_VISIBLE_DEVICES``, and the tests check
what each trial was given while it ran. CPU pinning is real (``sched_setaffinity``).
"""

from __future__ import annotations

import json
import os
import sys
import threading
import time
from pathlib import Path

import pytest

from tunegym.cli.main import main
from tunegym.outputs.toml import dumps
from tunegym.runners import LocalRunner, TrialSpec
from tunegym.runners.local_resources import LocalResources, available_cpus
from tunegym.spec.models import LocalSpec

CPUS = sorted(available_cpus())
affinity = pytest.mark.skipif(not hasattr(os, "sched_setaffinity"), reason="Linux affinity")


def test_shares_are_the_lowest_free_ids_and_come_back() -> None:
    pool = LocalResources(gpus=[0, 1, 2, 3], gpus_per_trial=2)
    first, second = pool.acquire(), pool.acquire()
    assert (first.gpus, second.gpus) == (("0", "1"), ("2", "3"))
    assert first.env == {"CUDA_VISIBLE_DEVICES": "0,1"}
    with pytest.raises(TimeoutError):
        pool.acquire(timeout=0.05)  # all four are out
    first.release()
    first.release()  # idempotent: nothing is given back twice
    assert pool.free == (["0", "1"], [])
    assert pool.acquire().gpus == ("0", "1")


def test_a_waiting_trial_gets_the_share_as_soon_as_it_is_released() -> None:
    pool = LocalResources(gpus=["GPU-a"], gpus_per_trial=1)
    held = pool.acquire()
    got: list[tuple[str, ...]] = []
    waiter = threading.Thread(target=lambda: got.append(pool.acquire(timeout=30).gpus))
    waiter.start()
    time.sleep(0.1)
    assert got == []  # still waiting
    held.release()
    waiter.join(30)
    assert got == [("GPU-a",)]


def test_concurrent_holders_never_share_an_id() -> None:
    pool = LocalResources(gpus=list(range(6)), gpus_per_trial=2)
    holding: set[str] = set()
    guard = threading.Lock()
    clashes: list[str] = []

    def work() -> None:
        for _ in range(50):
            lease = pool.acquire(timeout=30)
            with guard:
                if holding & set(lease.gpus):
                    clashes.append(",".join(lease.gpus))
                holding.update(lease.gpus)
            time.sleep(0.0005)
            with guard:
                holding.difference_update(lease.gpus)
            lease.release()

    threads = [threading.Thread(target=work) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert clashes == []
    assert sorted(pool.free[0]) == [str(i) for i in range(6)]


def test_slots_and_spec() -> None:
    assert LocalResources.from_spec(LocalSpec()) is None  # nothing declared: no pool
    pool = LocalResources.from_spec(LocalSpec(gpus=[0, 1, 2, 3, 4], gpus_per_trial=2))
    assert pool is not None and pool.slots == 2
    cpu_pool = LocalResources(cpus=CPUS, cpus_per_trial=1)
    assert cpu_pool.slots == len(CPUS)
    with pytest.raises(ValueError, match="not available"):
        LocalResources(cpus=[max(CPUS) + 100], cpus_per_trial=1)


PROBE = """
import json, os, sys, time
start = time.time()
time.sleep(0.3)
json.dump({"gpus": os.environ.get("CUDA_VISIBLE_DEVICES"),
           "cpus": sorted(os.sched_getaffinity(0)),
           "tunegym_cpus": os.environ.get("TUNEGYM_CPUS"),
           "start": start, "end": time.time()}, open("probe.json", "w"))
"""


@affinity
def test_a_trial_runs_pinned_to_its_cpus(tmp_path: Path) -> None:
    pool = LocalResources(gpus=[7], cpus=[CPUS[-1]], cpus_per_trial=1)
    result = LocalRunner(pool).run(TrialSpec([sys.executable, "-c", PROBE], tmp_path))
    assert result.status == "ok", result.stderr_path.read_text()
    probe = json.loads((tmp_path / "probe.json").read_text())
    assert probe["cpus"] == [CPUS[-1]] and probe["tunegym_cpus"] == str(CPUS[-1])
    assert probe["gpus"] == "7"
    assert os.sched_getaffinity(0) == set(CPUS)  # this thread's mask came back
    assert pool.free == (["7"], [CPUS[-1]])  # released


@affinity
def test_parallel_trials_from_the_cli_get_disjoint_devices(tmp_path: Path) -> None:
    """A declared pool of 4 GPUs, 2 per trial, and one CPU per trial, with --parallel 2:
    every trial sees its own devices, and trials running at once never share one."""
    (tmp_path / "probe.py").write_text(PROBE)
    workload = tmp_path / "gpu.toml"
    workload.write_text(
        dumps(
            {
                "name": "gpu",
                "command": [sys.executable, str(tmp_path / "probe.py"), "{i}"],
                "params": {"i": list(range(6))},
                "local": {
                    "gpus": [0, 1, 2, 3],
                    "gpus_per_trial": 2,
                    "cpus": CPUS[:2],
                    "cpus_per_trial": 1,
                },
                "agent": {"type": "grid", "parallel": 2},
            }
        )
    )
    assert main(["verify", str(workload)]) == 0
    out = tmp_path / "runs"
    assert main(["run", str(workload), "--output", str(out), "-q", "--no-progress"]) == 0
    (run_dir,) = out.iterdir()
    probes = [json.loads(p.read_text()) for p in sorted(run_dir.glob("gpu/0/*/probe.json"))]
    assert len(probes) == 6
    for probe in probes:
        gpus = probe["gpus"].split(",")
        assert len(gpus) == 2 and set(gpus) <= {"0", "1", "2", "3"}
        assert len(probe["cpus"]) == 1 and set(probe["cpus"]) <= set(CPUS[:2])
    overlapping = 0
    for a in probes:
        for b in probes:
            if a is not b and a["start"] < b["end"] and b["start"] < a["end"]:
                overlapping += 1
                assert not set(a["gpus"].split(",")) & set(b["gpus"].split(","))
                if len(CPUS) >= 2:
                    assert a["cpus"] != b["cpus"]
    assert overlapping > 0  # trials did run at once (else the check above is empty)


def test_verify_names_the_pool(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    workload = tmp_path / "w.toml"
    workload.write_text(
        dumps(
            {
                "name": "w",
                "command": ["true", "{i}"],
                "params": {"i": [1, 2]},
                "local": {"gpus": [0, 1, 2], "gpus_per_trial": 1},
            }
        )
    )
    assert main(["verify", str(workload)]) == 0
    assert "local pool: 1 of 3 GPU(s) per trial, 3 trial(s) at once" in capsys.readouterr().out


def test_the_pool_and_env_cannot_both_set_the_devices(tmp_path: Path) -> None:
    workload = tmp_path / "w.toml"
    workload.write_text(
        dumps(
            {
                "name": "w",
                "command": ["true"],
                "env": {"CUDA_VISIBLE_DEVICES": "0"},
                "local": {"gpus": [0, 1]},
            }
        )
    )
    assert main(["verify", str(workload)]) == 2


def test_cancel_all_kills_the_running_trial_and_starts_no_waiting_one(tmp_path: Path) -> None:
    """An interrupted parallel run: a trial waiting for its share must not start later."""
    from tunegym.runners.local import TrialCancelled

    runner = LocalRunner(LocalResources(gpus=[0], gpus_per_trial=1))
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    sleeper = TrialSpec([sys.executable, "-c", "import time; time.sleep(60)"], tmp_path / "a")
    marker = tmp_path / "b" / "started"
    waiter = TrialSpec([sys.executable, "-c", f"open({str(marker)!r}, 'w')"], tmp_path / "b")
    outcome: dict[str, object] = {}

    def run(name: str, spec: TrialSpec) -> None:
        try:
            outcome[name] = runner.run(spec).status
        except TrialCancelled as exc:
            outcome[name] = exc

    a = threading.Thread(target=run, args=("a", sleeper))
    a.start()
    deadline = time.monotonic() + 30
    while runner.resources.free[0] and time.monotonic() < deadline:  # type: ignore[union-attr]
        time.sleep(0.01)
    b = threading.Thread(target=run, args=("b", waiter))
    b.start()
    time.sleep(0.2)
    runner.cancel_all()
    a.join(30)
    b.join(30)
    assert outcome["a"] == "failed"  # killed
    assert isinstance(outcome["b"], TrialCancelled)
    assert not marker.exists()
    with pytest.raises(TrialCancelled):
        runner.run(waiter)
