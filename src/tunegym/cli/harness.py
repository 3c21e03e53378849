"""``tunegym harness serve|export-data|gym-config|collect``: harnesses as resource servers.

Thin layer: parse arguments, call :mod:`tunegym.harness`, map errors to exit codes.
FastAPI, uvicorn and httpx are imported inside the handlers so ``tunegym --help`` stays
fast. Secrets never travel on the command line: the server's bearer token and the model
endpoint's API key are read from environment variables whose *names* are given.

Also runnable as ``python -m tunegym.cli.harness ...`` (what ``ResourceServerProcess``
starts), which loads no other command. A harness path is imported with the current folder
first on ``sys.path`` (as ``python -m`` does), so ``my_bench.harness:Class`` works from the
folder that holds ``my_bench/``.
"""

from __future__ import annotations

import argparse
import contextlib
import errno
import json
import os
import socket
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from tunegym.cli.common import dispatch, float_in, int_in
from tunegym.errors import TunegymError, UsageError, os_reason
from tunegym.metrics.trial_files import TrialFileError, read_trial_file
from tunegym.user_paths import output_file, output_folder

KWARGS_ENV = "TUNEGYM_HARNESS_KWARGS"
MAX_KWARGS_BYTES = 16 * 2**20
"""The largest kwargs file read (a harness's settings, not its data)."""
LOG_LEVELS = ("critical", "error", "warning", "info", "debug", "trace")
"""uvicorn's log levels."""

_MANY = 2**31 - 1
"""The largest count an option takes (rows, repeats, requests in flight)."""


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``harness`` command and its sub-commands to ``tunegym``'s parser."""
    parser = subparsers.add_parser(
        "harness",
        help="serve benchmark harnesses as NeMo Gym resource servers",
        description="Serve, export or collect rollouts for a benchmark harness.",
    )
    _add_subcommands(parser)


def _add_subcommands(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="harness_command", metavar="SUBCOMMAND", required=True)
    harness_help = "package.module:Class, or a bundled harness: arithmetic, mcqa"
    kwargs_help = f"JSON (or YAML) object of constructor kwargs; default: ${KWARGS_ENV}"

    serve = sub.add_parser("serve", help="serve a harness over HTTP (prints the URL first)")
    serve.add_argument("harness", help=harness_help)
    serve.add_argument("--host", default="127.0.0.1", help="bind address (default 127.0.0.1)")
    serve.add_argument("--port", type=int_in(0, 65535), default=0, help="port; 0 picks a free one")
    serve.add_argument("--kwargs-file", type=Path, help=kwargs_help)
    serve.add_argument(
        "--token-env", metavar="NAME", help="require a bearer token read from env var NAME"
    )
    serve.add_argument(
        "--name",
        help="server name in the session cookie <HarnessClass>___<name> (default: harness name)",
    )
    serve.add_argument(
        "--header-timeout",
        type=_positive_seconds,
        default=10.0,
        metavar="S",
        help="close a connection whose request headers take longer (default 10)",
    )
    serve.add_argument(
        "--body-timeout",
        type=_positive_seconds,
        default=60.0,
        metavar="S",
        help="answer 408 when a request body takes longer (default 60)",
    )
    _add_verify_timeout(serve)
    serve.add_argument(
        "--max-body-mb",
        type=float_in(0.001, 1024.0),
        default=32.0,
        metavar="MB",
        help="answer 413 to a request body larger than MB mebibytes, unread (default 32)",
    )
    serve.add_argument(
        "--log-level",
        default="info",
        type=str.lower,
        choices=LOG_LEVELS,
        help="uvicorn log level (default info)",
    )
    serve.add_argument("--access-log", action="store_true", help="log every request")
    serve.set_defaults(handler=_serve)

    export = sub.add_parser("export-data", help="write the dataset to DIR/<name>.jsonl")
    export.add_argument("harness", help=harness_help)
    export.add_argument("directory", type=Path, metavar="DIR")
    export.add_argument("--kwargs-file", type=Path, help=kwargs_help)
    export.set_defaults(handler=_export)

    gym = sub.add_parser(
        "gym-config", help="write a NeMo Gym config YAML for a served harness (stdout or -o)"
    )
    gym.add_argument("name", help="instance name: <name>_resources_server, <name>_simple_agent")
    gym.add_argument("--url", required=True, help="the URL `tunegym harness serve` printed")
    gym.add_argument("--dataset", type=Path, required=True, help="rows JSONL (see export-data)")
    gym.add_argument(
        "--dataset-type", default="example", choices=("example", "train", "validation", "benchmark")
    )
    gym.add_argument("--num-repeats", type=int_in(1, _MANY), default=1, help="rollouts per row")
    gym.add_argument("--policy-base-url", help="default: NeMo Gym's ${policy_base_url}")
    gym.add_argument("--policy-model-name", help="default: NeMo Gym's ${policy_model_name}")
    gym.add_argument("-o", "--output", type=Path, help="YAML file to write (default: stdout)")
    gym.set_defaults(handler=_gym_config)

    collect = sub.add_parser(
        "collect", help="ask an OpenAI-compatible endpoint for responses and verify them"
    )
    collect.add_argument("harness", help=harness_help)
    collect.add_argument("--base-url", required=True, help="e.g. http://127.0.0.1:8000/v1")
    collect.add_argument("--model", required=True, help="model name sent to the endpoint")
    collect.add_argument("--output", type=Path, required=True, help="rollouts JSONL to write")
    collect.add_argument("--metrics-output", type=Path, help="default: <output>_metrics.json")
    collect.add_argument("--api", choices=("chat", "responses"), default="chat")
    collect.add_argument("--input", type=Path, help="rows JSONL (default: the harness dataset)")
    collect.add_argument("--limit", type=int_in(0, _MANY), help="use only the first N rows")
    collect.add_argument("--num-repeats", type=int_in(1, _MANY), default=1, help="rollouts per row")
    collect.add_argument(
        "--concurrency", type=int_in(1, _MANY), default=8, help="requests in flight"
    )
    collect.add_argument("--api-key-env", metavar="NAME", help="env var holding the API key")
    collect.add_argument("--temperature", type=float_in(0, 1e6))
    collect.add_argument("--max-output-tokens", type=int_in(1, _MANY))
    collect.add_argument(
        "--timeout", type=_positive_seconds, default=120.0, help="per request, seconds"
    )
    collect.add_argument(
        "--retries", type=int_in(0, 1000), default=2, help="per request, on errors"
    )
    _add_verify_timeout(collect)
    collect.add_argument("--kwargs-file", type=Path, help=kwargs_help)
    collect.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    collect.set_defaults(handler=_collect)


