"""Sessions: NeMo-Gym-style cookies, typed and legacy seeds, close, bounds (over real HTTP)."""

from __future__ import annotations

import asyncio

import httpx
import pytest
from harness_testkit import EchoHarness, FailingHooksHarness, StatefulHarness

from tunegym.errors import TunegymError
from tunegym.harness.server import create_app
from tunegym.harness.sessions import SessionStore, cookie_name

COOKIE = "StatefulHarness___stateful"
ROW = {
    "responses_create_params": {"input": [{"role": "user", "content": "Say alpha"}]},
    "expected_answer": "alpha",
    "idx": 123456,
}


def typed_seed(session_id: str, rollout: str = "rollout-0001", attempt: int = 0) -> dict:
    """A ``ResourcesSeedSessionRequest`` as NeMo Gym 0.7.0's environment server sends it."""
    return {
        "resources_session_id": session_id,
        "episode_id": {"rollout_id": rollout, "attempt": attempt},
        "task_id": {"taskset": "echo:example", "task_id": "0"},
        "task_data": ROW,
    }


def close_body(session_id: str) -> dict:
    return {"resources_session_id": session_id, "episode_id": {"rollout_id": "rollout-0001"}}


def verify(url: str, cookies: dict | None = None, path: str = "/verify") -> dict:
    body = {**ROW, "response": {"output": [{"type": "message", "content": "alpha"}]}}
    reply = httpx.post(f"{url}{path}", json=body, cookies=cookies)
    assert reply.status_code == 200, reply.text
    return reply.json()["verify_details"]


@pytest.fixture
def harness() -> StatefulHarness:
    return StatefulHarness()


@pytest.fixture
def url(live_server, harness) -> str:
    return live_server(harness)


def test_typed_seed_sets_a_cookie_named_like_nemo_gyms_and_echoes_the_id(url, harness):
    reply = httpx.post(f"{url}/seed_session", json=typed_seed("s-1"))
    assert reply.status_code == 200
    assert reply.json() == {"resources_session_id": "s-1"}  # nothing else: extra="forbid"
    assert set(reply.cookies) == {COOKIE}
    assert harness.seeded == ["s-1"]
    details = verify(url, dict(reply.cookies))
    assert details["session"] == {"id": "s-1", "verifies": 1, "task_data": ROW}
    assert verify(url, dict(reply.cookies))["session"]["verifies"] == 2  # state is kept


def test_seeding_the_same_id_again_returns_the_same_session(url, harness):
    first = httpx.post(f"{url}/seed_session", json=typed_seed("s-1"))
    again = httpx.post(f"{url}/seed_session", json=typed_seed("s-1"))
    assert again.json() == {"resources_session_id": "s-1"}
    assert again.cookies[COOKIE] == first.cookies[COOKIE]
    assert harness.seeded == ["s-1"]
    other_episode = httpx.post(f"{url}/seed_session", json=typed_seed("s-1", "rollout-0002"))
    assert other_episode.status_code == 409


def test_close_releases_the_session_and_a_late_seed_cannot_reopen_it(url, harness):
    cookies = dict(httpx.post(f"{url}/seed_session", json=typed_seed("s-1")).cookies)
    for _ in range(2):  # closing twice is fine
        reply = httpx.post(f"{url}/close_session", json=close_body("s-1"), cookies=cookies)
        assert (reply.status_code, reply.json()) == (200, {"resources_session_id": "s-1"})
    assert harness.closed == ["s-1"]
    assert verify(url, cookies)["session"] is None  # the cookie names nothing now
    late = httpx.post(f"{url}/seed_session", json=typed_seed("s-1"))
    assert late.status_code == 409
    assert "closed" in late.json()["detail"][0]["msg"]


def test_closing_a_never_seeded_id_succeeds_and_blocks_its_seed(url):
    reply = httpx.post(f"{url}/close_session", json=close_body("never"))
    assert (reply.status_code, reply.json()) == (200, {"resources_session_id": "never"})
    assert httpx.post(f"{url}/seed_session", json=typed_seed("never")).status_code == 409


def test_a_legacy_seed_opens_a_session_for_the_row(url, harness):
    """An agent's /run forwards the whole row; the cookie then carries it to /verify."""
    reply = httpx.post(f"{url}/seed_session", json=ROW)
    assert (reply.status_code, reply.json()) == (200, {})
    cookies = dict(reply.cookies)
    assert verify(url, cookies)["session"]["task_data"] == ROW
    assert verify(url)["session"] is None  # no cookie, no session
    closed = httpx.post(f"{url}/close_session", json={}, cookies=cookies)
    assert (closed.status_code, closed.json()) == (200, {})
    assert len(harness.closed) == 1
    assert verify(url, cookies)["session"] is None


def test_the_rollout_prefix_reaches_every_route_and_the_harness(url):
    prefix = "/ng-rollout/rollout-0001"
    reply = httpx.post(f"{url}{prefix}/seed_session", json=typed_seed("s-1"))
    assert reply.json() == {"resources_session_id": "s-1"}
    details = verify(url, dict(reply.cookies), path=f"{prefix}/verify")
    assert details["rollout_id"] == "rollout-0001"
    assert details["session"]["id"] == "s-1"
    assert verify(url)["rollout_id"] is None
    closed = httpx.post(f"{url}{prefix}/close_session", json=close_body("s-1"))
    assert closed.json() == {"resources_session_id": "s-1"}
    body = {"verify_responses": [{"reward": 1.0}]}
    assert httpx.post(f"{url}{prefix}/aggregate_metrics", json=body).status_code == 200
    assert httpx.get(f"{url}{prefix}/health").json() == {"status": "ok"}
    assert httpx.post(f"{url}/ng-rollout/.hidden/verify", json={}).status_code == 404


