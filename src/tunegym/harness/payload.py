"""Reading NeMo-Gym-shaped ``/verify`` bodies leniently, with field-exact errors.

Accepted forms (all JSON objects):

- NeMo Gym: ``responses_create_params``, ``response`` (an OpenAI Responses object) and the
  row's fields at top level. The answer text is the ``output_text`` parts of every
  assistant ``output`` item of type ``message``, concatenated and stripped: the OpenAI
  SDK's ``Response.output_text``, which NeMo Gym's servers grade.
- The same with ``response`` a chat-completions object: ``choices[0].message.content``.
- Evaluator form: ``{"response": "text", "expected": ..., "metadata": {...}}``.

Anything not needed is ignored (extra fields, missing ``tools``/``tool_choice``/...).
A field that is present with the wrong type raises :class:`PayloadError` naming it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

# Top-level fields of a verify body that are not row fields for the harness.
RESERVED_FIELDS = frozenset(
    {
        "response",
        "expected_answer",
        "expected",
        "reward",
        "extracted_answer",
        "mask_sample",
        "failure_kind",
        "failure_reason",
        "verify_details",
    }
)

_VERIFY_PARAMETERS = ("response_text", "expected_answer")
# A field no ``verify()`` can take as a keyword: it is a method, and ``self`` is bound.
_UNUSABLE_FIELDS = frozenset({"self"})


class PayloadError(ValueError):
    """A request field has the wrong shape; ``loc`` is its path from the body root."""

    def __init__(self, loc: tuple[str | int, ...], msg: str, kind: str = "type_error") -> None:
        # Imported here: tunegym.spec loads pydantic and the spec models (~0.25 s), which
        # a harness process verifying well-formed bodies never needs.
        from tunegym.spec.errors import format_loc

        super().__init__(f"{format_loc(loc) or 'body'}: {msg}")
        self.loc = loc
        self.msg = msg
        self.kind = kind

    def detail(self) -> dict[str, Any]:
        """The error in FastAPI's ``detail`` item shape, with the dotted path in ``msg``."""
        return {"loc": ["body", *self.loc], "msg": str(self), "type": self.kind}


def row_fields(row: Mapping[str, Any]) -> dict[str, Any]:
    """The fields of a dataset row (or verify body) that ``verify()`` receives as keyword
    arguments: all but the reserved ones (``response``, ``reward``, ``mask_sample``, ...)
    and ``verify()``'s own parameters (``response_text``, ``expected_answer``).

    The one rule for every caller: the HTTP server, ``collect`` and
    :class:`~tunegym.harness.env.HarnessGymServer`, so a harness sees the same fields in
    process and over HTTP.
    """
    return {
        k: v for k, v in row.items() if k not in RESERVED_FIELDS and k not in _VERIFY_PARAMETERS
    }


@dataclass(frozen=True)
class VerifyInput:
    """What the harness needs from a verify body."""

    response_text: str
    expected_answer: Any
    row_fields: dict[str, Any]


def _expect(value: Any, kind: type | tuple[type, ...], loc: tuple[str | int, ...], what: str):
    if not isinstance(value, kind):
        raise PayloadError(loc, f"expected {what}, got {_type_name(value)}")
    return value


def _type_name(value: Any) -> str:
    if value is None:
        return "null"
    return {dict: "object", list: "array", str: "string", bool: "boolean"}.get(
        type(value), type(value).__name__
    )


def _text_of_parts(parts: list[Any], loc: tuple[str | int, ...], part_types: set[str]) -> str:
    texts: list[str] = []
    for j, part in enumerate(parts):
        if isinstance(part, str):
            texts.append(part)
            continue
        _expect(part, dict, (*loc, j), "an object")
        kind = _expect(part.get("type", "output_text"), str, (*loc, j, "type"), "a string")
        if kind not in part_types:
            continue
        text = part.get("text")
        if text is None:
            continue
        texts.append(_expect(text, str, (*loc, j, "text"), "a string"))
    return "".join(texts)


