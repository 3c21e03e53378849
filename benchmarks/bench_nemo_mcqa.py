"""mcqa ``/verify``: tunegym's server vs NeMo Gym's own mcqa server, side by side.

Both servers run from the interop virtualenv (``make interop`` builds it: nemo-gym 0.7.0
and tunegym in one Python 3.13 interpreter, so both use the same uvicorn, httptools and
pydantic): NeMo Gym's ``MCQAResourcesServer`` started the way ``ng_run`` starts it (its
``run_webserver()``, with its own middlewares), and ``tunegym harness serve mcqa`` under
``ResourceServerProcess``. The payloads are the same for both: the five shared NeMo Gym
rows, each with its recorded model response (``tests/harness/data/nemo-gym``), cycled by
32 keep-alive connections. Rounds alternate between the servers; each server's best round
counts (the round least disturbed by other load) and the median is printed too.

Targets: tunegym's throughput >= 2x NeMo Gym's, and its p99 latency no worse.

Run: ``.venv-interop-0.7.0/bin/python benchmarks/bench_nemo_mcqa.py [--requests 4000]
[--rounds 5]``; ``--quick`` is a smoke run (a few hundred requests, one round).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
DATA = REPO / "tests" / "harness" / "data" / "nemo-gym"
sys.path.insert(0, str(REPO / "tests_interop"))  # nemo_stack: NeMo Gym's servers

from bench_harness_server import CONCURRENCY, load, post_request  # noqa: E402


def payloads() -> list[bytes]:
    """The five rows, each with its recorded response: what NeMo Gym's agent sends."""
    rows = [json.loads(line) for line in (DATA / "mcqa_example.jsonl").read_text().splitlines()]
    rollouts = [
        json.loads(line) for line in (DATA / "mcqa_example_rollouts.jsonl").read_text().splitlines()
    ]
    by_prompt = {r["responses_create_params"]["input"][0]["content"]: r for r in rows}
    bodies = []
    for rollout in rollouts:
        row = by_prompt[rollout["responses_create_params"]["input"][0]["content"]]
        bodies.append(json.dumps({**row, "response": rollout["response"]}).encode())
    return [post_request("/verify", body) for body in bodies]


def graded(status: int, body: bytes) -> bool:
    return status == 200 and b'"reward":' in body


def measure(port: int, total: int, requests: list[bytes]) -> dict[str, float]:
    asyncio.run(load(port, min(total, 256), requests, graded))  # warm-up
    rps, latencies = asyncio.run(load(port, total, requests, graded))
    cuts = statistics.quantiles(latencies, n=100)
    return {"rps": rps, "p50_ms": cuts[49] * 1000, "p99_ms": cuts[98] * 1000}


def same_answers(ports: dict[str, int], requests: list[bytes]) -> None:
    """Both servers give the same reward and extracted answer for every payload."""
    import http.client

    answers: dict[str, list[tuple[float, str | None]]] = {}
    for name, port in ports.items():
        answers[name] = []
        for request in requests:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
            body = request.split(b"\r\n\r\n", 1)[1]
            conn.request("POST", "/verify", body, {"Content-Type": "application/json"})
            data = json.loads(conn.getresponse().read())
            conn.close()
            answers[name].append((data["reward"], data["extracted_answer"]))
    if len({json.dumps(a) for a in answers.values()}) != 1:
        raise SystemExit(f"the servers disagree: {answers}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=4000, help="per round and server")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--quick", action="store_true", help="smoke run: 320 requests, 1 round")
    args = parser.parse_args()
    if args.quick:
        args.requests, args.rounds = 320, 1
    try:
        from nemo_stack import GymStack, nemo_version
    except ImportError as exc:
        print(f"needs the interop virtualenv (make interop builds it): {exc}", file=sys.stderr)
        return 2
    try:
        version = nemo_version()
    except Exception as exc:  # PackageNotFoundError: nemo-gym is not installed here
        print(
            f"needs nemo-gym in this interpreter (make interop builds it): {exc}", file=sys.stderr
        )
        return 2

    from tunegym.harness.process import ResourceServerProcess

    requests = payloads()
    with tempfile.TemporaryDirectory(prefix="bench-nemo-mcqa-") as work:
        gym = GymStack(Path(work))
        nemo = gym.add_nemo(
            "nemo_mcqa", "resources_servers", "mcqa", "MCQAResourcesServer", domain="knowledge"
        )
        results: dict[str, list[dict[str, float]]] = {"nemo-gym": [], "tunegym": []}
        try:
            gym.start()
            log = Path(work) / "tunegym.log"
            with ResourceServerProcess("mcqa", log_level="warning", log_path=log) as ours:
                ports = {"nemo-gym": nemo.port, "tunegym": ours.port}
                same_answers(ports, requests)
                for _ in range(args.rounds):
                    for name, port in ports.items():
                        results[name].append(measure(port, args.requests, requests))
        finally:
            gym.stop()

    print(
        f"machine: {os.cpu_count()} CPUs, Python {sys.version.split()[0]}, nemo-gym {version}, "
        f"load average {os.getloadavg()[0]:.1f}"
    )
    print(
        f"mcqa /verify at concurrency {CONCURRENCY}, {args.requests} requests x {args.rounds} "
        f"rounds, the 5 shared NeMo Gym payloads"
    )
    best = {name: max(rounds, key=lambda r: r["rps"]) for name, rounds in results.items()}
    for name, figures in best.items():
        print(
            f"  {name:9s} {figures['rps']:8.0f} req/s   p50 {figures['p50_ms']:6.2f} ms   "
            f"p99 {figures['p99_ms']:6.2f} ms   (best round; all rounds: "
            + ", ".join(f"{r['rps']:.0f}" for r in results[name])
            + ")"
        )
    ratio = best["tunegym"]["rps"] / best["nemo-gym"]["rps"]
    medians = {n: statistics.median(r["rps"] for r in rounds) for n, rounds in results.items()}
    p99 = best["tunegym"]["p99_ms"] / best["nemo-gym"]["p99_ms"]
    print(
        f"  throughput ratio tunegym/nemo-gym: {ratio:.2f} best rounds (target >= 2.00), "
        f"{medians['tunegym'] / medians['nemo-gym']:.2f} median rounds"
    )
    print(f"  p99 ratio tunegym/nemo-gym: {p99:.2f} (target <= 1.00)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
