"""What a run knows about each job iteration (:class:`JobRecord`), and its meta entry."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tunegym.spec.loader import Job

JOB_KEY_PREFIX = "job:"
CRASHED_MESSAGE = "the run stopped before this job finished (killed or crashed)"


@dataclass
class JobRecord:
    """What the run knows about one job iteration; filled in as the job goes."""

    job: Job
    iteration: int
    folder: Path
    agent: str | None
    max_steps: int
    status: str = "running"  # running | ok | agent_failed | error | interrupted | crashed
    exit_code: int | None = None
    message: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def label(self) -> str:
        """``name``, or ``name#iteration`` for a job run more than once (progress lines,
        reports and messages name the job iteration so)."""
        return self.job.name if self.job.iterations == 1 else f"{self.job.name}#{self.iteration}"

    @property
    def key(self) -> str:
        """The job iteration's key in the run database's ``meta`` table."""
        return f"{JOB_KEY_PREFIX}{self.job.name}:{self.iteration}"

    def to_meta(self, seq: int) -> dict[str, Any]:
        """The meta entry; ``seq`` orders jobs as the run met them."""
        job = self.job
        return {
            "seq": seq,
            "name": job.name,
            "iteration": self.iteration,
            "index": job.index,
            "iterations": job.iterations,
            "workload_path": str(job.workload_path),
            "workload": job.workload.model_dump(mode="json", by_alias=True),
            "agent": self.agent,
            "max_steps": self.max_steps,
            "status": self.status,
            "exit_code": self.exit_code,
            "message": self.message,
            "extra": self.extra,
        }
