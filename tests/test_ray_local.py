"""A local Ray that tunegym starts listens on 127.0.0.1 and is a new instance.

Each test runs in a subprocess with ``RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER`` removed (the
suite sets it for itself in conftest.py), as a user's shell has it, and with
``RAY_ADDRESS`` naming a port where nothing listens: Ray's own default would join that
address, so a run that starts its local Ray would fail there.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from cluster_procs import free_ports

from tunegym.ray_local import LOOPBACK_SWITCH

PROBE = """
import json, os
import ray  # imported first, as a user's script may: Ray has read its settings already
from tunegym.ray_local import LOOPBACK_SWITCH, start_local_ray

start_local_ray(num_cpus=1, include_dashboard=False, log_to_driver=False)

@ray.remote
def worker_node_ip():
    return ray.util.get_node_ip_address()

print(json.dumps({
    "gcs": ray.get_runtime_context().gcs_address,
    "nodes": [n["NodeManagerAddress"] for n in ray.nodes()],
    "worker": ray.get(worker_node_ip.remote()),
    "switch_left": LOOPBACK_SWITCH in os.environ,
}))
ray.shutdown()
"""


@pytest.fixture
def user_env() -> Iterator[dict[str, str]]:
    env = {k: v for k, v in os.environ.items() if k != LOOPBACK_SWITCH}
    (dead_port,) = free_ports(1)
    env["RAY_ADDRESS"] = f"127.0.0.1:{dead_port}"
    # This test's Ray sessions, not /tmp/ray's; short, as Ray's socket paths must be.
    scratch = tempfile.mkdtemp(prefix="tg-ray-", dir="/tmp")
    env["RAY_TMPDIR"] = scratch
    yield env
    shutil.rmtree(scratch, ignore_errors=True)


def test_a_local_ray_listens_on_loopback_and_ignores_ray_address(
    user_env: dict[str, str],
) -> None:
    done = subprocess.run(
        [sys.executable, "-c", PROBE],
        env=user_env,
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    seen = json.loads(done.stdout.strip().splitlines()[-1])
    assert seen["gcs"].startswith("127.0.0.1:"), seen
    assert seen["nodes"] == ["127.0.0.1"]
    assert seen["worker"] == "127.0.0.1"
    assert seen["switch_left"] is False  # the user's environment is as it was


def test_tunegym_run_on_the_ray_runner_starts_its_own_local_ray(
    tmp_path: Path, user_env: dict[str, str]
) -> None:
    workload = tmp_path / "echo.toml"
    workload.write_text(
        'name = "echo"\n'
        'command = ["{python}", "-c", "print(\'value=\' + \'{x}\')"]\n'
        'runner = "ray"\n'
        "[params]\nx = [1, 2]\n"
        "[[metrics]]\nname = \"value\"\nregex = 'value=(\\S+)'\n"
        '[agent]\ntype = "grid"\nmetrics = ["value"]\n'
    )
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "tunegym.cli.main",
            "run",
            str(workload),
            "--output",
            str(tmp_path / "out"),
        ],
        env=user_env,
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    (run_dir,) = (tmp_path / "out").iterdir()
    summary = json.loads((run_dir / "summary.json").read_text())
    assert summary["jobs"][0]["counts"]["ok"] == 2
    assert summary["jobs"][0]["best"]["action"] == {"x": 2}
