"""``RayRunner``: each trial is a Ray task, with per-trial resources (extra ``ray``).

The task runs the trial with :class:`~tunegym.runners.local.LocalRunner` on whichever
node Ray picks. With ``shared_fs = true`` the run folder is visible on every node and the
trial writes in place. Otherwise the trial runs in a scratch folder on the node: the
trial folder's files go there first, and everything the trial wrote (stdout, stderr,
result files the metrics read) comes back through the object store into the trial folder
on the driver. Paths to the trial folder in ``argv`` and ``TUNEGYM_TRIAL_DIR`` are
rewritten to the scratch folder.

``ray`` is imported only when a RayRunner is built.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import threading
from dataclasses import replace
from pathlib import Path
from typing import Any, ClassVar

from pydantic import BaseModel

from tunegym.runners.base import Runner, RunnerContext, TrialResult, TrialSpec
from tunegym.runners.local import DryRunRunner, LocalRunner
from tunegym.spec.models import RaySpec

# Files larger than this are not shipped back from a node (their name is logged instead).
MAX_RETURNED_FILE_BYTES = 256 * 1024 * 1024


def _collect(folder: Path) -> dict[str, bytes]:
    files: dict[str, bytes] = {}
    for path in folder.rglob("*"):
        if path.is_file() and path.stat().st_size <= MAX_RETURNED_FILE_BYTES:
            files[str(path.relative_to(folder))] = path.read_bytes()
    return files


def run_on_node(spec: TrialSpec, inputs: dict[str, bytes] | None) -> tuple[TrialResult, dict]:
    """Body of the Ray task: run in place (``inputs is None``) or in a scratch folder."""
    if inputs is None:
        return LocalRunner().run(spec), {}
    scratch = Path(tempfile.mkdtemp(prefix="tunegym-trial-"))
    try:
        for name, data in inputs.items():
            (scratch / name).parent.mkdir(parents=True, exist_ok=True)
            (scratch / name).write_bytes(data)
        home = str(spec.cwd)
        moved = replace(
            spec,
            cwd=scratch,
            argv=tuple(arg.replace(home, str(scratch)) for arg in spec.argv),
            env={k: v.replace(home, str(scratch)) for k, v in spec.env.items()},
        )
        result = LocalRunner().run(moved)
        return result, _collect(scratch)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


class RayRunner:
    """Run trials as Ray tasks; blocking ``run`` (the parallel loop calls it from threads)."""

    Settings: ClassVar[type[BaseModel] | None] = RaySpec

    @classmethod
    def from_settings(cls, settings: RaySpec, context: RunnerContext) -> Runner:
        """A runner for one job; a dry run starts no Ray and writes ``command.txt``."""
        if context.dry_run:
            return DryRunRunner()
        return cls(settings, local_cpus=int(context.parallel * max(settings.num_cpus, 1)))

    @classmethod
    def dispatches_whole_grid(cls, settings: Any) -> bool:
        return False

    @classmethod
    def settings_problems(cls, workload: Any) -> list[tuple[tuple[str | int, ...], str]]:
        """Nothing beyond what the settings model checks."""
        return []

    def __init__(self, settings: RaySpec | None = None, local_cpus: int | None = None) -> None:
        import ray

        self.ray = ray
        self.settings = settings or RaySpec()
        if not ray.is_initialized():
            if self.settings.address == "local":
                cpus = max(local_cpus or 1, os.cpu_count() or 1)
                ray.init(num_cpus=cpus, include_dashboard=False, log_to_driver=False)
            else:
                ray.init(address=self.settings.address, log_to_driver=False)
        options: dict[str, Any] = {
            "num_cpus": self.settings.num_cpus,
            "num_gpus": self.settings.num_gpus,
            "max_retries": 0,
        }
        if self.settings.resources:
            options["resources"] = dict(self.settings.resources)
        self._task = ray.remote(run_on_node).options(**options)
        self._active: set[Any] = set()
        self._lock = threading.Lock()

    def run(self, spec: TrialSpec) -> TrialResult:
        inputs = None if self.settings.shared_fs else _collect(spec.cwd)
        ref = self._task.remote(spec, inputs)
        with self._lock:
            self._active.add(ref)
        try:
            result, outputs = self.ray.get(ref)
        except BaseException:
            self.ray.cancel(ref)  # the task's LocalRunner kills the trial's process group
            raise
        finally:
            with self._lock:
                self._active.discard(ref)
        for name, data in outputs.items():
            target = spec.cwd / name
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(data)
        return replace(
            result,
            stdout_path=spec.cwd / result.stdout_path.name,
            stderr_path=spec.cwd / result.stderr_path.name,
        )

    def cancel_all(self) -> None:
        with self._lock:
            refs = list(self._active)
        for ref in refs:
            self.ray.cancel(ref)
