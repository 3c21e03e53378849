"""Build the runner a job asks for (``runner = "local" | "ray" | "slurm"``)."""

from __future__ import annotations

from tunegym.runners.base import Runner
from tunegym.runners.local import DryRunRunner, LocalRunner
from tunegym.spec.models import WorkloadSpec

RUNNER_NAMES = ("local", "ray", "slurm")


def make_runner(
    workload: WorkloadSpec,
    *,
    dry_run: bool = False,
    parallel: int = 1,
    runner: str | None = None,
    ray_address: str | None = None,
) -> Runner:
    """The runner for ``workload``; ``runner`` and ``ray_address`` override the spec."""
    kind = runner or workload.runner
    if kind == "slurm":
        from tunegym.runners.slurm import SlurmRunner

        return SlurmRunner(workload.slurm, job_name=f"tunegym-{workload.name}", dry_run=dry_run)
    if dry_run:
        return DryRunRunner()
    if kind == "ray":
        from tunegym.runners.ray import RayRunner

        settings = workload.ray
        if ray_address is not None:
            settings = settings.model_copy(update={"address": ray_address})
        cpus_needed = int(parallel * max(settings.num_cpus, 1))
        return RayRunner(settings, local_cpus=cpus_needed)
    from tunegym.runners.local_resources import LocalResources

    return LocalRunner(LocalResources.from_spec(workload.local))
