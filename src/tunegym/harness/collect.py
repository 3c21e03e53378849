"""Rollout collection against an OpenAI-compatible endpoint, and dataset export.

``collect`` sends each row's prompt (``num_repeats`` times) to ``{base_url}/chat/completions``
or ``{base_url}/responses`` with at most ``concurrency`` requests in flight, verifies each
answer with the harness in-process, and writes one JSONL line per rollout as it finishes:
the row, ``response`` (a Responses object; chat answers are converted), ``reward``,
``expected_answer``, ``extracted_answer``, ``_ng_task_index`` and ``_ng_rollout_index``,
the shape NeMo Gym's own collector writes. A request that still fails after ``retries``
is recorded as a masked rollout (``mask_sample: true`` with ``failure_kind``/``failure_reason``)
and collection goes on. The aggregate metrics are written as JSON at the end.
"""

from __future__ import annotations

import asyncio
import json
import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tunegym.errors import UsageError, os_reason
from tunegym.harness.base import GymHarness, load_dataset, verify_timeout
from tunegym.harness.metrics import ROLLOUT_INDEX_KEY, TASK_INDEX_KEY, aggregate_metrics
from tunegym.harness.verifying import verify_body
from tunegym.metrics.trial_files import TrialFileError, read_trial_file
from tunegym.outputs.files import atomic_write_text

_RETRY_STATUS = {408, 409, 425, 429, 500, 502, 503, 504}
MAX_ROWS_BYTES = 2**30
"""The largest rows file read (1 GiB; parsed, JSON takes several times its size)."""


@dataclass(frozen=True)
class CollectConfig:
    """Where and how to ask the policy model. ``api`` is ``"chat"`` or ``"responses"``."""

    base_url: str
    model: str
    api: str = "chat"
    api_key: str | None = None
    concurrency: int = 8
    num_repeats: int = 1
    temperature: float | None = None
    max_output_tokens: int | None = None
    timeout: float = 120.0
    retries: int = 2
    verify_timeout: float | None = None

    def __post_init__(self) -> None:
        """A :class:`UsageError` naming the field that cannot work (before any request)."""
        problems = [
            ("api", self.api in ("chat", "responses"), "'chat' or 'responses'"),
            ("concurrency", self.concurrency >= 1, "at least 1"),
            ("num_repeats", self.num_repeats >= 1, "at least 1"),
            ("retries", self.retries >= 0, "0 or more"),
            ("timeout", math.isfinite(self.timeout) and self.timeout > 0, "seconds above 0"),
            (
                "verify_timeout",
                self.verify_timeout is None or self.verify_timeout > 0,
                "None or seconds above 0",
            ),
            (
                "temperature",
                self.temperature is None
                or (math.isfinite(self.temperature) and self.temperature >= 0),
                "a number from 0",
            ),
            (
                "max_output_tokens",
                self.max_output_tokens is None or self.max_output_tokens >= 1,
                "at least 1",
            ),
        ]
        for name, fits, expected in problems:
            if not fits:
                value = getattr(self, name)
                raise UsageError(f"CollectConfig.{name}: expected {expected}, got {value!r}")

    def __repr__(self) -> str:  # never show the key
        return f"CollectConfig(base_url={self.base_url!r}, model={self.model!r}, api={self.api!r})"


def export_dataset(harness: GymHarness, directory: Path) -> Path:
    """Write ``harness.get_dataset()`` to ``directory/<name>.jsonl`` and return the path.

    The rows are checked as ``serve`` checks them (:func:`load_dataset`) and must be JSON
    (no NaN, no sets, ...): a :class:`UsageError` names the row, and nothing is written.
    The file appears whole or not at all.
    """
    lines = [_row_line(harness, i, row) for i, row in enumerate(load_dataset(harness))]
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / f"{harness.name}.jsonl"
    try:
        atomic_write_text(path, "".join(lines))
    except OSError as exc:
        raise UsageError(f"{path}: {os_reason(exc)}") from exc
    return path


def _row_line(harness: GymHarness, index: int, row: dict[str, Any]) -> str:
    try:
        line = json.dumps(row, ensure_ascii=False, allow_nan=False)
        line.encode("utf-8")
    except UnicodeEncodeError:  # a lone surrogate: kept as its \\udXXX escape
        line = json.dumps(row, allow_nan=False)
    except (TypeError, ValueError, RecursionError) as exc:
        raise UsageError(
            f"harness {harness.name!r}: dataset row {index} is not JSON: {exc}"
        ) from None
    return line + "\n"


