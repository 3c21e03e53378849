"""``HarnessGymServer``: a harness as a live ``GymServer`` (single-turn episodes).

It satisfies tunegym's duck-typed ``GymServer`` protocol: ``reset()`` moves to the next
task and returns its prompt in ``info["prompt"]`` (plus the row's
``responses_create_params`` and ``task_index``); ``step({"response": text})`` verifies the
text and returns the verify reward, with ``terminated=True`` because every task is one
turn. Tasks are visited in dataset order, or in a seeded shuffled order after
``reset(seed=...)``, and wrap around; ``reset(options={"index": i})`` picks task ``i``.

Observations are named: ``{"reward": r}`` (``0.0`` after reset). The action is the
response text. When the answers form a finite set, ``action_space()`` is categorical
(``{"response": ["A", "B", ...]}``) so grid or random agents can play the harness: the
set is ``choices`` when given, else the option letters of rows that carry NeMo-Gym-style
``options`` (as ``mcqa`` rows do). A free-text harness has no enumerable action and
returns ``{}``: its caller (an LLM policy, the async RL loop) passes the text to ``step``.

It can be built from a live workload's ``[server_args]``
(``server = "tunegym.harness.env:HarnessGymServer"``, ``harness = "mcqa"``,
``harness_kwargs = {...}``, ``choices = [...]``) as well as from a harness instance.
``astep`` is the same as ``step`` for callers already in an event loop.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import random
from collections.abc import Coroutine, Sequence
from typing import Any, TypeVar

from tunegym.errors import UsageError
from tunegym.harness.base import GymHarness, load_dataset, load_harness, prompt_text, verify_timeout
from tunegym.harness.payload import VerifyInput, row_fields
from tunegym.harness.redaction import secret_values
from tunegym.harness.verifying import verify_input

T = TypeVar("T")


class HarnessGymServer:
    """Serve ``harness`` tasks one per episode (see the module docstring)."""

    def __init__(
        self,
        harness: GymHarness | str,
        harness_kwargs: dict[str, Any] | None = None,
        choices: Sequence[str] | None = None,
        action_key: str = "response",
    ) -> None:
        if isinstance(harness, str):
            harness = load_harness(harness, harness_kwargs)
        elif harness_kwargs:
            raise UsageError("harness_kwargs only apply when harness is given by path")
        self.harness = harness
        verify_timeout(harness)  # a harness whose limit is unusable fails here, not per step
        self._secrets = tuple(secret_values(harness_kwargs or {}))  # scrubbed from failures
        self.dataset = load_dataset(harness)
        if not self.dataset:
            raise UsageError(f"harness {harness.name!r} has an empty dataset")
        self.choices = list(choices) if choices is not None else _option_letters(self.dataset)
        self.action_key = action_key
        self._order = list(range(len(self.dataset)))
        self._cursor = -1
        self._current: int | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    def action_space(self) -> dict[str, Any]:
        """``{action_key: [choices]}`` when the answers are enumerable, else ``{}``."""
        if self.choices:
            return {self.action_key: list(self.choices)}
        return {}

    def observation_space(self) -> list[str]:
        """The metric names of every observation: ``["reward"]``."""
        return ["reward"]

    def reset(
        self, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[dict[str, Any], dict[str, Any]]:
        """Start the next task; ``seed`` reshuffles the order, ``options["index"]`` picks one."""
        if seed is not None:
            self._order = list(range(len(self.dataset)))
            random.Random(seed).shuffle(self._order)
            self._cursor = -1
        index = (options or {}).get("index")
        if index is not None:
            if isinstance(index, bool) or not isinstance(index, int):
                raise UsageError(f"reset option 'index' must be an integer, got {index!r}")
            if not 0 <= index < len(self.dataset):
                raise UsageError(
                    f"reset option 'index' {index} is outside 0..{len(self.dataset) - 1}"
                )
            self._current = index
        else:
            self._cursor = (self._cursor + 1) % len(self._order)
            self._current = self._order[self._cursor]
        row = self.dataset[self._current]
        info = {
            "task_index": self._current,
            "prompt": prompt_text(row),
            "responses_create_params": row.get("responses_create_params"),
        }
        return {"reward": 0.0}, info

    async def astep(
        self, params: dict[str, Any]
    ) -> tuple[dict[str, Any], float | None, bool, bool, dict[str, Any]]:
        """Verify ``params[action_key]`` against the current task (see :meth:`step`)."""
        if self._current is None:
            raise UsageError("call reset() before step(): no task is active")
        text = params.get(self.action_key)
        if not isinstance(text, str):
            raise UsageError(
                f"step() needs params[{self.action_key!r}] to be the response text, got {text!r}"
            )
        index, self._current = self._current, None
        row = self.dataset[index]
        result = await verify_input(
            self.harness,
            VerifyInput(text, row.get("expected_answer"), row_fields(row)),
            self._secrets,
        )
        info = {"task_index": index, **{k: v for k, v in result.items() if k != "reward"}}
        return {"reward": result["reward"]}, result["reward"], True, False, info

    def step(
        self, params: dict[str, Any]
    ) -> tuple[dict[str, Any], float | None, bool, bool, dict[str, Any]]:
        """Verify the response text: ``(obs, reward, terminated=True, truncated=False, info)``.

        ``info`` holds ``expected_answer``, ``extracted_answer``, ``mask_sample`` (true when
        the harness raised; the reward is then 0.0) and ``task_index``.
        """
        return self._run(self.astep(params))

    def close(self) -> None:
        """Release the private event loop used by :meth:`step`."""
        if self._loop is not None:
            self._loop.close()
            self._loop = None

    def _run(self, coro: Coroutine[Any, Any, T]) -> T:
        try:
            asyncio.get_running_loop()
        except RuntimeError:
            if self._loop is None:
                self._loop = asyncio.new_event_loop()
            return self._loop.run_until_complete(coro)
        # Called from inside an event loop: run on a helper thread rather than nest loops.
        with concurrent.futures.ThreadPoolExecutor(max_workers=1) as pool:
            return pool.submit(asyncio.run, coro).result()


def _option_letters(rows: list[dict[str, Any]]) -> list[str] | None:
    """Sorted option keys of rows with NeMo-Gym ``options`` (``[{"A": ...}, ...]``), if any."""
    letters: set[str] = set()
    for row in rows:
        options = row.get("options")
        entries = options if isinstance(options, list) else [options]
        for entry in entries:
            if isinstance(entry, dict):
                letters.update(k for k in entry if isinstance(k, str))
    return sorted(letters) or None
