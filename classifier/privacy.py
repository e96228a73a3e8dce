"""Reject values that look like Swedish personal identity or coordination numbers.

The service needs no identity (DOMAIN.md 3). A personnummer is YYMMDD or YYYYMMDD,
then `-`, `+` or nothing, then four digits; a samordningsnummer adds 60 to the day.
Any run of digits in that shape with a plausible month and day is rejected, whether or
not its check digit is right: a mistyped identity number is still an identity number.
"""

from __future__ import annotations

import re

_CANDIDATE = re.compile(r"(?<!\d)(?:(?:18|19|20)\d{2}|\d{2})(\d{2})(\d{2})[-+]?\d{4}(?!\d)")


def looks_like_identity_number(value: str) -> bool:
    """True when the string contains a personnummer or samordningsnummer-shaped number."""
    if len(value) < 10:  # the shortest form, YYMMDDNNNN, has ten digits
        return False
    for m in _CANDIDATE.finditer(value):
        month, day = int(m.group(1)), int(m.group(2))
        if 1 <= month <= 12 and (1 <= day <= 31 or 61 <= day <= 91):
            return True
    return False


def reject_identity_number(value: str) -> str:
    """Pydantic validator: the value must not carry a personal identity number."""
    if looks_like_identity_number(value):
        raise ValueError(
            "looks like a Swedish personal identity or coordination number; "
            "send a pseudonymous reference instead (the service needs no identity)"
        )
    return value