def responses_text(response: Mapping[str, Any]) -> str:
    """Answer text of an OpenAI Responses object: its assistant ``output_text`` parts, joined."""
    output = _expect(response.get("output"), list, ("response", "output"), "an array")
    texts: list[str] = []
    for i, item in enumerate(output):
        loc: tuple[str | int, ...] = ("response", "output", i)
        _expect(item, dict, loc, "an object")
        if item.get("type") != "message" or item.get("role", "assistant") != "assistant":
            continue
        content = item.get("content")
        if isinstance(content, str):
            texts.append(content)
        elif content is not None:
            _expect(content, list, (*loc, "content"), "an array or a string")
            texts.append(_text_of_parts(content, (*loc, "content"), {"output_text", "text"}))
    return "".join(texts).strip()


def chat_text(response: Mapping[str, Any]) -> str:
    """Answer text of a chat-completions object (``choices[0].message.content``)."""
    choices = _expect(response.get("choices"), list, ("response", "choices"), "an array")
    if not choices:
        return ""
    choice = _expect(choices[0], dict, ("response", "choices", 0), "an object")
    loc: tuple[str | int, ...] = ("response", "choices", 0, "message")
    raw = choice.get("message")
    message = {} if raw is None else _expect(raw, dict, loc, "an object")  # 0, "": not one
    content = message.get("content")
    if content is None:
        return ""
    if isinstance(content, list):
        return _text_of_parts(content, (*loc, "content"), {"text", "output_text"}).strip()
    return _expect(content, str, (*loc, "content"), "a string or an array").strip()


def response_text(response: Any) -> str:
    """Answer text of any accepted ``response`` value (Responses, chat, or plain text)."""
    if isinstance(response, str):
        return response
    _expect(response, dict, ("response",), "an object or a string")
    if "output" in response:
        return responses_text(response)
    if "choices" in response:
        return chat_text(response)
    raise PayloadError(
        ("response",),
        "expected an OpenAI Responses object (with 'output'), a chat completion "
        "(with 'choices') or a string",
        kind="value_error",
    )


def parse_verify_body(body: Any) -> VerifyInput:
    """Validate a verify body and split it into text, expected answer and row fields.

    In the evaluator form the ``metadata`` object's keys become the row fields; in the
    NeMo Gym form every top-level field except the reserved ones (``response``,
    ``reward``, ...) does, including ``responses_create_params``. Either way they pass
    through :func:`row_fields`. A field named ``self`` is refused (no method can take it
    as a keyword).
    """
    _expect(body, dict, (), "a JSON object")
    if "response" not in body:
        raise PayloadError(("response",), "field required", kind="missing")
    params = body.get("responses_create_params")
    if params is not None:
        _expect(params, dict, ("responses_create_params",), "an object")
    response = body["response"]
    text = response_text(response)
    if isinstance(response, str):
        metadata = body.get("metadata")
        if metadata is not None:
            _expect(metadata, dict, ("metadata",), "an object")
        fields = row_fields({k: v for k, v in body.items() if k != "metadata"})
        _check_field_names(fields, ())
        fields.update(_check_field_names(row_fields(metadata or {}), ("metadata",)))
        expected = body.get("expected", body.get("expected_answer"))
    else:
        fields = _check_field_names(row_fields(body), ())
        expected = body.get("expected_answer")
    return VerifyInput(response_text=text, expected_answer=expected, row_fields=fields)


def _check_field_names(fields: dict[str, Any], loc: tuple[str | int, ...]) -> dict[str, Any]:
    if clash := sorted(_UNUSABLE_FIELDS & fields.keys()):
        name = clash[0]
        raise PayloadError(
            (*loc, name),
            f"a row field cannot be named {name!r}: verify() is a method, its {name!r} is taken",
            kind="value_error",
        )
    return fields
