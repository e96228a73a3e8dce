"""The shared table of identity-number spellings (tests/data/identity_spellings.json) and its one generator.

Every test about identity numbers takes its spellings from here: the listed ones (the first
attack rounds' corpus, the second round's 31, a few more), the 225 generated from the table's
dates, separators and surroundings, and the clean values that must still pass.
"""

from __future__ import annotations

import itertools
import json
import unicodedata
from pathlib import Path
from typing import Any

TABLE: dict[str, Any] = json.loads((Path(__file__).parent / "data" / "identity_spellings.json").read_text("utf-8"))
SEPARATORS: list[str] = TABLE["generated"]["separators"]


def listed() -> list[dict[str, str]]:
    """The spellings written out in the table, each with `why` and `source`."""
    return list(TABLE["spellings"])


def generated() -> list[dict[str, str]]:
    """Every date x separator x surrounding of the table's `generated` section (225 spellings)."""
    spec = TABLE["generated"]
    out = []
    for date, sep, around in itertools.product(spec["dates"], spec["separators"], spec["surroundings"]):
        name = " + ".join(f"U+{ord(c):04X}" for c in sep) or "no separator"
        out.append({"value": around.format(f"{date}{sep}{spec['serial']}"),
                    "why": f"{date}, {name}, in {around!r}", "source": "generated"})
    return out


def spellings() -> list[dict[str, str]]:
    """The listed and the generated spellings."""
    return listed() + generated()


def clean() -> list[dict[str, str]]:
    """Values that hold no identity number and must pass everywhere."""
    return list(TABLE["clean"])


def digits(value: str) -> str:
    """The number's ASCII digits, however they were written (what a leak would show)."""
    out = []
    for c in value:
        d = unicodedata.decimal(c, None)
        folded = unicodedata.normalize("NFKC", c)
        if d is None and len(folded) == 1 and folded.isdecimal():
            d = int(folded)
        if d is not None:
            out.append(str(d))
    return "".join(out)
