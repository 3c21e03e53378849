"""Harness resource server: verify throughput and latency vs a bare FastAPI app; startup time.

Figures (all measured in this run, on this machine):

- requests/s and p50/p99 latency of ``POST /verify`` at concurrency 32 for the bundled
  ``arithmetic`` harness served by ``tunegym harness serve``, and the same for a bare
  FastAPI app whose handler parses the JSON body and returns a constant (the baseline);
  both run under the same uvicorn settings in their own process, are driven by the same
  minimal keep-alive HTTP/1.1 client (so the client is not the bottleneck) with the same
  NeMo-Gym-shaped payload, in interleaved rounds; each server's best round counts (like
  ``timeit``'s minimum, it is the round least disturbed by other load on the machine),
  and the median round is printed too.
  Target: harness throughput >= 0.8 x bare.
- startup-to-ready of ``ResourceServerProcess`` (spawn to a verified ``/health``).
  Target: < 2 s.

Run: ``.venv/bin/python benchmarks/bench_harness_server.py [--requests 4000] [--rounds 3]``;
``--quick`` is a smoke run (a few hundred requests, one round, one startup).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable

CONCURRENCY = 32

PAYLOAD = {
    "responses_create_params": {
        "input": [{"role": "user", "content": "What is 12 + 30? Give the final answer."}],
        "tools": [],
        "parallel_tool_calls": None,
        "temperature": None,
    },
    "response": {
        "id": "resp_bench",
        "object": "response",
        "created_at": 1756093415.0,
        "model": "bench-model",
        "status": "completed",
        "output": [
            {
                "id": "msg_bench",
                "type": "message",
                "role": "assistant",
                "status": "completed",
                "content": [
                    {
                        "type": "output_text",
                        "text": "12 + 30: add the tens, 10 + 30 = 40, then 2 more. So 42.",
                        "annotations": [],
                    }
                ],
            }
        ],
        "parallel_tool_calls": True,
        "tool_choice": "auto",
        "tools": [],
        "usage": {"input_tokens": 20, "output_tokens": 24, "total_tokens": 44},
    },
    "expected_answer": "42",
    "id": "arithmetic-bench-0",
}

BARE_APP = """
import socket, sys, uvicorn
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

app = FastAPI()

@app.post("/verify")
async def verify(request: Request):
    await request.json()
    return JSONResponse({"reward": 1.0})

@app.get("/health")
async def health():
    return {"status": "ok"}

sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)  # as serve does
sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
sock.bind(("127.0.0.1", 0))
sock.listen(2048)
print(sock.getsockname()[1], flush=True)
config = uvicorn.Config(app, log_level="warning", access_log=False, lifespan="off")
uvicorn.Server(config).run(sockets=[sock])
"""


def post_request(path: str, body: bytes) -> bytes:
    """A keep-alive HTTP/1.1 POST of a JSON body, as raw bytes."""
    return (
        f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n".encode()
        + f"Content-Length: {len(body)}\r\n\r\n".encode()
        + body
    )


def _reward_one(status: int, body: bytes) -> bool:
    return status == 200 and b'"reward":1.0' in body


async def _one_connection(
    port: int,
    requests: list[bytes],
    count: int,
    latencies: list[float],
    check: Callable[[int, bytes], bool],
    offset: int = 0,
) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        for i in range(count):
            request = requests[(offset + i) % len(requests)]
            start = time.perf_counter()
            writer.write(request)
            head = await reader.readuntil(b"\r\n\r\n")
            status = int(head.split(b" ", 2)[1])
            length = 0
            for line in head.split(b"\r\n"):
                if line.lower().startswith(b"content-length:"):
                    length = int(line.split(b":", 1)[1])
            body = await reader.readexactly(length)
            latencies.append(time.perf_counter() - start)
            if not check(status, body):
                raise RuntimeError(f"unexpected reply {status}: {body[:200]!r}")
    finally:
        writer.close()
        await writer.wait_closed()


async def load(
    port: int,
    total: int,
    requests: list[bytes],
    check: Callable[[int, bytes], bool] = _reward_one,
    concurrency: int = CONCURRENCY,
) -> tuple[float, list[float]]:
    """Send ``total`` requests over ``concurrency`` keep-alive connections (cycling through
    ``requests``, each connection from its own offset); requests/s and the latencies."""
    latencies: list[float] = []
    per_connection = max(1, total // concurrency)
    start = time.perf_counter()
    await asyncio.gather(
        *(
            _one_connection(port, requests, per_connection, latencies, check, offset=c)
            for c in range(concurrency)
        )
    )
    elapsed = time.perf_counter() - start
    return len(latencies) / elapsed, latencies


def measure(
    port: int,
    total: int,
    requests: list[bytes] | None = None,
    check: Callable[[int, bytes], bool] = _reward_one,
) -> dict[str, float]:
    """Requests/s and p50/p99 latency (ms) of ``total`` verify requests at concurrency 32."""
    requests = requests or [post_request("/verify", json.dumps(PAYLOAD).encode())]
    asyncio.run(load(port, 256, requests, check))  # warm-up
    rps, latencies = asyncio.run(load(port, total, requests, check))
    cuts = statistics.quantiles(latencies, n=100)
    return {"rps": rps, "p50_ms": cuts[49] * 1000, "p99_ms": cuts[98] * 1000}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=4000, help="per round and server")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--startups", type=int, default=5)
    parser.add_argument("--quick", action="store_true", help="smoke run: 320 requests, 1 round")
    args = parser.parse_args()
    if args.quick:
        args.requests, args.rounds, args.startups = 320, 1, 1

    from tunegym.harness.process import ResourceServerProcess

    logs = tempfile.TemporaryDirectory(prefix="bench-harness-")
    startups = []
    for _ in range(args.startups):
        server = ResourceServerProcess(
            "arithmetic", log_level="warning", log_path=f"{logs.name}/startup.log"
        )
        start = time.perf_counter()
        with server:
            startups.append(time.perf_counter() - start)

    bare = subprocess.Popen(
        [sys.executable, "-c", BARE_APP], stdout=subprocess.PIPE, text=True, start_new_session=True
    )
    results: dict[str, list[dict[str, float]]] = {"bare": [], "harness": []}
    try:
        bare_port = int(bare.stdout.readline())
        log_path = f"{logs.name}/serve.log"
        with ResourceServerProcess("arithmetic", log_level="warning", log_path=log_path) as harness:
            for _ in range(args.rounds):
                results["bare"].append(measure(bare_port, args.requests))
                results["harness"].append(measure(harness.port, args.requests))
    finally:
        os.killpg(bare.pid, 15)
        bare.wait()
        logs.cleanup()

    def best_round(rounds: list[dict[str, float]]) -> dict[str, float]:
        return max(rounds, key=lambda r: r["rps"])

    print(f"machine: {os.cpu_count()} CPUs, Python {sys.version.split()[0]}, {sys.platform}")
    print(f"verify at concurrency {CONCURRENCY}, {args.requests} requests x {args.rounds} rounds")
    summary = {name: best_round(rounds) for name, rounds in results.items()}
    for name, figures in summary.items():
        print(
            f"  {name:8s} {figures['rps']:8.0f} req/s   p50 {figures['p50_ms']:6.2f} ms   "
            f"p99 {figures['p99_ms']:6.2f} ms   (best round; all rounds: "
            + ", ".join(f"{r['rps']:.0f}" for r in results[name])
            + ")"
        )
    ratio = summary["harness"]["rps"] / summary["bare"]["rps"]
    medians = {n: statistics.median(r["rps"] for r in rounds) for n, rounds in results.items()}
    print(
        f"  throughput ratio harness/bare: {ratio:.2f} best rounds (target >= 0.80), "
        f"{medians['harness'] / medians['bare']:.2f} median rounds"
    )
    print(
        f"startup-to-ready of ResourceServerProcess over {len(startups)} starts: "
        f"median {statistics.median(startups):.2f} s, max {max(startups):.2f} s (target < 2 s)"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
