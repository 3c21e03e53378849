"""Reading the answer letter out of a multiple-choice response, by NeMo Gym 0.7.0's rules.

These functions reproduce the grading modes of NeMo Gym's ``mcqa`` resources server as
released in nemo-gym 0.7.0 (the interop suite, ``make interop``, runs both graders on the
same inputs). ``allowed`` is the set of option letters of the row: a letter outside it never
counts, and a row without options allows none.

- ``strict_single_letter_boxed``: the *last* ``\\boxed{...}`` (braces balanced), with
  ``\\text{...}`` wrappers removed, holding one capital letter among non-letters
  (``\\boxed{B}``, ``\\boxed{ [C] }``) or starting with a letter and ``:``, ``)``, ``.`` or
  ``-`` (``\\boxed{E: option text}``).
- ``lenient_boxed``: strict, else the one option whose text appears in the last box.
- ``lenient_answer_colon``: the first ``Answer: X`` (a letter or an option's exact text).
- ``lenient_answer_colon_md``: the rightmost usable ``Answer:`` payload (markdown
  emphasis allowed, NFKC-normalised, a list such as ``A/B`` refused), or a row-given
  ``answer_prefix``; with a prefix, strict boxed is the fallback.
- ``template_metadata.output_regex`` (a pattern or a list): tried first in every mode,
  within ``REGEX_BUDGET_S`` (the client sends these patterns: one that backtracks for
  longer matches nothing, where NeMo Gym's ``re`` blocks its server).

``lenient`` is tunegym's own mode (not NeMo Gym's): strict boxed, else a box opening with a
letter, else the last ``Answer: B`` / ``answer is (B)``, else the last ``**B**``, else the
last ``(B)``, else a response that is a bare letter. It lets a policy that answers with the
letter alone (a categorical agent playing ``HarnessGymServer``) be scored.
"""

from __future__ import annotations

import itertools
import re
import time
import unicodedata
from collections.abc import Iterable, Sequence

REGEX_BUDGET_S = 0.5
"""The time a row's ``output_regex`` patterns may take, together, on one response."""
MAX_PATTERN = 10_000
"""A longer ``output_regex`` pattern matches nothing (as an invalid one does)."""

# -- shared pieces ---------------------------------------------------------------------
_TEXT_WRAPPER = re.compile(r"\\text\{\s*(.*?)\s*\}", re.S)
_LETTER_ONLY = re.compile(r"^[^A-Za-z]*([A-Z])[^A-Za-z]*$")
_LETTER_LABEL = re.compile(r"^\s*([A-Z])\s*[:).\-]")
_BOXED = "\\boxed{"

# Letters of other scripts (and full-width Latin) that NeMo Gym reads as A-D.
_FOREIGN_LETTERS = {
    "أ": " A",
    "ب": " B",
    "ج": " C",
    "د": " D",
    "অ": " A",
    "ব": " B",
    "ড": " C",
    "ঢ": " D",
    "\N{FULLWIDTH LATIN CAPITAL LETTER A}": " A",
    "\N{FULLWIDTH LATIN CAPITAL LETTER B}": " B",
    "\N{FULLWIDTH LATIN CAPITAL LETTER C}": " C",
    "\N{FULLWIDTH LATIN CAPITAL LETTER D}": " D",
}
_FOREIGN_TABLE = str.maketrans(_FOREIGN_LETTERS)


def normalise(text: str) -> str:
    """Lower case with runs of whitespace collapsed, for comparing option texts."""
    return " ".join(text.lower().split())


def strip_text_wrappers(text: str) -> str:
    """``\\text{\\text{B}}`` -> ``B``: remove whole-string ``\\text{...}`` wrappers."""
    while match := _TEXT_WRAPPER.fullmatch(text):
        text = match.group(1)
    return text


def last_boxed_content(text: str) -> str | None:
    """Everything inside the last ``\\boxed{``, up to its matching ``}`` (``None`` if unclosed)."""
    start = text.rfind(_BOXED)
    if start == -1:
        return None
    depth = 1
    begin = start + len(_BOXED)
    for position in range(begin, len(text)):
        char = text[position]
        if char == "{":
            depth += 1
        elif char == "}":
            depth -= 1
            if depth == 0:
                return text[begin:position]
    return None