# -- shared helpers --------------------------------------------------------------------
def _positive_seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number of seconds, got {text!r}") from None
    if not 0 < value < float("inf"):
        raise argparse.ArgumentTypeError(f"expected a positive number of seconds, got {text!r}")
    return value


def import_from_cwd() -> None:
    """Put the current folder first on ``sys.path``, as ``python -m`` and ``python -c`` do."""
    cwd = os.getcwd()
    if cwd not in sys.path and "" not in sys.path:
        sys.path.insert(0, cwd)


def read_kwargs(path: Path | None) -> dict[str, Any]:
    """Harness kwargs from ``path`` (JSON, or YAML by suffix) or ``$TUNEGYM_HARNESS_KWARGS``."""
    if path is None:
        raw = os.environ.get(KWARGS_ENV)
        source = f"${KWARGS_ENV}"
        if not raw:
            return {}
        text, suffix = raw, ".json"
    else:
        source = str(path)
        try:  # a regular file of text only: a FIFO hung the serve, a binary file was a traceback
            content = read_trial_file(path, MAX_KWARGS_BYTES)
            text, suffix = content.decode("utf-8-sig"), path.suffix.lower()
        except OSError as exc:
            raise UsageError(f"--kwargs-file {path}: {os_reason(exc)}") from exc
        except TrialFileError as exc:
            raise UsageError(f"--kwargs-file {path}: {exc.reason}") from exc
        except UnicodeDecodeError as exc:
            raise UsageError(
                f"--kwargs-file {path}: not UTF-8 text (byte {content[exc.start]:#04x} at offset "
                f"{exc.start})"
            ) from exc
    is_yaml = suffix in (".yaml", ".yml")
    try:
        if is_yaml:
            import yaml

            data = yaml.safe_load(text)
        else:
            data = json.loads(text)
    except Exception as exc:
        kind = "YAML" if is_yaml else "JSON"
        raise UsageError(f"{source}: not valid {kind}: {_one_line_parse_error(exc)}") from exc
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise UsageError(f"{source}: expected an object of kwargs, got {type(data).__name__}")
    return data


def _one_line_parse_error(exc: Exception) -> str:
    """A parser's complaint on one line: PyYAML's spans several (the problem, then a
    quote of the line with a caret), so it becomes ``problem (line L, column C)``."""
    problem, mark = getattr(exc, "problem", None), getattr(exc, "problem_mark", None)
    if problem and mark is not None:
        return f"{problem} (line {mark.line + 1}, column {mark.column + 1})"
    return " ".join(str(exc).split())


def read_env_secret(name: str | None, option: str) -> str | None:
    """The value of env var ``name`` (``None`` when no name); a usage error if unset, or
    if the name is empty (``--token-env ''`` from an unset shell variable must not serve
    without a token)."""
    if name is None:
        return None
    if not name.strip():
        raise UsageError(f"{option}: the environment variable's name is empty")
    value = os.environ.get(name)
    if not value:
        raise UsageError(f"{option} {name}: environment variable is not set or empty")
    return value