def read_rows(path: Path) -> list[dict[str, Any]]:
    """Rows of a JSONL file; a usage error names the file (and the line) that cannot be
    read as JSON objects: not a regular file (a FIFO would block, ``/dev/zero`` never
    end), over :data:`MAX_ROWS_BYTES`, not UTF-8, not JSON, nested too deeply."""
    rows = []
    try:
        content = read_trial_file(path, MAX_ROWS_BYTES)
    except OSError as exc:
        raise UsageError(f"{path}: {os_reason(exc)}") from exc
    except TrialFileError as exc:
        raise UsageError(f"{path}: {exc.reason}") from exc
    try:
        text = content.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        where = content.count(b"\n", 0, exc.start) + 1
        raise UsageError(
            f"{path}:{where}: not UTF-8 text (byte {content[exc.start]:#04x} at offset {exc.start})"
        ) from exc
    for number, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except RecursionError:
            raise UsageError(f"{path}:{number}: JSON nested too deeply") from None
        except ValueError as exc:
            raise UsageError(f"{path}:{number}: not valid JSON: {exc}") from exc
        if not isinstance(row, dict):
            raise UsageError(f"{path}:{number}: expected a JSON object")
        rows.append(row)
    return rows


def chat_messages(params: Mapping[str, Any]) -> list[dict[str, str]]:
    """Chat ``messages`` for a ``responses_create_params`` (instructions become a system turn)."""
    messages: list[dict[str, Any]] = []
    if isinstance(params.get("instructions"), str):
        messages.append({"role": "system", "content": params["instructions"]})
    items = params.get("input")
    if isinstance(items, str):
        return [*messages, {"role": "user", "content": items}]
    for item in items or []:
        if not isinstance(item, Mapping) or item.get("type", "message") != "message":
            continue
        content = item.get("content")
        if isinstance(content, list):
            content = "\n".join(
                part["text"]
                for part in content
                if isinstance(part, Mapping) and isinstance(part.get("text"), str)
            )
        role = str(item.get("role", "user"))
        text = content if isinstance(content, str) else ""
        messages.append({"role": "system" if role == "developer" else role, "content": text})
    return messages


def chat_to_responses(chat: Mapping[str, Any]) -> dict[str, Any]:
    """A minimal OpenAI Responses object holding a chat completion's first answer."""
    choices = chat.get("choices") or [{}]
    message = choices[0].get("message") or {}
    text = message.get("content") or ""
    usage = chat.get("usage") or {}
    return {
        "id": chat.get("id"),
        "object": "response",
        "created_at": chat.get("created"),
        "model": chat.get("model"),
        "status": "completed",
        "output": [
            {
                "id": f"msg_{chat.get('id')}",
                "type": "message",
                "role": "assistant",
                "status": "completed",
                "content": [{"type": "output_text", "text": text, "annotations": []}],
            }
        ],
        "usage": {
            "input_tokens": usage.get("prompt_tokens"),
            "output_tokens": usage.get("completion_tokens"),
            "total_tokens": usage.get("total_tokens"),
        },
    }


def _request(config: CollectConfig, params: Mapping[str, Any]) -> tuple[str, dict[str, Any]]:
    base = config.base_url.rstrip("/")
    if config.api == "responses":
        body = {k: v for k, v in params.items() if v is not None}
        body["model"] = config.model
        if config.max_output_tokens is not None:
            body["max_output_tokens"] = config.max_output_tokens
        path = "/responses"
    else:
        body = {"model": config.model, "messages": chat_messages(params)}
        if config.max_output_tokens is not None:
            body["max_tokens"] = config.max_output_tokens
        path = "/chat/completions"
    if config.temperature is not None:
        body["temperature"] = config.temperature
    return base + path, body


async def _ask(client: Any, config: CollectConfig, params: Mapping[str, Any]) -> dict[str, Any]:
    """The model's answer as a Responses object; raises ``_ModelError`` after retries."""
    import httpx

    url, body = _request(config, params)
    last: _ModelError | None = None
    for attempt in range(config.retries + 1):
        if attempt:
            await asyncio.sleep(min(0.25 * 2**attempt, 4.0))
        try:
            reply = await client.post(url, json=body)
        except httpx.TimeoutException as exc:
            last = _ModelError("transport_timeout", f"{type(exc).__name__}: {exc}")
            continue
        except httpx.HTTPError as exc:
            last = _ModelError("transport_unreachable", f"{type(exc).__name__}: {exc}")
            continue
        if reply.status_code >= 400:
            last = _ModelError(
                "tunegym:model_http_error", f"HTTP {reply.status_code}: {reply.text[:300]}"
            )
            if reply.status_code in _RETRY_STATUS:
                continue
            raise last
        try:
            data = reply.json()
        except ValueError as exc:
            raise _ModelError("protocol_violation", f"model reply is not JSON: {exc}") from exc
        if not isinstance(data, dict):
            raise _ModelError("protocol_violation", "model reply is not a JSON object")
        return chat_to_responses(data) if config.api == "chat" else data
    assert last is not None
    raise last


