"""Reject values that look like Swedish personal identity or coordination numbers.

The service needs no identity (docs/definitions.md §3). A personnummer is YYMMDD or YYYYMMDD, a
separator or none, then four digits; a samordningsnummer adds 60 to the day. Any run of
digits in that shape with a plausible month and day is an identity number, whether or
not its check digit is right: a mistyped identity number is still an identity number.

One detector decides everywhere (docs/privacy.md): `looks_like_identity_number` for one
string, `identity_number_paths` for a whole parsed JSON body (keys, strings and numbers, at
any depth), `redact` for text that is about to be logged (a URL path, a message). The text
is normalised first, so that every spelling a keyboard, a word processor, a PDF or an
attacker produces is read as the digits it shows:

- NFKC (fullwidth digits and hyphens, mathematical digits, U+FE63 become ASCII);
- invisible characters are removed: format characters (Unicode category Cf: soft hyphen,
  zero-width characters, word joiner, direction marks, BOM), marks (combining accents, variation
  selectors, the combining grapheme joiner) and the other default-ignorable code points (Hangul fillers);
- every Unicode decimal digit (Arabic-Indic, Devanagari, ...) is read as its ASCII digit;
- every dash (category Pd), the minus sign, every space and every control character are
  separators, as are `.`, `/`, `\\`, `_`, `,`, `:` and `+`, and outside ASCII every other punctuation
  mark (`。`, `·`, `・`, `•`) and the mathematical dots and slashes; a run of them, of any length, counts as one.

Then three shapes are identity numbers (S: a run of separators):

- the date in one piece: `YYYYMMDD` or `YYMMDD`, any S or none, four digits (`20120312-1234`);
- the date in parts: `YYYY`/`YY` S `MM` S `DD` S four digits, each S optional
  (`2012-03-12-1234`, `2012 03 12 1234`, `2012_0312_1234`);
- pairs: `(CC) YY MM DD NN NN`, two digits each, separated by runs without a colon
  (`20 12 03 12 12 34`).

The last two start a chain of digit groups, not its middle, except after a `/`: a URL path's
segments are separate values, so `/v1/1912/12/12-1212` holds one.

What stays allowed: a plain date (`2026-02-26`), an ISO timestamp (`2026-02-26T12:34:56`,
`2026-02-26 12:34`: the four digits after a date are one group), a list or interval of dates
(`2026-02-26,2026-03-01`, `2026-02-26/2026-03-01`), a UUID's groups (one that mixes letters and
digits is read as letters; see `_UUID`), a time with its offset,
numbers of up to nine digits, and a phone number unless its digits are date-shaped where a
date would stand.
"""

from __future__ import annotations

import re
import unicodedata
from functools import lru_cache
from typing import Any
from urllib.parse import unquote