def _bind(host: str, port: int) -> socket.socket:
    from tunegym.harness.process import AddressInUseError

    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    # proto must be IPPROTO_TCP: asyncio only sets TCP_NODELAY on accepted sockets whose
    # proto says TCP, and without it every response stalls ~40 ms (Nagle + delayed ACK).
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        if exc.errno == errno.EADDRINUSE:
            raise AddressInUseError(f"address already in use: {host}:{port}") from exc
        raise UsageError(f"cannot bind {host}:{port}: {os_reason(exc)}") from exc
    sock.listen(2048)
    sock.set_inheritable(True)
    return sock


# -- handlers --------------------------------------------------------------------------
def _serve(args: argparse.Namespace) -> int:
    from tunegym.harness.base import load_harness
    from tunegym.harness.process import INSTANCE_ENV, format_url
    from tunegym.harness.redaction import (
        RedactingStream,
        environment_secrets,
        redact,
        secret_values,
    )

    if not args.host.strip():  # the OS takes '' for every interface: never do it unasked
        raise UsageError("--host: empty; give an address (0.0.0.0 for every interface)")
    if args.name is not None and not args.name.strip():  # it fell back to the default unsaid
        raise UsageError("--name: empty; give a name, or leave it out for the harness's name")
    kwargs = read_kwargs(args.kwargs_file)
    token = read_env_secret(args.token_env, "--token-env")
    # Values under secret-looking keys of the kwargs and of the environment (an API key
    # the harness reads itself), and the token: kept out of logs and of error answers.
    secrets = (
        secret_values(kwargs) | environment_secrets(os.environ) | ({token} if token else set())
    )
    if secrets:  # nothing the harness or uvicorn prints may carry a secret value
        sys.stdout = RedactingStream(sys.stdout, secrets)
        sys.stderr = RedactingStream(sys.stderr, secrets)

    import uvicorn

    from tunegym.harness.http_timeouts import default_protocol, with_header_timeout
    from tunegym.harness.server import create_app

    import_from_cwd()
    _watch_over_descendants()
    with contextlib.redirect_stdout(sys.stderr):  # keep stdout's first line for the URL
        harness = load_harness(args.harness, kwargs)
        app = create_app(
            harness,
            token=token,
            instance_id=os.environ.get(INSTANCE_ENV),
            server_name=args.name,
            secrets=secrets,
            body_timeout=args.body_timeout,
            max_body_bytes=int(args.max_body_mb * 2**20),
            verify_timeout_s=args.verify_timeout,
        )
    sock = _bind(args.host, args.port)
    port = sock.getsockname()[1]
    print(format_url(args.host, port), flush=True)
    print(
        f"tunegym: serving harness {harness.name!r} ({args.harness}) with kwargs "
        f"{json.dumps(redact(kwargs), default=str)}; auth: {'bearer token' if token else 'none'}",
        file=sys.stderr,
        flush=True,
    )
    config = uvicorn.Config(
        app,
        http=with_header_timeout(default_protocol(), args.header_timeout),
        log_level=args.log_level,
        access_log=args.access_log,
        lifespan="off",
        timeout_graceful_shutdown=5,
    )
    _server_class()(config).run(sockets=[sock])
    return 0


def _add_verify_timeout(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--verify-timeout",
        type=_positive_seconds,
        metavar="S",
        help="mask a sample whose verify() takes longer than S seconds "
        "(default: the harness's verify_timeout_s, 300)",
    )


def _watch_over_descendants() -> None:
    """Make sure no process the harness starts outlives this server, however it ends.

    Started by :class:`~tunegym.harness.process.ResourceServerProcess`, the server's
    processes carry its manager's tag, and the manager cleans up. Started by hand, the
    server tags its own descendants and starts the watchdog of :mod:`tunegym.procgroup`,
    which kills them (and the groups and sessions they lead) when the server exits: by
    Ctrl-C, SIGTERM, SIGHUP, ``kill -9`` or an error. Before, they were left running,
    re-parented to init.
    """
    from tunegym.procgroup import TAG_VARIABLE, start_watchdog, tag_prefix

    if TAG_VARIABLE not in os.environ:
        os.environ[TAG_VARIABLE] = f"{tag_prefix()}serve"
        start_watchdog()


