"""The live server loader: every error path names the server path and what is wrong."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import pytest

from tunegym.errors import SpecError
from tunegym.gym import (
    GymServer,
    ServerArgsWarning,
    ServerError,
    build_server,
    import_server_class,
    load_server,
)
from tunegym.gym.server import read_action_space, read_observation_space


def test_server_error_is_a_spec_error() -> None:
    assert issubclass(ServerError, SpecError) and ServerError("x").exit_code == 2


@pytest.mark.parametrize("path", ["live_servers", "live_servers:", ":EchoServer", "a b:C", "x:1y"])
def test_a_malformed_path_is_refused(path: str) -> None:
    with pytest.raises(ServerError, match=rf"server {path!r}: expected 'package.module:Class'"):
        import_server_class(path)


def test_a_module_that_does_not_import_names_the_path_and_the_error(tmp_path: Path) -> None:
    with pytest.raises(ServerError) as caught:
        import_server_class("no_such_pkg_xyz.sim:Server", tmp_path)
    message = str(caught.value)
    assert (
        "server 'no_such_pkg_xyz.sim:Server': cannot import module 'no_such_pkg_xyz.sim'" in message
    )
    assert f"looked on sys.path and in {tmp_path}" in message
    assert message.endswith(": No module named 'no_such_pkg_xyz'")


def test_a_failing_import_inside_the_module_is_reported(tmp_path: Path) -> None:
    (tmp_path / "broken_dep_server.py").write_text("import not_installed_dep_abc\n")
    with pytest.raises(ServerError) as caught:
        import_server_class("broken_dep_server:Server", tmp_path)
    message = str(caught.value)
    assert "cannot import module 'broken_dep_server'" in message
    where = tmp_path / "broken_dep_server.py"
    assert message.endswith(f": No module named 'not_installed_dep_abc' (at {where}:1)")
    assert str(tmp_path) not in sys.path  # the workload folder was on sys.path only briefly


def test_a_syntax_error_in_the_module_is_reported(tmp_path: Path) -> None:
    (tmp_path / "syntax_error_server.py").write_text("def broken(:\n")
    with pytest.raises(ServerError) as caught:
        import_server_class("syntax_error_server:Server", tmp_path)
    message = str(caught.value)
    assert "cannot import module 'syntax_error_server'" in message and "SyntaxError" in message
    assert message.endswith(f"({tmp_path / 'syntax_error_server.py'}:1)")


def test_the_module_is_found_in_the_workload_folder(tmp_path: Path) -> None:
    (tmp_path / "folder_only_server.py").write_text(
        "from live_servers import RouteServer as FolderServer\n"
    )
    sys.path.insert(0, str(Path(__file__).parent))
    try:
        cls = import_server_class("folder_only_server:FolderServer", tmp_path)
    finally:
        sys.path.remove(str(Path(__file__).parent))
    assert cls.__name__ == "RouteServer"
    assert str(tmp_path) not in sys.path


def test_a_missing_class_is_named(live_servers: Any) -> None:
    with pytest.raises(ServerError, match=r"module 'live_servers' \(.*\) has no attribute 'Nope'"):
        import_server_class("live_servers:Nope")


def test_something_that_is_not_a_class_is_refused(live_servers: Any) -> None:
    with pytest.raises(ServerError, match=r"'not_a_class' is a int, not a class"):
        import_server_class("live_servers:not_a_class")


def test_missing_protocol_methods_are_listed(live_servers: Any) -> None:
    with pytest.raises(ServerError) as caught:
        import_server_class("live_servers:NoStep")
    assert "class NoStep does not implement the GymServer protocol" in str(caught.value)
    assert "missing method(s): observation_space, reset, step" in str(caught.value)


def test_a_complete_class_satisfies_the_protocol(live_servers: Any) -> None:
    cls = import_server_class("live_servers:EchoServer")
    assert isinstance(cls(), GymServer)


def test_server_args_go_to_init_and_the_rest_are_reported(live_servers: Any) -> None:
    with pytest.warns(ServerArgsWarning, match=r"server_args color, size ignored.*accepts only"):
        server = build_server(
            live_servers.NeedsArgs,
            {"rate": 2.5, "color": "red", "size": 3},
            "live_servers:NeedsArgs",
        )
    assert server.rate == 2.5 and server.episode_length == 10


def test_kwargs_servers_get_every_arg(live_servers: Any, recwarn: pytest.WarningsRecorder) -> None:
    server = load_server("live_servers:RouteServer", {"a": 1, "b": [2]})
    assert server.kwargs == {"a": 1, "b": [2]}
    assert not [w for w in recwarn if issubclass(w.category, ServerArgsWarning)]


def test_a_missing_required_arg_is_named(live_servers: Any) -> None:
    with pytest.raises(ServerError, match=r"cannot build NeedsArgs.*'rate'.*\[server_args\]"):
        load_server("live_servers:NeedsArgs", {"episode_length": 3})


@pytest.mark.parametrize(
    ("space", "message"),
    [
        ([1, 2], r"must return a dict .* got list"),
        ({"x": {"low": 5, "high": 3}}, r"is not valid: x: low \(5\) must be less"),
        ({"x": [1, 1.0]}, r"x: candidate values must be distinct"),
        ({"x": []}, r"x: must not be empty"),
        ({"x": {"low": 0, "hi": 1}}, r"x\.hi: unknown key"),
        ({"x": 3, "y": "a"}, r"declares nothing to choose \(every entry of \['x', 'y'\]"),
        ({1: [1, 2]}, r"keys must be non-empty strings, got \[1\]"),
    ],
)
def test_a_wrongly_declared_action_space_says_what_is_wrong(
    live_servers: Any, space: Any, message: str
) -> None:
    server = live_servers.BadSpace(space)
    with pytest.raises(ServerError, match=rf"server 'p:C': action_space\(\).*{message}"):
        read_action_space(server, "p:C")


def test_a_valid_action_space_is_read(live_servers: Any) -> None:
    dims = read_action_space(live_servers.EchoServer(), "p:C")
    assert dims["mode"] == ["a", "b", "c"] and dims["level"] == 3
    assert dims["x"].low == 0.0 and dims["x"].high == 1.0  # type: ignore[union-attr]


@pytest.mark.parametrize(
    ("names", "message"),
    [
        ("value", r"must return a list of metric names, got 'value'"),
        ([], r"non-empty list of non-empty metric names, got \[\]"),
        (["a", ""], r"non-empty list of non-empty metric names"),
        (["a", "b", "a"], r"names a more than once"),
    ],
)
def test_a_wrong_observation_space_says_what_is_wrong(
    live_servers: Any, names: Any, message: str
) -> None:
    server = live_servers.BadSpace()
    server.observation_space = lambda: names
    with pytest.raises(ServerError, match=message):
        read_observation_space(server, "p:C")
