"""A short, stable fingerprint of a validated workload (shown in reports)."""

from __future__ import annotations

import hashlib
import json

from tunegym.spec.models import WorkloadSpec


def workload_fingerprint(workload: WorkloadSpec) -> str:
    """12 hex digits of SHA-256 over the validated workload: equal specs, equal prints.

    The workload is dumped as JSON with sorted keys, so formatting, key order and
    defaults written out or left implicit do not change it; any value that changes the
    trials (command, params, metrics, agent) does.
    """
    data = json.dumps(workload.model_dump(mode="json"), sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(data.encode()).hexdigest()[:12]