class _ModelError(Exception):
    def __init__(self, kind: str, reason: str) -> None:
        super().__init__(reason)
        self.kind = kind
        self.reason = reason


async def collect_async(
    harness: GymHarness,
    rows: list[dict[str, Any]],
    config: CollectConfig,
    output: Path,
    metrics_path: Path,
    progress: bool = True,
    secrets: Iterable[str] = (),
) -> dict[str, Any]:
    """Collect and verify every (row, repeat); return the aggregate metrics (also written).

    ``secrets`` are replaced by ``***`` in the ``failure_reason`` of a raising harness.
    """
    import httpx

    from tunegym.harness.payload import PayloadError

    known = tuple(secrets)
    verify_limit = verify_timeout(harness, config.verify_timeout)
    jobs = [(t, r) for t in range(len(rows)) for r in range(config.num_repeats)]
    results: list[dict[str, Any]] = []
    semaphore = asyncio.Semaphore(config.concurrency)
    headers = {"Authorization": f"Bearer {config.api_key}"} if config.api_key else {}
    limits = httpx.Limits(max_connections=config.concurrency)
    output.parent.mkdir(parents=True, exist_ok=True)
    metrics_path.parent.mkdir(parents=True, exist_ok=True)

    async def one(client: httpx.AsyncClient, task: int, repeat: int) -> dict[str, Any]:
        row = rows[task]
        base = {**row, TASK_INDEX_KEY: task, ROLLOUT_INDEX_KEY: repeat}
        params = row.get("responses_create_params")
        async with semaphore:
            try:
                if not isinstance(params, Mapping):
                    raise _ModelError("protocol_violation", "row has no responses_create_params")
                response = await _ask(client, config, params)
                return await verify_body(
                    harness, {**base, "response": response}, known, timeout=verify_limit
                )
            except (_ModelError, PayloadError) as exc:
                kind = exc.kind if isinstance(exc, _ModelError) else "protocol_violation"
                return {
                    **base,
                    "response": None,
                    "reward": 0.0,
                    "expected_answer": row.get("expected_answer"),
                    "extracted_answer": None,
                    "mask_sample": True,
                    "failure_kind": kind,
                    "failure_reason": str(exc),
                }

    with _ProgressBar(progress, len(jobs)) as advance, open(output, "w") as out:
        async with httpx.AsyncClient(
            timeout=config.timeout, headers=headers, limits=limits
        ) as client:
            for finished in asyncio.as_completed([one(client, t, r) for t, r in jobs]):
                rollout = await finished
                results.append(rollout)
                out.write(json.dumps(rollout, ensure_ascii=False, default=str) + "\n")
                out.flush()
                advance()
    results.sort(key=lambda r: (r[TASK_INDEX_KEY], r[ROLLOUT_INDEX_KEY]))
    metrics = aggregate_metrics(results, harness.compute_metrics, harness.key_metrics)
    metrics_path.write_text(json.dumps(metrics, indent=2, default=str) + "\n")
    return metrics


def collect(
    harness: GymHarness,
    rows: list[dict[str, Any]],
    config: CollectConfig,
    output: Path,
    metrics_path: Path,
    progress: bool = True,
    secrets: Iterable[str] = (),
) -> dict[str, Any]:
    """Synchronous wrapper of :func:`collect_async` (runs its own event loop)."""
    return asyncio.run(
        collect_async(harness, rows, config, output, metrics_path, progress, secrets)
    )


class _ProgressBar:
    """A rich progress bar on stderr (or nothing); yields an ``advance()`` callable."""

    def __init__(self, enabled: bool, total: int) -> None:
        self.enabled = enabled
        self.total = total
        self._progress: Any = None

    def __enter__(self) -> Any:
        if not self.enabled:
            return lambda: None
        from rich.console import Console
        from rich.progress import Progress

        self._progress = Progress(console=Console(stderr=True), transient=False)
        self._progress.start()
        task = self._progress.add_task("collecting rollouts", total=self.total)
        return lambda: self._progress.advance(task)

    def __exit__(self, *exc: object) -> None:
        if self._progress is not None:
            self._progress.stop()