def _server_class() -> type:
    import uvicorn

    class Server(uvicorn.Server):
        """uvicorn's server, stopping gracefully on SIGHUP too (a closed terminal, or a
        service manager's reload): uvicorn handles SIGINT and SIGTERM only, so a hang-up
        killed the server mid-request. It then ends by the signal, as for the others."""

        @contextlib.contextmanager
        def capture_signals(self) -> Any:
            import signal

            def hang_up(sig: int, frame: Any) -> None:
                signal.signal(signal.SIGHUP, signal.SIG_DFL)  # the re-raise then ends us
                self.handle_exit(sig, frame)

            before = signal.signal(signal.SIGHUP, hang_up)
            try:
                with super().capture_signals():  # re-raises the signals it caught
                    yield
            finally:
                if signal.getsignal(signal.SIGHUP) is hang_up:
                    signal.signal(signal.SIGHUP, before)

    return Server


def _export(args: argparse.Namespace) -> int:
    from tunegym.harness.base import load_harness
    from tunegym.harness.collect import export_dataset

    import_from_cwd()
    harness = load_harness(args.harness, read_kwargs(args.kwargs_file))
    path = export_dataset(harness, output_folder(args.directory, "DIR"))
    print(path)
    return 0


def _collect(args: argparse.Namespace) -> int:
    from tunegym.harness.base import load_dataset, load_harness
    from tunegym.harness.collect import CollectConfig, collect, read_rows

    _check_base_url(args.base_url)
    from tunegym.harness.redaction import secret_values

    import_from_cwd()
    kwargs = read_kwargs(args.kwargs_file)
    harness = load_harness(args.harness, kwargs)
    rows = read_rows(args.input) if args.input else load_dataset(harness)
    if args.input and not rows:
        raise UsageError(f"--input {args.input}: no rows (an empty file)")
    if args.limit is not None:
        rows = rows[: args.limit]
    output = output_file(args.output, "--output")
    if args.metrics_output is None:
        metrics_path = output_file(
            output.with_name(f"{output.stem}_metrics.json"), "--output's metrics file"
        )
    else:
        metrics_path = output_file(args.metrics_output, "--metrics-output")
    config = CollectConfig(
        base_url=args.base_url,
        model=args.model,
        api=args.api,
        api_key=read_env_secret(args.api_key_env, "--api-key-env"),
        concurrency=args.concurrency,
        num_repeats=args.num_repeats,
        temperature=args.temperature,
        max_output_tokens=args.max_output_tokens,
        timeout=args.timeout,
        retries=args.retries,
        verify_timeout=args.verify_timeout,
    )
    secrets = secret_values(kwargs) | ({config.api_key} if config.api_key else set())
    summary = collect(
        harness, rows, config, output, metrics_path, not args.no_progress, secrets=secrets
    )
    agent = summary["agent_metrics"]
    mean = agent.get("mean/reward")
    total = len(rows) * args.num_repeats
    failed = agent.get("coverage/masked_rollouts", 0)
    print(
        f"{total} rollouts ({failed} failed) -> {output}; "
        f"mean/reward={'n/a' if mean is None else f'{mean:.4f}'}; metrics -> {metrics_path}"
    )
    if total and failed == total:
        raise TunegymError(f"every rollout failed; see failure_reason in {output}")
    return 0


def _check_base_url(url: str) -> None:
    """``--base-url`` is an http(s) URL with a host and a valid port (checked before any
    request, which would otherwise each fail the same way)."""
    from urllib.parse import urlsplit

    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 (parsing the port is the check)
    except ValueError as exc:
        raise UsageError(f"--base-url {url!r}: {exc}") from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise UsageError(
            f"--base-url {url!r}: expected an http:// or https:// URL with a host, "
            "e.g. http://127.0.0.1:8000/v1"
        )


def _gym_config(args: argparse.Namespace) -> int:
    from urllib.parse import urlsplit

    from tunegym.harness.config import generate_gym_config, write_gym_config

    try:
        parts = urlsplit(args.url)
        port = parts.port
    except ValueError as exc:
        raise UsageError(f"--url {args.url!r}: {exc}") from None
    if parts.scheme != "http" or not parts.hostname or port is None:
        raise UsageError(f"--url {args.url!r}: expected http://HOST:PORT as serve prints it")
    if not args.dataset.is_file():
        raise UsageError(f"--dataset {args.dataset}: no such file")
    config = generate_gym_config(
        args.name,
        parts.hostname,
        port,
        args.dataset.resolve(),
        dataset_type=args.dataset_type,
        num_repeats=args.num_repeats,
        policy_base_url=args.policy_base_url,
        policy_model_name=args.policy_model_name,
    )
    if args.output is None:
        import yaml

        sys.stdout.write(yaml.safe_dump(config, sort_keys=False, default_flow_style=False))
    else:
        print(write_gym_config(config, output_file(args.output, "--output")))
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``python -m tunegym.cli.harness`` (same exit codes as ``tunegym``)."""
    parser = argparse.ArgumentParser(prog="tunegym harness")
    _add_subcommands(parser)
    return dispatch(parser.parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
