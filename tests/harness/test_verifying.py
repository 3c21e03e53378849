"""One verify call: a raising harness is a masked sample, a stopped caller stays stopped."""

from __future__ import annotations

import asyncio

import httpx
import pytest
from harness_testkit import BaseExceptionHarness, OwnTimeoutHarness, SlowHarness, StuckHarness

from tunegym.errors import UsageError
from tunegym.harness.payload import parse_verify_body
from tunegym.harness.server import create_app
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


@pytest.mark.timeout(60)  # a verify without a limit held its request for ever
def test_a_verify_that_never_finishes_is_masked_after_its_limit_and_the_server_goes_on(
    live_server,
):
    url = live_server(StuckHarness(), verify_timeout_s=0.5)  # the server's override
    with httpx.Client(timeout=30) as client:
        stuck = client.post(f"{url}/verify", json={"response": "beta", "expected": "beta"})
        fine = client.post(f"{url}/verify", json=BODY)
    assert stuck.status_code == 200, stuck.text[:200]
    data = stuck.json()
    assert (data["reward"], data["mask_sample"], data["failure_kind"]) == (
        0.0,
        True,
        "verifier_error",
    )
    assert data["failure_reason"] == "VerifyTimeout: verify() did not finish within 0.5 s"
    assert (fine.json()["reward"], fine.json()["mask_sample"]) == (1.0, False)


@pytest.mark.timeout(60)
def test_the_harness_gives_its_own_verify_timeout_and_a_caller_may_override_it():
    stuck = parse_verify_body({"response": "beta", "expected": "beta"})
    own = asyncio.run(verify_input(StuckHarness(limit=0.2), stuck))
    assert own["failure_reason"] == "VerifyTimeout: verify() did not finish within 0.2 s"
    override = asyncio.run(verify_input(StuckHarness(limit=None), stuck, timeout=0.3))
    assert override["failure_reason"].endswith("within 0.3 s")
    quick = asyncio.run(verify_input(SlowHarness(0.05), parse_verify_body(BODY), timeout=20))
    assert (quick["reward"], quick["mask_sample"]) == (1.0, False)


def test_a_timeout_error_the_harness_raises_itself_keeps_its_own_name():
    masked = asyncio.run(verify_input(OwnTimeoutHarness(), parse_verify_body(BODY)))
    assert masked["failure_reason"] == "TimeoutError: judge did not answer"


@pytest.mark.parametrize("limit", [0, -1.0, float("nan"), "60", True])
def test_an_unusable_verify_timeout_on_a_harness_is_refused_before_serving(limit):
    with pytest.raises(UsageError, match=r"harness 'stuck': verify_timeout_s must be None or"):
        create_app(StuckHarness(limit=limit))
