"""``tunegym harness serve|export-data|collect`` through the real CLI entry points."""

from __future__ import annotations

import asyncio
import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from harness_testkit import assert_group_gone, load_jsonl, pid_alive, serve_app

from tunegym.cli.main import main
from tunegym.harness.bundled.arithmetic import ArithmeticHarness

API_KEY = "sk-fake-openai-key-0042"


def _tunegym(*args: str, env: dict | None = None) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "tunegym.cli.main", "harness", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, **(env or {})},
        start_new_session=True,
    )


def _wait_healthy(url: str, proc: subprocess.Popen, timeout: float = 30) -> None:
    """Wait until the server at ``url`` answers ``/health`` with ``{"status": "ok"}``
    (failing if ``proc`` ends first or ``timeout`` passes)."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            assert httpx.get(f"{url}/health").json() == {"status": "ok"}
            return
        except httpx.TransportError:
            assert time.monotonic() < deadline and proc.poll() is None
            time.sleep(0.05)


def _serve_in(folder: Path, env: dict, harness: str, *args: str) -> subprocess.Popen:
    """``tunegym harness serve HARNESS`` run in ``folder`` (its harness modules found there,
    as a user runs it), in a session of its own."""
    return subprocess.Popen(
        [_console_script(), "harness", "serve", harness, *args],
        cwd=folder,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )


def test_serve_prints_the_bound_url_first_and_serves(tmp_path):
    kwargs = tmp_path / "kwargs.yaml"
    kwargs.write_text("size: 7\nseed: 3\n")
    proc = _tunegym("serve", "arithmetic", "--port", "0", "--kwargs-file", str(kwargs))
    try:
        first = proc.stdout.readline().strip()
        assert re.fullmatch(r"http://127\.0\.0\.1:\d+", first), first
        _wait_healthy(first, proc)
        assert httpx.get(f"{first}/dataset_size").json() == {"dataset_size": 7}
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        _, err = proc.communicate(timeout=30)
    assert "Finished server process" in err  # a clean shutdown, then the signal's status
    assert proc.returncode == -signal.SIGTERM
    assert_group_gone(proc.pid)


def test_serve_stopped_with_ctrl_c_shuts_down_cleanly_and_exits_130():
    proc = _tunegym("serve", "arithmetic", "--port", "0")
    try:
        url = proc.stdout.readline().strip()
        _wait_healthy(url, proc)
    finally:
        os.killpg(proc.pid, signal.SIGINT)
        _, err = proc.communicate(timeout=30)
    assert "Finished server process" in err
    assert err.strip().splitlines()[-1] == "tunegym: interrupted by Ctrl-C"
    assert proc.returncode == 130
    assert_group_gone(proc.pid)


def test_serve_on_a_taken_port_exits_98_with_one_line():
    with serve_app(_ok_app()) as url:
        port = url.rsplit(":", 1)[1]
        proc = _tunegym("serve", "arithmetic", "--port", port)
        out, err = proc.communicate(timeout=60)
    assert proc.returncode == 98
    assert out == ""
    assert (
        err.strip().splitlines()[-1] == f"tunegym: error: address already in use: 127.0.0.1:{port}"
    )


def test_serve_socket_gives_accepted_connections_tcp_nodelay():
    """Without TCP_NODELAY every response waits ~40 ms for a delayed ACK (Nagle)."""
    from tunegym.cli.harness import _bind

    listener = _bind("127.0.0.1", 0)
    try:
        assert listener.proto == socket.IPPROTO_TCP  # asyncio sets NODELAY only then
        with socket.create_connection(listener.getsockname()):
            conn, _ = listener.accept()
            with conn:
                assert conn.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY) != 0
    finally:
        listener.close()


def test_serve_token_env_must_name_a_set_variable(capsys):
    code = main(["harness", "serve", "arithmetic", "--token-env", "TUNEGYM_TEST_UNSET_VAR"])
    assert code == 2
    assert "TUNEGYM_TEST_UNSET_VAR" in capsys.readouterr().err


COLLECT_TO_NOWHERE = [
    "collect",
    "arithmetic",
    "--model",
    "m",
    "--base-url",
    "http://127.0.0.1:1/v1",
]
COLLECT_TO_NOWHERE += ["--output", "{tmp}/o.jsonl"]


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["serve", "arithmetic", "--host", ""], "--host: empty; give an address (0.0.0.0 for"),
        (["serve", "arithmetic", "--name", " "], "--name: empty; give a name, or leave it out"),
        (["serve", "arithmetic", "--token-env", ""], "--token-env: the environment variable's"),
        (
            [*COLLECT_TO_NOWHERE, "--api-key-env", " "],
            "--api-key-env: the environment variable's name is empty",
        ),
    ],
    ids=["host", "name", "token-env", "api-key-env"],
)
def test_an_empty_host_or_secret_name_is_refused_not_taken_as_none(tmp_path, capsys, argv, message):
    """``--host "$HOST"`` with HOST unset listened on every interface, ``--token-env ''``
    served without a token, and ``--api-key-env ''`` sent no key."""
    argv = [arg.replace("{tmp}", str(tmp_path)) for arg in argv]
    assert _exit_code(["harness", *argv]) == 2
    assert message in capsys.readouterr().err


@pytest.mark.parametrize("value", ["0", "-1", "nan", "2000"])
def test_serve_max_body_mb_out_of_range_exits_2(capsys, value):
    assert _exit_code(["harness", "serve", "arithmetic", "--max-body-mb", value]) == 2
    assert "argument --max-body-mb: must be in [0.001, 1024]" in capsys.readouterr().err


def test_bad_kwargs_file_is_a_usage_error(tmp_path, capsys):
    bad = tmp_path / "kwargs.json"
    bad.write_text("[1, 2]")
    assert (
        main(["harness", "export-data", "arithmetic", str(tmp_path), "--kwargs-file", str(bad)])
        == 2
    )
    assert "expected an object of kwargs" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("source", "starts", "ends"),
    [
        ("def f(:\n    pass\n", "SyntaxError: invalid syntax", "broken_bench.py:1)"),
        ('import json\nROWS = json.loads("[1,")\n', "JSONDecodeError: ", "broken_bench.py:2)"),
    ],
)
def test_a_harness_module_that_fails_to_import_is_a_usage_error_with_its_line(
    tmp_path, monkeypatch, capsys, source, starts, ends
):
    # Used to be "tunegym: internal error": the import failed in the user's file, not ours.
    (tmp_path / "broken_bench.py").write_text(source)
    monkeypatch.syspath_prepend(str(tmp_path))
    assert main(["harness", "export-data", "broken_bench:Bench", str(tmp_path / "out")]) == 2
    (line,) = capsys.readouterr().err.strip().splitlines()
    head = "tunegym: error: harness 'broken_bench:Bench': cannot import module 'broken_bench': "
    assert line.startswith(head + starts) and line.endswith(f"{tmp_path / ends}"), line
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize(
    ("source", "code", "said"),
    [
        ("import sys\nsys.exit(5)\n", 2, "importing module 'exiting_bench' called sys.exit(5)"),
        (
            "import sys\nclass Bench:\n    def __init__(self):\n        sys.exit(3)\n",
            1,
            "constructor failed: it called sys.exit(3)",
        ),
    ],
)
def test_a_harness_that_calls_sys_exit_says_so(tmp_path, monkeypatch, capsys, source, code, said):
    # serve and export-data exited with the harness's code and said nothing.
    (tmp_path / "exiting_bench.py").write_text(source)
    monkeypatch.syspath_prepend(str(tmp_path))
    assert main(["harness", "export-data", "exiting_bench:Bench", str(tmp_path / "out")]) == code
    (line,) = capsys.readouterr().err.strip().splitlines()
    assert line == f"tunegym: error: harness 'exiting_bench:Bench': {said}"


@pytest.mark.parametrize(
    ("name", "text", "message"),
    [
        ("k.yaml", "size: [1, 2\n", "k.yaml: not valid YAML: expected ',' or ']', but got"),
        ("k.yml", "!!python/object/apply:os.system [x]\n", "could not determine a constructor"),
        ("k.txt", '{"size": 5', "k.txt: not valid JSON: Expecting ',' delimiter"),
    ],
)
def test_a_kwargs_file_that_does_not_parse_is_one_line(tmp_path, capsys, name, text, message):
    # PyYAML's errors span several lines (a quote of the line and a caret); a .txt file
    # is read as JSON and used to be called YAML in the message
    (tmp_path / name).write_text(text)
    argv = ["harness", "export-data", "arithmetic", str(tmp_path / "out")]
    assert main([*argv, "--kwargs-file", str(tmp_path / name)]) == 2
    (line,) = capsys.readouterr().err.strip().splitlines()
    assert message in line
    assert not (tmp_path / "out").exists()


def test_export_data_writes_name_jsonl(tmp_path, capsys):
    kwargs = tmp_path / "kwargs.json"
    kwargs.write_text(json.dumps({"size": 5, "seed": 1}))
    out_dir = tmp_path / "out"
    assert (
        main(["harness", "export-data", "arithmetic", str(out_dir), "--kwargs-file", str(kwargs)])
        == 0
    )
    path = out_dir / "arithmetic.jsonl"
    assert capsys.readouterr().out.strip() == str(path)
    assert load_jsonl(path) == ArithmeticHarness(size=5, seed=1).get_dataset()


def test_help_does_not_import_web_stack():
    code = (
        "import sys; from tunegym.cli.main import build_parser; build_parser();"
        "print(sorted(m for m in ('fastapi', 'uvicorn', 'httpx', 'yaml') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def _ok_app():
    app = FastAPI()
    app.get("/health")(lambda: {"status": "ok"})
    return app


class FakeOpenAI:
    """An OpenAI-compatible endpoint: right on even tasks, wrong on odd ones, one 503 first."""

    def __init__(self, answers: dict[str, str]) -> None:
        self.answers = answers
        self.in_flight = 0
        self.max_in_flight = 0
        self.requests: list[dict] = []
        self.auth: set[str] = set()
        self.failed_once = False

    def app(self):
        app = FastAPI()

        async def answer(prompt: str) -> str:
            self.in_flight += 1
            self.max_in_flight = max(self.max_in_flight, self.in_flight)
            await asyncio.sleep(0.02)
            self.in_flight -= 1
            expected, task = self.answers[prompt]
            return f"Let me compute. The answer is {expected if task % 2 == 0 else 'no idea'}"

        @app.post("/v1/chat/completions")
        async def chat(request: Request):
            body = await request.json()
            self.requests.append(body)
            self.auth.add(request.headers.get("authorization", ""))
            if not self.failed_once:
                self.failed_once = True
                return JSONResponse({"error": "overloaded"}, status_code=503)
            text = await answer(body["messages"][-1]["content"])
            return {
                "id": "chatcmpl-x",
                "object": "chat.completion",
                "model": body["model"],
                "choices": [{"index": 0, "message": {"role": "assistant", "content": text}}],
                "usage": {"prompt_tokens": 3, "completion_tokens": 4, "total_tokens": 7},
            }

        @app.post("/v1/responses")
        async def responses(request: Request):
            body = await request.json()
            self.requests.append(body)
            self.auth.add(request.headers.get("authorization", ""))
            text = await answer(body["input"][-1]["content"])
            return {
                "id": "resp_x",
                "object": "response",
                "model": body["model"],
                "output": [
                    {
                        "type": "message",
                        "role": "assistant",
                        "content": [{"type": "output_text", "text": text, "annotations": []}],
                    }
                ],
            }

        return app


@pytest.fixture
def fake_openai():
    rows = ArithmeticHarness(size=6).get_dataset()
    answers = {
        row["responses_create_params"]["input"][0]["content"]: (row["expected_answer"], i)
        for i, row in enumerate(rows)
    }
    fake = FakeOpenAI(answers)
    with serve_app(fake.app()) as url:
        yield fake, url


@pytest.mark.parametrize("api", ["chat", "responses"])
def test_collect_against_a_fake_openai_server(fake_openai, tmp_path, monkeypatch, capsys, api):
    fake, url = fake_openai
    monkeypatch.setenv("FAKE_OPENAI_KEY", API_KEY)
    kwargs = tmp_path / "kwargs.json"
    kwargs.write_text(json.dumps({"size": 6}))
    output = tmp_path / "rollouts.jsonl"
    code = main(
        [
            "harness", "collect", "arithmetic",
            "--base-url", f"{url}/v1", "--model", "fake-model", "--api", api,
            "--output", str(output), "--kwargs-file", str(kwargs),
            "--num-repeats", "2", "--concurrency", "3", "--temperature", "0.5",
            "--api-key-env", "FAKE_OPENAI_KEY", "--no-progress",
        ]
    )  # fmt: skip
    assert code == 0
    rollouts = load_jsonl(output)
    assert len(rollouts) == 12
    assert sorted((r["_ng_task_index"], r["_ng_rollout_index"]) for r in rollouts) == [
        (t, r) for t in range(6) for r in range(2)
    ]
    for rollout in rollouts:
        assert rollout["reward"] == (1.0 if rollout["_ng_task_index"] % 2 == 0 else 0.0)
        assert rollout["mask_sample"] is False
        assert rollout["response"]["output"][0]["content"][0]["text"].startswith("Let me")
        assert "responses_create_params" in rollout
    metrics = json.loads((tmp_path / "rollouts_metrics.json").read_text())
    assert metrics["agent_metrics"]["mean/reward"] == 0.5
    assert metrics["agent_metrics"]["pass@2/reward"] == 50.0  # percent, as NeMo Gym reports
    assert 1 <= fake.max_in_flight <= 3
    assert len(fake.requests) == (13 if api == "chat" else 12)  # the 503 was retried
    assert fake.auth == {f"Bearer {API_KEY}"}
    assert all(r["model"] == "fake-model" and r["temperature"] == 0.5 for r in fake.requests)
    out = capsys.readouterr().out
    assert "12 rollouts (0 failed)" in out and "mean/reward=0.5000" in out
    assert API_KEY not in output.read_text() + out


@pytest.mark.timeout(120)  # a verify that never finished held collect for ever
def test_collect_masks_a_verify_that_runs_past_verify_timeout(fake_openai, tmp_path, capsys):
    _, url = fake_openai
    kwargs = tmp_path / "kwargs.json"
    kwargs.write_text(json.dumps({"size": 6}))
    output = tmp_path / "rollouts.jsonl"
    code = main(
        [
            "harness", "collect", "harness_testkit:StuckOnUnknownArithmetic",
            "--base-url", f"{url}/v1", "--model", "fake-model", "--output", str(output),
            "--kwargs-file", str(kwargs), "--verify-timeout", "0.5", "--no-progress",
        ]
    )  # fmt: skip
    assert code == 0, capsys.readouterr().err
    rollouts = sorted(load_jsonl(output), key=lambda r: r["_ng_task_index"])
    assert len(rollouts) == 6
    for rollout in rollouts:
        if rollout["_ng_task_index"] % 2:  # the fake model said 'no idea': verify is stuck
            assert (rollout["mask_sample"], rollout["failure_kind"]) == (True, "verifier_error")
            assert rollout["failure_reason"] == (
                "VerifyTimeout: verify() did not finish within 0.5 s"
            )
        else:
            assert (rollout["reward"], rollout["mask_sample"]) == (1.0, False)
    assert "6 rollouts (3 failed)" in capsys.readouterr().out


def test_collect_records_unreachable_endpoint_as_masked_failures(tmp_path, capsys):
    with serve_app(_ok_app()) as url:
        dead = url  # the server is stopped on leaving the block: connections are refused
    output = tmp_path / "rollouts.jsonl"
    code = main(
        [
            "harness", "collect", "arithmetic", "--base-url", f"{dead}/v1", "--model", "m",
            "--output", str(output), "--limit", "2", "--retries", "0",
        ]
    )  # fmt: skip
    assert code == 1
    rollouts = load_jsonl(output)
    assert len(rollouts) == 2
    assert all(r["mask_sample"] and r["reward"] == 0.0 for r in rollouts)
    assert {r["failure_kind"] for r in rollouts} == {"transport_unreachable"}
    err = capsys.readouterr().err
    assert "every rollout failed" in err
    assert "collecting rollouts" in err  # the progress bar went to stderr


CAPITALS = """
from tunegym.harness import GymHarness, VerifyResult


