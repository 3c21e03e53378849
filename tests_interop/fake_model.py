"""A policy model that replays recorded answers: the stand-in for a real LLM endpoint.

It answers ``POST .../v1/responses`` (with or without NeMo Gym's ``/ng-rollout/<id>``
prefix) with the recorded OpenAI Responses object of the rollout whose prompt matches the
request's, or with a fixed ``\\boxed{A}`` answer for an unknown prompt, and keeps every
request it got. There is no model to run here; what is tested is the servers around it.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

DATA = Path(__file__).resolve().parent.parent / "tests" / "harness" / "data" / "nemo-gym"


def load_jsonl(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def prompt_of(params: dict[str, Any]) -> str:
    items = params.get("input")
    if isinstance(items, str):
        return items
    texts = []
    for item in items or []:
        content = item.get("content") if isinstance(item, dict) else None
        if isinstance(content, str):
            texts.append(content)
        elif isinstance(content, list):
            texts.extend(p.get("text", "") for p in content if isinstance(p, dict))
    return "\n".join(texts)


def response_object(text: str, response_id: str = "resp_fake") -> dict[str, Any]:
    """A minimal valid OpenAI Responses object with one assistant message."""
    return {
        "id": response_id,
        "created_at": 1756093415.0,
        "model": "fake-model",
        "object": "response",
        "output": [
            {
                "id": "msg_fake",
                "type": "message",
                "role": "assistant",
                "status": "completed",
                "content": [{"type": "output_text", "text": text, "annotations": []}],
            }
        ],
        "parallel_tool_calls": True,
        "tool_choice": "auto",
        "tools": [],
        "status": "completed",
        "usage": {
            "input_tokens": 12,
            "input_tokens_details": {"cached_tokens": 0},
            "output_tokens": 7,
            "output_tokens_details": {"reasoning_tokens": 0},
            "total_tokens": 19,
        },
    }


def make_app(rollouts: list[dict[str, Any]]) -> FastAPI:
    answers = {prompt_of(r["responses_create_params"]): r["response"] for r in rollouts}
    app = FastAPI()
    app.state.requests = []

    @app.get("/health")
    async def health() -> dict[str, str]:
        return {"status": "ok"}

    @app.post("/{path:path}")
    async def respond(path: str, request: Request) -> JSONResponse:
        body = await request.json()
        app.state.requests.append({"path": "/" + path, "body": body})
        if not path.endswith("v1/responses"):
            return JSONResponse({"detail": f"no route /{path}"}, status_code=404)
        recorded = answers.get(prompt_of(body))
        reply = copy.deepcopy(recorded) if recorded else response_object("\\boxed{A}")
        return JSONResponse(reply)

    return app
