"""Harnesses the interop suite serves with ``tunegym harness serve`` (via PYTHONPATH)."""

from __future__ import annotations

from typing import Any

from tunegym.harness import GymHarness, VerifyResult
from tunegym.harness.sessions import current_rollout_id, current_session


class ContextHarness(GymHarness):
    """Reports what the server made current while verifying: the rollout id and session."""

    name = "context"

    def get_dataset(self) -> list[dict[str, Any]]:
        prompt = {"input": [{"role": "user", "content": "Say yes"}]}
        return [{"responses_create_params": prompt, "expected_answer": "yes"}]

    async def seed_session(self, session: Any) -> None:
        session.state["verifies"] = 0

    async def verify(self, response_text: str, expected_answer: Any, **row_fields: Any):
        session = current_session()
        if session is not None:
            session.state["verifies"] += 1
        details = {
            "rollout_id": current_rollout_id(),
            "session_id": session.id if session else None,
            "verifies": session.state["verifies"] if session else None,
        }
        reward = 1.0 if response_text.strip().rstrip(".").lower() == expected_answer else 0.0
        return VerifyResult(reward, response_text, details)
