"""The days and years the national follow-up is asked about (an as-of date, a cut-off, an agreement year).

Read strictly, one way for the service and the CLI: a day is ISO `YYYY-MM-DD` in the years 2000–2199.
Python's `date.fromisoformat` alone would also read `20121212`, `2012-W10-1` and even `1212121212`
(as 1212-12-12: an identity number taken for a date), and a day such as 9999-12-31 overflows the
arithmetic of due days and boundaries (a 500 before). An agreement year is 2025–2100.
"""

from __future__ import annotations

import datetime as dt
import re

from classifier.errors import ascii_whole

FIRST_YEAR, LAST_YEAR = 2000, 2199
FIRST_AGREEMENT_YEAR, LAST_AGREEMENT_YEAR = 2025, 2100
_ISO_DAY = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")

DAY_EN = f"expected a real date as 'YYYY-MM-DD' in the years {FIRST_YEAR}–{LAST_YEAR}"
DAY_SV = f"ska vara ett verkligt datum som 'ÅÅÅÅ-MM-DD' under åren {FIRST_YEAR}–{LAST_YEAR}"
YEAR_EN = (f"expected the agreement year, a whole number from {FIRST_AGREEMENT_YEAR} to {LAST_AGREEMENT_YEAR} "
           "in four ASCII digits")
YEAR_SV = (f"ska vara avtalsåret, ett heltal från {FIRST_AGREEMENT_YEAR} till {LAST_AGREEMENT_YEAR} "
           "skrivet med fyra siffror (0–9)")
DELIVERY_ID_DIGITS = 18  # a BIGINT's ids, read without overflow
DELIVERY_ID_EN = f"expected a delivery's number, a whole number of at most {DELIVERY_ID_DIGITS} ASCII digits"
DELIVERY_ID_SV = f"ska vara leveransens nummer, ett heltal med högst {DELIVERY_ID_DIGITS} siffror (0–9)"


class DayError(ValueError):
    """Not a day the follow-up can be asked about; `en` and `sv` say what is expected (the value is never
    repeated: it may be an identity number)."""

    def __init__(self, en: str = DAY_EN, sv: str = DAY_SV):
        super().__init__(en)
        self.en, self.sv = en, sv


def parse_day(value: str) -> dt.date:
    """`YYYY-MM-DD`, a real date in the years 2000–2199; DayError otherwise."""
    if not _ISO_DAY.fullmatch(value):
        raise DayError()
    try:
        day = dt.date.fromisoformat(value)
    except ValueError:
        raise DayError() from None
    if not FIRST_YEAR <= day.year <= LAST_YEAR:
        raise DayError()
    return day


def read_year(value: str | None) -> int | None:
    """An agreement year written as four ASCII digits (a query parameter, --year), else None: ' 2026 ',
    '+2026', '2_026' and '2026.0' are refused, never read as 2026 (classifier.errors.ascii_whole)."""
    year = ascii_whole(value, 4)
    return year if agreement_year(year) else None


def agreement_year(value: object) -> bool:
    """Whether `value` is an agreement year the follow-up knows (a JSON whole number, not a boolean)."""
    return (isinstance(value, int) and not isinstance(value, bool)
            and FIRST_AGREEMENT_YEAR <= value <= LAST_AGREEMENT_YEAR)