def option_texts(options: Sequence[dict[str, str | None]] | None, allowed: set[str]):
    """``(LETTER, normalised text)`` for every option with a text and an allowed letter."""
    for entry in options or ():
        for key, value in entry.items():
            if value is not None and len(key) == 1 and key.upper() in allowed:
                yield key.upper(), normalise(value)


def allowed_letters(options: Sequence[dict[str, str | None]] | None) -> set[str]:
    """Upper-cased single-letter option keys whose text is not null."""
    return {
        key.upper()
        for entry in options or ()
        for key, value in entry.items()
        if len(key) == 1 and key.isalpha() and value is not None
    }


# -- strict and lenient boxed ----------------------------------------------------------
def strict_boxed(text: str, allowed: set[str]) -> str | None:
    """The letter of the last box: a lone capital (``[C]``) or a label (``E: ...``)."""
    inner = last_boxed_content(text)
    if inner is None:
        return None
    inner = strip_text_wrappers(inner.strip())
    match = _LETTER_ONLY.match(inner) or _LETTER_LABEL.match(inner)
    if match is None or match.group(1) not in allowed:
        return None
    return match.group(1)


def boxed_option_text(
    text: str, options: Sequence[dict[str, str | None]] | None, allowed: set[str]
) -> str | None:
    """The one option whose (normalised) text appears in the last box, if exactly one does."""
    inner = last_boxed_content(text)
    if inner is None:
        return None
    inner = inner.strip()
    candidates = {normalise(inner), normalise(strip_text_wrappers(inner))}
    hits = {
        letter
        for letter, option in option_texts(options, allowed)
        if option and any(option in candidate for candidate in candidates)
    }
    return hits.pop() if len(hits) == 1 else None


# -- Answer: X ---------------------------------------------------------------------------
_ANSWER_COLON = re.compile(r"(?i)answer\s*:\s*(.+)")


def answer_colon(
    text: str, options: Sequence[dict[str, str | None]] | None, allowed: set[str]
) -> str | None:
    """The first ``Answer: ...``: a single allowed letter, or an option's exact text."""
    match = _ANSWER_COLON.search(text)
    if match is None:
        return None
    candidate = strip_text_wrappers(match.group(1)).strip()
    if len(candidate) == 1 and candidate.isalpha() and candidate.upper() in allowed:
        return candidate.upper()
    wanted = normalise(candidate)
    for letter, option in option_texts(options, allowed):
        if option == wanted:
            return letter
    return None


# -- Answer: X in markdown, with an optional row prefix --------------------------------
_ANSWER_PAYLOAD = re.compile(r"(?im)[*_]{0,2}Answer[*_]{0,2}\s*:[*_\s]{0,2}(.+)")
_CHOICE_LETTER = re.compile(r"(?<![A-Za-z])([A-Za-z])(?![A-Za-z])")
_LEADING_LETTER = re.compile(r"^([a-zA-Z])(?![a-zA-Z0-9])")
_LAST_STANDALONE = re.compile(r"\b[A-Z]\b(?!.*\b[A-Z]\b)", re.S)
_LIST_SEPARATOR = re.compile(r"(?:\s*[/|&,;]\s*|\s+(?:or|and)\s+|\s+)", re.I)
_PAYLOAD_PUNCTUATION = "*_` \t\n\r.,;:"


def normalise_extracted(text: str) -> str:
    """NFKC, other scripts' A-D mapped to Latin, stripped."""
    return unicodedata.normalize("NFKC", text).translate(_FOREIGN_TABLE).strip()


def _is_choice_list(text: str, allowed: set[str]) -> bool:
    """Whether two different allowed letters stand next to each other as a list (``A/B``)."""
    found = [
        (m.group(1).upper(), m.span(1))
        for m in _CHOICE_LETTER.finditer(text)
        if m.group(1).upper() in allowed
    ]
    return any(
        left != right and _LIST_SEPARATOR.fullmatch(text[left_span[1] : right_span[0]])
        for (left, left_span), (right, right_span) in itertools.pairwise(found)
    )


def choice_letter(payload: str, allowed: set[str]) -> str | None:
    """One allowed letter out of an answer payload (``B``, ``B because ...``, ``... (B)``)."""
    candidate = normalise_extracted(payload).strip().strip(_PAYLOAD_PUNCTUATION)
    if _is_choice_list(candidate, allowed):
        return None
    letter: str | None
    if len(candidate) == 1:
        letter = candidate
    elif match := _LEADING_LETTER.match(candidate):
        letter = match.group(1)
    else:
        found = _LAST_STANDALONE.search(candidate)
        letter = found.group(0) if found else None
    if letter and letter.upper() in allowed:
        return letter.upper()
    return None


