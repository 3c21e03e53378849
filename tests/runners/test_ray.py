"""RayRunner on a real local Ray and on a real two-node Ray cluster (loopback).

The local tests run in this process on the session's local Ray; the cluster tests start
``tunegym`` against the two-node cluster of ``tests/clusters/ray_cluster.py``. The runner
contract (exit codes, timeouts, missing commands, cancel_all) is in ``test_contract.py``.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import ray_cluster
from cluster_procs import alive, free_ports, wait_until
from run_helpers import Tunegym, only_run_dir, trial_rows

from tunegym.cli.main import main
from tunegym.outputs.toml import dumps
from tunegym.runners.base import TrialSpec
from tunegym.runners.ray import RayRunner, check_connected_to, remove_stale_scratch
from tunegym.spec.models import RaySpec

WRITER = """
import json, os, sys
out = sys.argv[1]
json.dump({"cwd": os.getcwd(), "trial_dir": os.environ["TUNEGYM_TRIAL_DIR"],
           "input": open("trial.json").read()}, open(os.path.join(out, "result.json"), "w"))
print("score: 42")
print("warning", file=sys.stderr)
sys.exit(int(os.environ.get("EXIT", "0")))
"""


def _spec(tmp_path: Path, **env: str) -> TrialSpec:
    cwd = tmp_path / "trial"
    cwd.mkdir()
    (cwd / "trial.json").write_text('{"step": 1}')
    return TrialSpec(
        (sys.executable, "-c", WRITER, str(cwd)), cwd, {"TUNEGYM_TRIAL_DIR": str(cwd), **env}
    )


def test_outputs_come_back_to_the_trial_folder(tmp_path: Path, ray_local: Any) -> None:
    spec = _spec(tmp_path)
    result = RayRunner(RaySpec()).run(spec)
    assert result.status == "ok" and result.returncode == 0
    assert result.stdout_path == spec.cwd / "stdout.txt"
    assert (spec.cwd / "stdout.txt").read_text() == "score: 42\n"
    assert (spec.cwd / "stderr.txt").read_text() == "warning\n"
    written = json.loads((spec.cwd / "result.json").read_text())
    # Not a shared filesystem: the trial ran in a scratch folder on the node, with the
    # trial folder's files, and its paths rewritten to that folder.
    assert written["cwd"] != str(spec.cwd) and written["trial_dir"] == written["cwd"]
    assert written["input"] == '{"step": 1}'


def test_shared_filesystem_runs_in_place(tmp_path: Path, ray_local: Any) -> None:
    spec = _spec(tmp_path)
    assert RayRunner(RaySpec(shared_fs=True)).run(spec).status == "ok"
    assert json.loads((spec.cwd / "result.json").read_text())["cwd"] == str(spec.cwd)


def test_failures_and_timeouts_are_statuses(tmp_path: Path, ray_local: Any) -> None:
    (tmp_path / "a").mkdir()
    failed = RayRunner().run(_spec(tmp_path / "a", EXIT="4"))
    assert failed.status == "failed" and failed.returncode == 4
    cwd = tmp_path / "slow"
    cwd.mkdir()
    slow = TrialSpec(
        (sys.executable, "-c", "import time; time.sleep(30)"), cwd, timeout_s=0.5, kill_grace_s=0.5
    )
    assert RayRunner().run(slow).status == "timeout"


@pytest.mark.parametrize(
    ("settings", "says"),
    [
        ({"num_gpus": 1}, "(ray.num_gpus = 1)"),
        ({"resources": {"nosuch": 1}}, "(ray.resources.nosuch = 1)"),
        ({"num_cpus": 64}, "(ray.num_cpus = 64)"),
    ],
)
def test_what_no_node_of_a_local_ray_has_is_refused_naming_the_setting(
    ray_local: Any, settings: dict[str, Any], says: str
) -> None:
    # The task waited for a GPU that will never come: the run hung, timeout_s and all.
    from tunegym.errors import TunegymError

    with pytest.raises(TunegymError, match=re.escape(says)) as info:
        RayRunner(RaySpec(**settings))
    assert "no node of the Ray cluster has what a trial asks for" in str(info.value)
    assert "its nodes offer: CPU " in str(info.value)
    RayRunner(RaySpec(num_cpus=1))  # what a node has: fine


def test_tunegym_run_on_ray_in_parallel(
    tmp_path: Path,
    ray_local: Any,
    write_toml: Callable[..., Path],
    objective_workload: Callable[..., dict],
) -> None:
    data = objective_workload(metrics=[{"name": "score", "json": "result.json:score"}])
    path = write_toml("w.toml", data)
    code = main(
        ["run", str(path), "--output", str(tmp_path / "out"), "--runner", "ray", "--parallel", "4"]
    )
    assert code == 0
    (run_dir,) = (tmp_path / "out").iterdir()
    summary = json.loads((run_dir / "summary.json").read_text())
    assert summary["jobs"][0]["counts"]["ok"] == 8
    assert summary["jobs"][0]["best"]["action"] == {"x": 3, "y": "b"}
    assert (run_dir / "objective" / "0" / "1" / "result.json").is_file()


def test_a_process_already_on_ray_takes_local_auto_and_its_own_address(ray_local: Any) -> None:
    gcs = ray_local.get_runtime_context().gcs_address
    for address in ("local", "auto", gcs, gcs.replace("127.0.0.1", "localhost")):
        check_connected_to(address)  # nothing to refuse


@pytest.mark.parametrize("address", ["127.0.0.1:1", "ray://127.0.0.1:10001"])
def test_a_process_already_on_ray_refuses_another_cluster_before_a_run_folder(
    address: str,
    ray_local: Any,
    objective_workload: Callable[..., dict[str, Any]],
    write_toml: Callable[[str, dict[str, Any]], Path],
    tmp_path: Path,
) -> None:
    """Before, a second ``tunegym.tune`` (or a job) naming another cluster ran its
    trials on the local Ray this process was already connected to, without a word."""
    import tunegym
    from tunegym.errors import UsageError

    message = rf"^ray\.address '{address}': Ray is already connected in this process to "
    with pytest.raises(UsageError, match=message):
        check_connected_to(address)
    path = write_toml("w.toml", objective_workload())
    with pytest.raises(UsageError, match=r"call ray\.shutdown\(\) first"):
        tunegym.tune(path, output=tmp_path / "runs", runner="ray", ray_address=address)
    assert not (tmp_path / "runs").exists()


# -- the two-node cluster ----------------------------------------------------------------
# Each test drives `tunegym run --ray-address` in a process of its own (a process holds one
# Ray connection, and this one has a local Ray), with the cluster's variables.

# (No braces: tunegym reads {name} in a command as a placeholder.)
SLEEPER = """
import os, sys, time
marks, seconds, x = sys.argv[1], float(sys.argv[2]), float(sys.argv[3])
mark = os.path.join(marks, "%s-" + str(os.getpid()))
open(mark % "started", "w").write(os.environ.get("TMPDIR", ""))
time.sleep(seconds)
open(mark % "done", "w").close()
print("score: %s" % -(x - 3) ** 2)
"""


def _sleeper_workload(tmp_path: Path, name: str, seconds: float, **ray: Any) -> Path:
    marks = tmp_path / "marks"
    marks.mkdir(exist_ok=True)
    data = {
        "name": name,
        "command": [sys.executable, "-c", SLEEPER, str(marks), str(seconds), "{x}"],
        "params": {"x": [0, 1, 2, 3, 4, 5, 6, 7]},
        "metrics": [{"name": "score", "regex": r"score: (\S+)"}],
        "agent": {"type": "grid"},
        "runner": "ray",
        "ray": ray,
    }
    path = tmp_path / f"{name}.toml"
    path.write_text(dumps(data))
    return path


def _marks(tmp_path: Path, kind: str) -> list[Path]:
    return sorted((tmp_path / "marks").glob(f"{kind}-*"))


def _pids(tmp_path: Path, kind: str = "started") -> list[int]:
    return [int(p.name.split("-")[1]) for p in _marks(tmp_path, kind)]


def _scratch_left(cluster: Any) -> list[Path]:
    return [p for node in ray_cluster.NODES for p in cluster.tmpdir(node).glob("tunegym-trial-*")]


def _on_cluster(
    tmp_path: Path,
    cluster: Any,
    workload: Path,
    *extra: str,
    env: dict | None = None,
    unset: tuple[str, ...] = (),
) -> Tunegym:
    args = ["run", str(workload), "--output", str(tmp_path / "out"), "--no-progress"]
    args += ["--runner", "ray", "--ray-address", cluster.address, *extra]
    log = tmp_path / "tunegym.log"
    return Tunegym(args, env or cluster.env(), tmp_path, log, unset=unset)


def test_a_sweep_on_two_nodes_gives_the_rewards_of_a_local_run(
    tmp_path: Path, ray_two_nodes: Any
) -> None:
    workload = _sleeper_workload(tmp_path, "two-nodes", 1.0)
    run = _on_cluster(tmp_path, ray_two_nodes, workload, "--parallel", "4")
    assert run.wait(timeout=300) == 0, run.output()
    on_ray = trial_rows(only_run_dir(tmp_path / "out"))
    local_args = ["--output", str(tmp_path / "local"), "--runner", "local", "--no-progress"]
    assert main(["run", str(workload), *local_args]) == 0
    local = trial_rows(only_run_dir(tmp_path / "local"))
    assert [r["status"] for r in on_ray] == ["ok"] * 8
    assert {r["action"]["x"]: r["reward"] for r in on_ray} == {
        r["action"]["x"]: r["reward"] for r in local
    }
    nodes = {p.read_text() for p in _marks(tmp_path, "started")}
    assert {str(ray_two_nodes.tmpdir(n)) for n in ray_cluster.NODES} <= nodes  # both nodes ran
    assert _scratch_left(ray_two_nodes) == []


def test_ctrl_c_stops_running_trials_on_both_nodes_within_5s(
    tmp_path: Path, ray_two_nodes: Any
) -> None:
    workload = _sleeper_workload(tmp_path, "ctrl-c", 600)
    run = _on_cluster(tmp_path, ray_two_nodes, workload, "--parallel", "4")
    wait_until(lambda: len(_pids(tmp_path)) == 4, 120, "four running trials")
    pids = _pids(tmp_path)
    t0 = time.monotonic()
    run.interrupt()
    wait_until(lambda: not any(alive(p) for p in pids), 30, "the trials to stop")
    stopped_s = time.monotonic() - t0
    print(f"trials stopped {stopped_s:.2f} s after Ctrl-C")
    assert run.wait(timeout=60) == 130, run.output()
    print(f"tunegym exited {time.monotonic() - t0:.2f} s after Ctrl-C")
    assert stopped_s < 5, f"trials stopped {stopped_s:.1f} s after Ctrl-C"
    wait_until(lambda: _scratch_left(ray_two_nodes) == [], 10, "scratch folders to go")


@pytest.mark.parametrize("retries", [0, 1])
def test_a_killed_worker_node_fails_its_trials_and_the_run_completes(
    tmp_path: Path, ray_two_nodes: Any, retries: int
) -> None:
    workload = _sleeper_workload(tmp_path, f"killed-{retries}", 3.0, max_retries=retries)
    run = _on_cluster(tmp_path, ray_two_nodes, workload, "--parallel", "4")
    worker_tmp = str(ray_two_nodes.tmpdir("worker"))

    # Crash the worker node once two trials have finished and one runs there.
    def running_on_worker() -> list[int]:
        started = _marks(tmp_path, "started")
        pids = [int(p.name.split("-")[1]) for p in started if p.read_text() == worker_tmp]
        return [p for p in pids if alive(p)]

    wait_until(
        lambda: len(_marks(tmp_path, "done")) >= 2 and running_on_worker(),
        180,
        "two finished trials and one running on the worker node",
    )
    lost_pids = running_on_worker()
    assert ray_cluster.crash_node(ray_two_nodes, "worker")
    for pid in lost_pids:  # the node's trials die with it
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    try:
        assert run.wait(timeout=300) == 0, run.output()
    finally:
        for pid in _pids(tmp_path):  # trial processes orphaned on the dead node
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
    rows = trial_rows(only_run_dir(tmp_path / "out"))
    assert len(rows) == 8
    lost = [r for r in rows if r["status"] == "failed"]
    if retries == 0:
        assert lost, "no trial was lost with the node"
        for row in lost:
            assert row["error"].startswith("Ray lost the trial: "), row["error"]
            assert row["returncode"] is None
    else:
        assert lost == [], lost  # Ray ran the lost trials again on the head node
    assert len([r for r in rows if r["status"] == "ok"]) == 8 - len(lost)


def test_a_cluster_with_token_auth_without_ray_auth_mode_is_one_clear_line(
    tmp_path: Path, ray_two_nodes: Any
) -> None:
    workload = _sleeper_workload(tmp_path, "no-auth", 0.1)
    # (A local ray.init in this process sets RAY_AUTH_MODE in os.environ: unset it.)
    run = _on_cluster(
        tmp_path,
        ray_two_nodes,
        workload,
        env=ray_two_nodes.env(auth=False),
        unset=("RAY_AUTH_MODE",),
    )
    assert run.wait(timeout=180) == 1
    errors = [line for line in run.output().splitlines() if line.startswith("tunegym: ")]
    assert errors[-1].startswith(
        f"tunegym: error: cannot connect to the Ray cluster at {ray_two_nodes.address}"
    ), run.output()
    assert "set RAY_AUTH_MODE=token" in errors[-1]
    assert "internal error" not in run.output()


def _run_at(tmp_path: Path, address: str) -> Tunegym:
    """``tunegym run`` of a small sleeper workload on the Ray cluster at ``address``."""
    workload = _sleeper_workload(tmp_path, "at-address", 0.1)
    args = ["run", str(workload), "--output", str(tmp_path / "out"), "--runner", "ray"]
    return Tunegym([*args, "--ray-address", address], {}, tmp_path, tmp_path / "l")


def test_nothing_listening_at_the_address_is_a_fast_clear_error(tmp_path: Path) -> None:
    port = free_ports(1)[0]
    run = _run_at(tmp_path, f"127.0.0.1:{port}")
    assert run.wait(timeout=120) == 1
    assert (
        f"tunegym: error: cannot connect to the Ray cluster at 127.0.0.1:{port}: "
        "nothing answers there"
    ) in run.output()
    # why the run stopped is kept with it, without a traceback: it is no bug
    failure = (only_run_dir(tmp_path / "out") / "failure.txt").read_text()
    assert failure.startswith("type: TunegymError\nmessage: cannot connect to the Ray cluster")
    assert "Traceback" not in failure


def test_a_listener_that_is_not_ray_is_a_clear_error(tmp_path: Path) -> None:
    # A web server at the address: ray.init retried for more than six minutes, saying
    # only Ray's own "Failed to connect to GCS" lines.
    port = free_ports(1)[0]
    server = subprocess.Popen(
        [sys.executable, "-m", "http.server", str(port), "--bind", "127.0.0.1"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        wait_until(lambda: _listening(port), 30, "the web server")
        run = _run_at(tmp_path, f"127.0.0.1:{port}")
        assert run.wait(timeout=120) == 1
        assert (
            f"tunegym: error: cannot connect to the Ray cluster at 127.0.0.1:{port}: something "
            "answers there, but not as Ray (no gRPC handshake within 10 s)"
        ) in run.output()
    finally:
        server.kill()
        server.wait()


def _listening(port: int) -> bool:
    import socket

    with socket.socket() as sock:
        return sock.connect_ex(("127.0.0.1", port)) == 0


def test_stale_scratch_folders_of_dead_workers_are_removed(tmp_path: Path) -> None:
    import socket

    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    host = socket.gethostname()
    stale = tmp_path / f"tunegym-trial-{host}-{dead.pid}-abc"
    live = tmp_path / f"tunegym-trial-{host}-{os.getpid()}-def"
    other_host = tmp_path / f"tunegym-trial-elsewhere-{dead.pid}-ghi"
    for folder in (stale, live, other_host):
        (folder / "sub").mkdir(parents=True)
    assert remove_stale_scratch(tmp_path) == [stale]
    assert not stale.exists() and live.exists() and other_host.exists()