def test_the_cookie_is_named_after_the_server_name(live_server):
    url = live_server(EchoHarness(), server_name="nemo_echo")
    reply = httpx.post(f"{url}/seed_session", json={})
    assert set(reply.cookies) == {"EchoHarness___nemo_echo"}
    with pytest.raises(TunegymError, match="server name"):
        create_app(EchoHarness(), server_name="bad name;")
    with pytest.raises(ValueError):
        cookie_name("EchoHarness", "a=b")


@pytest.mark.parametrize(
    ("mutate", "field"),
    [
        (lambda b: b.update(resources_session_id=""), "resources_session_id"),
        (lambda b: b.update(task_data=[1]), "task_data"),
        (lambda b: b["episode_id"].update(rollout_id="../x"), "episode_id.rollout_id"),
        (lambda b: b["episode_id"].update(rollout_id="r-a2"), "episode_id.rollout_id"),
        (lambda b: b["episode_id"].update(attempt=-1), "episode_id.attempt"),
        (lambda b: b["episode_id"].update(colour="red"), "episode_id.colour"),
        (lambda b: b.update(task_id={"taskset": "t"}), "task_id.task_id"),
        (lambda b: b.update(episode_id="r"), "episode_id"),
    ],
)
def test_a_bad_typed_seed_is_a_422_naming_the_field(url, mutate, field):
    body = typed_seed("s-1")
    mutate(body)
    reply = httpx.post(f"{url}/seed_session", json=body)
    assert reply.status_code == 422
    assert reply.json()["detail"][0]["msg"].split(": ", 1)[0] == field


def test_failing_hooks_are_503_with_secrets_scrubbed(live_server):
    key = "sk-hooks-0123456789"
    url = live_server(FailingHooksHarness(key), secrets=[key])
    reply = httpx.post(f"{url}/seed_session", json=typed_seed("s-1"))
    assert reply.status_code == 503  # the client may retry; no session was opened
    assert "seed_session failed" in reply.json()["detail"]
    assert key not in reply.text and "***" in reply.text
    reply = httpx.post(f"{url}/close_session", json=close_body("s-1"))
    assert reply.status_code == 200  # nothing open, so nothing to release


def test_a_close_that_fails_keeps_the_session_open(live_server):
    harness = StatefulHarness()
    url = live_server(harness)
    cookies = dict(httpx.post(f"{url}/seed_session", json=typed_seed("s-1")).cookies)

    async def refuse(session):
        raise OSError("container still running")

    harness.close_session = refuse  # type: ignore[method-assign]
    reply = httpx.post(f"{url}/close_session", json=close_body("s-1"))
    assert reply.status_code == 503
    assert verify(url, cookies)["session"]["id"] == "s-1"  # still open: the caller retries


def test_concurrent_seeds_of_one_id_open_one_session(live_server):
    harness = StatefulHarness()
    harness.seed_delay = 0.2
    url = live_server(harness)

    async def seed_many() -> list[httpx.Response]:
        async with httpx.AsyncClient(base_url=url) as client:
            return await asyncio.gather(
                *(client.post("/seed_session", json=typed_seed("s-1")) for _ in range(5))
            )

    replies = asyncio.run(seed_many())
    assert {r.status_code for r in replies} == {200}
    assert len({r.cookies[COOKIE] for r in replies}) == 1
    assert harness.seeded == ["s-1"]


def test_a_close_racing_a_seed_wins(live_server):
    harness = StatefulHarness()
    harness.seed_delay = 0.3
    url = live_server(harness)

    async def race() -> tuple[httpx.Response, httpx.Response]:
        async with httpx.AsyncClient(base_url=url) as client:
            seed = asyncio.create_task(client.post("/seed_session", json=typed_seed("s-1")))
            await asyncio.sleep(0.1)  # the seed is inside the harness now
            close = await client.post("/close_session", json=close_body("s-1"))
            return await seed, close

    seeded, closed = asyncio.run(race())
    assert closed.status_code == 200
    assert seeded.status_code == 409
    assert harness.closed == ["s-1"]  # what the seed set up was released


def test_sessions_are_bounded_oldest_closed_first(live_server):
    harness = StatefulHarness()
    url = live_server(harness, sessions=SessionStore(max_sessions=2))
    for name in ("s-1", "s-2", "s-3"):
        assert httpx.post(f"{url}/seed_session", json=typed_seed(name)).status_code == 200
    assert harness.closed == ["s-1"]


def test_idle_sessions_are_closed(live_server):
    now = [1000.0]
    harness = StatefulHarness()
    url = live_server(harness, sessions=SessionStore(idle_timeout=60, clock=lambda: now[0]))
    httpx.post(f"{url}/seed_session", json=typed_seed("s-1"))
    now[0] += 61
    httpx.post(f"{url}/seed_session", json=typed_seed("s-2"))
    assert harness.closed == ["s-1"]


def test_session_store_rejects_silly_bounds():
    with pytest.raises(ValueError):
        SessionStore(max_sessions=0)
    with pytest.raises(ValueError):
        SessionStore(idle_timeout=0)