def answer_payloads(text: str, answer_prefix: str | None) -> list[str]:
    """Every ``Answer:`` payload (and every ``answer_prefix`` line tail), in text order."""
    text = unicodedata.normalize("NFKC", text)
    found = [(m.start(), m.group(1)) for m in _ANSWER_PAYLOAD.finditer(text)]
    if answer_prefix:
        prefix = re.compile(
            re.escape(unicodedata.normalize("NFKC", answer_prefix)) + r"\s*", re.IGNORECASE
        )
        for match in prefix.finditer(text):
            end = text.find("\n", match.end())
            found.append((match.start(), text[match.end() : end if end >= 0 else len(text)]))
    found.sort(key=lambda item: item[0])
    return [payload for _, payload in found]


def answer_colon_md(text: str, allowed: set[str], answer_prefix: str | None) -> str | None:
    """The rightmost payload that yields a letter; strict boxed when a prefix was given."""
    for payload in reversed(answer_payloads(text, answer_prefix)):
        if (letter := choice_letter(payload, allowed)) is not None:
            return letter
    if answer_prefix:
        return strict_boxed(text, allowed)
    return None


# -- the row's own regexes -------------------------------------------------------------
def custom_regex(
    text: str,
    patterns: str | Iterable[str],
    options: Sequence[dict[str, str | None]] | None,
    allowed: set[str],
) -> str | None:
    """The first pattern whose last match (case-insensitive) is a letter or an option text.

    A captured single letter is trusted even outside ``allowed`` (the row's template says
    what the answer looks like). An invalid pattern matches nothing, and so does one
    still matching when the row's ``REGEX_BUDGET_S`` is spent (a client's pattern such as
    ``(a+)+$`` took seconds per character with ``re``, and the server answered nothing
    else meanwhile).
    """
    import regex

    deadline = time.monotonic() + REGEX_BUDGET_S
    for pattern in [patterns] if isinstance(patterns, str) else patterns:
        left = deadline - time.monotonic()
        if left <= 0:
            break
        if len(pattern) > MAX_PATTERN:
            continue
        try:
            flags = regex.IGNORECASE | regex.VERSION0  # VERSION0: the semantics of re
            matches = regex.findall(pattern, text, flags, timeout=left)
        except (regex.error, ValueError, OverflowError, RecursionError, TimeoutError):
            continue
        if not matches:
            continue
        last = matches[-1]
        if isinstance(last, tuple):  # several groups: the first non-empty one
            last = next((group for group in last if group), "")
        captured = normalise_extracted(last.strip()).upper()
        if len(captured) == 1 and captured.isalpha():
            return captured
        wanted = normalise(captured)
        for letter, option in option_texts(options, allowed):
            if option == wanted:
                return letter
    return None


# -- tunegym's lenient mode --------------------------------------------------------------
_ANSWER_LETTER = re.compile(r"(?i:answer)(?:\s+is)?\s*[:\-]?\s*\**\s*\(?([A-Z])\)?(?![A-Za-z])")
_BOXED_LEADING_LETTER = re.compile(r"\\boxed\{\s*\(?([A-Z])\)?\s*[:.)]")
_BOLD_LETTER = re.compile(r"\*\*\s*\(?([A-Z])\)?[.:]?\s*\*\*")
_PAREN_LETTER = re.compile(r"\(([A-Z])\)")
_BARE_LETTER = re.compile(r"\s*\(?([A-Z])\)?[.]?\s*")


def _last_allowed(pattern: re.Pattern[str], text: str, allowed: set[str]) -> str | None:
    for letter in reversed(pattern.findall(text)):
        if letter in allowed:
            return letter
    return None


def lenient(text: str, allowed: set[str]) -> str | None:
    """tunegym's lenient extraction (see the module docstring for the order)."""
    letter = strict_boxed(text, allowed)
    for pattern in (_BOXED_LEADING_LETTER, _ANSWER_LETTER, _BOLD_LETTER, _PAREN_LETTER):
        letter = letter or _last_allowed(pattern, text, allowed)
    if letter is None and (bare := _BARE_LETTER.fullmatch(text)):
        letter = bare.group(1) if bare.group(1) in allowed else None
    return letter
