"""One verify call: a raising harness is a masked sample, a stopped caller stays stopped."""

from __future__ import annotations

import asyncio

import httpx
import pytest
from harness_testkit import BaseExceptionHarness, SlowHarness

from tunegym.harness.payload import parse_verify_body
from tunegym.harness.verifying import verify_input

BODY = {"response": "alpha", "expected": "alpha"}


@pytest.mark.parametrize(
    "error",
    [SystemExit(3), KeyboardInterrupt(), asyncio.CancelledError("harness timeout")],
    ids=["SystemExit", "KeyboardInterrupt", "CancelledError"],
)
def test_a_harness_raising_a_base_exception_gives_a_masked_200(live_server, error):
    url = live_server(BaseExceptionHarness(error))
    for _ in range(2):  # the server goes on answering
        reply = httpx.post(f"{url}/verify", json=BODY)
        assert reply.status_code == 200, reply.text[:200]
        data = reply.json()
        assert (data["reward"], data["mask_sample"]) == (0.0, True)
        assert data["failure_kind"] == "verifier_error"
        assert data["failure_reason"].startswith(type(error).__name__)
    assert httpx.get(f"{url}/health").status_code == 200


def test_a_cancelled_verify_stays_cancelled():
    async def main() -> None:
        task = asyncio.create_task(verify_input(SlowHarness(10), parse_verify_body(BODY)))
        await asyncio.sleep(0.05)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    asyncio.run(main())


def test_a_keyboard_interrupt_outside_the_server_is_not_masked():
    """In collect or an environment it may be the user's Ctrl-C: it must stop them."""
    data = parse_verify_body(BODY)
    with pytest.raises(KeyboardInterrupt):
        asyncio.run(verify_input(BaseExceptionHarness(KeyboardInterrupt()), data))
    masked = asyncio.run(
        verify_input(BaseExceptionHarness(SystemExit(1)), data, mask_keyboard_interrupt=False)
    )
    assert masked["failure_kind"] == "verifier_error"