class CapitalsHarness(GymHarness):
    name = "capitals"

    def get_dataset(self):
        prompt = {"input": [{"role": "user", "content": "What is the capital of France?"}]}
        return [{"responses_create_params": prompt, "expected_answer": "Paris"}]

    async def verify(self, response_text, expected_answer, **row_fields):
        words = response_text.replace(".", " ").split()
        answer = words[-1] if words else None
        return VerifyResult(1.0 if answer == expected_answer else 0.0, answer)
"""


def _console_script() -> str:
    """The installed ``tunegym`` script: unlike ``python -m``, it does not add the cwd."""
    return os.path.join(os.path.dirname(sys.executable), "tunegym")


def test_serve_and_export_import_a_harness_from_the_current_folder(tmp_path):
    package = tmp_path / "my_bench"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "harness.py").write_text(CAPITALS)
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    export = subprocess.run(
        [_console_script(), "harness", "export-data", "my_bench.harness:CapitalsHarness", "out"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert export.returncode == 0, export.stderr
    assert load_jsonl(tmp_path / "out" / "capitals.jsonl")[0]["expected_answer"] == "Paris"
    proc = _serve_in(tmp_path, env, "my_bench.harness:CapitalsHarness")
    try:
        url = proc.stdout.readline().strip()
        assert url.startswith("http://127.0.0.1:"), proc.stderr.read()
        body = {"response": "It is Paris.", "expected": "Paris"}
        assert httpx.post(f"{url}/verify", json=body).json()["reward"] == 1.0
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.communicate(timeout=30)


def test_gym_config_writes_nemo_gym_yaml(tmp_path, capsys):
    import yaml

    data = tmp_path / "data" / "mcqa.jsonl"
    data.parent.mkdir()
    data.write_text("{}\n")
    args = ["harness", "gym-config", "mcqa", "--url", "http://127.0.0.1:39517"]
    assert main([*args, "--dataset", str(data), "--num-repeats", "4"]) == 0
    config = yaml.safe_load(capsys.readouterr().out)
    server = config["mcqa_resources_server"]["resources_servers"]["mcqa"]
    assert (server["host"], server["port"]) == ("127.0.0.1", 39517)
    agent = config["mcqa_simple_agent"]["responses_api_agents"]["simple_agent"]
    assert agent["datasets"][0] == {
        "name": "mcqa",
        "type": "example",
        "jsonl_fpath": str(data.resolve()),
        "num_repeats": 4,
    }
    assert config["policy_model"]["responses_api_models"]["openai_model"]["openai_api_key"] == (
        "${policy_api_key}"
    )
    out = tmp_path / "gym.yaml"
    assert main([*args, "--dataset", str(data), "--num-repeats", "4", "-o", str(out)]) == 0
    assert capsys.readouterr().out.strip() == str(out)
    assert yaml.safe_load(out.read_text()) == config


_COLLECT = ["arithmetic", "--base-url", "http://127.0.0.1:9/v1", "--model", "m", "--limit", "1"]
"""A collect that would ask a port where nothing listens (it must not get that far)."""
_GYM_CONFIG = ["gym-config", "x", "--url", "http://127.0.0.1:5", "--dataset", "{tmp}/empty.jsonl"]


def _exit_code(argv: list[str]) -> int:
    """``main``'s exit code, whether it returns it or argparse exits with it."""
    try:
        return main(argv)
    except SystemExit as exc:
        return int(exc.code or 0)


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--url", "ftp://127.0.0.1:1"], "expected http://HOST:PORT"),
        (["--url", "http://127.0.0.1"], "expected http://HOST:PORT"),
        (["--url", "http://127.0.0.1:99999"], "--url"),
        (["--url", "http://127.0.0.1:1", "--num-repeats", "0"], "--num-repeats: must be in [1,"),
        (["--url", "http://127.0.0.1:1", "--dataset", "nowhere.jsonl"], "no such file"),
    ],
)
def test_gym_config_bad_arguments_exit_2(tmp_path, capsys, extra, message):
    data = tmp_path / "rows.jsonl"
    data.write_text("{}\n")
    argv = ["harness", "gym-config", "mcqa", "--dataset", str(data), *extra]
    assert _exit_code(argv) == 2
    assert message in capsys.readouterr().err


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--base-url", "nope"], "--base-url 'nope': expected an http:// or https:// URL"),
        (["--base-url", "http://127.0.0.1:99999/v1"], "'http://127.0.0.1:99999/v1': Port out"),
        (["--retries", "-1"], "argument --retries: must be in [0, 1000], got -1"),
        (["--timeout", "nan"], "argument --timeout: expected a positive number of seconds"),
        (["--timeout", "0"], "argument --timeout: expected a positive number of seconds"),
        (["--temperature", "nan"], "argument --temperature: must be in [0, 1e+06], got nan"),
        (["--max-output-tokens", "0"], "argument --max-output-tokens: must be in [1,"),
        (["--concurrency", "0"], "argument --concurrency: must be in [1,"),
        (["--limit", "-1"], "argument --limit: must be in [0,"),
        (["--verify-timeout", "0"], "argument --verify-timeout: expected a positive number"),
        (["--verify-timeout", "inf"], "argument --verify-timeout: expected a positive number"),
    ],
)
def test_collect_bad_arguments_exit_2_before_any_request(tmp_path, capsys, extra, message):
    # Each of these used to send every request (all failing the same way) or end in a
    # traceback (--retries -1, NaN timeout or temperature).
    argv = ["harness", "collect", "arithmetic", "--model", "m", "--output", str(tmp_path / "o")]
    if "--base-url" not in extra:
        argv += ["--base-url", "http://127.0.0.1:9/v1"]
    assert _exit_code([*argv, *extra]) == 2
    assert message in capsys.readouterr().err
    assert not (tmp_path / "o").exists()


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("api", "completions"),
        ("concurrency", 0),
        ("num_repeats", 0),
        ("retries", -1),
        ("timeout", float("nan")),
        ("timeout", 0.0),
        ("temperature", float("inf")),
        ("max_output_tokens", 0),
        ("verify_timeout", 0.0),
        ("verify_timeout", float("nan")),
    ],
)
def test_a_collect_config_that_cannot_work_is_refused_naming_its_field(field, value):
    from tunegym.errors import UsageError
    from tunegym.harness.collect import CollectConfig

    with pytest.raises(UsageError, match=rf"^CollectConfig\.{field}: expected .*, got "):
        CollectConfig("http://127.0.0.1:9/v1", "m", **{field: value})


