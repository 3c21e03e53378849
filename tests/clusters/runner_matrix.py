"""Every runner a stop can reach, each built for one test on the real thing: the local
runner, Ray (a local ``ray.init``, folders on the shared filesystem), a real Slurm job per
trial and a real Slurm array. Tests that must hold for each of them (a pruner's stop, a
time budget's stop) take a name from :data:`RUNNERS` and build it with the test's request,
which starts the cluster it needs."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from tunegym.runners.local import LocalRunner
from tunegym.spec.models import RaySpec, SlurmSpec


def ray_runner(request: pytest.FixtureRequest) -> Any:
    request.getfixturevalue("ray_two_cpus")
    from tunegym.runners.ray import RayRunner

    return RayRunner(RaySpec(shared_fs=True))


def slurm_runner(request: pytest.FixtureRequest) -> Any:
    request.getfixturevalue("slurm_plain")
    from tunegym.runners.slurm import SlurmRunner

    return SlurmRunner(SlurmSpec(poll_interval_s=0.2), job_name="tunegym-stops")


def slurm_array_runner(request: pytest.FixtureRequest) -> Any:
    request.getfixturevalue("slurm_plain")
    from tunegym.runners.slurm import SlurmRunner

    spec = SlurmSpec(poll_interval_s=0.2, batch=True)
    return SlurmRunner(spec, job_name="tunegym-stops-array", batch_window_s=0.2)


RUNNERS: dict[str, Callable[[pytest.FixtureRequest], Any]] = {
    "local": lambda request: LocalRunner(),
    "ray": ray_runner,
    "slurm": slurm_runner,
    "slurm-array": slurm_array_runner,
}
