"""CSV cells a spreadsheet cannot run: one neutraliser for every CSV the project writes.

A cell whose first non-blank character (after spaces, tabs, carriage returns and line
feeds) is `=`, `+`, `-` or `@`, or that starts with a tab or a carriage return, is read as
a formula by Excel and LibreOffice ("CSV injection"; they skip the blanks), so a region or
unit name such as ` =HYPERLINK(...)` could run when a report is opened. Such a cell gets a
leading `'`, which spreadsheets show as text and do not evaluate.

Decision: numbers stay numbers. An int, float or Decimal is written as it is (-7.8 stays
-7.8), and so is a string that is nothing but a plain decimal number (`-7.8`, `+3`,
`12.50`): a spreadsheet reads those as numbers, never as formulas, and a report's change
in percentage points must remain a number a reader can sum. `-1+2`, `-A1` or `-7.8 ` are
not plain numbers and are neutralised.
"""

from __future__ import annotations

import csv
import re
from collections.abc import Iterable, Mapping
from decimal import Decimal
from pathlib import Path
from typing import Any, TextIO

import pyarrow as pa
import pyarrow.compute as pc

FORMULA_START = ("=", "+", "-", "@")
BLANKS = " \t\r\n"  # skipped by a spreadsheet before it looks for a formula
_RISKY = re.compile(r"^(?:[ \t\r\n]*[=+\-@]|[\t\r])")  # one pattern for safe_cell and safe_column
_PLAIN_NUMBER = re.compile(r"[+-]?[0-9]+(\.[0-9]+)?")  # ASCII digits: what a spreadsheet reads as a number


def safe_cell(value: Any) -> Any:
    """The value as a CSV cell no spreadsheet evaluates: numbers as they are, formula-like text quoted."""
    if value is None or isinstance(value, (bool, int, float, Decimal)):
        return value
    text = str(value)
    if _RISKY.match(text) and not _PLAIN_NUMBER.fullmatch(text):
        return "'" + text
    return text


def safe_column(column: pa.Array | pa.ChunkedArray) -> pa.Array | pa.ChunkedArray:
    """`safe_cell` for a whole Arrow column at once (the month's delivery): text columns get the same
    leading `'` where safe_cell would give it; other columns are returned as they are."""
    if pa.types.is_large_string(column.type) or pa.types.is_string_view(column.type):
        column = column.cast(pa.string())
    if not pa.types.is_string(column.type):
        return column
    risky = pc.and_(pc.match_substring_regex(column, _RISKY.pattern),
                    pc.invert(pc.match_substring_regex(column, "^" + _PLAIN_NUMBER.pattern + "$")))
    return pc.if_else(risky, pc.binary_join_element_wise("'", column, ""), column)


def write_table(f: TextIO, table: pa.Table, rows_at_once: int = 50_000) -> None:
    """An Arrow table as CSV to an open text file (opened with newline=''): the header and every
    cell made safe, a batch of rows at a time."""
    w = csv.writer(f)
    w.writerow([safe_cell(n) for n in table.column_names])
    for batch in table.to_batches(max_chunksize=rows_at_once):
        w.writerows(zip(*(safe_column(col).to_pylist() for col in batch.columns), strict=True))


class SafeWriter:
    """csv.writer whose every cell goes through safe_cell (for files written in pieces)."""

    def __init__(self, f: TextIO):
        self._w = csv.writer(f)

    def writerow(self, cells: Iterable[Any]) -> None:
        self._w.writerow([safe_cell(v) for v in cells])


def csv_writer(f: TextIO) -> SafeWriter:
    """A writer of injection-safe CSV rows to an open text file (opened with newline='')."""
    return SafeWriter(f)


def write_csv(path: str | Path, rows: Iterable[Mapping[str, Any]], fieldnames: list[str]) -> Path:
    """Rows to a UTF-8 CSV file, every cell through safe_cell (header included)."""
    p = Path(path)
    with p.open("w", newline="", encoding="utf-8") as f:
        w = csv_writer(f)
        w.writerow(fieldnames)
        for row in rows:
            w.writerow(row.get(n) for n in fieldnames)
    return p