_MONTH = r"(?:0[1-9]|1[0-2])"
_DAY = r"(?:0[1-9]|[12]\d|3[01]|6[1-9]|[78]\d|9[01])"  # 61-91: samordningsnummer
_CENTURY = r"(?:18|19|20)"
# After normalisation every separator is one of these: whitespace, an ASCII control character, a backslash.
_SEP = r"[\s\x00-\x1f\x7f\\\-./_,:+]"
# Pairs are never joined by a colon: 03:04:05+01:00 is a time with its offset.
_PAIR_SEP = r"[\s\x00-\x1f\x7f\\\-./_,+]+"
# After the four digits: not a fifth digit; and not, when the four digits read as a year, a
# separator and more digits (the second date of a list or an interval: 2026-02-26,2026-03-01).
_END = rf"(?!\d)(?!(?<={_CENTURY}\d\d){_SEP}+\d)"
# The date in parts and the pairs start a chain of digit groups, not its middle, and are not
# glued to a hexadecimal letter: UUIDs and other hex ids (9e35-0913-4747) are groups of digits
# and letters a-f, and one in a thousand would otherwise hold such a shape across its dashes.
# A `/` always may start one: a URL path's segments are separate values (`/v1/1912/12/12-1212`).
_START = rf"(?<![0-9A-Fa-f])(?:(?<!\d{_SEP})|(?<=/))"
_HEX_END = r"(?![A-Fa-f])"
_CANDIDATE = re.compile(
    rf"(?<!\d)(?:{_CENTURY}\d\d|\d\d){_MONTH}{_DAY}{_SEP}*\d{{4}}{_END}"
    rf"|{_START}(?:{_CENTURY}\d\d|\d\d){_SEP}*{_MONTH}{_SEP}*{_DAY}{_SEP}*\d{{4}}{_END}{_HEX_END}"
    rf"|{_START}(?:{_CENTURY}{_PAIR_SEP})?\d\d{_PAIR_SEP}{_MONTH}{_PAIR_SEP}{_DAY}{_PAIR_SEP}\d\d{_PAIR_SEP}\d\d"
    rf"(?!\d)(?!{_PAIR_SEP}\d){_HEX_END}"
)
# Every candidate holds ten digits joined by separators at most, and this much simpler pattern
# (its search skips straight to the digits) finds where the first such run starts: the full
# pattern is searched from there, or not at all (5-10 times faster on ordinary text).
_CHAIN = re.compile(rf"\d(?:{_SEP}*\d){{9}}")
# A body (or a header, a query string) can only hold one if it has a non-ASCII byte (other
# digits, other separators, format characters), a backslash (a \u or other escape in a JSON
# string, or a separator), a `%` (percent-encoding), a number in exponent form (1.2011e9) or ten
# digits joined by separators (control characters included) at most. The regex starts with a
# digit, so the search skips to the digits.
_MAYBE_ASCII = re.compile(rb"\d(?:[eE]|(?:[\s\x00-\x1f\x7f\-./_,:+]*\d){9})")
_DIGITS = "0123456789"

MESSAGE = ("looks like a Swedish personal identity or coordination number; send a pseudonymous "
           "reference instead (the service needs no identity)")
REDACTED = "<redacted>"


# Default-ignorable code points that are neither format characters nor marks (Unicode's
# DerivedCoreProperties.txt): the Hangul fillers, which render as nothing, and the reserved ones.
_FILLERS = frozenset("\u115f\u1160\u3164\uffa0")
_RESERVED_IGNORABLE = ((0x2065, 0x2065), (0xFFF0, 0xFFF8), (0xE0000, 0xE0FFF))
# Mathematical dots and slashes (category Sm) that stand between digits as a separator would.
_MATH_SEPARATORS = frozenset("\u2044\u2215\u2216\u2219\u22c5\u29f5\u29f8\u29f9")


def _invisible(c: str, kind: str) -> bool:
    """A character that shows nothing between two digits: a format character, a mark (a combining accent,
    a variation selector, the combining grapheme joiner) or another default-ignorable code point."""
    return (kind in ("Cf", "Mn", "Me", "Mc") or c in _FILLERS
            or (kind == "Cn" and any(lo <= ord(c) <= hi for lo, hi in _RESERVED_IGNORABLE)))


@lru_cache(maxsize=4096)
def _fold(char: str) -> str:
    """One character as the detector reads it: '' for an invisible one, ASCII for a digit or separator."""
    if _invisible(char, unicodedata.category(char)):
        return ""
    digit = unicodedata.decimal(char, None)
    if digit is not None:
        return _DIGITS[digit]
    out = []
    for c in unicodedata.normalize("NFKC", char):
        digit = unicodedata.decimal(c, None)
        kind = unicodedata.category(c)
        if digit is not None:
            out.append(_DIGITS[digit])
        elif _invisible(c, kind):
            continue
        elif kind == "Pd" or c == "\u2212":  # every hyphen and dash, the minus sign
            out.append("-")
        elif kind in ("Zs", "Zl", "Zp", "Cc") or c.isspace():  # every space, every control character
            out.append(" ")
        elif not c.isascii() and (kind in ("Po", "Pc") or c in _MATH_SEPARATORS):  # 。 · ・ • ‧ ⁄ ∙ ⋅ ...
            out.append(".")
        else:
            out.append(c)
    return "".join(out)


class _Folding(dict[int, str]):
    """`str.translate`'s table for `_fold`, filled as characters are first seen (bounded)."""

    def __missing__(self, code: int) -> str:
        if len(self) > 65536:  # a text of every code point must not grow it without bound
            self.clear()
        folded = self[code] = _fold(chr(code))
        return folded


