"""``WrappingAgent``: the base of agents that wrap another (repeats, re-measuring).

A wrapper is the agent the loop drives; it decides which trials run and teaches the
wrapped agent, ``agent``, what it should learn. Everything the wrapper does not define
(an agent's own state, such as the optuna agent's ``study``) is read from the wrapped
agent, and so are its name and its warm start, as Ray Tune's ``Repeater`` and
``ConcurrencyLimiter`` wrap a searcher.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from tunegym.agents.base import BaseAgent, Feedback


class WrappingAgent(BaseAgent):
    """Delegates to ``self.agent`` what the wrapper does not define (see module docs).
    Subclasses set ``agent``, ``env``, ``config``, ``options`` and ``history`` in their
    ``__init__`` (they do not call ``BaseAgent.__init__``: the wrapped agent is built)."""

    agent: BaseAgent

    def __getattr__(self, name: str) -> Any:
        if name == "agent":  # not set yet (during __init__): no recursion
            raise AttributeError(name)
        return getattr(self.agent, name)

    @property
    def name(self) -> str:  # type: ignore[override]
        return self.agent.name

    @property
    def supports_warm_start(self) -> bool:  # type: ignore[override]
        return self.agent.supports_warm_start

    def warm_start(self, feedback: Sequence[Feedback]) -> int:
        """The wrapped agent learns an earlier run's trials as they are (they are not
        trials of this run: nothing is grouped or counted as a draw)."""
        return self.agent.warm_start(feedback)


__all__ = ["WrappingAgent"]
