"""Secrets under key/token/secret/password/credential/auth keys never reach a log line."""

from __future__ import annotations

import io

from tunegym.harness.redaction import RedactingStream, is_sensitive, redact, scrub, secret_values

KWARGS = {
    "api_key": "sk-123456",
    "model": "small",
    "nested": {"AuthToken": "abcd-efgh", "retries": 3, "list": [{"password": "pw-9999"}]},
    "Credentials": ["c-1111", "c-2222"],
    "client_secret": 123456789,
}


def test_is_sensitive_matches_the_markers_in_any_case():
    for key in ("api_key", "TOKEN", "clientSecret", "db_password", "credential", "Authorization"):
        assert is_sensitive(key)
    for key in ("model", "size", "seed", "grading_mode"):
        assert not is_sensitive(key)


def test_redact_masks_values_under_sensitive_keys_at_any_depth():
    assert redact(KWARGS) == {
        "api_key": "***",
        "model": "small",
        "nested": {"AuthToken": "***", "retries": 3, "list": [{"password": "***"}]},
        "Credentials": "***",
        "client_secret": "***",
    }
    assert KWARGS["api_key"] == "sk-123456"  # the input is untouched


def test_secret_values_and_scrub():
    secrets = secret_values(KWARGS)
    assert secrets == {"sk-123456", "abcd-efgh", "pw-9999", "c-1111", "c-2222", "123456789"}
    line = "using sk-123456 and pw-9999 for small model, 3 retries"
    assert scrub(line, secrets) == "using *** and *** for small model, 3 retries"
    assert scrub("id 42", {"42"}) == "id 42"  # too short to scrub safely


def test_redacting_stream_catches_a_secret_split_across_writes():
    target = io.StringIO()
    stream = RedactingStream(target, {"sk-123456"})
    stream.write("key=sk-12")
    stream.write("3456 ok\nnext sk-1234")
    assert target.getvalue() == "key=*** ok\n"
    stream.write("56")
    stream.flush()
    assert target.getvalue() == "key=*** ok\nnext ***"
    assert "sk-123456" not in target.getvalue()


def test_environment_secrets_are_long_values_of_secret_looking_variables():
    from tunegym.harness.redaction import environment_secrets

    environ = {
        "OPENAI_API_KEY": "sk-abcdef123456",
        "AUTH_MODE": "none",  # too short: would mangle ordinary text
        "SESSION_TOKEN": "has a space in it",
        "PATH": "/usr/bin:/bin",
    }
    assert environment_secrets(environ) == {"sk-abcdef123456"}
