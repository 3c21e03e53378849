"""Keeping secrets out of logs.

A value is secret when it sits under a key whose name contains ``key``, ``token``,
``secret``, ``password``, ``credential`` or ``auth`` (case-insensitive, at any depth).
:func:`redact` masks such values in a structure; :func:`secret_values` collects them so
:func:`scrub` (and :class:`RedactingStream`) can remove them from free text, such as a
child process's log lines, where they appear without their key.
"""

from __future__ import annotations

import io
from collections.abc import Iterable, Mapping
from typing import Any, TextIO

SENSITIVE_MARKERS = ("key", "token", "secret", "password", "credential", "auth")
MASK = "***"
_MIN_SCRUB_LENGTH = 4  # shorter "secrets" would mangle ordinary text


def is_sensitive(key: Any) -> bool:
    """Whether a mapping key names a secret."""
    lowered = str(key).lower()
    return any(marker in lowered for marker in SENSITIVE_MARKERS)


def redact(value: Any) -> Any:
    """A copy of ``value`` with every value under a sensitive key replaced by ``***``."""
    if isinstance(value, Mapping):
        return {k: (MASK if is_sensitive(k) else redact(v)) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [redact(v) for v in value]
    return value


def secret_values(value: Any, _under_secret: bool = False) -> set[str]:
    """Every string (and number) found under a sensitive key, at any depth."""
    found: set[str] = set()
    if isinstance(value, Mapping):
        for k, v in value.items():
            found |= secret_values(v, _under_secret or is_sensitive(k))
    elif isinstance(value, list | tuple):
        for v in value:
            found |= secret_values(v, _under_secret)
    elif _under_secret and isinstance(value, str | int | float) and not isinstance(value, bool):
        found.add(str(value))
    return found


def environment_secrets(environ: Mapping[str, str]) -> set[str]:
    """Values of secret-looking environment variables (``OPENAI_API_KEY``, ``HF_TOKEN``...).

    Only values of at least 8 characters without whitespace count: a variable such as
    ``AUTH_MODE=none`` must not turn every "none" in a log line into ``***``.
    """
    return {
        value
        for value in secret_values(dict(environ))
        if len(value) >= 8 and not any(c.isspace() for c in value)
    }


def scrub(text: str, secrets: Iterable[str]) -> str:
    """``text`` with each secret (of at least 4 characters) replaced by ``***``."""
    for secret in sorted(set(secrets), key=len, reverse=True):
        if len(secret) >= _MIN_SCRUB_LENGTH:
            text = text.replace(secret, MASK)
    return text


class RedactingStream(io.TextIOBase):
    """A text stream that scrubs secrets from whole lines before passing them on.

    Writes are buffered until a newline so a secret split across two ``write`` calls is
    still caught; :meth:`flush` passes on a trailing partial line.
    """

    def __init__(self, target: TextIO, secrets: Iterable[str]) -> None:
        super().__init__()
        self._target = target
        self._secrets = [s for s in set(secrets) if len(s) >= _MIN_SCRUB_LENGTH]
        self._pending = ""

    def writable(self) -> bool:
        return True

    def write(self, text: str) -> int:
        self._pending += text
        if "\n" in self._pending:
            complete, _, self._pending = self._pending.rpartition("\n")
            self._target.write(scrub(complete + "\n", self._secrets))
            self._target.flush()
        return len(text)

    def flush(self) -> None:
        if self._pending:
            self._target.write(scrub(self._pending, self._secrets))
            self._pending = ""
        self._target.flush()

    def fileno(self) -> int:
        return self._target.fileno()

    def isatty(self) -> bool:
        return self._target.isatty()