def test_serve_on_a_port_out_of_range_exits_2(capsys):
    assert _exit_code(["harness", "serve", "arithmetic", "--port", "70000"]) == 2
    assert "argument --port: must be in [0, 65535], got 70000" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["collect", *_COLLECT, "--output", "{tmp}"], "--output {tmp}: is a folder"),
        (
            ["collect", *_COLLECT, "--output", "{tmp}/o.jsonl", "--metrics-output", "{tmp}"],
            "--metrics-output {tmp}: is a folder",
        ),
        (
            ["collect", *_COLLECT, "--output", "{tmp}/a-file/o.jsonl"],
            "--output {tmp}/a-file/o.jsonl: cannot write it: {tmp}/a-file is a file, not a folder",
        ),
        (
            ["collect", *_COLLECT, "--output", "{tmp}/o.jsonl", "--input", "{tmp}/empty.jsonl"],
            "--input {tmp}/empty.jsonl: no rows",
        ),
        (["export-data", "arithmetic", "{tmp}/a-file"], "DIR {tmp}/a-file: cannot write there"),
        (
            [*_GYM_CONFIG, "-o", "{tmp}"],
            "--output {tmp}: is a folder",
        ),
    ],
)
def test_an_output_that_cannot_be_written_exits_2_before_any_work(tmp_path, capsys, argv, message):
    # Each was "internal error: IsADirectoryError" (or FileExistsError), collect's only
    # after every request had been sent and answered.
    (tmp_path / "a-file").write_text("in the way")
    (tmp_path / "empty.jsonl").write_text("")
    argv = ["harness", *(arg.format(tmp=tmp_path) for arg in argv)]
    assert _exit_code(argv) == 2
    assert message.format(tmp=tmp_path) in capsys.readouterr().err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a-file", "empty.jsonl"]