_FOLDING = _Folding()


def normalise(value: str) -> tuple[str, list[int]]:
    """The text as the detector reads it, and for each of its characters the index it came from."""
    chars: list[str] = []
    origin: list[int] = []
    for i, char in enumerate(value):
        folded = char if char.isascii() else _fold(char)
        chars.append(folded)
        origin.extend([i] * len(folded))
    return "".join(chars), origin


def _readable(value: str) -> str | None:
    """The text to search, or None when it cannot hold an identity number (the cheap test first)."""
    if value.isascii():
        if len(value) < 10 or sum(map(value.count, _DIGITS)) < 10:
            return None
        return value
    return value.translate(_FOLDING)  # as normalise() reads it, in one pass in C


# A UUID written as one (8-4-4-4-12 hexadecimal digits, standing alone). One in 1,100 random UUIDs
# holds ten or twelve decimal digits between two letters a–f that form a date and four digits
# (`…-a382-1107162054fc`); a group that mixes letters and digits is a random id, never a person's
# number, so it is read as letters. A group of digits only is still read: `20120312-1234-4abc-…`
# is an identity number spelled with a UUID's tail.
_UUID = re.compile(r"(?<![0-9A-Za-z])[0-9A-Fa-f]{8}(?:-[0-9A-Fa-f]{4}){3}-[0-9A-Fa-f]{12}(?![0-9A-Za-z])")
_MIXED_GROUP = re.compile(r"[0-9A-Fa-f]*[A-Fa-f][0-9A-Fa-f]*")


def _letters_for_mixed_groups(uuid: re.Match[str]) -> str:
    return _MIXED_GROUP.sub(lambda g: "x" * len(g.group()), uuid.group())


def _search(text: str) -> re.Match[str] | None:
    chain = _CHAIN.search(text)
    found = None if chain is None else _CANDIDATE.search(text, chain.start())
    if found is None or "-" not in text:
        return found
    read = _UUID.sub(_letters_for_mixed_groups, text)
    if read == text:
        return found
    chain = _CHAIN.search(read)
    return None if chain is None else _CANDIDATE.search(read, chain.start())


def looks_like_identity_number(value: str) -> bool:
    """True when the string holds a personnummer or samordningsnummer in any spelling.

    Percent-encoding (`20120312%2D1234`, also encoded twice) is decoded and read again.
    """
    if len(value) < 10 and value.isascii() and "%" not in value:  # most codes and ids: too short to hold one
        return False
    for _ in range(4):  # as sent, then decoded up to three times
        text = _readable(value)
        if text is not None and _search(text) is not None:
            return True
        decoded = unquote(value) if "%" in value else value
        if decoded == value:
            return False
        value = decoded
    return False


def reject_identity_number(value: str) -> str:
    """Pydantic validator: the value must not carry a personal identity number."""
    if looks_like_identity_number(value):
        raise ValueError(MESSAGE)
    return value


def redact(text: str) -> str:
    """The text with every identity-number-shaped part replaced (for log lines and paths).

    The parts are found in the normalised text and cut out of the original, so a number
    spelled with format characters or other digits is removed whole; when anything would
    still be read as one, the whole text is replaced.
    """
    if "%" not in text and ((readable := _readable(text)) is None or _search(readable) is None):
        return text
    if text.isascii():
        out = _CANDIDATE.sub(REDACTED, text)
    else:
        norm, origin = normalise(text)
        pieces, last = [], 0
        for m in _CANDIDATE.finditer(norm):
            start, end = origin[m.start()], origin[m.end() - 1] + 1
            pieces += [text[last:start], REDACTED]
            last = end
        out = "".join(pieces) + text[last:]
    return REDACTED if looks_like_identity_number(out) else out


def maybe_holds_identity_number(raw: bytes) -> bool:
    """False only when these bytes (a JSON body, a header) cannot hold an identity number in any spelling."""
    return not raw.isascii() or b"\\" in raw or b"%" in raw or _MAYBE_ASCII.search(raw) is not None


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
    if raw is not None and not maybe_holds_identity_number(raw):
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
