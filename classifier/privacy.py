"""Reject values that look like Swedish personal identity or coordination numbers.

The service needs no identity (docs/definitions.md §3). A personnummer is YYMMDD or YYYYMMDD, a
separator or none, then four digits; a samordningsnummer adds 60 to the day. Any run of
digits in that shape with a plausible month and day is an identity number, whether or
not its check digit is right: a mistyped identity number is still an identity number.

One pattern decides everywhere: `looks_like_identity_number` for one string,
`identity_number_paths` for a whole parsed JSON body (keys, strings and numbers, at any
depth), `redact` for text that is about to be logged (a URL path). The separator between
the birth date and the four digits may be anything a keyboard, a word processor or a
copy from a PDF produces: `-`, `+`, a space, a non-breaking or other Unicode space, an
en or em dash, the minus sign, `.`, `/`, `_`, or an invisible zero-width character (up
to three of them). A plain date (`2026-02-26`) or a shorter number is not one.
"""

from __future__ import annotations

import re
from typing import Any

# Separators seen between the date and the serial number (\s covers the Unicode spaces).
_SEP = r"[\s\-+./_\u2010-\u2015\u2212\u200b-\u200d\u2060\ufeff]"
_MONTH = r"(?:0[1-9]|1[0-2])"
_DAY = r"(?:0[1-9]|[12]\d|3[01]|6[1-9]|[78]\d|9[01])"  # 61-91: samordningsnummer
_CANDIDATE = re.compile(rf"(?<!\d)(?:(?:18|19|20)\d{{2}}|\d{{2}}){_MONTH}{_DAY}{_SEP}{{0,3}}\d{{4}}(?!\d)")
# A body can only hold one if it has six digits in a row (the date part is never split),
# a \u escape (digits written as escapes) or a number in exponent form (1.2011e9).
_MAYBE_IN_JSON = re.compile(rb"\d{6}|\\u|\d[eE]")

MESSAGE = ("looks like a Swedish personal identity or coordination number; send a pseudonymous "
           "reference instead (the service needs no identity)")
REDACTED = "<redacted>"


def looks_like_identity_number(value: str) -> bool:
    """True when the string contains a personnummer or samordningsnummer-shaped number."""
    return len(value) >= 10 and _CANDIDATE.search(value) is not None


def reject_identity_number(value: str) -> str:
    """Pydantic validator: the value must not carry a personal identity number."""
    if looks_like_identity_number(value):
        raise ValueError(MESSAGE)
    return value


def redact(text: str) -> str:
    """The text with every identity-number-shaped part replaced (for log lines and paths)."""
    return _CANDIDATE.sub(REDACTED, text) if len(text) >= 10 else text


def _hit(value: Any) -> bool:
    if isinstance(value, str):
        return looks_like_identity_number(value)
    if isinstance(value, int | float) and not isinstance(value, bool):
        return looks_like_identity_number(repr(value))
    return False


def identity_number_paths(value: Any, raw: bytes | None = None) -> list[str]:
    """JSON paths of every key, string or number in a parsed body that holds an identity number.

    A key that is one is reported as `<redacted>` under its object's path; no path ever
    echoes one. With the raw body, a body that cannot hold one is passed without a walk.
    """
    if raw is not None and not _MAYBE_IN_JSON.search(raw):
        return []
    found: list[str] = []
    _walk(value, "", found)
    return found


def _walk(value: Any, path: str, found: list[str]) -> None:
    if isinstance(value, dict):
        for k, v in value.items():
            key = REDACTED if _hit(k) else k
            child = f"{path}.{key}" if path else key
            if key is REDACTED:
                found.append(child)
            _walk(v, child, found)
    elif isinstance(value, list):
        for i, v in enumerate(value):
            _walk(v, f"{path}[{i}]", found)
    elif _hit(value):
        found.append(path or "$")