def test_serve_with_an_unusable_name_exits_2():
    proc = _tunegym("serve", "arithmetic", "--name", "bad;name")
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 2
    assert "server name must be letters, digits" in err.strip().splitlines()[-1]


@pytest.mark.parametrize("option", ["--header-timeout", "--body-timeout"])
@pytest.mark.parametrize("value", ["0", "-1", "inf", "soon"])
def test_serve_timeouts_must_be_positive_seconds(option, value):
    proc = _tunegym("serve", "arithmetic", option, value)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 2
    assert option in err and "seconds" in err


SPAWNER = '''
import subprocess, sys
from pathlib import Path
from tunegym.harness import GymHarness


class Spawner(GymHarness):
    """Starts a helper in the server's group and one that leaves it (setsid), as a
    harness that runs a sandbox or a judge model does."""

    name = "spawner"

    def __init__(self):
        stay = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)"])
        leave = subprocess.Popen(
            [sys.executable, "-c", "import os, time; os.setsid(); time.sleep(600)"]
        )
        Path("helpers.pid").write_text(f"{stay.pid} {leave.pid}")

    def get_dataset(self):
        return [{"expected_answer": "x"}]

    async def verify(self, response_text, expected_answer, **row_fields):
        return {"reward": 1.0}
'''


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGHUP, signal.SIGINT, signal.SIGKILL])
def test_serve_started_by_hand_leaves_no_process_of_its_harness_behind(tmp_path, sig):
    # `kill PID` (not the group), a closed terminal, Ctrl-C or kill -9 of `tunegym harness
    # serve` left both helpers running, re-parented to init; SIGHUP also killed the
    # server mid-request, without its graceful shutdown.
    (tmp_path / "my_spawner.py").write_text(SPAWNER)
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "TUNEGYM_TRIAL_TAG")}
    proc = _serve_in(tmp_path, env, "my_spawner:Spawner", "--port", "0")
    try:
        url = proc.stdout.readline().strip()
        assert url.startswith("http://127.0.0.1:"), proc.stderr.read()
        helpers = [int(p) for p in (tmp_path / "helpers.pid").read_text().split()]
        assert all(pid_alive(pid) for pid in helpers)
        _wait_healthy(url, proc)  # serving: uvicorn's signal handlers are in place
        os.kill(proc.pid, sig)  # the server only, as `kill PID` or a service manager does
        _, err = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=30)
    if sig in (signal.SIGTERM, signal.SIGHUP):
        assert "Finished server process" in err  # a graceful shutdown, then the signal
        assert proc.returncode == -sig
    deadline = time.monotonic() + 10
    while any(pid_alive(pid) for pid in helpers) and time.monotonic() < deadline:
        time.sleep(0.05)
    left = [pid for pid in helpers if pid_alive(pid)]
    for pid in left:  # a failing run must not leave them either
        os.kill(pid, signal.SIGKILL)
    assert not left, "harness helpers outlived serve"
